"""Small synthetic run folders, written with `cartpk.run.run_folder` like the commands do.

They do not depend on the fitting, NCA, RECIST or E-R code: the report only reads folders.
Numbers are arbitrary but plausible; one cell carries a `<script>` string to test escaping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cartpk.run import run_folder

MALICIOUS = "<script>alert('x')</script> & \"quoted\""
IDS = [str(i) for i in range(101, 109)]


def _plot(path: Path, kind: str, seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    t = np.array([0.5, 7, 14, 21, 28, 60, 90])
    if kind == "bars":
        v = np.sort(rng.uniform(-100, 40, len(IDS)))
        ax.bar(range(len(v)), v, color=["tab:green" if x < -30 else "tab:grey" for x in v])
        ax.axhline(-30, ls="--", color="k", lw=0.8)
        ax.set_ylabel("best % change in SOD")
    else:
        for _ in range(6):
            ax.plot(t, 1e4 * np.exp(-0.05 * t) * rng.lognormal(0, 0.4, len(t)), marker="o", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("days since infusion")
        ax.set_ylabel("copies/µg")
    ax.set_title(path.stem.replace("_", " "))
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def make_runs(root: Path) -> dict[str, Path]:
    """Six run folders like those of `validate`, `fit` (2), `nca`, `recist` and `er`."""
    root.mkdir(parents=True, exist_ok=True)
    data = root / "trial.csv"
    data.write_text("ID,TIME,DV\n101,7,1000\n")
    runs: dict[str, Path] = {}

    with run_folder(
        root / "validate", command=["cartpk", "validate", str(data)], inputs=[data]
    ) as rf:
        summary = {
            "source": "trial.csv",
            "subjects": 8,
            "records": 120,
            "doses": 8,
            "observations": {"QPCR": {"n": 56, "blq": 9, "subjects": 8, "unit": "copies/ug"}},
            "blq_fraction": {"QPCR": {"7": 0.0, "28": 0.125, "90": 0.5}},
            "events": {"CRS": {"subjects": 5, "max_grade": 3}},
            "covariates": {"baseline": ["DOSE", "TARGET"], "time_varying": []},
            "exclusions": [{"ROW": 17, "ID": "103", "code": "dup", "reason": MALICIOUS}],
            "conversions": [
                {"ROW": 40, "ID": "105", "code": "blq_text", "message": "'<50' read as CENS=1"}
            ],
        }
        rf.write_json("data_summary.json", summary)
        rf.write_text("data_summary.txt", "trial.csv: 8 subjects\n")
        rf.write_csv(
            "exclusions.csv",
            pd.DataFrame(
                {
                    "ROW": [17, 33],
                    "ID": ["103", "107"],
                    "code": ["dup", "time_missing"],
                    "reason": [MALICIOUS, "TIME is missing"],
                }
            ),
        )
        _plot(rf.file("qpcr_spaghetti.png"), "lines", 1)
    runs["validate"] = root / "validate"

    params = {"cmax": 2.4e4, "tmax": 9.3, "alpha": 0.16}
    with run_folder(
        root / "fit_individual",
        command=["cartpk", "fit", "fits/stein_individual.toml"],
        spec={"model": "stein2019", "method": "individual", "blq": "m3", "seed": 3},
        seed=3,
        inputs=[data],
    ) as rf:
        rng = np.random.default_rng(3)
        ind = pd.DataFrame({"ID": IDS})
        for k, v in params.items():
            est = v * rng.lognormal(0, 0.3, len(IDS))
            ind[k] = est
            ind[f"{k}_lower"] = est * 0.7
            ind[f"{k}_upper"] = est * 1.4
        ind["converged"] = [True] * (len(IDS) - 1) + [False]
        rf.write_csv("individual.csv", ind)
        pred = pd.DataFrame({"ID": np.repeat(IDS, 3), "TIME": np.tile([7.0, 28.0, 90.0], len(IDS))})
        pred["DV"] = 1000.0
        pred["CENS"] = np.tile([0, 0, 1], len(IDS))
        pred["PRED"] = 900.0
        pred["IPRED"] = 950.0
        pred["IWRES"] = np.where(pred["CENS"] == 1, np.nan, 0.1)
        rf.write_csv("predictions.csv", pred)
        _plot(rf.file("individual_fits.png"), "lines", 2)
        _plot(rf.file("gof_dv_vs_ipred.png"), "lines", 3)
    runs["fit_individual"] = root / "fit_individual"

    spec = {
        "study": "Synthetic CAR-T trial",
        "model": "stein2019",
        "method": "population",
        "engine": "nutpie",
        "blq": "m3",
        "chains": 4,
        "draws": 500,
        "tune": 500,
        "target_accept": 0.9,
        "seed": 7,
        "priors": {"cmax": "LogNormal(log(24000), 1)", "omega_cmax": "HalfNormal(1)"},
    }
    with run_folder(
        root / "fit_population",
        command=["cartpk", "fit", "fits/stein_pop.toml"],
        spec=spec,
        seed=7,
        inputs=[data],
    ) as rf:
        rf.write_csv(
            "population.csv",
            pd.DataFrame(
                {
                    "parameter": ["cmax", "tmax", "alpha", "omega_cmax", "omega_tmax", "sigma"],
                    "estimate": [23456.7, 9.31, 0.1612, 0.81, 0.42, 0.56],
                    "lower": [18000.0, 8.1, 0.12, 0.6, 0.3, 0.5],
                    "upper": [30500.0, 10.7, 0.21, 1.05, 0.58, 0.63],
                    "unit": ["copies/ug", "day", "1/day", "1", "1", "1"],
                    "se": [3100.0, 0.66, 0.022, 0.11, 0.07, 0.03],
                    "rse_pct": [13.2, 7.1, 13.6, 13.6, 16.7, 5.4],
                    "cv_pct": [np.nan, np.nan, np.nan, 95.3, 43.9, np.nan],
                    "shrinkage_pct": [np.nan, np.nan, np.nan, 8.2, 21.5, np.nan],
                    "role": ["typical"] * 3 + ["iiv", "iiv", "residual"],
                    "fixed": [False, False, False, False, False, True],
                    "rhat": [1.002, 1.004, 1.003, 1.006, 1.08, 1.001],
                }
            ),
        )
        rf.write_csv(
            "diagnostics.csv",
            pd.DataFrame(
                {
                    "parameter": ["cmax", "tmax", "omega_tmax"],
                    "r_hat": [1.002, 1.004, 1.08],
                    "ess_bulk": [1800.0, 1500.0, 95.0],
                    "ess_tail": [1200.0, 1100.0, 150.0],
                    "divergences": [0, 0, 3],
                }
            ),
        )
        rf.file("posterior.nc").write_bytes(b"CDF\x01 synthetic placeholder")
        _plot(rf.file("vpc_qpcr.png"), "lines", 4)
        _plot(rf.file("gof_cwres.png"), "lines", 5)
        _plot(rf.file("trace.png"), "lines", 6)
        rf.status = "failed_checks"
    runs["fit_population"] = root / "fit_population"

    with run_folder(root / "nca", command=["cartpk", "nca", str(data)], inputs=[data]) as rf:
        rows = []
        rng = np.random.default_rng(9)
        for i in IDS:
            for code, unit in (("CMAX", "copies/ug"), ("TMAX", "day"), ("AUCINT", "day*copies/ug")):
                val = (
                    float(rng.lognormal(8, 0.5))
                    if code != "TMAX"
                    else float(rng.choice([7.0, 14.0]))
                )
                reason = ""
                if i == "108" and code == "AUCINT":
                    val, reason = np.nan, "[too_few_points] fewer than 3 quantified samples"
                rows.append(
                    {
                        "ID": i,
                        "DVID": "QPCR",
                        "PPTESTCD": code,
                        "PPTEST": code.title(),
                        "PPORRES": val,
                        "PPORRESU": unit,
                        "PPSTINT": "P0D",
                        "PPENINT": "P28D",
                        "REASON": reason,
                    }
                )
        rf.write_csv("nca.csv", pd.DataFrame(rows))
    runs["nca"] = root / "nca"

    with run_folder(root / "recist", command=["cartpk", "recist", "lesions.csv"]) as rf:
        bor = pd.DataFrame(
            {
                "ID": IDS,
                "BOR_UNCONFIRMED": ["CR", "PR", "PR", "SD", "SD", "PD", "PD", "NE"],
                "BOR_CONFIRMED": ["CR", "PR", "SD", "SD", "SD", "PD", "PD", "NE"],
            }
        )
        rf.write_csv("bor.csv", bor)
        rf.write_csv(
            "timepoints.csv",
            pd.DataFrame(
                {
                    "ID": ["101", "101"],
                    "DAY": [0, 28],
                    "SOD": [50.0, 20.0],
                    "PCHG_BASE": [np.nan, -60.0],
                    "PCHG_NADIR": [np.nan, 0.0],
                    "TRGRESP": ["", "PR"],
                    "NTRGRESP": ["", "NON-CR/NON-PD"],
                    "NEWLPROG": ["", "N"],
                    "OVRLRESP": ["", "PR"],
                }
            ),
        )
        _plot(rf.file("waterfall.png"), "bars", 7)
        _plot(rf.file("spider.png"), "lines", 8)
    runs["recist"] = root / "recist"

    with run_folder(
        root / "er",
        command=["cartpk", "er", "fits/er.toml"],
        spec={"endpoint": "ORR", "exposure": "AUCINT", "model": "logistic"},
    ) as rf:
        nan = np.nan
        er = {
            "endpoint": ["orr", "orr", "il6_cmax", "il6_cmax"],
            "exposure": ["auc_0_28d", "auc_0_28d", "cmax", "cmax"],
            "model": ["logistic", "logistic", "emax", "emax"],
            "term": ["intercept", "log(auc_0_28d)", "Emax", "EC50"],
            "estimate": [-2.1, 0.62, 283.2, 448.8],
            "lower": [-4.0, 0.11, 109.3, 25.7],
            "upper": [-0.3, 1.2, 457.0, 7837.0],
            "or_per_2fold": [nan, 1.86, nan, nan],
            "or_per_10fold": [nan, 7.87, nan, nan],
            "or_per_2fold_lower": [nan, 1.08, nan, nan],
            "or_per_2fold_upper": [nan, 3.2, nan, nan],
            "or_per_10fold_lower": [nan, 1.44, nan, nan],
            "or_per_10fold_upper": [nan, 43.0, nan, nan],
            "ratio": ["OR", "OR", nan, nan],
            "scale": ["log-odds", "log-odds", "natural", "natural"],
            "p_value": [0.02, 0.017, 0.001, 0.47],
            "n": [23, 23, 32, 32],
            "n_events": [11, 11, nan, nan],
            "status": ["ok", "ok", "no_plateau", "no_plateau"],
            "message": ["", "", *["exposures never reach the plateau"] * 2],
        }
        rf.write_csv("er_estimates.csv", pd.DataFrame(er))
        exclusions = {
            "endpoint": ["orr"],
            "exposure": ["auc_0_28d"],
            "model": ["logistic"],
            "ID": ["104"],
            "code": ["exposure_missing"],
            "reason": ["`auc_0_28d` is missing or not a number"],
        }
        rf.write_csv("er_exclusions.csv", pd.DataFrame(exclusions))
        _plot(rf.file("er_logistic_orr.png"), "lines", 10)
    runs["er"] = root / "er"
    return runs
