"""``cartpk er SPEC.toml --out DIR``: exit codes, the estimates file, plots and manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _er_spec_file import analysis, write_er_spec
from er_helpers import simulate_subjects

from cartpk.cli import main

FIRST = ["endpoint", "exposure", "model", "term", "estimate", "lower", "upper",
         "or_per_2fold", "or_per_10fold"]  # fmt: skip
EXAMPLE = Path(__file__).resolve().parents[2] / "fits" / "er_example.toml"


@pytest.fixture
def spec(tmp_path, rng) -> Path:
    df = simulate_subjects(rng, n=80)
    df["il6_cmax"] = np.exp(1 + 0.5 * np.log(df["cmax"]) + rng.normal(0, 0.3, len(df)))
    df.loc[3, "cmax"] = np.nan  # excluded with a reason
    df.to_csv(tmp_path / "subjects.csv", index=False)
    return write_er_spec(
        tmp_path,
        'subjects = "subjects.csv"\nseed = 3\n'
        + analysis("crs_grade", "ordinal", covariates=["SLD0"])
        + analysis("orr", "logistic")
        + analysis("il6_cmax", "loglinear")
        + analysis("pfs_time", "cox", event="pfs_event"),
    )


def test_cli_er_writes_estimates_with_exact_leading_columns(tmp_path, spec, capsys):
    out = tmp_path / "run"
    assert main(["er", str(spec), "--out", str(out)]) == 0
    est = pd.read_csv(out / "er_estimates.csv")
    assert list(est.columns[:9]) == FIRST
    assert set(est["model"]) == {"ordinal", "logistic", "loglinear", "cox"}
    assert set(est["exposure_source"]) == {"subjects"}  # a prepared table: source unknown
    assert list(est["analysis"].drop_duplicates()) == [f"analysis[{i}]" for i in range(1, 5)]
    slope = est[(est["model"] == "cox") & (est["term"] == "log(cmax)")].iloc[0]
    assert slope["or_per_2fold"] == pytest.approx(np.exp(slope["estimate"] * np.log(2)))
    for name in (
        "er_crs_grade_cmax_ordinal_adj_SLD0.png",
        "er_orr_cmax_logistic.png",
        "er_il6_cmax_cmax_loglinear.png",
        "er_pfs_time_cmax_cox.png",
        "er_subjects.csv",
        "er_exclusions.csv",
        "manifest.json",
    ):
        assert (out / name).is_file(), name
    excl = pd.read_csv(out / "er_exclusions.csv")
    assert set(excl["code"]) == {"exposure_missing"} and len(excl) == 4
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["seed"] == 3
    assert [f["status"] for f in manifest["er"]["fits"]] == ["ok"] * 4
    assert "OR per 2-fold" in capsys.readouterr().out


def test_cli_er_bad_spec_exits_2_naming_the_key(tmp_path, capsys):
    p = tmp_path / "bad.toml"
    p.write_text('subjects = "x.csv"\n[[analysis]]\nendpoint = "a"\nmodel = "linear"\n'
                 'exposure = "c"\n')  # fmt: skip
    assert main(["er", str(p), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "analysis[1].model" in err and "ordinal, logistic" in err
    assert "file_not_found" in err
    assert not (tmp_path / "run").exists()


def test_cli_er_unknown_column_exits_2_before_writing(tmp_path, spec, capsys):
    spec.write_text(spec.read_text().replace('exposure = "cmax"\n', 'exposure = "cmin"\n', 1))
    assert main(["er", str(spec), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "[column_unknown]" in err and "analysis[1].exposure" in err
    assert not (tmp_path / "run").exists()


def test_cli_er_failed_fit_exits_1(tmp_path, rng, capsys):
    c = np.sort(np.exp(rng.normal(6, 1, 30)))
    pd.DataFrame({"ID": range(30), "cmax": c, "g": np.repeat([0, 1, 2], 10)}).to_csv(
        tmp_path / "s.csv", index=False
    )
    p = tmp_path / "er.toml"
    p.write_text('subjects = "s.csv"\n[[analysis]]\nendpoint = "g"\nmodel = "ordinal"\n'
                 'exposure = "cmax"\n')  # fmt: skip
    out = tmp_path / "run"
    assert main(["er", str(p), "--out", str(out)]) == 1
    assert "warning [separation]" in capsys.readouterr().err
    assert json.loads((out / "manifest.json").read_text())["status"] == "failed_checks"


def test_cli_er_example_spec_runs_on_bundled_data(tmp_path):
    out = tmp_path / "run"
    assert main(["er", str(EXAMPLE), "--out", str(out), "--quiet"]) == 0
    est = pd.read_csv(out / "er_estimates.csv")
    assert list(est.columns[:9]) == FIRST
    assert set(est["exposure_source"]) == {"nca"}  # the data route without `fit`
    assert {"ordinal", "logistic", "loglinear", "emax", "cox"} <= set(est["model"])
    assert est.loc[est["model"] == "emax", "scale"].str.startswith("log (ln of").all()
    subjects = pd.read_csv(out / "er_subjects.csv")
    assert len(subjects) == 32
    assert {"cmax", "auc_0_28d", "crs_grade", "orr", "pfs_time", "il6_cmax"} <= set(subjects)


def test_cli_er_removed_draws_key_exits_2_with_the_replacement(tmp_path, spec, capsys):
    spec.write_text('draws = "d.csv"\n' + spec.read_text())
    assert main(["er", str(spec), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "[key_removed]" in err and "fit =" in err
    assert not (tmp_path / "run").exists()


def test_cli_er_one_failing_analysis_keeps_the_others(tmp_path, rng, capsys):
    """An analysis whose data cannot be modelled is `failed` with its message; the rest are
    written, plots have one name per analysis, and the exit code is 1."""
    df = simulate_subjects(rng, n=60)
    df["label"] = "x"  # not numeric: this analysis cannot be fitted
    df.to_csv(tmp_path / "s.csv", index=False)
    p = write_er_spec(
        tmp_path,
        'subjects = "s.csv"\n'
        + analysis("label", "logistic")
        + analysis("crs_grade", "ordinal")
        + analysis("crs_grade", "ordinal", covariates=["SLD0"])
        + analysis("crs_grade", "logistic", threshold=3),
    )
    out = tmp_path / "run"
    assert main(["er", str(p), "--out", str(out), "--quiet"]) == 1
    est = pd.read_csv(out / "er_estimates.csv")
    first = est[est["analysis"] == "analysis[1]"]
    assert set(first["status"]) == {"failed"} and first["message"].str.len().min() > 10
    for key in ("analysis[2]", "analysis[3]", "analysis[4]"):
        assert set(est.loc[est["analysis"] == key, "status"]) == {"ok"}, key
    plots = sorted(x.name for x in out.glob("er_*.png"))
    assert plots == [
        "er_crs_grade_cmax_logistic_ge3.png",
        "er_crs_grade_cmax_ordinal.png",
        "er_crs_grade_cmax_ordinal_adj_SLD0.png",
    ]
    assert "warning [failed]: analysis[1]" in capsys.readouterr().err


def test_cli_er_data_route_without_qpcr(tmp_path):
    """A trial with cytokines and grades only: the data route runs, exposures are `data`."""
    from cartpk import examples

    trial = pd.read_csv(examples.path("trial.csv"))
    trial[trial["DVID"] != "QPCR"].to_csv(tmp_path / "trial.csv", index=False)
    p = write_er_spec(
        tmp_path, 'data = "trial.csv"\n' + analysis("crs_grade", "ordinal", "il6_cmax")
    )
    out = tmp_path / "run"
    assert main(["er", str(p), "--out", str(out), "--quiet"]) == 0
    est = pd.read_csv(out / "er_estimates.csv")
    assert set(est["exposure_source"]) == {"data"} and set(est["status"]) == {"ok"}
    assert "cmax" not in pd.read_csv(out / "er_subjects.csv").columns
