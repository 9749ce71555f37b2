"""The JAX ODE engine (``engine="jax"``): the same declaration traced with ``jax.numpy``,
against the SciPy sensitivity engine, central differences and the closed form; per-subject
status; events (switch times, split doses, time-varying covariates); the PyTensor Op."""

from __future__ import annotations

import numpy as np
import pytest
from _ode_checks import (
    assert_matches_central_differences,
    assert_stein_ode_matches_closed_form,
    assert_toci_matches_analytic_solution,
    central_difference_batch,
)

import cartpk as ck
from cartpk.errors import ModelError
from cartpk.ode._scipy import OdeStatus

pytest.importorskip("jax")
pytest.importorskip("diffrax")

# (model, dose, times, rtol, atol): explicit (non-stiff) catalogue declarations
EXPLICIT = {
    "stein2019_ode": (None, [1.0, 5, 7, 9, 10, 14, 21, 28, 60, 90, 365], 1e-10, 1e-12),
    "claret_tgi": (None, [7.0, 14, 21, 28, 60, 90, 365], 1e-10, 1e-12),
}


@pytest.mark.parametrize("name", sorted(EXPLICIT))
def test_jax_engine_matches_scipy_engine_and_central_differences(name):
    """Values to 1e-7 of the SciPy engine; ``p dy/dp`` for every theta against central
    differences of the JAX engine's own solution, tolerance as the SciPy engine's test."""
    model = ck.load_model(name)
    dose, times, rtol, atol = EXPLICIT[name]
    t = np.asarray(times)
    p = model.typical()
    names = list(model.thetas)
    ref = model.evaluate_with_jacobian(t, p, dose=dose, wrt=names, rtol=rtol, atol=atol)
    sol = model.evaluate_with_jacobian(
        t, p, dose=dose, wrt=names, rtol=rtol, atol=atol, engine="jax"
    )
    assert sol.success and sol.status == (OdeStatus.success,)
    batch = central_difference_batch(p, names)
    fd_vals = model.evaluate_with_jacobian(
        t, batch, dose=dose, wrt=(), rtol=rtol, atol=atol, engine="jax"
    ).values
    assert_matches_central_differences(sol, fd_vals, p, names, model.outputs)
    for dv in model.outputs:
        np.testing.assert_allclose(sol.values[dv], ref.values[dv], rtol=1e-7)
        scale = np.max(np.abs(sol.values[dv]))
        for k in names:
            np.testing.assert_allclose(
                sol.jacobian[dv][k], ref.jacobian[dv][k], rtol=1e-5, atol=1e-6 * scale / abs(p[k])
            )


def test_jax_stein_ode_matches_closed_form_per_subject_switch_times():
    """Two subjects with different tmax (a parameter-dependent switch): values to 1e-8 and
    d/dp (tmax included: the jump of the sensitivities at the switch) against the closed
    form's central differences."""
    assert_stein_ode_matches_closed_form(engine="jax")


def test_jax_engine_per_subject_time_grids_in_any_order():
    """``(n, n_t)`` times, unsorted and repeated: each subject read off its own grid."""
    ode, cf = ck.load_model("stein2019_ode"), ck.load_model("stein2019")
    p = cf.typical()
    t = np.array([[28.0, 7.0, 7.0, 90.0], [3.0, 60.0, 14.0, 21.0]])
    sol = ode.evaluate_with_jacobian(t, p, engine="jax", wrt=["cmax"])
    ref = cf.evaluate(np, t, p)["QPCR"]
    np.testing.assert_allclose(sol.values["QPCR"], ref, rtol=1e-7)
    # d y / d cmax = y / cmax (cmax scales the whole profile)
    np.testing.assert_allclose(sol.jacobian["QPCR"]["cmax"], ref / p["cmax"], rtol=1e-7)


def test_jax_engine_failure_is_a_status_per_subject_not_a_silent_nan():
    """A subject whose solver runs out of steps is NaN *and* flagged; the others are not;
    ``throw=True`` raises ``ode_failed`` naming it."""
    from cartpk.ode._jax import compile_ode

    ode = ck.load_model("stein2019_ode")
    p = {k: np.array([v, v]) for k, v in ode.typical().items()}
    p["cmax"] = np.array([24000.0, 24000.0])
    p["alpha"] = np.array([0.16, 400.0])  # the second contracts 2,500x faster: many steps
    eng = compile_ode(ode, method="RK45", rtol=1e-10, atol=1e-12, max_steps=400)
    sol = eng.value_and_jacobian([7.0, 14.0, 28.0], p, wrt=["cmax"])
    assert sol.status[0] is OdeStatus.success
    assert sol.status[1] is OdeStatus.solver_failed
    assert np.isfinite(sol.values["QPCR"][0]).all() and np.isnan(sol.values["QPCR"][1]).all()
    assert np.isnan(sol.jacobian["QPCR"]["cmax"][1]).all()
    assert sol.failed_subjects() == [1]


