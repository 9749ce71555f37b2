"""The NumPy ODE engine: dosing through initial conditions, split dosing, shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cartpk.model import OdeModel, additive, omega, theta


def _decay(split=None):
    class Decay(OdeModel):
        name = "decay"
        outputs = {"CONC": "cells/uL"}
        states = ("blood", "tissue")
        dosed_states = ("blood",)
        dosing = split
        solver = {"method": "BDF", "rtol": 1e-10, "atol": 1e-12}
        k = theta(0.5, unit="1/day")
        base = theta(2.0, unit="cells/uL")
        iiv = omega(sd={"k": 0.3})
        error = additive(sigma=1.0)

        @staticmethod
        def rhs(xp, time, y, *, k):
            return {"blood": -k * y["blood"], "tissue": 0.0 * y["tissue"]}

        @staticmethod
        def initial(xp, *, base, dose):
            return {"blood": dose / 1e6, "tissue": base}

        @staticmethod
        def observe(xp, y):
            return {"CONC": y["blood"] + y["tissue"]}

    return Decay()


def test_dose_enters_through_initial_conditions():
    m = _decay()
    t = np.array([0.0, 1.0, 5.0])
    out = m.evaluate(np, t, {"k": np.array([[0.5], [1.0]]), "base": 2.0}, dose=1e8)["CONC"]
    assert out.shape == (2, 3)
    expected = 100.0 * np.exp(-np.array([[0.5], [1.0]]) * t) + 2.0
    np.testing.assert_allclose(out, expected, rtol=1e-8)


def test_split_dosing_adds_fractions_at_their_times():
    """10/30/60 % over days 0-2 (as in Hardiansyah & Ng 2019); analytic superposition."""
    m = _decay(split=((0.0, 0.1), (1.0, 0.3), (2.0, 0.6)))
    t = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 4.0])
    out = m.evaluate(np, t, m.typical(), dose=1e8)["CONC"]
    expected = 2.0 + sum(
        100.0 * f * np.where(t >= s, np.exp(-0.5 * (t - s)), 0.0)
        for s, f in ((0.0, 0.1), (1.0, 0.3), (2.0, 0.6))
    )
    np.testing.assert_allclose(out, expected, rtol=1e-8)


def test_split_dosing_fractions_must_sum_to_one():
    from cartpk.errors import ModelError

    with pytest.raises(ModelError) as err:
        _decay(split=((0.0, 0.5), (1.0, 0.3)))
    assert err.value.code == "dosing_split"


def test_per_subject_time_grids():
    m = _decay()
    t = np.array([[0.0, 1.0], [2.0, 3.0]])
    out = m.evaluate(np, t, {"k": np.array([0.5, 1.0]), "base": 0.0}, dose=1e6)["CONC"]
    np.testing.assert_allclose(out, np.exp(-np.array([[0.5], [1.0]]) * t), rtol=1e-8)
    assert math.isclose(float(out[1, 0]), math.exp(-2.0), rel_tol=1e-8)


def test_equations_that_cannot_take_complex_numbers_still_integrate():
    """The values path falls back to a finite-difference Newton matrix when the exact
    (complex-step) state Jacobian cannot be formed: here a Heaviside switch on a state."""

    class Switch(OdeModel):
        name = "switch"
        outputs = {"CONC": "cells/uL"}
        states = ("blood",)
        solver = {"method": "BDF", "rtol": 1e-10, "atol": 1e-12}
        k = theta(0.5, unit="1/day")
        iiv = omega(sd={"k": 0.3})
        error = additive(sigma=1.0)

        @staticmethod
        def rhs(xp, time, y, *, k):
            return {"blood": -k * y["blood"] * xp.heaviside(y["blood"], 0.0)}

        @staticmethod
        def initial(xp, *, dose):
            return {"blood": dose / 1e6}

        @staticmethod
        def observe(xp, y):
            return {"CONC": y["blood"]}

    t = np.array([0.0, 1.0, 5.0])
    out = Switch().evaluate(np, t, {"k": np.array([0.5, 1.0])}, dose=1e8)["CONC"]
    expected = 100.0 * np.exp(-np.array([[0.5], [1.0]]) * t)
    np.testing.assert_allclose(out, expected, rtol=1e-7)


def test_values_honour_the_declared_switch_time():
    """Stein 2019's ODE form switches its rates at tmax (a declared breakpoint): the values
    path restarts the integration there, so it matches the closed form at tight tolerance
    for every subject, with one shared stacked solve."""
    import cartpk as ck
    from cartpk.simulation import simulate_parameters

    ode, cf = ck.load_model("stein2019_ode"), ck.load_model("stein2019")
    p = simulate_parameters(cf, n=40, seed=3)
    vals = {k: p[k].to_numpy() for k in cf.typical()}
    t = np.array([1.0, 7.0, 9.0, 14.0, 28.0, 90.0, 365.0])
    got = ode.evaluate(np, t, vals)["QPCR"]
    want = cf.evaluate(np, t, {k: v[:, None] for k, v in vals.items()})["QPCR"]
    np.testing.assert_allclose(got, want, rtol=1e-6)
