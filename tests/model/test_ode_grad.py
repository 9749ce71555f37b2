"""The differentiable ODE engine: exact gradients, closed-form agreement, stiffness,
per-subject status, time-varying covariates, and the PyTensor Op."""

from __future__ import annotations

import math

import numpy as np
import pytest

import cartpk as ck
from cartpk.errors import ModelError
from cartpk.model import OdeModel, additive, omega, theta

# (model, dose, solver, times, rtol, atol): times avoid Stein's tmax (a kink in t)
CASES = {
    "stein2019_ode": (None, "LSODA", [1.0, 5, 7, 9, 10, 14, 21, 28, 60, 90, 365], 1e-10, 1e-12),
    "claret_tgi": (None, "LSODA", [7.0, 14, 21, 28, 60, 90, 365], 1e-10, 1e-12),
    "cartmath_illustration": (1e5, "BDF", [1.0, 3, 7, 14, 21, 28, 60, 90, 180, 365], 1e-10, 1e-8),
    "hardiansyah2019": (1.1e9, "BDF", [0.5, 1.5, 3, 5, 7, 14, 21, 28], 1e-10, 1e-12),
}
FD_REL = 1e-5  # relative central-difference step
TOL = 1e-4  # relative; absolute floor TOL * max|output| per unit relative change of p


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
    batch = {k: np.full(2 * len(names), float(v)) for k, v in p.items()}
    for j, k in enumerate(names):
        batch[k][2 * j] += FD_REL * abs(p[k])
        batch[k][2 * j + 1] -= FD_REL * abs(p[k])
    fd_vals = model.evaluate_with_jacobian(
        t, batch, dose=dose, wrt=(), method=method, rtol=rtol, atol=atol
    ).values
    for dv in model.outputs:
        scale = np.max(np.abs(sol.values[dv]))
        for j, k in enumerate(names):
            fd = (fd_vals[dv][2 * j] - fd_vals[dv][2 * j + 1]) / (2 * FD_REL)
            fd = fd * np.sign(p[k])
            exact = sol.jacobian[dv][k][0] * p[k]
            np.testing.assert_allclose(exact, fd, rtol=TOL, atol=TOL * scale, err_msg=f"{dv} {k}")


def test_stein_ode_engine_matches_closed_form_values_and_gradients():
    """Values to 1e-8 relative; gradients against the closed form's central differences."""
    ode, cf = ck.load_model("stein2019_ode"), ck.load_model("stein2019")
    t = np.array([0.5, 3.0, 7.0, 9.0, 9.6, 14.0, 21.0, 28.0, 60.0, 90.0, 365.0])
    p = {k: np.array([v, v * 1.3]) for k, v in cf.typical().items()}  # two subjects
    p["tmax"] = np.array([9.3, 12.1])
    sol = ode.evaluate_with_jacobian(t, p, method="LSODA", rtol=1e-11, atol=1e-12)
    ref = cf.evaluate(np, t, {k: v[:, None] for k, v in p.items()})["QPCR"]
    np.testing.assert_allclose(sol.values["QPCR"], ref, rtol=1e-8)
    for k in p:
        h = 1e-6 * p[k]
        up = {q: (v + h if q == k else v)[:, None] for q, v in p.items()}
        dn = {q: (v - h if q == k else v)[:, None] for q, v in p.items()}
        fd = (cf.evaluate(np, t, up)["QPCR"] - cf.evaluate(np, t, dn)["QPCR"]) / (2 * h[:, None])
        np.testing.assert_allclose(
            sol.jacobian["QPCR"][k], fd, rtol=1e-4, atol=1e-6 * ref.max(), err_msg=k
        )


