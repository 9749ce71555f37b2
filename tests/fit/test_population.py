"""Population model generated from the declaration: names, priors, censored likelihood, errors.

Nothing here samples; see ``test_population_sampling.py`` for the sampling tests.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cartpk as ck
from cartpk.errors import CartpkWarning, FitError, SpecError
from cartpk.fit.population import population_model, population_priors
from cartpk.model import ClosedFormModel, categorical, load_model, log_additive, omega, power, theta


def _dataset_with_covariates() -> ck.Dataset:
    base = load_model("stein2019_smooth")
    cov = pd.DataFrame(
        {"TARGET": ["GD2", "PSMA", "GD2", "PSMA", "GD2", "PSMA"], "DOSE": [5e7, 1e8, 2e8] * 2}
    )
    return ck.read_dataset(ck.simulate(base, covariates=cov, seed=4, lloq=50))


def _covariate_model():
    return load_model("stein2019_smooth").with_covariates(
        power("cmax", on="DOSE", ref=1e8),
        categorical("foldx", on="TARGET", reference="GD2", levels=["GD2", "PSMA"]),
    )


def test_generated_model_uses_declaration_names():
    model = _covariate_model()
    data = _dataset_with_covariates()
    pmm = population_model(model, data)
    free = {v.name for v in pmm.free_RVs}
    det = {v.name for v in pmm.deterministics}
    thetas = ["foldx", "tmax", "cmax", "alpha", "fb", "beta"]
    assert {f"mu_{p}" for p in thetas} <= free
    assert {f"omega_{p}" for p in thetas} <= free
    assert {"sigma", "cov_cmax_dose", "cov_foldx_target_psma"} <= free
    assert set(thetas) <= det  # typical values on the natural scale
    assert {f"eta_{p}" for p in thetas} <= det
    assert "gate" not in free | det  # fixed in the declaration: a constant
    assert pmm.named_vars_to_dims["eta_cmax"] == ("subject",)
    assert list(pmm.coords["subject"]) == data.subjects
    assert [p.name for p in pmm.potentials] == ["loglik_QPCR"]


def _two_records() -> ck.Dataset:
    table = pd.DataFrame(
        {
            "ID": ["1", "1", "1"],
            "TIME": [0.0, 14.0, 90.0],
            "DV": [np.nan, 5000.0, 50.0],
            "EVID": [1, 0, 0],
            "AMT": [1e8, 0.0, 0.0],
            "MDV": [1, 0, 0],
            "CENS": [0, 0, 1],
            "LLOQ": [np.nan, 50.0, 50.0],
            "DVID": ["", "QPCR", "QPCR"],
        }
    )
    return ck.read_dataset(table)


def _potential_at(pmm, values: dict[str, float]) -> float:
    # the Potential's term of the model log-density, as a function of the value variables
    term = pmm.logp(vars=[pmm["loglik_QPCR"]])
    fn = pmm.compile_fn(term, inputs=pmm.value_vars, on_unused_input="ignore")
    point = pmm.initial_point()
    for k, v in values.items():
        point[k] = np.asarray(v, dtype=point[k].dtype).reshape(np.shape(point[k]))
    return float(fn(point))


@pytest.mark.parametrize("z_cmax, omega_cmax", [(0.0, 0.8), (1.0, 0.5)])
def test_censored_likelihood_matches_scipy(z_cmax, omega_cmax):
    """Quantified: log N(log y; log f, sigma) - log y; BLQ (M3): log Phi((log LLOQ - log f)/sigma)."""
    model = load_model("stein2019_smooth")
    pmm = population_model(model, _two_records())
    typ = model.typical()
    values = {
        f"mu_{k}": float(model.to_transformed({k: v})[k]) for k, v in typ.items() if k != "gate"
    }
    values.update(
        {"z_cmax": z_cmax, "omega_cmax_log__": math.log(omega_cmax), "sigma_log__": math.log(0.56)}
    )
    got = _potential_at(pmm, values)

    params = dict(typ, cmax=typ["cmax"] * math.exp(omega_cmax * z_cmax))
    f14, f90 = model.evaluate(np, np.array([14.0, 90.0]), params)["QPCR"]
    expected = (
        stats.norm.logpdf(math.log(5000.0), math.log(f14), 0.56)
        - math.log(5000.0)
        + stats.norm.logcdf((math.log(50.0) - math.log(f90)) / 0.56)
    )
    assert got == pytest.approx(expected, rel=1e-9)


def test_m1_discards_censored_records_and_lists_them():
    model = load_model("stein2019_smooth")
    data = _two_records()
    typ = model.typical()
    values = {
        f"mu_{k}": float(model.to_transformed({k: v})[k]) for k, v in typ.items() if k != "gate"
    }
    values["sigma_log__"] = math.log(0.56)
    got = _potential_at(population_model(model, data, blq="m1"), values)
    f14 = model.evaluate(np, np.array([14.0]), typ)["QPCR"][0]
    expected = stats.norm.logpdf(math.log(5000.0), math.log(f14), 0.56) - math.log(5000.0)
    assert got == pytest.approx(expected, rel=1e-9)
    # M4 equals M3 for a log-additive error (y > 0 already)
    m3 = _potential_at(population_model(model, data, blq="m3"), values)
    m4 = _potential_at(population_model(model, data, blq="m4"), values)
    assert m4 == pytest.approx(m3, rel=1e-12)


def test_priors_are_centred_on_the_declaration_and_documented():
    model = load_model("stein2019_smooth")
    weak = population_priors(model).set_index("parameter")
    lit = population_priors(model, "literature").set_index("parameter")
    assert weak.loc["mu_cmax", "loc"] == pytest.approx(math.log(24000))
    assert weak.loc["mu_fb", "loc"] == pytest.approx(math.log(0.0079 / (1 - 0.0079)))
    assert weak.loc["mu_cmax", "scale"] == 1.5 and lit.loc["mu_cmax", "scale"] == 0.5
    # Stein 2019 Table 1 read as variances by the declaration: omega_foldx = sqrt(2.4)
    assert lit.loc["omega_foldx", "scale"] == pytest.approx(math.sqrt(2.4), abs=1e-3)
    assert weak.loc["omega_foldx", "scale"] == pytest.approx(2 * math.sqrt(2.4), abs=1e-3)
    assert weak.loc["sigma", "distribution"] == "HalfNormal"
    assert weak.loc["omega_cmax", "on"] == "SD of log(cmax)"
    assert "mu_gate" not in weak.index  # fixed parameter: no prior


class _Decay(ClosedFormModel):
    """A one-phase decline with a bounded rate: any closed-form declaration is accepted."""

    name = "decay_test"
    outputs = {"QPCR": "copies/ug"}
    k = theta(0.1, unit="1/day", lower=0.01, upper=1.0, label="decline rate")
    c0 = theta(1000.0, unit="copies/ug", label="level at infusion")
    iiv = omega(sd={"k": 0.3})
    error = log_additive(sigma=0.3)

    @staticmethod
    def predict(xp, time, *, k, c0):
        return {"QPCR": c0 * xp.exp(-k * time)}


def test_bounded_theta_gets_truncated_prior():
    model = _Decay()
    row = population_priors(model).set_index("parameter").loc["mu_k"]
    assert row["distribution"] == "TruncatedNormal"
    assert row["lower"] == pytest.approx(math.log(0.01)) and row["upper"] == pytest.approx(0.0)
    pmm = population_model(model, _two_records())
    assert {v.name for v in pmm.free_RVs} == {"mu_k", "mu_c0", "omega_k", "z_k", "sigma"}


def test_unknown_priors_choice_raises():
    with pytest.raises(SpecError) as err:
        population_priors(load_model("stein2019_smooth"), "vague")  # type: ignore[arg-type]
    assert err.value.code == "priors"
    assert "literature" in str(err.value)


@pytest.mark.slow  # > 20 s on one core (compiles); CI runs it with -m slow
@pytest.mark.parametrize("engine", ["jax", "scipy"])
def test_ode_model_gives_the_closed_form_log_density_and_gradient(engine):
    # stein2019_ode is stein2019 as an ODE (same names, same hard switch at tmax): the
    # generated population model must have the same log-density and gradient at any point,
    # whichever engine integrates it
    if engine == "jax":
        pytest.importorskip("diffrax")
    data = ck.read_dataset(ck.simulate(load_model("stein2019"), n=4, seed=3, lloq=50))
    closed = population_model(load_model("stein2019"), data)
    ode = population_model(load_model("stein2019_ode"), data, ode_engine=engine)
    assert sorted(v.name for v in closed.free_RVs) == sorted(v.name for v in ode.free_RVs)
    rng = np.random.default_rng(0)
    ip = closed.initial_point()
    for _ in range(3):
        point = {k: v + 0.1 * rng.standard_normal(np.shape(v)) for k, v in ip.items()}
        assert ode.compile_logp()(point) == pytest.approx(closed.compile_logp()(point), rel=1e-6)
        np.testing.assert_allclose(
            ode.compile_dlogp()(point), closed.compile_dlogp()(point), rtol=1e-4, atol=1e-6
        )


def test_ode_population_integrates_each_subject_on_its_own_times():
    from cartpk.fit._population_graph import _subject_grid

    subj = np.array([0, 0, 0, 1, 1, 2])
    time = np.array([7.0, 0.0, 7.0, 90.0, 14.0, 3.0])
    grid, col = _subject_grid(subj, time, 3)
    np.testing.assert_array_equal(grid, [[0.0, 7.0], [14.0, 90.0], [3.0, 3.0]])
    np.testing.assert_array_equal(grid[subj, col], time)


def test_time_varying_ode_model_is_refused_with_the_alternative():
    base = type(load_model("stein2019_ode"))

    class Tv(base):
        name = "stein2019_ode_tv"
        time_varying = {"TOCI": 0.0}  # e.g. tocilizumab from its start day

        @staticmethod
        def rhs(xp, time, y, *, foldx, tmax, alpha, fb, beta, TOCI):  # noqa: N803
            return base.rhs(
                xp,
                time,
                y,
                foldx=foldx,
                tmax=tmax,
                alpha=alpha * (1 - 0.5 * TOCI),
                fb=fb,
                beta=beta,
            )

    with pytest.raises(FitError) as err:
        population_model(Tv(), _two_records())
    assert err.value.code == "population_time_varying"
    assert "individual" in err.value.violations[0].fix


def test_missing_covariate_and_unknown_output_are_reported():
    model = load_model("stein2019_smooth").with_covariates(power("cmax", on="WT", ref=70))
    with pytest.raises(SpecError) as err:
        population_model(model, _two_records())
    assert err.value.code == "covariate_missing"
    assert "WT" in str(err.value)
    with pytest.raises(SpecError) as err:
        population_model(load_model("stein2019_smooth"), _two_records(), dvid="IL6")
    assert err.value.code == "unknown_output"


def test_invalid_sampling_options_raise_before_anything_runs():
    data = _two_records()
    with pytest.raises(SpecError) as err:
        ck.fit_population(load_model("stein2019_smooth"), data, sampler="metropolis")  # type: ignore[arg-type]
    assert err.value.code == "sampler"
    with pytest.raises(SpecError) as err:
        ck.fit_population(load_model("stein2019_smooth"), data, draws=0, target_accept=1.5)
    assert {v.code for v in err.value.violations} == {"sampling_option"}
    assert len(err.value.violations) == 2


def test_invalid_init_and_ode_options_raise_before_anything_runs():
    data = _two_records()
    with pytest.raises(SpecError) as err:
        ck.fit_population(load_model("stein2019_smooth"), data, init="median")  # type: ignore[arg-type]
    assert err.value.code == "init"
    ode = load_model("stein2019_ode")
    with pytest.raises(SpecError) as err:
        ck.fit_population(ode, data, ode_engine="torch", ode_method="Euler")
    assert [v.code for v in err.value.violations] == ["ode_engine", "ode_method"]
    with pytest.raises(SpecError) as err:  # a diffrax solver is no SciPy method
        ck.fit_population(ode, data, ode_engine="scipy", ode_method="Tsit5")
    assert err.value.code == "ode_method"


def test_mass_matrix_option_is_validated_before_anything_runs():
    data = _two_records()
    model = load_model("stein2019_smooth")
    with pytest.raises(SpecError) as err:
        ck.fit_population(model, data, mass_matrix="dense")  # type: ignore[arg-type]
    assert err.value.code == "mass_matrix"
    with pytest.raises(SpecError) as err:  # PyMC's NUTS has no low-rank adaptation
        ck.fit_population(model, data, mass_matrix="low_rank", sampler="pymc")
    assert err.value.code == "mass_matrix"


def test_centred_random_effects_give_the_same_posterior_density():
    """Centred ``eta ~ N(0, omega)`` and non-centred ``eta = omega z`` are one model: at
    ``z = eta / omega`` the log-densities differ by the change of variables' Jacobian,
    ``-n log(omega)`` per centred random effect (n subjects), and by nothing else."""
    model = load_model("stein2019_smooth").with_iiv(drop=["foldx", "tmax", "fb", "beta"])
    data = ck.read_dataset(ck.simulate(model, n=5, seed=2, lloq=50))
    nc = population_model(model, data)
    c = population_model(model, data, centered=["cmax"])
    free_c = {v.name for v in c.free_RVs}
    assert "eta_cmax" in free_c and "z_cmax" not in free_c and "z_alpha" in free_c
    logp_nc, logp_c = nc.compile_logp(), c.compile_logp()
    rng = np.random.default_rng(0)
    point = nc.initial_point()
    for _ in range(3):
        x = {k: v + 0.3 * rng.standard_normal(np.shape(v)) for k, v in point.items()}
        om = math.exp(float(x["omega_cmax_log__"]))
        y = {k: v for k, v in x.items() if k != "z_cmax"}
        y["eta_cmax"] = om * x["z_cmax"]
        assert logp_c(y) == pytest.approx(logp_nc(x) - 5 * math.log(om), rel=1e-10)
    with pytest.raises(SpecError) as err:  # foldx carries no random effect here
        population_model(model, data, centered=["foldx"])
    assert err.value.code == "centered"


def test_default_ode_engine_follows_the_solver():
    from cartpk.fit.population import default_ode_engine
    from cartpk.ode._jax import jax_available

    fast = "jax" if jax_available() else "scipy"
    assert default_ode_engine(None, load_model("stein2019_ode")) == fast  # DOP853
    assert default_ode_engine(None, load_model("cartmath_illustration")) == "scipy"  # BDF: stiff
    assert default_ode_engine(None, load_model("cartmath_illustration"), "Tsit5") == fast
    assert default_ode_engine("scipy", load_model("stein2019_ode")) == "scipy"


def test_hard_gate_model_warns_towards_smooth_variant():
    model = load_model("stein2019").with_covariates(power("cmax", on="WT", ref=70))
    with pytest.warns(CartpkWarning) as rec, pytest.raises(SpecError):
        ck.fit_population(model, _two_records())
    assert rec[0].message.code == "non_smooth_model"
    assert rec[0].message.details["suggested"] == "stein2019_smooth"


# -- how much of an interval is prior (issue 6: "show how much of their interval comes from
#    the prior") --------------------------------------------------------------------------


@pytest.mark.slow  # > 20 s on one core (compiles); CI runs it with -m slow
def test_prior_intervals_match_draws_from_the_generated_model():
    """The quantiles behind `prior_width_ratio` are those of the priors PyMC samples from,
    truncation included (`mu_k` is bounded to [0.01, 1] on the natural scale)."""
    import pymc as pm

    from cartpk.fit._population_priors import _prior_interval

    model = _Decay()
    pmm = population_model(model, _two_records())
    prior = population_priors(model).set_index("parameter")
    names = list(prior.index)
    draws = pm.draw([pmm[n] for n in names], draws=40_000, random_seed=7)
    for name, x in zip(names, draws, strict=True):
        lo, hi = _prior_interval(prior.loc[name], 0.95)
        # Monte-Carlo SE of a 2.5 % quantile from 40,000 draws: <= 0.02 on these scales
        assert lo == pytest.approx(np.quantile(x, 0.025), abs=0.06), name
        assert hi == pytest.approx(np.quantile(x, 0.975), abs=0.06), name
    lo, hi = _prior_interval(prior.loc["mu_k"], 0.95)
    assert math.log(0.01) < lo and hi < 0.0  # inside the bounds, not Normal's +-1.96 SD


def _posterior_with_known_widths(model, subjects, n=4000, seed=3):
    """A synthetic posterior of `_Decay` whose interval widths are known in advance."""
    import arviz as az

    rng = np.random.default_rng(seed)
    prior = population_priors(model).set_index("parameter")
    # mu_c0: Normal(mu, 0.3) -> 95 % width 2 * 1.96 * 0.3, a fifth of the prior's 2 * 1.96 * 1.5
    mu_c0 = rng.normal(prior.loc["mu_c0", "loc"], 0.3, n)
    # mu_k: the truncated prior itself, drawn by rejection (independent of scipy's truncnorm)
    p = prior.loc["mu_k"]
    x = rng.normal(p["loc"], p["scale"], 20 * n)
    mu_k = x[(x > p["lower"]) & (x < p["upper"])][:n]
    # omega_k: its HalfNormal prior itself; sigma: Normal(0.3, 0.02), far narrower than its prior
    omega_k = np.abs(rng.normal(0.0, prior.loc["omega_k", "scale"], n))
    sigma = rng.normal(0.3, 0.02, n)
    eta_k = omega_k[:, None] * rng.standard_normal((n, len(subjects)))

    def chains(a):
        return a.reshape(2, n // 2, *a.shape[1:])

    return az.from_dict(
        posterior={
            "mu_c0": chains(mu_c0),
            "c0": chains(np.exp(mu_c0)),
            "mu_k": chains(mu_k),
            "k": chains(np.exp(mu_k)),
            "omega_k": chains(omega_k),
            "eta_k": chains(eta_k),
            "sigma": chains(sigma),
        },
        coords={"subject": subjects},
        dims={"eta_k": ["subject"]},
    )


def test_prior_width_ratio_and_prior_dominated_from_known_widths():
    from cartpk.fit.population import PRIOR_DOMINATED_RATIO, PopulationFit

    model, data = _Decay(), _two_records()
    fit = PopulationFit.from_idata(model, data, _posterior_with_known_widths(model, data.subjects))
    table = fit.parameters.set_index("parameter")
    assert list(fit.parameters.columns[-2:]) == ["prior_width_ratio", "prior_dominated"]
    ratio = table["prior_width_ratio"]
    # Normal posterior SD 0.3 against the weak prior's SD 1.5 on log(c0)
    assert ratio["c0"] == pytest.approx(0.3 / 1.5, rel=0.05)
    # a posterior equal to the prior: ratio 1, truncated (mu_k) and half-normal (omega_k) alike
    assert ratio["k"] == pytest.approx(1.0, rel=0.05)
    assert ratio["omega_k"] == pytest.approx(1.0, rel=0.05)
    # sigma ~ HalfNormal(0.6): 95 % interval 0.6 * [z(0.5125), z(0.9875)]
    prior_width = 0.6 * (stats.norm.ppf(0.9875) - stats.norm.ppf(0.5125))
    assert ratio["sigma"] == pytest.approx(2 * 1.96 * 0.02 / prior_width, rel=0.05)
    assert PRIOR_DOMINATED_RATIO == 0.5
    assert table["prior_dominated"].to_dict() == {
        "k": True,
        "c0": False,
        "omega_k": True,
        "sigma": False,
    }
    assert fit.summary["prior_dominated"] == ["k", "omega_k"]
    assert fit.summary["prior_dominated_ratio"] == 0.5


def test_prior_width_ratio_of_fixed_parameter_is_missing_and_natural_draws_suffice():
    from cartpk.fit.population import PopulationFit

    model, data = _Decay().fix("sigma"), _two_records()
    idata = _posterior_with_known_widths(model, data.subjects)
    # a posterior holding only natural-scale typical values (`c0`, no `mu_c0`) gives the same
    # ratio: it is measured on the prior's scale, log(c0)
    full = PopulationFit.from_idata(model, data, idata.copy()).parameters.set_index("parameter")
    idata.posterior = idata.posterior.drop_vars(["mu_c0", "sigma"])
    fit = PopulationFit.from_idata(model, data, idata)
    table = fit.parameters.set_index("parameter")
    assert table.loc["c0", "prior_width_ratio"] == pytest.approx(
        full.loc["c0", "prior_width_ratio"], rel=1e-9
    )
    assert math.isnan(table.loc["sigma", "prior_width_ratio"])
    assert not table.loc["sigma", "prior_dominated"]


def test_fit_population_drop_iiv_is_the_spec_key(monkeypatch):
    """Issue 21: the spec key `drop_iiv` has its API argument (one to one)."""
    import cartpk.fit.population as pop

    seen = {}

    class Stop(Exception):
        pass

    def capture(model, dataset, **kw):
        seen["iiv"] = [name for name, _ in model.iiv.entries]
        raise Stop

    monkeypatch.setattr(pop, "_build", capture)
    model = ck.load_model("stein2019_smooth")
    data = ck.read_dataset(ck.simulate(model, n=3, seed=1, lloq=50))
    with pytest.raises(Stop):
        ck.fit_population(model, data, drop_iiv=["foldx", "tmax"])
    assert seen["iiv"] == ["cmax", "alpha", "fb", "beta"]


def test_ebe_init_starts_each_subject_at_its_map_and_population_at_declared_values():
    """``init="ebe"`` (the default): every random effect starts at the subject's MAP given
    the declared population values (``fit_individual(prior="population")`` with the
    parameters that have no IIV fixed), non-centred as ``z = eta / omega``, centred as
    ``eta``; typical values start at the declaration, not at the prior set's centre."""
    from cartpk.fit.population import _build, _ebe_starts

    model = load_model("stein2019_smooth").with_iiv(drop=["foldx", "tmax", "fb", "beta"])
    data = ck.read_dataset(ck.simulate(model, n=5, seed=2, lloq=50))
    pmm, design = _build(model, data, dvid=None, blq="m3", priors="weak", centered=["alpha"])
    info = _ebe_starts(pmm, model, data, design, dvid=None, blq="m3", seed=1, centered=["alpha"])
    assert info["subjects"] == 5 and info["not_converged"] == [] and info["seconds"] >= 0
    fixed = {"foldx": 3900.0, "tmax": 9.3, "fb": 0.0079, "beta": 0.0032}
    ebe = ck.fit_individual(model.fix(**fixed), data, prior="population", interval="wald", seed=1)
    table = ebe.table().set_index(ebe.table()["ID"].astype(str))
    point = pmm.initial_point()
    cmax = np.log(table.loc[design.subjects, "cmax"].to_numpy())
    alpha = np.log(table.loc[design.subjects, "alpha"].to_numpy())
    omega_cmax = model.initial_values()["omega_cmax"]
    np.testing.assert_allclose(point["z_cmax"], (cmax - math.log(24000.0)) / omega_cmax)
    np.testing.assert_allclose(point["eta_alpha"], alpha - math.log(0.16))
    assert point["mu_foldx"] == pytest.approx(math.log(3900.0))
    assert np.ptp(point["z_cmax"]) > 0.1  # subjects differ: not the prior's support point
