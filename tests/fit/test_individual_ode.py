"""Per-subject fits of ODE models with exact derivatives from the ODE engine (issue 7).

The optimiser gets the Jacobian of the residuals (``least_squares``) or the gradient of
``-2 log L`` (``lbfgsb``) as the engine's forward sensitivities chained with the
likelihood's derivatives. Checked against central differences of the very objective the
fitter minimises, and against the closed form ``stein2019`` fitted to the same data: the
ODE form ``stein2019_ode`` is the same model (its E + M is the closed form exactly).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cartpk as ck
from cartpk.errors import SpecError
from cartpk.fit import fit_subject, subjects_from_dataset
from cartpk.fit import individual as ind

RICH = (1, 2, 3, 5, 7, 10, 14, 21, 28, 42, 60, 90, 180, 365)


@pytest.fixture(scope="module")
def data():
    sim = ck.simulate(ck.load_model("stein2019"), n=4, seed=3, days=RICH, lloq=150.0)
    return ck.read_dataset(sim)


def _central(fun, h, step=1e-6):
    cols = [(fun(h + e) - fun(h - e)) / (2 * step) for e in np.eye(h.size) * step]
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("engine", ["jax", "scipy"])
@pytest.mark.parametrize("sigma", ["fixed", "estimate"])
@pytest.mark.parametrize("prior", [False, True])
def test_exact_derivatives_equal_central_differences(data, engine, sigma, prior):
    """Residual Jacobian and objective gradient of a subject with BLQ records (M3), at a
    point away from the optimum, to 1e-5 relative (central differences of a solve at
    rtol 1e-11 are accurate to ~1e-8)."""
    ode = ck.load_model("stein2019_ode")
    subs = subjects_from_dataset(ode, data)
    sub = next(s for s in subs if (s.cens != 0).any())  # censored records included
    spec = ind._spec(ode, sub, sigma=sigma, bounds=None)
    problem = ind._Problem(ode, sub, spec, blq="m3", prior=prior, engine=engine)
    h = spec.centre + np.linspace(-0.2, 0.2, spec.centre.size)
    val, grad = problem.objective_exact(h)
    assert val == pytest.approx(problem.objective(h[None, :])[0], rel=1e-9)
    fd = _central(lambda x: problem.objective(x[None, :])[0], h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5 * np.abs(fd).max())
    if problem.least_squares:
        res, jac = problem.residuals_exact(h)
        np.testing.assert_allclose(res, problem.residuals(h[None, :])[0], rtol=1e-9, atol=1e-12)
        fdj = _central(lambda x: problem.residuals(x[None, :])[0], h)
        np.testing.assert_allclose(jac, fdj, rtol=1e-5, atol=1e-5 * np.abs(fdj).max())
    else:
        assert sigma == "estimate"  # sigmas estimated: not a plain sum of squares


def test_additive_m4_residual_derivatives_equal_central_differences():
    """The M4 residual of an additive error (sign * sqrt(r^2 - 2 log P(y > 0)))."""
    from cartpk.model import additive

    ode = ck.load_model("stein2019_ode").with_error(additive(sigma=400.0))
    sim = ck.simulate(ode, n=1, seed=1, days=RICH, lloq=300.0)
    sub = subjects_from_dataset(ode, ck.read_dataset(sim))[0]
    spec = ind._spec(ode, sub, sigma="fixed", bounds=None)
    problem = ind._Problem(ode, sub, spec, blq="m4", prior=False, engine="jax")
    h = spec.centre + 0.1
    res, jac = problem.residuals_exact(h)
    fdj = _central(lambda x: problem.residuals(x[None, :])[0], h)
    np.testing.assert_allclose(jac, fdj, rtol=1e-5, atol=1e-5 * np.abs(fdj).max())


def test_exact_ode_fits_equal_the_closed_form_fits(data):
    """Maximum likelihood of the ODE form with exact derivatives (JAX engine) equals the
    closed form's (finite differences of its vectorised formula): same model, same data,
    same optimiser (the per-subject TRF of ``fit_subject``; ``fit_individual`` stacks
    closed-form subjects into another optimiser, compared in ``test_individual_stacked``)."""
    closed = ck.load_model("stein2019")
    subjects = subjects_from_dataset(closed, data)
    cf = {f.id: f for f in (fit_subject(closed, s, seed=1, interval="wald") for s in subjects)}
    ode = ck.fit_individual(
        ck.load_model("stein2019_ode"), data, workers=1, seed=1, interval="wald"
    )
    b = ode.parameters.set_index(["ID", "parameter"])
    ok = ode.table().set_index("ID")["converged"]
    ok &= ok.index.map(lambda sid: cf[sid].converged).to_numpy(dtype=bool)
    assert ok.sum() >= 3
    for sid in ok[ok].index:
        for p in ("cmax", "tmax", "alpha", "beta", "fb"):
            est_a, est_b = cf[sid].estimate[p], b.loc[(sid, p), "estimate"]
            se = cf[sid].se[p]
            # within a hundredth of a standard error (or 0.5 % where the SE is undefined)
            tol = 0.01 * se if np.isfinite(se) else 5e-3 * abs(est_a)
            assert abs(est_a - est_b) <= max(tol, 1e-6 * abs(est_a)), (sid, p, est_a, est_b)


def test_map_with_estimated_sigma_runs_with_both_derivatives():
    """MAP (population prior) with per-subject sigma: the prior's terms cover the
    structural parameters only (the sigmas have none)."""
    model = ck.load_model("stein2019")
    sim = ck.simulate(model.with_ini(sigma=0.3), n=1, seed=8, days=RICH)
    sub = subjects_from_dataset(model, ck.read_dataset(sim))[0]
    fd = fit_subject(model, sub, prior="population", sigma="estimate", n_starts=2, interval="wald")
    ode = ck.load_model("stein2019_ode")
    ex = fit_subject(ode, sub, prior="population", sigma="estimate", n_starts=2, interval="wald")
    assert fd.status.name == ex.status.name
    for p in ("cmax", "alpha", "sigma"):
        assert ex.estimate[p] == pytest.approx(fd.estimate[p], rel=5e-3)


def test_scipy_engine_exact_fit_and_a_failing_candidate_do_not_stop_the_fit(data):
    """The SciPy engine gives exact derivatives too; candidates whose integration fails
    (the start screen draws extreme ones) count as a huge objective, not an error."""
    ode = ck.load_model("stein2019_ode")
    sub = subjects_from_dataset(ode, data)[0]
    fit = fit_subject(ode, sub, ode_engine="scipy", n_starts=2, interval="wald")
    ref = fit_subject(ck.load_model("stein2019"), sub, n_starts=2, interval="wald")
    assert fit.estimate["cmax"] == pytest.approx(ref.estimate["cmax"], rel=1e-3)
    spec = ind._spec(ode, sub, sigma="fixed", bounds=None)
    problem = ind._Problem(ode, sub, spec, blq="m3", prior=False, engine="jax")
    wild = spec.centre.copy()
    wild[list(spec.names).index("alpha")] = 40.0  # exp(40)/day: the integration fails
    assert problem.objective(np.vstack([spec.centre, wild]))[1] == ind._BIG
    assert problem.objective_exact(wild) == (ind._BIG, pytest.approx(np.zeros(wild.size)))


def test_derivative_options_are_validated_before_any_work(data):
    closed = ck.load_model("stein2019")
    ode = ck.load_model("stein2019_ode")
    with pytest.raises(SpecError) as err:
        ck.fit_individual(closed, data, gradient="exact")
    assert err.value.violations[0].code == "gradient_exact"
    with pytest.raises(SpecError) as err:
        ck.fit_individual(ode, data, gradient="newton", ode_engine="torch")
    assert {v.code for v in err.value.violations} == {"gradient_kind", "ode_engine"}
    with pytest.raises(SpecError) as err:
        ck.fit_individual(ode, data, ode_method="Euler")
    assert err.value.violations[0].code == "ode_method"
    with pytest.raises(SpecError) as err:
        ck.fit_individual(closed, data, ode_engine="jax")
    assert err.value.violations[0].code == "ode_engine"


@pytest.mark.slow  # 12-17 s on one core (compiles, or Dask workers); CI runs it with -m slow
def test_spec_options_reach_the_fitter(tmp_path, data):
    from cartpk.cli import main

    csv = tmp_path / "d.csv"
    data.table.drop(columns="ROW").query("ID == '1'").to_csv(csv, index=False)
    spec = tmp_path / "s.toml"
    spec.write_text(
        f'model = "stein2019_ode"\ndata = "{csv}"\nmethod = "individual"\nseed = 1\n'
        '[options]\ngradient = "exact"\node_engine = "jax"\node_method = "Tsit5"\n'
        'n_starts = 1\ninterval = "wald"\n'
    )
    assert main(["fit", str(spec), "--out", str(tmp_path / "run"), "--quiet"]) in (0, 1)
    assert (tmp_path / "run" / "individual.csv").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text(spec.read_text().replace('gradient = "exact"', 'gradient = "newton"'))
    assert main(["fit", str(bad), "--out", str(tmp_path / "run2"), "--quiet"]) == 2


@pytest.mark.slow  # about a minute on 2 cores: keeps the default run under 10 minutes
def test_mechanistic_joint_model_is_recovered_per_patient():
    """The small, default-run recovery of the mechanistic joint model (issue 7; the
    population version is slow, ``test_population_mechanistic.py``): MAP fits of
    ``cartmath_illustration`` (5 states) to qPCR (M3) and tumour size together, exact gradients (the
    SciPy engine's sensitivities: the declaration is BDF), on the first 6 subjects of the
    bundled simulated example, against each subject's simulated parameters.

    rho and mu carry no random effect (a flat prior) and 6 qPCR records, half BLQ, may not
    determine them: a subject whose Hessian is not positive definite gets no interval
    (subject 1 here). Measured: 24 of the 25 intervals cover the truth; gamma and tumour0
    within x/÷ 1.5 of it."""
    from cartpk.examples import _make
    from cartpk.simulation import simulate_parameters

    truth_model = _make.mechanistic_model()
    dose = np.array([_make.MECH_DOSES[i % len(_make.MECH_DOSES)] for i in range(_make.MECH_N)])
    truth = simulate_parameters(
        truth_model, n=_make.MECH_N, seed=_make.MECH_SEED, dose=dose
    ).set_index("ID")
    example = _make.make_mechanistic()
    data = ck.read_dataset(example[example["ID"].astype(str).isin([str(i) for i in range(1, 7)])])
    fit = ck.fit_individual(
        truth_model,
        data,
        dvid=["QPCR", "SOD"],
        prior="population",
        workers=1,
        seed=1,
        n_starts=2,
        interval="wald",
    )
    assert fit.table()["converged"].all()
    est = fit.parameters[fit.parameters["parameter"].isin(["rho", "eps", "mu", "gamma", "tumour0"])]
    est = est.assign(
        truth=[truth.loc[i, p] for i, p in zip(est["ID"], est["parameter"], strict=True)]
    )
    with_ci = est.dropna(subset=["lower", "upper"])
    assert len(with_ci) >= 20
    covered = (with_ci["lower"] <= with_ci["truth"]) & (with_ci["truth"] <= with_ci["upper"])
    assert covered.mean() >= 0.8, with_ci[~covered]
    well = with_ci[with_ci["parameter"].isin(["gamma", "tumour0"])]
    ratio = well["estimate"] / well["truth"]
    assert ratio.between(1 / 1.6, 1.6).all(), well.assign(ratio=ratio)


@pytest.mark.slow  # > 20 s on one core (compiles); CI runs it with -m slow
def test_worker_processes_give_the_serial_result_with_the_jax_engine(data):
    """With JAX in use the workers are spawned (a forked child can deadlock in JAX's
    threads); each compiles its own engine and the results equal the serial run's."""
    ode = ck.load_model("stein2019_ode")
    kw = dict(seed=1, n_starts=1, interval="wald", prior="population")
    par = ck.fit_individual(ode, data, workers=2, **kw).table()
    ser = ck.fit_individual(ode, data, workers=1, **kw).table()
    pd.testing.assert_frame_equal(par, ser, rtol=1e-8)
