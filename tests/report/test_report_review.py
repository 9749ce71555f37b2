"""The report as a pharmacometrician reviews it: studies, NCA statistics, units, sources."""

from __future__ import annotations

import html
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cartpk.report import render_report
from cartpk.run import run_folder

IDS = [str(i) for i in range(101, 107)]


def _text(page: str) -> str:
    """Visible text of a page: tags dropped, cells separated by ' | '."""
    page = re.sub(r'src="data:[^"]*"', "", page)
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    page = re.sub(r"</t[dh]>", " | ", page)
    page = re.sub(r"</(tr|p|h\d|div|caption|summary|li)>", "\n", page)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    fig.savefig(path, dpi=40)
    plt.close(fig)


def _sse(root: Path) -> Path:
    spec = {"model": "stein2019", "n_replicates": 10, "n_subjects": 20}
    with run_folder(root / "sse", command=["cartpk", "sse", "s.toml"], spec=spec) as rf:
        rf.write_csv(
            "summary.csv",
            pd.DataFrame(
                {
                    "parameter": ["cmax", "tmax"],
                    "level": ["typical", "typical"],
                    "true": [24000.0, 9.3],
                    "n": [10, 10],
                    "n_converged": [10, 10],
                    "convergence_pct": [100.0, 100.0],
                    "mean_estimate": [27382.0, 9.48],
                    "bias": [3382.0, 0.185],
                    "rel_bias_pct": [14.09, 1.99],
                    "rmse": [6028.0, 1.235],
                    "rel_rmse_pct": [25.1, 13.3],
                    "median_abs_rel_error_pct": [14.5, 10.1],
                    "n_ci": [10, 10],
                    "coverage_pct": [94.0, 99.0],
                    "identified_pct": [93.3, 96.2],
                }
            ),
        )
        rf.write_csv(
            "estimates.csv",
            pd.DataFrame(
                {"replicate": [0, 0], "parameter": ["cmax", "tmax"], "ID": ["", ""]}
            ).assign(estimate=[1.0, 2.0], true=[3.0, 4.0]),
        )
        rf.write_csv("replicates.csv", pd.DataFrame({"replicate": [0, 1], "status": ["ok", "ok"]}))
    return root / "sse"


def _boot(root: Path) -> Path:
    spec = {"model": "stein2019", "n": 20}
    with run_folder(root / "boot", command=["cartpk", "bootstrap", "b.toml"], spec=spec) as rf:
        rf.write_csv(
            "intervals.csv",
            pd.DataFrame(
                {
                    "parameter": ["cmax", "alpha"],
                    "estimate": [22287.0, 0.1406],
                    "lower": [16710.0, 0.1075],
                    "upper": [36922.0, 0.2074],
                    "level": [0.95, 0.95],
                    "boot_median": [22289.0, 0.147],
                    "boot_se": [4433.0, 0.0247],
                    "n_ok": [19, 20],
                    "n": [20, 20],
                }
            ),
        )
        reps = pd.DataFrame(
            {
                "replicate": np.repeat(np.arange(-1, 20), 2),
                "parameter": ["cmax", "alpha"] * 21,
                "estimate": 1.0,
                "converged": True,
            }
        )
        rf.write_csv("replicates.csv", reps)
    return root / "boot"


def test_sse_section_shows_bias_rmse_and_coverage_with_units(tmp_path):
    text = _text(render_report([_sse(tmp_path)]))
    assert "Simulation-estimation (SSE)" in text
    row = next(line for line in text.splitlines() if line.startswith("cmax | typical"))
    assert "copies/µg" in row and "14.1" in row and "6028" in row and "94.0 (10)" in row
    assert "tmax | typical | day" in text
    assert "estimates.csv (2 rows, not shown)" in text


def test_bootstrap_section_shows_intervals_not_every_replicate(tmp_path):
    page = render_report([_boot(tmp_path)])
    text = _text(page)
    assert "Nonparametric bootstrap" in text and "95 % percentile interval" in text
    assert "cmax | copies/µg | 22287 | 16710 – 36922 | 22289 | 4433 | 19 / 20" in text
    assert "alpha | 1/day" in text
    assert "replicates.csv (42 rows, not shown)" in text
    assert "Typical values" not in text  # not shown as population estimates


