"""The E-R chain on known truth, the whole path a user runs (issue 22, "done when").

A 300-subject trial with the originating trial's qPCR schedule (days 7-90, LLOQ 50) is
simulated from ``stein2019_smooth`` with random effects on cmax and alpha (the truth of
``tests/fit/test_population_trial_design.py``); CRS grade (proportional odds, slope 1.0 per
ln Cmax) and the IL-6 peak (log-linear, slope 0.8) are generated from each subject's *true*
Cmax. Then, as a user would: ``cartpk fit`` (population, ``method = "bayes"``) writes a run
folder, ``cartpk er`` with ``fit = ...`` reads it, and the model-based slopes must lie within
30 % (CRS) and 20 % (IL-6) of the truth and match the "oracle" (the same E-R fits on each
subject's true Cmax: the best any chain can do on these outcomes), while the same analyses
on NCA Cmax (written next to them, ``exposure_source = nca``) show the attenuation that
observed sparse-sample exposure causes (classical errors-in-variables).

Interval coverage of the truth is a property of many trials, not of one: it is measured by
the ``er_chain`` simulation-estimation study (``docs/er_exposure.md``). On this one trial
(data seed 0, not picked) the realised IL-6 slope on the true Cmax is 0.856 [0.774, 0.937],
and the model route gives 0.907 [0.815, 0.999]: its interval holds the oracle's estimate but
not 0.80, a 1-in-20 event for a calibrated interval and the reason this test compares with
the oracle rather than asserting coverage of the truth.

The population fit runs with the defaults (4 chains x 1,000 warm-up + 1,000 draws; with 500 +
500 the ESS of mu_foldx and mu_tmax, which the design barely informs, stayed under 400) and
``init = "declared"`` (the trial design's tmax is multimodal between sampling days under
jittered starts: ``tests/fit/test_population_trial_design.py``). Runtime about 4 minutes on
2 cores.
"""

from __future__ import annotations

import json
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from _er_spec_file import analysis, write_er_spec

import cartpk as ck
from cartpk.cli import main
from cartpk.errors import CartpkWarning

pytestmark = pytest.mark.slow

TRUTH = dict(foldx=3900.0, tmax=9.3, cmax=24000.0, alpha=0.25, fb=0.02, beta=0.02)
IIV = {"cmax": 0.81, "alpha": 0.5}
DROP = ["foldx", "tmax", "fb", "beta"]
N, LLOQ, SEED = 300, 50.0, 0
B_CRS, B_IL6 = 1.0, 0.8  # per ln Cmax
CUTS = [-0.5, 1.0, 2.5, 4.0]  # latent cut points of CRS grades 1..4


def _oracle(true_cmax: pd.Series, outcomes: pd.DataFrame) -> dict[str, pd.Series]:
    """Slope rows of the E-R fits on the true exposure (the best any chain can do)."""
    from cartpk.er import fit_er

    df = outcomes.assign(cmax=true_cmax.to_numpy())
    return {
        "crs_grade": fit_er(df, "crs_grade", exposure="cmax", model="ordinal").slope,
        "il6_cmax": fit_er(df, "il6_cmax", exposure="cmax", model="loglinear").slope,
    }


def _trial(tmp_path):
    """The trial table (qPCR, IL-6, CRS), the true Cmax and the outcomes per subject."""
    truth = ck.load_model("stein2019_smooth").with_iiv(drop=DROP, sd=IIV).with_ini(**TRUTH)
    sim = ck.simulate(truth, n=N, seed=SEED, lloq=LLOQ)
    params = ck.simulation.simulate_parameters(truth, n=N, seed=SEED)
    true_cmax = ck.model_exposure(truth, params, interval_ends=(28,)).wide.set_index("ID")["cmax"]
    rng = np.random.default_rng(SEED + 1)
    x = np.log(true_cmax.to_numpy()) - np.log(TRUTH["cmax"])
    grade = np.digitize(B_CRS * x + rng.logistic(size=N), CUTS)
    il6_peak = np.exp(3.0 + B_IL6 * x + rng.normal(0.0, 0.6, N))
    ids = true_cmax.index.to_numpy()
    base = dict(EVID=0, AMT=0.0, MDV=0, CENS=0, LLOQ=np.nan)
    crs = pd.DataFrame({"ID": ids, "TIME": 4.0, "DV": grade, "DVID": "CRS", **base})
    il6 = pd.concat(
        [
            pd.DataFrame({"ID": ids, "TIME": 3.0, "DV": il6_peak, "DVID": "IL6", **base}),
            pd.DataFrame({"ID": ids, "TIME": 14.0, "DV": il6_peak / 8, "DVID": "IL6", **base}),
        ]
    )
    table = pd.concat([sim, crs, il6], ignore_index=True)
    table["ID"] = table["ID"].astype(int)
    table = table.sort_values(["ID", "TIME", "EVID"], ascending=[True, True, False])
    table.to_csv(tmp_path / "trial.csv", index=False)
    outcomes = pd.DataFrame({"ID": ids, "crs_grade": grade, "il6_cmax": il6_peak})
    return true_cmax, outcomes


