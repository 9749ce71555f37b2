"""A population fit that records its warnings instead of raising them (the slow recovery
tests in tests/fit assert on them: test_population_default_converges.py,
test_population_trial_design.py, test_population_solid_tumour_recovery.py)."""

from __future__ import annotations

import warnings

import cartpk as ck
from cartpk.errors import CartpkWarning


def fit_population_warned(model, data, **options):
    """``ck.fit_population(model, data, **options)`` with every ``CartpkWarning`` recorded:
    the fit and the recorded warnings' messages."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CartpkWarning)
        fit = ck.fit_population(model, data, **options)
    return fit, [str(w.message) for w in caught if isinstance(w.message, CartpkWarning)]
