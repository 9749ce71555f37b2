"""Exposure from fit results: per-subject fits and population posteriors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

import cartpk as ck
from cartpk.errors import SpecError
from cartpk.exposure import posterior_parameters

STEIN = ck.load_model("stein2019")


def test_exposure_from_individual_uses_the_fit_table():
    sim = ck.simulate(STEIN, n=2, seed=1, lloq=50, days=[1, 3, 7, 14, 28, 60, 90])
    fit = ck.fit_individual(STEIN, sim, workers=1, n_starts=1)
    res = ck.exposure.exposure_from_individual(fit, lloq=50)
    table = fit.table()
    assert list(res.wide["ID"]) == list(table["ID"].astype(str))
    direct = ck.model_exposure(STEIN, table[["ID", *STEIN.thetas]], lloq=50)
    pd.testing.assert_frame_equal(res.wide, direct.wide)
    assert res.options["not_converged"] == table.loc[~table["converged"], "ID"].astype(str).tolist()


def test_exposure_from_individual_rejects_other_objects():
    with pytest.raises(SpecError) as err:
        ck.exposure.exposure_from_individual(pd.DataFrame())
    assert err.value.code == "fit_type"


def _idata(rng: np.random.Generator, n_chain: int = 2, n_draw: int = 50, n_subj: int = 3):
    """A posterior shaped like `cartpk.fit_population`'s: mu_<P>, omega_<P>, eta_<P>[subject]."""
    az = pytest.importorskip("arviz")
    h = STEIN.to_transformed(STEIN.typical())
    post = {}
    for name in STEIN.thetas:
        post[f"mu_{name}"] = h[name] + 0.05 * rng.standard_normal((n_chain, n_draw))
        post[f"eta_{name}"] = 0.3 * rng.standard_normal((n_chain, n_draw, n_subj))
    subjects = [f"10{i}" for i in range(n_subj)]
    dims = {f"eta_{n}": ["subject"] for n in STEIN.thetas}
    return az.from_dict(posterior=post, coords={"subject": subjects}, dims=dims), post, subjects


def test_posterior_parameters_rebuild_individual_values(rng):
    idata, post, subjects = _idata(rng)
    table = posterior_parameters(STEIN, idata, n_draws=None)
    assert len(table) == 2 * 50 * 3
    assert list(table.columns) == ["ID", "draw", *STEIN.thetas]
    # subject 101, flattened draw 57 = chain 1, draw 7
    row = table[(table["ID"] == "101") & (table["draw"] == 57)].iloc[0]
    assert row["cmax"] == pytest.approx(math.exp(post["mu_cmax"][1, 7] + post["eta_cmax"][1, 7, 1]))
    logit = post["mu_fb"][1, 7] + post["eta_fb"][1, 7, 1]
    assert row["fb"] == pytest.approx(1 / (1 + math.exp(-logit)))
    thinned = posterior_parameters(STEIN, idata, n_draws=5)
    assert sorted(thinned["draw"].unique()) == [0, 25, 50, 74, 99]


def test_exposure_from_posterior_with_model_and_idata(rng):
    idata, post, subjects = _idata(rng)
    res = ck.exposure.exposure_from_posterior(STEIN, idata, n_draws=20, lloq=50)
    assert res.has_draws and len(res.wide) == 60
    summ = res.summary_wide()
    assert list(summ["ID"]) == subjects
    # the Stein peak equals the individual cmax, so its median is the median of exp(mu + eta)
    table = posterior_parameters(STEIN, idata, n_draws=20)
    expected = table.groupby("ID", sort=False)["cmax"].median()
    np.testing.assert_allclose(summ.set_index("ID")["cmax"], expected.loc[subjects], rtol=1e-9)
    assert (summ["cmax_lower"] <= summ["cmax"]).all() and (summ["cmax"] <= summ["cmax_upper"]).all()


def test_exposure_from_posterior_needs_idata_with_a_model():
    with pytest.raises(SpecError) as err:
        ck.exposure.exposure_from_posterior(STEIN)
    assert err.value.code == "idata_required"


def test_posterior_parameters_need_the_fit_for_covariates(rng):
    idata, _, _ = _idata(rng)
    with_cov = STEIN.with_covariates(ck.model.power("cmax", on="DOSE", ref=1e8))
    with pytest.raises(SpecError) as err:
        posterior_parameters(with_cov, idata)
    assert err.value.code == "covariates_need_fit"


@dataclass
class _FitLike:
    """The parts of `PopulationFit` that exposure reads (`model, subjects, idata, dose,
    individual_draws`)."""

    model: object
    subjects: list[str]
    idata: object
    dose: np.ndarray
    values: dict[str, np.ndarray]

    def individual_draws(self, n=200):
        return {k: v[:n] for k, v in self.values.items()}


def test_exposure_from_posterior_with_a_population_fit(rng):
    idata, _, subjects = _idata(rng)
    typ = STEIN.typical()
    n_d = 10
    values = {k: np.full((n_d, 3), v) for k, v in typ.items()}
    values["cmax"] = typ["cmax"] * np.exp(0.2 * rng.standard_normal((n_d, 3)))
    fit = _FitLike(STEIN, subjects, idata, np.full(3, 1e8), values)
    res = ck.exposure.exposure_from_posterior(fit, n_draws=n_d)
    assert len(res.wide) == 30
    got = res.wide.pivot(index="draw", columns="ID", values="cmax")[subjects].to_numpy()
    np.testing.assert_allclose(got, values["cmax"], rtol=1e-9)
    assert sorted(res.wide["draw"].unique()) == list(np.linspace(0, 99, n_d).round().astype(int))


@pytest.mark.slow
def test_exposure_from_a_real_population_fit_both_routes_agree():
    """A short PyMC fit (about a minute): the PopulationFit route and the model + idata
    route read the same individual parameters and label the same draws."""
    import warnings

    model = ck.load_model("stein2019_smooth")
    sim = ck.simulate(model, n=6, seed=2, lloq=50, days=[1, 3, 7, 14, 21, 28, 60, 90])
    with warnings.catch_warnings():
        # a 200-iteration fit is not meant to converge; the fit is not under test here
        warnings.simplefilter("ignore")
        fit = ck.fit_population(model, ck.read_dataset(sim), draws=100, tune=200, chains=2, seed=1)
    via_fit = ck.exposure.exposure_from_posterior(fit, n_draws=50, lloq=50)
    via_idata = ck.exposure.exposure_from_posterior(model, fit.idata, n_draws=50, lloq=50)
    pd.testing.assert_frame_equal(via_fit.wide, via_idata.wide, rtol=1e-12)
    assert via_fit.wide["ID"].nunique() == 6 and len(via_fit.wide) == 300
