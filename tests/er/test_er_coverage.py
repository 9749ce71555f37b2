"""Interval coverage of the exposure slope over seeded replicates of simulated trials.

Each replicate simulates a trial from known truth (``er_helpers``), fits the model and
checks whether the 95 % interval of the exposure coefficient contains the truth. With R
replicates the number of hits is Binomial(R, 0.95) if the interval is exact; the test
accepts the central 99.9 % of that distribution, so it fails by chance once in a thousand
runs at most, and always when coverage is off by more than a few percent (R = 200). The
default run uses R = 40 (a smoke test of the same statement); ``-m slow`` runs R = 200.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from er_helpers import BETA_BINARY, BETA_ORDINAL, EMAX_TRUE, HR_PER_2FOLD, simulate_emax
from er_helpers import simulate_subjects as sim
from scipy.stats import binom

from cartpk.er import ERStatus, fit_er

LEVEL = 0.95
CASES = {
    "logistic": (dict(endpoint="orr", model="logistic"), BETA_BINARY),
    "ordinal": (dict(endpoint="crs_grade", model="ordinal"), BETA_ORDINAL),
    "cox": (
        dict(endpoint="pfs_time", model="cox", event="pfs_event"),
        math.log(HR_PER_2FOLD) / math.log(2.0),
    ),
}


def _coverage(case: str, replicates: int, seed: int) -> tuple[int, list[float]]:
    kw, truth = dict(CASES[case][0]), CASES[case][1]
    endpoint = kw.pop("endpoint")
    hits, estimates = 0, []
    for r in range(replicates):
        rng = np.random.default_rng([seed, r])
        df = sim(rng, n=200)
        fit = fit_er(df, endpoint, exposure="cmax", covariates=["SLD0"], level=LEVEL, **kw)
        assert fit.status is ERStatus.ok, (case, r, fit.message)
        s = fit.slope
        hits += int(s["lower"] <= truth <= s["upper"])
        estimates.append(float(s["estimate"]))
    return hits, estimates


def _accept(hits: int, replicates: int) -> None:
    lo, hi = binom.ppf([0.0005, 0.9995], replicates, LEVEL)
    assert lo <= hits <= hi, f"coverage {hits}/{replicates} outside [{lo:.0f}, {hi:.0f}]"


@pytest.mark.parametrize("case", sorted(CASES))
def test_slope_interval_coverage_smoke(case):
    hits, est = _coverage(case, 40, seed=11)
    _accept(hits, 40)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_slope_interval_coverage_200_replicates(case):
    hits, est = _coverage(case, 200, seed=2026)
    _accept(hits, 200)
    truth = CASES[case][1]
    # bounded bias: the mean estimate is within 4 Monte-Carlo standard errors of the truth
    # (plus 5 % for the known small-sample bias of maximum likelihood in logistic models)
    mc_se = np.std(est, ddof=1) / math.sqrt(len(est))
    assert abs(np.mean(est) - truth) < 4 * mc_se + 0.05 * abs(truth)


@pytest.mark.slow
def test_emax_interval_coverage_100_replicates():
    hits = dict.fromkeys(EMAX_TRUE, 0)
    reps = 100
    for r in range(reps):
        df = simulate_emax(np.random.default_rng([7, r]))
        fit = fit_er(df, "peak", exposure="auc", model="emax", level=LEVEL)
        assert fit.status is ERStatus.ok
        est = fit.estimates.set_index("term")
        for name, true in EMAX_TRUE.items():
            hits[name] += int(est.loc[name, "lower"] <= true <= est.loc[name, "upper"])
    for name in EMAX_TRUE:
        _accept(hits[name], reps)
