"""The SAEM estimator of SSE and bootstrap studies (issue 20): its table, and its options
checked in a study specification."""

from __future__ import annotations

import pytest

import cartpk as ck
from cartpk.batch import SaemEstimator
from cartpk.batch._spec import estimator_from_spec, load_spec
from cartpk.errors import SpecError

DESIGN = {
    "kind": "parameters",
    "model": "stein2019_smooth",
    "days": [7, 14, 28],
    "n_subjects": 20,
    "n_replicates": 2,
    "seed": 1,
}


def test_estimator_returns_every_estimated_population_parameter():
    model = ck.load_model("stein2019_smooth").with_iiv(drop=["foldx", "tmax", "fb", "beta"])
    model = model.fix("foldx", "fb", "beta")
    days = (1.0, 3.0, 7.0, 14.0, 28.0, 90.0)
    data = ck.read_dataset(ck.simulate(model, n=30, seed=3, lloq=50.0, days=days))
    est = SaemEstimator(explore=60, smooth=20, is_samples=100, fim_samples=100)(data, model)
    assert list(est.columns) == [
        "parameter",
        "estimate",
        "lower",
        "upper",
        "converged",
        "identified",
    ]
    assert set(est["parameter"]) == {"tmax", "cmax", "alpha", "omega_cmax", "omega_alpha", "sigma"}
    assert (est["lower"] < est["estimate"]).all() and (est["estimate"] < est["upper"]).all()
    assert est["identified"].all()


def test_saem_estimator_options_are_checked_in_a_study_spec():
    spec = load_spec({**DESIGN, "estimator": {"kind": "saem", "explore": 100}}, kind="sse")
    assert estimator_from_spec(spec) == SaemEstimator(explore=100)
    with pytest.raises(SpecError) as err:
        load_spec({**DESIGN, "estimator": {"kind": "saem", "n_starts": 3}}, kind="sse")
    assert err.value.violations[0].code == "estimator_option"
    with pytest.raises(SpecError):
        load_spec({**DESIGN, "estimator": {"kind": "saem", "blq": "m4"}}, kind="sse")