def test_jax_time_varying_covariate_against_its_analytic_solution():
    """Tocilizumab multiplying Stein's expansion rate from its start day (a declared
    time-varying covariate): values and d/d ftoci against the analytic solution."""
    assert_toci_matches_analytic_solution(engine="jax")


def test_jax_split_dose_matches_scipy_engine():
    """The infusion split over days 0-2 (10/30/60 %, as Hardiansyah) on the Stein ODE:
    the JAX engine equals the SciPy engine, values and derivatives."""
    from cartpk.model._catalogue import _model_class

    base = _model_class("stein2019_ode")

    class SteinSplit(base):
        name = "stein_split"
        dosed_states = ("effector",)
        dosing = ((0.0, 0.1), (1.0, 0.3), (2.0, 0.6))
        solver = {"method": "DOP853", "rtol": 1e-10, "atol": 1e-12}

    m = SteinSplit()
    t = np.array([0.5, 1.5, 2.5, 7.0, 14.0, 28.0, 90.0])
    p = {k: np.array([v, 1.2 * v]) for k, v in m.typical().items()}
    ref = m.evaluate_with_jacobian(t, p)
    sol = m.evaluate_with_jacobian(t, p, engine="jax")
    np.testing.assert_allclose(sol.values["QPCR"], ref.values["QPCR"], rtol=1e-7)
    scale = np.abs(ref.values["QPCR"]).max()
    for k in ref.jacobian["QPCR"]:
        np.testing.assert_allclose(
            sol.jacobian["QPCR"][k],
            ref.jacobian["QPCR"][k],
            rtol=1e-6,
            atol=1e-8 * scale / np.abs(p[k]).max(),
            err_msg=k,
        )


def test_unknown_engine_is_a_clear_error():
    ode = ck.load_model("stein2019_ode")
    with pytest.raises(ModelError) as err:
        ode.evaluate_with_jacobian([7.0], ode.typical(), engine="torch")
    assert err.value.violations[0].code == "ode_engine"


def test_pytensor_op_with_the_jax_engine_verify_grad_and_matches_scipy():
    import pytensor
    import pytensor.tensor as pt
    from pytensor.gradient import verify_grad

    ode = ck.load_model("stein2019_ode")
    typ = ode.typical()
    t = np.array([[7.0, 14.0, 28.0, 90.0], [3.0, 21.0, 60.0, 90.0]])

    def f(cmax, alpha):
        out = ode.evaluate(pt, t, {**typ, "cmax": cmax, "alpha": alpha}, engine="jax")
        return pt.log(out["QPCR"]).sum()

    rng = np.random.default_rng(0)
    x = [np.array([24000.0, 12000.0]), np.array([0.16, 0.3])]
    verify_grad(f, x, rng=rng, eps=1e-6, abs_tol=1e-4, rel_tol=1e-4)
    c, a = pt.dvector("c"), pt.dvector("a")
    for engine in ("jax", "scipy"):
        out = ode.evaluate(pt, t, {**typ, "cmax": c, "alpha": a}, engine=engine)["QPCR"]
        g = pytensor.grad(pt.log(out).sum(), [c, a])
        fn = pytensor.function([c, a], [out, *g])
        if engine == "jax":
            jax_vals = fn(*x)
        else:
            for got, want in zip(jax_vals, fn(*x), strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.slow  # about a minute on 2 cores: keeps the default run under 10 minutes
def test_nutpie_integrates_once_per_log_density_and_gradient():
    """Under nutpie (numba graph, chains in threads foreign to Python) the forward Op and
    its vector-Jacobian product share one integration per point: solves ~ gradients,
    not twice as many (a thread-local cache never hit there)."""
    import warnings

    import nutpie
    from pytensor.graph.traversal import ancestors

    from cartpk.fit.population import population_model
    from cartpk.ode._pytensor_op import OdeOp

    data = ck.read_dataset(ck.simulate(ck.load_model("stein2019"), n=3, seed=3, lloq=50))
    pmm = population_model(ck.load_model("stein2019_ode"), data, ode_engine="jax")
    ops = {
        v.owner.op for v in ancestors(pmm.potentials) if v.owner and isinstance(v.owner.op, OdeOp)
    }
    assert len(ops) == 1
    op = ops.pop()
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Numba will use object mode", category=UserWarning
        )
        compiled = nutpie.compile_pymc_model(pmm)
    idata = nutpie.sample(
        compiled, draws=20, tune=20, chains=1, cores=1, seed=1, progress_bar=False, save_warmup=True
    )
    gradients = int(
        idata.warmup_sample_stats["n_steps"].sum() + idata.sample_stats["n_steps"].sum()
    )
    assert gradients > 100
    # plus a few evaluations outside the trajectories (initial point, step-size search)
    assert op.calls <= 1.25 * gradients + 20, (op.calls, gradients)
