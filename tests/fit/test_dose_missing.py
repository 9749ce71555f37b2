"""A model that uses the dose is never fitted with its file's default dose in place of the
trial's: subjects without a dose record are a ``dose_missing`` error before any work."""

from __future__ import annotations

import pytest

import cartpk as ck
from cartpk.errors import SpecError


def _without_doses(table):
    return ck.read_dataset(table[table["EVID"] != 1].reset_index(drop=True))


def test_population_design_refuses_a_dose_covariate_without_doses():
    model = ck.load_model("stein2019_covariates")
    table = ck.simulate(model, n=6, seed=2, lloq=50, covariates=_covariates(6))
    data = _without_doses(table.drop(columns=["DOSE"]))
    with pytest.raises(SpecError) as err:
        ck.fit_saem(model, data)
    v = err.value.violations[0]
    assert v.code == "dose_missing" and "DOSE covariate" in v.message and "1" in v.value


def test_population_design_with_a_dose_column_needs_no_dose_records():
    model = ck.load_model("stein2019_covariates")
    table = ck.simulate(model, n=6, seed=2, lloq=50, covariates=_covariates(6))
    data = _without_doses(table)  # the DOSE column gives the covariate
    from cartpk.fit._population_graph import _design

    design = _design(model, data, None, "m3")
    assert len(design.subjects) == 6


def test_individual_fit_of_a_model_whose_equations_take_the_dose_refuses_missing_doses():
    model = ck.load_model("hardiansyah2019")
    data = _without_doses(ck.simulate(model, n=2, seed=1))
    with pytest.raises(SpecError) as err:
        ck.fit_individual(model, data)
    v = err.value.violations[0]
    assert v.code == "dose_missing" and "take the dose" in v.message
    assert "default dose is never put in" in v.fix


def _covariates(n):
    import pandas as pd

    return pd.DataFrame(
        {"DOSE": [1e7, 3e7, 1e8] * (n // 3), "TARGET": ["GD2", "PSMA", "MUC1"] * (n // 3)}
    )
