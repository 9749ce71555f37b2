"""`IndividualFitEstimator`: per-subject rows and the median of individual estimates."""

from __future__ import annotations

import numpy as np
import pytest

import cartpk as ck
from cartpk.batch import IndividualFitEstimator, median_interval


def test_estimator_options_are_checked():
    with pytest.raises(ValueError, match="blq"):
        IndividualFitEstimator(blq="m9")
    with pytest.raises(ValueError, match="n_starts"):
        IndividualFitEstimator(n_starts=0)
    assert IndividualFitEstimator(parameters=["tmax"]).parameters == ("tmax",)


@pytest.mark.slow
def test_median_summary_is_the_median_of_converged_individual_estimates():
    model = ck.load_model("stein2019")
    days = [2, 4, 7, 10, 14, 21, 28, 60, 90]
    data = ck.read_dataset(ck.simulate(model, n=7, seed=8, lloq=20.0, days=days))
    opts = {"n_starts": 1, "parameters": ("tmax", "foldx")}
    ind = IndividualFitEstimator(summary="individual", **opts)(data, model)
    typ = IndividualFitEstimator(summary="median", **opts)(data, model).set_index("parameter")
    assert set(ind["ID"]) == set(data.subjects) and len(ind) == 14
    for name in ("tmax", "foldx"):
        vals = ind[(ind["parameter"] == name) & ind["converged"]]["estimate"].to_numpy()
        assert typ.at[name, "estimate"] == np.median(vals)
        lo, hi = median_interval(vals)
        assert (typ.at[name, "lower"], typ.at[name, "upper"]) == (lo, hi)
        assert 0.0 <= typ.at[name, "identified"] <= 1.0
