"""SAEM (issue 20) against the truth: an independent engine on a model with a closed-form
likelihood, and recovery of a simulated Stein trial.

A linear model with a random intercept and additive error is a linear mixed model: its
maximum-likelihood estimates, standard errors and exact -2LL come from statsmodels'
``MixedLM`` (an independent engine, ML not REML), so SAEM's estimates, its Fisher-information
standard errors and its importance-sampled -2LL are checked against them.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import cartpk as ck
from cartpk.errors import CartpkWarning, FitError, SpecError
from cartpk.fit.saem import POPULATION_COLUMNS, fit_saem
from cartpk.model import ClosedFormModel, additive, omega, theta


class Line(ClosedFormModel):
    """``Y = a + b t`` with a random intercept: a linear mixed model."""

    name = "line"
    outputs = {"Y": "mg/L"}
    a = theta(10.0, unit="mg/L", transform=None)
    b = theta(-0.5, unit="mg/L/day", transform=None)
    iiv = omega(sd={"a": 1.0})
    error = additive(sigma=0.5)

    @staticmethod
    def predict(xp, time, *, a, b):
        return {"Y": a + b * time}


@pytest.fixture(scope="module")
def linear():
    model = Line()
    data = ck.read_dataset(ck.simulate(model, n=60, seed=3, days=(1.0, 2.0, 4.0, 7.0, 10.0)))
    return model, data, fit_saem(model, data, seed=2)


def test_linear_mixed_model_agrees_with_statsmodels_mixedlm(linear):
    """Estimates within 0.1 standard errors of MixedLM's ML fit (SAEM's Monte-Carlo error
    is a small fraction of an SE), standard errors within 5 %, -2LL within 4 MC SEs."""
    import statsmodels.formula.api as smf

    model, data, fit = linear
    obs = data.observations("Y")
    ref = smf.mixedlm("DV ~ TIME", obs, groups=obs["ID"]).fit(reml=False)
    p = fit.parameters.set_index("parameter")
    for name, key in (("a", "Intercept"), ("b", "TIME")):
        se = float(ref.bse[key])
        assert abs(p.loc[name, "estimate"] - ref.params[key]) < 0.1 * se, name
        assert p.loc[name, "se"] == pytest.approx(se, rel=0.05), name
    assert p.loc["omega_a", "estimate"] == pytest.approx(math.sqrt(ref.cov_re.iloc[0, 0]), rel=0.02)
    assert p.loc["sigma", "estimate"] == pytest.approx(math.sqrt(ref.scale), rel=0.02)
    s = fit.summary
    assert abs(s["minus2ll"] - (-2 * ref.llf)) < 4 * s["minus2ll_mc_se"] + 0.05, s
    assert s["minus2ll_mc_se"] < 0.5


def test_summary_numbers_and_tables(linear):
    model, data, fit = linear
    s = fit.summary
    assert s["converged"] and s["fim_positive_definite"]
    assert s["n_parameters"] == 4 and s["n_subjects"] == 60
    assert s["aic"] == pytest.approx(s["minus2ll"] + 2 * 4)
    assert s["bic"] == pytest.approx(s["minus2ll"] + 4 * math.log(60))
    assert list(fit.parameters.columns[:7]) == POPULATION_COLUMNS[:7]
    p = fit.parameters.set_index("parameter")
    assert p.loc["a", "unit"] == "mg/L" and not p.loc["a", "fixed"]
    assert (p["lower"] < p["estimate"]).all() and (p["estimate"] < p["upper"]).all()
    ind = fit.individual
    assert list(ind["ID"]) == list(data.subjects) and "eta_a" in ind and "a_mean" in ind
    # the mode's random effects are centred and the shrinkage is small (5 records each)
    assert abs(ind["eta_a"].mean()) < 0.1 and s["shrinkage"]["a"] < 0.15
    assert len(fit.trace) == s["iterations"]


def test_predictions_and_replicates_come_from_the_estimates(linear):
    """The fit serves the Bayesian fit's predictive interface: ``eta="posterior"`` draws are
    the subjects' conditional draws (their mean is ``individual``'s conditional mean), PRED is
    the model at the estimates, and replicates of new subjects have the estimated spread."""
    model, data, fit = linear
    est = fit.parameters.set_index("parameter")["estimate"]
    ind = fit.individual_draws(None, eta="posterior")
    np.testing.assert_allclose(ind["a"].mean(axis=0), fit.individual["a_mean"], rtol=1e-12)
    pred = fit.predict(n=5, eta="zero")["Y"]
    t = fit.observations["TIME"].to_numpy()
    np.testing.assert_allclose(pred, np.broadcast_to(est["a"] + est["b"] * t, pred.shape))
    sim, cens = fit.simulate(400, seed=1)
    assert sim.shape == (400, len(fit.observations)) and not cens.any()
    resid = sim - (est["a"] + est["b"] * t)
    expected = math.sqrt(est["omega_a"] ** 2 + est["sigma"] ** 2)
    assert resid.std() == pytest.approx(expected, rel=0.05)


@pytest.mark.slow
def test_stein_trial_recovers_the_truth():
    """Stein 2019 (smooth gate) on a rich design, 60 subjects, LLOQ 50: every 95 % interval
    of the typical values with a random effect, their SDs and sigma covers the truth."""
    model = ck.load_model("stein2019_smooth").with_iiv(drop=["foldx", "tmax", "fb", "beta"])
    days = (1.0, 3.0, 7.0, 10.0, 14.0, 21.0, 28.0, 60.0, 90.0, 180.0, 365.0)
    data = ck.read_dataset(ck.simulate(model, n=60, seed=11, lloq=50.0, days=days))
    fit = fit_saem(model, data, seed=1, explore=200, smooth=100, is_samples=500, fim_samples=300)
    p = fit.parameters.set_index("parameter")
    truth = model.initial_values()
    for name in ("cmax", "alpha", "tmax", "omega_cmax", "omega_alpha", "sigma"):
        assert p.loc[name, "lower"] <= truth[name] <= p.loc[name, "upper"], (name, p.loc[name])
    for name in ("cmax", "alpha", "tmax"):
        assert abs(math.log(p.loc[name, "estimate"] / truth[name])) < 0.25, name
    assert fit.summary["converged"], fit.summary


def test_m1_lists_the_censored_records_it_discards():
    model = Line()
    table = ck.simulate(model, n=20, seed=4, days=(1.0, 5.0, 10.0, 20.0), lloq=2.0)
    data = ck.read_dataset(table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CartpkWarning)  # a short run: SEs may be NaN
        fit = fit_saem(model, data, blq="m1", explore=50, smooth=20, is_samples=50, fim_samples=50)
    censored = int((data.observations("Y")["CENS"] != 0).sum())
    assert censored > 0 and len(fit.excluded) == censored
    assert fit.summary["n_observations"] == len(data.observations("Y")) - censored


def test_invalid_options_and_models_are_refused_with_every_problem():
    model = Line()
    data = ck.read_dataset(ck.simulate(model, n=3, seed=1, days=(1.0, 2.0)))
    with pytest.raises(SpecError) as err:
        fit_saem(model, data, blq="m4", explore=0, level=1.5)  # type: ignore[arg-type]
    codes = {v.column for v in err.value.violations}
    assert codes == {"blq", "explore", "level"}
    with pytest.raises(FitError) as ode:
        fit_saem(ck.load_model("stein2019_ode"), data)
    assert ode.value.violations[0].code == "saem_model_kind"


def test_same_seed_same_estimates(linear):
    model, data, _ = linear
    short = dict(explore=40, smooth=10, is_samples=50, fim_samples=50, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CartpkWarning)
        one, two = fit_saem(model, data, **short), fit_saem(model, data, **short)
    np.testing.assert_array_equal(
        one.parameters["estimate"].to_numpy(), two.parameters["estimate"].to_numpy()
    )


class Washout(ClosedFormModel):
    """``Y = a exp(-k t)`` with a random ``a``: ``k`` is barely informed by early samples."""

    name = "washout"
    outputs = {"Y": "mg/L"}
    a = theta(10.0, unit="mg/L")
    k = theta(0.1, unit="1/day")
    iiv = omega(sd={"a": 0.3})
    error = additive(sigma=0.5)

    @staticmethod
    def predict(xp, time, *, a, k):
        return {"Y": a * xp.exp(-k * time)}


def test_a_parameter_the_design_barely_informs_is_named():
    """Samples in the first 0.05 day cannot determine a rate of 0.1/day: its log-scale SE
    exceeds 1 and the fit says so (``saem_poorly_identified``); the well-determined ``a`` and
    its omega are not named."""
    model = Washout()
    data = ck.read_dataset(ck.simulate(model, n=30, seed=2, days=(0.01, 0.02, 0.03, 0.05)))
    short = dict(explore=60, smooth=20, is_samples=200, fim_samples=200, seed=1)
    with pytest.warns(CartpkWarning) as record:
        fit = fit_saem(model, data, **short)
    assert fit.summary["poorly_identified"] == ["k"]
    codes = [getattr(w.message, "code", None) for w in record]
    assert "saem_poorly_identified" in codes
    se = fit.covariance.loc["mu_k", "mu_k"] ** 0.5
    assert se > 1.0 and fit.covariance.loc["mu_a", "mu_a"] ** 0.5 < 0.2


class WashoutMarker(Washout):
    """:class:`Washout` with a second output ``Z``, a level ``b`` without IIV that its own
    samples determine."""

    name = "washout_marker"
    outputs = {"Y": "mg/L", "Z": "mg/L"}
    b = theta(2.0, unit="mg/L")
    error = {"Y": additive(sigma=0.5), "Z": additive(sigma=0.5)}

    @staticmethod
    def predict(xp, time, *, a, k, b):
        return {"Y": a * xp.exp(-k * time), "Z": b + 0.0 * time}


def test_the_warning_asks_for_profiles_of_the_other_typical_values():
    """With ``k`` barely determined, the Wald interval of the other typical value without
    IIV (``b``) rests on ``k`` staying where SAEM left it: the warning and the summary name
    ``b`` for a profile-likelihood interval (never ``k`` itself, nor ``a`` with its IIV)."""
    model = WashoutMarker()
    data = ck.read_dataset(ck.simulate(model, n=30, seed=2, days=(0.01, 0.02, 0.03, 0.05)))
    short = dict(explore=60, smooth=20, is_samples=200, fim_samples=200, seed=1)
    with pytest.warns(CartpkWarning) as record:
        fit = fit_saem(model, data, **short)
    assert "k" in fit.summary["poorly_identified"]
    assert fit.summary["profile_suggested"] == ["b"]
    message = next(str(w.message) for w in record if w.message.code == "saem_poorly_identified")
    assert "profile=['b']" in message and 'profile = ["b"]' in message


def test_profile_interval_of_a_quadratic_likelihood_is_the_wald_interval(linear):
    """In a linear mixed model the log-likelihood is quadratic in the slope: its profile
    interval (refits with ``b`` fixed) equals the Wald interval to within 5 % of its width."""
    model, data, fit = linear
    prof = fit_saem(model, data, seed=2, profile=["b"])
    p = prof.parameters.set_index("parameter")
    width = p.loc["b", "upper"] - p.loc["b", "lower"]
    assert abs(p.loc["b", "profile_lower"] - p.loc["b", "lower"]) < 0.05 * width
    assert abs(p.loc["b", "profile_upper"] - p.loc["b", "upper"]) < 0.05 * width
    detail = prof.summary["profile"]["b"]
    assert detail["closed_lower"] and detail["closed_upper"] and detail["refits"] >= 2
    assert p[["profile_lower", "profile_upper"]].drop(index="b").isna().all().all()
    with pytest.raises(SpecError) as err:
        fit_saem(model, data, profile=["a"])  # has a random effect: Wald serves it
    assert err.value.violations[0].code == "saem_option"
