"""Calibration uncertainty of model-based exposure: measured from draws, added to the slope.

Known truth: a population posterior whose draws rescale every subject together (a shared
calibration factor with SD ``TAU``) on top of each subject's own posterior noise, and a true
exposure drawn from that same posterior. E-R slopes on the posterior means then need the
shared part in their variance; without it the intervals undercover.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cartpk.er import fit_er, widen_for_calibration
from cartpk.exposure import calibration_sd

TAU = 0.08  # SD of the shared calibration factor
N, DRAWS = 150, 200


def _posterior(rng: np.random.Generator, tau: float = TAU) -> tuple[np.ndarray, np.ndarray]:
    """(draws x subjects of ln exposure, one more draw from the same posterior = truth)."""
    a = rng.normal(0.0, 1.0, N)
    own = rng.uniform(0.15, 0.45, N)  # per-subject posterior SD
    scale = rng.normal(1.0, tau, (DRAWS + 1, 1))
    x = a * scale + rng.normal(0.0, 1.0, (DRAWS + 1, N)) * own
    return x[:-1], x[-1]


def test_calibration_sd_recovers_the_shared_part_only():
    rng = np.random.default_rng(11)
    sds = [calibration_sd(_posterior(rng)[0]) for _ in range(40)]
    assert np.mean(sds) == pytest.approx(TAU, rel=0.15)
    # draws independent across subjects: nothing shared (the noise floor of 200 draws)
    indep = [calibration_sd(_posterior(rng, tau=0.0)[0]) for _ in range(40)]
    assert np.mean(indep) < 0.2 * TAU


def test_calibration_sd_needs_subjects_and_draws():
    assert math.isnan(calibration_sd(np.ones((1, 10))))
    assert math.isnan(calibration_sd(np.zeros((50, 2))))
    x = np.random.default_rng(0).normal(size=(50, 10))
    x[:, 3] = np.nan  # a subject with a draw <= 0 (log NaN) is left out
    assert math.isfinite(calibration_sd(x))


@pytest.mark.parametrize("model", ["loglinear", "logistic"])
def test_widened_intervals_cover_the_truth_and_fitted_ones_do_not(model):
    rng = np.random.default_rng(2026)
    beta, hits, hits_fitted, reps = 0.8, 0, 0, 300
    for _ in range(reps):
        draws, true = _posterior(rng)
        xhat = draws.mean(axis=0)
        if model == "loglinear":
            y = np.exp(1.0 + beta * true + rng.normal(0.0, 0.3, N))
        else:
            y = (rng.random(N) < 1 / (1 + np.exp(-(0.3 + beta * true)))).astype(int)
        df = pd.DataFrame({"ID": range(N), "cmax": np.exp(xhat), "y": y})
        fit = fit_er(df, "y", exposure="cmax", model=model)
        wide = widen_for_calibration(fit, calibration_sd(draws)).slope
        hits += wide["lower"] <= beta <= wide["upper"]
        hits_fitted += fit.slope["lower"] <= beta <= fit.slope["upper"]
        assert wide["estimate"] == fit.slope["estimate"]
        assert wide["or_per_2fold_lower"] == pytest.approx(math.exp(wide["lower"] * math.log(2)))
    coverage = hits / reps  # Monte-Carlo SE about 1.3 %
    assert 0.91 <= coverage <= 0.98, coverage
    if model == "loglinear":  # shared part dominates the tight linear slope
        assert hits_fitted / reps < 0.85


def test_widening_leaves_emax_and_zero_sd_alone():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, 120)
    df = pd.DataFrame(
        {
            "ID": range(120),
            "cmax": np.exp(x),
            "il6": 10 + 50 / (1 + np.exp(-x)) + rng.normal(0, 2, 120),
        }
    )
    emax = fit_er(df, "il6", exposure="cmax", model="emax")
    out = widen_for_calibration(emax, 0.05)
    assert out.slope["lower"] == emax.slope["lower"]
    assert "not added" in out.slope["message"]
    lin = fit_er(df, "il6", exposure="cmax", model="loglinear")
    assert widen_for_calibration(lin, 0.0) is lin
    assert widen_for_calibration(lin, math.nan) is lin
