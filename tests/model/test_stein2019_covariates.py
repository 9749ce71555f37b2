"""The covariate variant of Stein 2019 and its shipped fit specification."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import cartpk as ck
from cartpk.cli._fit import load_spec

REPO = Path(__file__).resolve().parents[2]


def test_stein2019_covariates_names_and_effects():
    m = ck.load_model("stein2019_covariates")
    cov = m.parameter_names("covariate")
    assert set(cov) == {
        "cov_cmax_dose",
        "cov_cmax_target_psma",
        "cov_cmax_target_muc1",
        "cov_cmax_target_msln",
    }
    # same structure and typical values as the smooth-gate model
    smooth = ck.load_model("stein2019_smooth")
    assert m.typical() == smooth.typical()
    # a shift of +0.2 on log(cmax) for MSLN and a dose exponent of 0.5, by name
    m2 = m.with_ini(cov_cmax_target_msln=0.2, cov_cmax_dose=0.5)
    covs = pd.DataFrame(
        {"ID": ["1", "2", "3"], "TARGET": ["GD2", "MSLN", "GD2"], "DOSE": [3e7, 3e7, 1.2e8]}
    )
    p = m2.individual_parameters(covariates=covs)
    base = m.typical()["cmax"]
    np.testing.assert_allclose(p["cmax"], base * np.array([1.0, np.exp(0.2), 4.0**0.5]))


def test_shipped_covariate_spec_is_valid():
    spec = load_spec(REPO / "fits" / "stein2019_covariates.toml")
    assert spec.method == "bayes" and spec.model == "stein2019_covariates"
    # no hand-set B-ALL/10 centres any more: the model's solid_tumour prior set applies
    assert spec.ini == {} and "priors" not in spec.options
    assert ck.load_model(spec.model).default_priors == "solid_tumour"