def _nca(root: Path) -> Path:
    rows = []
    for k, i in enumerate(IDS):
        group = "GD2" if k < 3 else "MUC1"
        for code, unit, val in (
            ("CMAX", "copies/ug", 100.0 * (k + 1)),
            ("LAMZNPT", "", 3.0 + k % 2),
            ("LAMZ", "1/day", 0.03 if group == "GD2" else np.nan),
        ):
            rows.append(
                {
                    "ID": i,
                    "TARGET": group,
                    "DVID": "QPCR",
                    "PPTESTCD": code,
                    "PPORRES": val,
                    "PPORRESU": unit,
                    "REASON": "" if np.isfinite(val) else "[too_few] too few points",
                }
            )
    with run_folder(root / "nca", command=["cartpk", "nca", "d.csv"]) as rf:
        rf.write_csv("nca.csv", pd.DataFrame(rows))
    return root / "nca"


def test_nca_summary_median_range_for_counts_and_empty_groups_said_once(tmp_path):
    text = _text(render_report([_nca(tmp_path)]))
    npt = next(line for line in text.splitlines() if line.startswith("GD2 | QPCR | LAMZNPT"))
    cells = [c.strip() for c in npt.split("|")]
    assert cells[7:9] == ["—", "—"]  # no geometric mean, no geometric CV
    assert cells[9] == "3" and cells[10] == "3 – 4"  # median, range shown
    assert "GD2 | QPCR | CMAX | copies/µg" in text
    assert not any(line.startswith("MUC1 | QPCR | LAMZ |") for line in text.splitlines())
    assert "MUC1: no subject has a value of LAMZ" in text
    # per-subject NCA table: units in the headers
    assert "CMAX (copies/µg)" in text and "LAMZ (1/day)" in text


def _pop(root: Path) -> Path:
    with run_folder(root / "fit_population", command=["cartpk", "fit", "p.toml"]) as rf:
        rf.write_csv(
            "population.csv",
            pd.DataFrame(
                {
                    "parameter": ["foldx", "cmax", "gate", "omega_cmax", "sigma"],
                    "estimate": [3317.0, 447.0, 0.25, 0.88, 1.0],
                    "lower": [217.0, 277.0, np.nan, 0.5, 0.9],
                    "upper": [53926.0, 770.0, np.nan, 1.3, 1.2],
                    "unit": ["1", "copies/ug", "day", "1", "1"],
                    "role": ["structural", "structural", "structural", "iiv", "error"],
                    "fixed": [False, False, True, False, False],
                }
            ),
        )
        ebe = pd.DataFrame({"ID": IDS, "foldx": 3317.0, "gate": 0.25})
        ebe["cmax"] = [135.0, 300.0, 400.0, 500.0, 900.0, 1436.0]
        for p in ("foldx", "cmax", "gate"):
            ebe[f"{p}_lower"], ebe[f"{p}_upper"] = ebe[p] * 0.5, ebe[p] * 2
        rf.write_csv("individual.csv", ebe)
        rf.write_csv("vpc.csv", pd.DataFrame({"DVID": ["QPCR"], "bin": [0], "observed": [1.0]}))
        rf.write_csv("pcvpc.csv", pd.DataFrame({"DVID": ["QPCR"], "bin": [0], "observed": [1.0]}))
        _png(rf.file("vpc.png"))
        _png(rf.file("pcvpc.png"))
    return root / "fit_population"


def test_ebe_summary_only_parameters_with_iiv_and_says_which_were_left_out(tmp_path):
    page = render_report([_pop(tmp_path)])
    text = _text(page)
    assert "cmax | copies/µg | 6 |" in text
    assert not re.search(r"foldx \| 1 \| 6 \|", text)
    assert "foldx (no between-subject variability in the model)" in text
    assert "gate (fixed)" in text
    assert "cmax (copies/µg)" in text  # per-subject header


def test_identical_pcvpc_is_shown_once_and_said_so(tmp_path):
    page = render_report([_pop(tmp_path)])
    text = _text(page)
    assert "prediction correction changed nothing here" in text
    assert "fit_population/vpc.png" in page
    assert "fit_population/pcvpc.png" not in page.split("Run manifests")[0].split("VPC table")[0]


