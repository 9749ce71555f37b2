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
EMAX_CV = 0.8  # log-normal CV of the simulated cytokine peaks
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


def _emax_study(replicates: int, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Log-normal cytokine peaks (CV 80 %) around a known Emax curve, n = 120 per trial,
    fitted on the log scale (default) and on the natural scale: estimates and interval hits
    per parameter (truth: the median curve, :data:`EMAX_TRUE`)."""
    out: dict[str, dict[str, list[float]]] = {}
    for residual in ("log", "natural"):
        rows: dict[str, list[float]] = {"status_ok": []}
        for r in range(replicates):
            df = simulate_emax(np.random.default_rng([seed, r]), cv=EMAX_CV)
            fit = fit_er(df, "peak", exposure="auc", model="emax", level=LEVEL, residual=residual)
            est = fit.estimates.set_index("term")
            rows["status_ok"].append(float(fit.status is ERStatus.ok))
            for name, true in EMAX_TRUE.items():
                lo, hi = est.loc[name, "lower"], est.loc[name, "upper"]
                rows.setdefault(f"{name}_hit", []).append(float(lo <= true <= hi))
                rows.setdefault(f"{name}_est", []).append(float(est.loc[name, "estimate"]))
            rows.setdefault("EC50_logwidth", []).append(
                float(np.log(est.loc["EC50", "upper"] / est.loc["EC50", "lower"]))
            )
        out[residual] = rows  # type: ignore[assignment]
    return {k: {n: np.asarray(v) for n, v in rows.items()} for k, rows in out.items()}


def _check_emax_study(study: dict[str, dict[str, np.ndarray]], replicates: int) -> None:
    log, nat = study["log"], study["natural"]
    # the default (log scale) covers the median curve's parameters at the nominal rate
    for name in EMAX_TRUE:
        _accept(int(log[f"{name}_hit"].sum()), replicates)
    assert np.median(log["Emax_est"]) == pytest.approx(EMAX_TRUE["Emax"], rel=0.05)
    assert np.median(log["EC50_est"]) == pytest.approx(EMAX_TRUE["EC50"], rel=0.15)
    # the natural scale fits the mean curve, sqrt(1 + CV^2) = 1.28 x the median: its Emax
    # interval misses the median curve's Emax, and its EC50 interval is much wider
    assert np.median(nat["Emax_est"]) > 1.15 * EMAX_TRUE["Emax"]
    assert nat["Emax_hit"].mean() < 0.85
    assert np.median(log["EC50_logwidth"]) < 0.8 * np.median(nat["EC50_logwidth"])
    assert log["status_ok"].mean() >= 0.99


def test_emax_log_scale_covers_the_truth_where_the_natural_scale_does_not():
    """200 replicates (about 3 s): the default log-scale fit against the natural one."""
    _check_emax_study(_emax_study(200, seed=2027), 200)


@pytest.mark.slow
def test_emax_interval_coverage_1000_replicates():
    """The numbers of docs/er_emax.md: 1000 replicates, seed 7."""
    _check_emax_study(_emax_study(1000, seed=7), 1000)
