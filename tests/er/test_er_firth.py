"""Firth-penalised logistic regression (the separation fallback) against exact oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm

from cartpk.er._firth import firth_logit


def test_firth_single_binary_predictor_is_haldane_corrected_log_odds_ratio():
    """With one binary predictor, Firth's estimate is the log odds ratio of the 2x2 table
    with 0.5 added to every cell (Firth 1993, Biometrika 80:27, section 3.3; Heinze &
    Schemper 2002, Stat Med 21:2409). Here the x=1 arm has 8/8 events: quasi-separation."""
    x = np.r_[np.zeros(10), np.ones(8)]
    y = np.r_[np.ones(3), np.zeros(7), np.ones(8)]
    fit = firth_logit(y, np.column_stack([np.ones(18), x]))
    assert fit.converged
    assert fit.params[0] == pytest.approx(math.log(3.5 / 7.5), abs=1e-6)
    assert fit.params[1] == pytest.approx(math.log((8.5 / 0.5) / (3.5 / 7.5)), abs=1e-6)
    assert fit.lower[1] < fit.params[1] < fit.upper[1]
    assert fit.lower[1] > 0  # the profile interval excludes no effect


def test_firth_agrees_with_maximum_likelihood_in_large_samples(rng):
    n = 4000
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.3 + 0.7 * x)))).astype(float)
    design = np.column_stack([np.ones(n), x])
    firth = firth_logit(y, design)
    ml = sm.Logit(y, design).fit(disp=0)
    np.testing.assert_allclose(firth.params, ml.params, atol=5e-3)
    ci = np.asarray(ml.conf_int())
    # profile and Wald intervals coincide asymptotically
    np.testing.assert_allclose(firth.lower, ci[:, 0], atol=0.01)
    np.testing.assert_allclose(firth.upper, ci[:, 1], atol=0.01)
