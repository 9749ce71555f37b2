"""Declarations and checks the ODE engine tests share: the SciPy engine
(test_ode_grad.py), the JAX engine (test_ode_jax.py) and the batch simulator
(test_ode_grad_batch.py)."""

from __future__ import annotations

import math

import numpy as np

import cartpk as ck
from cartpk.model import OdeModel, additive, omega, theta

FD_REL = 1e-5  # relative central-difference step
TOL = 1e-4  # relative; absolute floor TOL * max|output| per unit relative change of p


def central_difference_batch(p: dict[str, float], names: list[str]) -> dict[str, np.ndarray]:
    """Parameters of ``2 * len(names)`` subjects: subject ``2j`` with ``names[j]`` raised by
    ``FD_REL`` of its value, subject ``2j + 1`` with it lowered (one batch to integrate)."""
    batch = {k: np.full(2 * len(names), float(v)) for k, v in p.items()}
    for j, k in enumerate(names):
        batch[k][2 * j] += FD_REL * abs(p[k])
        batch[k][2 * j + 1] -= FD_REL * abs(p[k])
    return batch


def assert_matches_central_differences(sol, fd_vals, p, names, outputs) -> None:
    """``p dy/dp`` of ``sol`` (one subject) for every name against the central differences
    ``fd_vals`` of :func:`central_difference_batch`'s batch:
    ``|p dy/dp - p FD| <= TOL |p FD| + TOL max|y|``."""
    for dv in outputs:
        scale = np.max(np.abs(sol.values[dv]))
        for j, k in enumerate(names):
            fd = (fd_vals[dv][2 * j] - fd_vals[dv][2 * j + 1]) / (2 * FD_REL) * np.sign(p[k])
            exact = sol.jacobian[dv][k][0] * p[k]
            np.testing.assert_allclose(exact, fd, rtol=TOL, atol=TOL * scale, err_msg=f"{dv} {k}")


def assert_stein_ode_matches_closed_form(**solver) -> None:
    """Two subjects with different tmax (a parameter-dependent switch) of ``stein2019_ode``
    solved with ``solver`` options: values to 1e-8 relative of the closed form
    (``stein2019``) and d/dp (tmax included) against the closed form's central differences."""
    ode, cf = ck.load_model("stein2019_ode"), ck.load_model("stein2019")
    t = np.array([0.5, 3.0, 7.0, 9.0, 9.6, 14.0, 21.0, 28.0, 60.0, 90.0, 365.0])
    p = {k: np.array([v, v * 1.3]) for k, v in cf.typical().items()}  # two subjects
    p["tmax"] = np.array([9.3, 12.1])
    sol = ode.evaluate_with_jacobian(t, p, rtol=1e-11, atol=1e-12, **solver)
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


def blowup():
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


def stein_toci():
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


def assert_toci_matches_analytic_solution(**solver):
    """:func:`stein_toci` for two subjects, tocilizumab from day 4 and never, solved with
    ``solver`` options: values and d/d ftoci against the analytic solution. Returns the
    model, its parameters, the time-varying covariate, the times and the solution."""
    m = stein_toci()
    p = m.typical()
    rho = math.log(p["foldx"]) / p["tmax"]
    r0 = p["cmax"] / p["foldx"]
    start = np.array([4.0, np.inf])  # subject 2 never receives tocilizumab
    tv = {"toci": (start[:, None], np.ones((2, 1)))}
    t = np.array([2.0, 6.0, 9.0])
    sol = m.evaluate_with_jacobian(t, p, time_varying=tv, rtol=1e-11, atol=1e-12, **solver)
    expected_1 = r0 * np.exp(np.where(t < 4.0, rho * t, rho * 4.0 + 1.2 * rho * (t - 4.0)))
    np.testing.assert_allclose(sol.values["QPCR"][0], expected_1, rtol=1e-7)
    np.testing.assert_allclose(sol.values["QPCR"][1], r0 * np.exp(rho * t), rtol=1e-7)
    # d/dftoci = C * log(foldx)/tmax * (t - 4) for t > 4, and 0 without tocilizumab
    dfd = np.where(t > 4.0, expected_1 * rho * (t - 4.0), 0.0)
    np.testing.assert_allclose(sol.jacobian["QPCR"]["ftoci"][0], dfd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sol.jacobian["QPCR"]["ftoci"][1], 0.0, atol=1e-9)
    return m, p, tv, t, sol
