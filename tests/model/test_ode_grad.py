"""The differentiable ODE engine: exact gradients, closed-form agreement, stiffness,
per-subject status, time-varying covariates, and the PyTensor Op."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _ode_checks import (
    assert_matches_central_differences,
    assert_stein_ode_matches_closed_form,
    assert_toci_matches_analytic_solution,
    blowup,
    central_difference_batch,
)

import cartpk as ck
from cartpk.errors import ModelError

# (model, dose, solver, times, rtol, atol): times avoid Stein's tmax (a kink in t)
CASES = {
    "stein2019_ode": (None, "LSODA", [1.0, 5, 7, 9, 10, 14, 21, 28, 60, 90, 365], 1e-10, 1e-12),
    "claret_tgi": (None, "LSODA", [7.0, 14, 21, 28, 60, 90, 365], 1e-10, 1e-12),
    "cartmath_illustration": (1e5, "BDF", [1.0, 3, 7, 14, 21, 28, 60, 90, 180, 365], 1e-10, 1e-8),
    "hardiansyah2019": (1.1e9, "BDF", [0.5, 1.5, 3, 5, 7, 14, 21, 28], 1e-10, 1e-12),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_central_differences(name):
    """d output / d p for every theta (fixed ones included) against central differences
    of the engine's own solution (all perturbations integrated as one batch).

    Tolerance: |p dy/dp - p FD| <= 1e-4 |p FD| + 1e-4 max|y|, i.e. relative sensitivities
    agree to 4 digits; the FD truncation/rounding error at rtol 1e-10 is ~1e-5.
    """
    model = ck.load_model(name)
    dose, method, times, rtol, atol = CASES[name]
    t = np.asarray(times)
    p = model.typical()
    names = list(model.thetas)
    sol = model.evaluate_with_jacobian(
        t, p, dose=dose, wrt=names, method=method, rtol=rtol, atol=atol
    )
    assert sol.success
    batch = central_difference_batch(p, names)
    fd_vals = model.evaluate_with_jacobian(
        t, batch, dose=dose, wrt=(), method=method, rtol=rtol, atol=atol
    ).values
    assert_matches_central_differences(sol, fd_vals, p, names, model.outputs)


def test_stein_ode_engine_matches_closed_form_values_and_gradients():
    """Values to 1e-8 relative; gradients against the closed form's central differences."""
    assert_stein_ode_matches_closed_form(method="LSODA")


def test_stiff_model_implicit_methods_agree():
    """Hardiansyah (kin 77/day next to rB 0.009/day) with BDF and Radau, exact Jacobian."""
    m = ck.load_model("hardiansyah2019")
    t = np.array([1.0, 3.0, 7.0, 28.0])
    a = m.evaluate_with_jacobian(t, m.typical(), dose=1.1e9, method="BDF", wrt=["r_e"])
    b = m.evaluate_with_jacobian(t, m.typical(), dose=1.1e9, method="Radau", wrt=["r_e"])
    for dv in m.outputs:
        np.testing.assert_allclose(a.values[dv], b.values[dv], rtol=1e-5)
        np.testing.assert_allclose(a.jacobian[dv]["r_e"], b.jacobian[dv]["r_e"], rtol=1e-4)


def test_solver_failure_is_a_status_per_subject():
    m = blowup()
    t = np.array([1.0, 5.0])
    k = np.array([0.1, 1.0, 0.05])  # subject 1 blows up at t = 1 < 5
    sol = m.evaluate_with_jacobian(t, {"k": k}, throw=False, method="LSODA")
    names = [s.name for s in sol.status]
    assert names[0] == names[2] == "success"
    assert names[1] in ("solver_failed", "nonfinite")  # LSODA overflows before it gives up
    assert sol.failed_subjects() == [1]
    assert np.all(np.isnan(sol.values["Y"][1])) and np.all(np.isfinite(sol.values["Y"][[0, 2]]))
    np.testing.assert_allclose(sol.values["Y"][0], 1.0 / (1.0 - 0.1 * t), rtol=1e-6)
    np.testing.assert_allclose(sol.jacobian["Y"]["k"][2], t / (1.0 - 0.05 * t) ** 2, rtol=1e-5)
    assert "parameter values" in sol.status[1].remedy  # the status carries its remedy
    with pytest.raises(ModelError) as err:
        m.evaluate_with_jacobian(t, {"k": k}, method="LSODA")
    assert err.value.code == "ode_failed"
    assert "subject index 1" in str(err.value.violations[0])