def test_cli_chain_recovers_the_true_slopes_with_model_based_exposure(tmp_path):
    true_cmax, outcomes = _trial(tmp_path)
    (tmp_path / "population.toml").write_text(
        textwrap.dedent(f"""
        model = "stein2019_smooth"
        data = "trial.csv"
        method = "bayes"
        seed = 1
        [options]
        dvid = "QPCR"
        drop_iiv = {DROP!r}
        init = "declared"
        target_accept = 0.95
        vpc_replicates = 20
        """).replace("'", '"')
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CartpkWarning)
        code = main(
            ["fit", str(tmp_path / "population.toml"), "--out", str(tmp_path / "pop"), "--quiet"]
        )
    assert code == 0, "the population fit did not converge"
    spec = write_er_spec(
        tmp_path,
        'data = "trial.csv"\nfit = "pop"\ncytokines = ["IL6"]\n'
        + analysis("crs_grade", "ordinal")
        + analysis("il6_cmax", "loglinear"),
    )
    assert main(["er", str(spec), "--out", str(tmp_path / "er"), "--quiet"]) == 0
    est = pd.read_csv(tmp_path / "er" / "er_estimates.csv")
    slope = est[est["term"] == "log(cmax)"].set_index(["endpoint", "exposure_source"])
    oracle = _oracle(true_cmax, outcomes)  # the same E-R fits on each subject's TRUE Cmax
    for endpoint, truth, tol in (("crs_grade", B_CRS, 0.30), ("il6_cmax", B_IL6, 0.20)):
        m, o = slope.loc[(endpoint, "model")], oracle[endpoint]
        print(endpoint, "model", m[["estimate", "lower", "upper"]].to_dict())
        print(endpoint, "oracle", o[["estimate", "lower", "upper"]].to_dict())
        print(
            endpoint, "nca", slope.loc[(endpoint, "nca"), ["estimate", "lower", "upper"]].to_dict()
        )
        assert abs(m["estimate"] / truth - 1) < tol, endpoint
        # the chain loses little against knowing each subject's true exposure: its interval
        # holds the oracle's estimate and the two estimates differ by under 1.5 oracle SEs
        assert m["lower"] < o["estimate"] < m["upper"], endpoint
        assert abs(m["estimate"] - o["estimate"]) < 1.5 * o["se"], endpoint
    # the NCA route (what `cartpk er` gave before) is attenuated: its IL-6 slope is well
    # below the truth and its interval misses it
    nca_il6 = slope.loc[("il6_cmax", "nca")]
    assert nca_il6["estimate"] < 0.8 * B_IL6 and nca_il6["upper"] < B_IL6
    subjects = pd.read_csv(tmp_path / "er" / "er_subjects.csv")
    assert {"cmax", "cmax_nca", "cmax_lower", "cmax_upper", "auc_0_28d_nca"} <= set(subjects)
    assert subjects["cmax"].notna().all()
    manifest = json.loads((tmp_path / "er" / "manifest.json").read_text())
    assert manifest["er"]["exposure"]["source"] == "model"
    # the model route's slopes carry the calibration's shared uncertainty, measured > 0
    assert manifest["er"]["exposure"]["calibration_sd"]["cmax"] > 0
    for endpoint in ("crs_grade", "il6_cmax"):
        assert "calibration uncertainty" in slope.loc[(endpoint, "model"), "message"]
    assert any(k.endswith("posterior.nc") for k in manifest["inputs"])