def test_stiff_model_implicit_methods_agree():
    """Hardiansyah (kin 77/day next to rB 0.009/day) with BDF and Radau, exact Jacobian."""
    m = ck.load_model("hardiansyah2019")
    t = np.array([1.0, 3.0, 7.0, 28.0])
    a = m.evaluate_with_jacobian(t, m.typical(), dose=1.1e9, method="BDF", wrt=["r_e"])
    b = m.evaluate_with_jacobian(t, m.typical(), dose=1.1e9, method="Radau", wrt=["r_e"])
    for dv in m.outputs:
        np.testing.assert_allclose(a.values[dv], b.values[dv], rtol=1e-5)
        np.testing.assert_allclose(a.jacobian[dv]["r_e"], b.jacobian[dv]["r_e"], rtol=1e-4)


def _blowup():
    class Blowup(OdeModel):
        """dy/dt = k y^2: finite-time blow-up at t = 1/(k y0)."""

        name = "blowup"
        outputs = {"Y": "1"}
        states = ("y",)
        k = theta(0.1, unit="1/day")
        iiv = omega(sd={"k": 0.1})
        error = additive(sigma=1.0)

        @staticmethod
        def rhs(xp, time, y, *, k):
            return {"y": k * y["y"] ** 2}

        @staticmethod
        def initial(xp, *, k):
            return {"y": 1.0 + 0.0 * k}

        @staticmethod
        def observe(xp, y):
            return {"Y": y["y"]}

    return Blowup()


def test_solver_failure_is_a_status_per_subject():
    m = _blowup()
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
    assert "parameter values" in sol.status[1].value  # the status carries its remedy
    with pytest.raises(ModelError) as err:
        m.evaluate_with_jacobian(t, {"k": k}, method="LSODA")
    assert err.value.code == "ode_failed"
    assert "subject index 1" in str(err.value.violations[0])


def _stein_toci():
    """Stein ODE with tocilizumab multiplying the expansion rate from its start day
    (Stein 2019 Table 1: Ftoci on rho). rho = log(foldx)/tmax, so rho * F^toci is the
    Stein right-hand side with foldx ** (F^toci): the equations are reused, not copied."""
    from cartpk.model._catalogue import _model_class

    base = _model_class("stein2019_ode")

    class SteinToci(base):
        name = "stein_toci"
        time_varying = {"toci": 0.0}
        ftoci = theta(1.2, unit="1", label="tocilizumab multiplier on rho")  # Stein Table 1

        @staticmethod
        def rhs(xp, time, y, *, foldx, tmax, alpha, fb, beta, ftoci, toci):
            return base.rhs(
                xp, time, y, foldx=foldx ** (ftoci**toci), tmax=tmax, alpha=alpha, fb=fb,
                beta=beta,
            )  # fmt: skip

    return SteinToci()


def test_time_varying_covariate_changes_the_rate_at_its_start_day():
    m = _stein_toci()
    p = m.typical()
    rho = math.log(p["foldx"]) / p["tmax"]
    r0 = p["cmax"] / p["foldx"]
    start = np.array([4.0, np.inf])  # subject 2 never receives tocilizumab
    tv = {"toci": (start[:, None], np.ones((2, 1)))}
    t = np.array([2.0, 6.0, 9.0])
    sol = m.evaluate_with_jacobian(t, p, time_varying=tv, method="LSODA", rtol=1e-11, atol=1e-12)
    expected_1 = r0 * np.exp(np.where(t < 4.0, rho * t, rho * 4.0 + 1.2 * rho * (t - 4.0)))
    np.testing.assert_allclose(sol.values["QPCR"][0], expected_1, rtol=1e-7)
    np.testing.assert_allclose(sol.values["QPCR"][1], r0 * np.exp(rho * t), rtol=1e-7)
    # d/dftoci = C * log(foldx)/tmax * (t - 4) for t > 4, and 0 without tocilizumab
    dfd = np.where(t > 4.0, expected_1 * rho * (t - 4.0), 0.0)
    np.testing.assert_allclose(sol.jacobian["QPCR"]["ftoci"][0], dfd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sol.jacobian["QPCR"]["ftoci"][1], 0.0, atol=1e-9)
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