def _individual(root: Path) -> Path:
    with run_folder(root / "fit_individual", command=["cartpk", "fit", "i.toml"]) as rf:
        ind = pd.DataFrame({"ID": IDS, "converged": True, "status": "converged"})
        ind["foldx"] = np.linspace(3000.0, 4000.0, len(IDS))
        ind["tmax"] = np.linspace(7.0, 12.0, len(IDS))
        for p in ("foldx", "tmax"):
            ind[f"{p}_lower"], ind[f"{p}_upper"] = ind[p] * 0.5, ind[p] * 2
        ind["foldx_identifiable"] = False
        ind["tmax_identifiable"] = [True] * 5 + [False]
        rf.write_csv("individual.csv", ind)
        long = pd.DataFrame(
            {"ID": IDS, "parameter": "tmax", "estimate": ind["tmax"], "unit": "day"}
        )
        long = pd.concat(
            [
                long,
                pd.DataFrame(
                    {"ID": IDS, "parameter": "foldx", "estimate": ind["foldx"], "unit": "1"}
                ),
            ]
        )
        rf.write_csv("parameters.csv", long)
    return root / "fit_individual"


def test_per_patient_summary_flags_parameters_not_identifiable(tmp_path):
    text = _text(render_report([_individual(tmp_path)]))
    foldx = next(line for line in text.splitlines() if line.startswith("foldx | 1 | 6"))
    assert "not identifiable in 6 of 6" in foldx
    tmax = next(line for line in text.splitlines() if line.startswith("tmax | day | 6"))
    assert "not identifiable in 1 of 6" in tmax
    assert "tmax (day)" in text and "(n.i.)" in text


def _exposure_and_er(root: Path) -> list[Path]:
    with run_folder(root / "exposure", command=["cartpk", "demo"]) as rf:
        rf.manifest["results"] = {"source": "individual fits (converged subjects)"}
        rf.write_csv(
            "exposure_model.csv",
            pd.DataFrame({"ID": IDS, "DVID": "QPCR", "cmax": np.linspace(100.0, 600.0, 6)}),
        )
    with run_folder(root / "er", command=["cartpk", "er", "e.toml"]) as rf:
        rf.manifest["er"] = {
            "exposure": {
                "source": "model",
                "fit": "/x/specs/../fit_population",
                "method": "posterior mean of ln(exposure)",
                "model": "stein2019_smooth",
            }
        }
        rf.write_csv(
            "er_estimates.csv",
            pd.DataFrame(
                {
                    "endpoint": "orr",
                    "exposure": "cmax",
                    "model": "logistic",
                    "term": ["log(cmax)", "SLD0", "WT"],
                    "estimate": [1.2, 0.01, 0.02],
                    "scale": "log-odds",
                    "exposure_source": "model",
                }
            ),
        )
        rf.write_csv(
            "er_subjects.csv",
            pd.DataFrame({"ID": IDS, "cmax": 1.0, "SLD0": 50.0, "pfs_time": 30.0}),
        )
    return [root / "exposure", root / "er"]


def test_exposure_sources_are_labelled_and_their_difference_said(tmp_path):
    text = _text(render_report(_exposure_and_er(tmp_path)))
    assert "Model-based exposure source: model-based, from individual fits" in text
    assert "from the population fit fit_population, model stein2019_smooth" in text
    assert "This is not the model-based exposure of run exposure" in text
    # units: model-based exposure rows, E-R subject table and what one unit of a term is
    assert "log(cmax) | 1.2 | per e-fold increase" in text
    assert "SLD0 | 0.01 | per 1 SLD0 unit (as in the data file)" in text
    assert "pfs_time (day)" in text


def test_no_ascii_ug_on_screen(tmp_path):
    page = render_report([_nca(tmp_path), _pop(tmp_path), _individual(tmp_path)])
    body = _text(page.split('id="other"')[0])
    assert not re.search(r"\bug\b", body)
    assert "µg" in body


@pytest.mark.parametrize("outputs", [{"QPCR": "copies/ug"}, {"A": "copies/ug", "B": "pg/mL"}])
def test_fit_plot_labels_show_display_units(outputs):
    from cartpk.fit._plots import _output_label

    fit = SimpleNamespace(model=SimpleNamespace(outputs=outputs))
    label = _output_label(fit, "IPRED, individual prediction")
    assert "µg" in label and "ug)" not in label.replace("µg", "")
    assert "µg" in _output_label(fit)