def test_time_varying_covariate_changes_the_rate_at_its_start_day():
    m, p, tv, t, sol = assert_toci_matches_analytic_solution(method="LSODA")
    vals = m.evaluate(np, t, p, time_varying=tv)["QPCR"]
    np.testing.assert_allclose(vals, sol.values["QPCR"], rtol=1e-6)


def test_time_varying_unknown_name_raises():
    m = ck.load_model("stein2019_ode")
    with pytest.raises(ModelError) as err:
        m.evaluate_with_jacobian([1.0], m.typical(), time_varying={"toci": ([1.0], [1.0])})
    assert err.value.code == "time_varying_unknown"


def test_ode_models_still_reject_other_namespaces():
    m = ck.load_model("stein2019_ode")

    class FakeXp:
        __name__ = "jax.numpy"

    with pytest.raises(ModelError) as err:
        m.evaluate(FakeXp(), np.array([1.0]), m.typical())
    assert err.value.code == "ode_engine"


pytensor = pytest.importorskip("pytensor")
pt = pytest.importorskip("pytensor.tensor")


def test_pytensor_op_verify_grad():
    """`pytensor.gradient.verify_grad` (random projection, central differences)."""
    m = ck.load_model("stein2019_ode")
    t = np.array([3.0, 7.0, 14.0, 28.0, 90.0])
    fixed = {"alpha": 0.16, "fb": 0.0079, "beta": 0.0032}

    def fn(foldx, tmax, cmax):
        out = m.evaluate(pt, t, {"foldx": foldx, "tmax": tmax, "cmax": cmax} | fixed)
        return pt.log(out["QPCR"])

    pytensor.gradient.verify_grad(
        fn,
        [np.array([3900.0, 2000.0]), np.array([9.3, 11.0]), np.array([24000.0, 5e4])],
        rng=np.random.default_rng(1),
        eps=1e-6,
        abs_tol=1e-4,  # verify_grad's one-sided differences of a 1e-11-tolerance solve
        rel_tol=1e-4,
    )


def test_pytensor_op_matches_numpy_and_multiple_outputs():
    m = ck.load_model("hardiansyah2019")
    t = np.array([1.0, 3.0, 7.0])
    r_e = pt.dvector("r_e")
    p = m.typical() | {"r_e": r_e}
    out = m.evaluate(pt, t, p, dose=1.1e9)
    cost = pt.sum(pt.log(out["IL6"])) + pt.sum(pt.log(out["CART"]))
    f = pytensor.function([r_e], [out["IL6"], pytensor.grad(cost, r_e)])
    il6, g = f(np.array([16.16, 14.0]))
    assert il6.shape == (2, 3)
    ref = m.evaluate_with_jacobian(t, m.typical() | {"r_e": np.array([16.16, 14.0])}, dose=1.1e9,
                                   wrt=["r_e"])  # fmt: skip
    np.testing.assert_allclose(il6, ref.values["IL6"], rtol=1e-10)
    expected = sum(
        np.sum(ref.jacobian[dv]["r_e"] / ref.values[dv], axis=1) for dv in ("IL6", "CART")
    )
    np.testing.assert_allclose(g, expected, rtol=1e-10)


@pytest.mark.slow
def test_pymc_nuts_samples_an_ode_model():
    """NUTS through the Op: 4 subjects of the Stein ODE, cmax and sigma free (slow)."""
    pm = pytest.importorskip("pymc")
    m = ck.load_model("stein2019_ode")
    t = np.array([7.0, 14.0, 28.0, 60.0])
    truth = m.typical()
    obs = m.evaluate(np, t, truth)["QPCR"] * np.exp(
        np.random.default_rng(2).normal(0, 0.2, (4, t.size))
    )
    with pm.Model():
        log_cmax = pm.Normal("log_cmax", math.log(20000.0), 1.0)
        p = truth | {"cmax": pt.exp(log_cmax)}
        pred = m.evaluate(pt, t, p)["QPCR"]
        pm.Normal("y", pt.log(pred), 0.2, observed=np.log(obs))
        idata = pm.sample(
            draws=100,
            tune=100,
            chains=1,
            random_seed=3,
            progressbar=False,
            compute_convergence_checks=False,
        )
    post = float(np.exp(idata.posterior["log_cmax"].mean()))
    assert post == pytest.approx(truth["cmax"], rel=0.15)
