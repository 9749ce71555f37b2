"""The ODE request (``cartpk.ode._request``): an ODE model's inputs checked once for every
engine (times, covariates' step functions, doses, the subject axis), and the engines'
values through it, equal to those recorded before the engines took a request."""

from __future__ import annotations

import numpy as np
import pytest

import cartpk as ck
from cartpk.errors import ModelError
from cartpk.model import OdeModel, additive, omega, theta
from cartpk.ode import ode_request, solve_ode

T = np.array([7.0, 28.0, 90.0])
# Two subjects (typical values, and every value x1.2 / x1.05), solved before the engines
# took an OdeRequest (SciPy at the declared solver, JAX with Tsit5, batch at rtol 1e-8):
# QPCR values and d QPCR / d WRT[name]. Identical to the last bit after the change on the
# development machine; the tolerance below only allows for another CPU's rounding.
WRT = {"stein2019_ode": "cmax", "cartmath_illustration": "phi"}
DOSE = {"stein2019_ode": None, "cartmath_illustration": 1e6}
SCALE = {"stein2019_ode": 1.2, "cartmath_illustration": 1.05}
RECORDED = {
    ("stein2019_ode", "scipy"): (
        [
            [3105.2637209171303, 1373.5587757336855, 146.5076741384866],
            [1233.877854886086, 1380.6880219877435, 201.7141944057057],
        ],
        [
            [0.12938598837154697, 0.05723161565557021, 0.00610448642243694],
            [0.04284298107243355, 0.047940556319018834, 0.007003965083531449],
        ],
    ),
    ("stein2019_ode", "jax"): (
        [
            [3105.263720960056, 1373.5587757623055, 146.50767414133392],
            [1233.8778548936164, 1380.6880220026233, 201.7141944080519],
        ],
        [
            [0.12938598837333562, 0.057231615656762595, 0.006104486422555549],
            [0.04284298107269506, 0.04794055631953556, 0.007003965083612912],
        ],
    ),
    ("stein2019_ode", "batch"): (
        [
            [3105.2951338041644, 1373.5722664719463, 146.50964156867715],
            [1233.888486330226, 1380.7018679899518, 201.71696458498394],
        ],
        None,
    ),
    ("cartmath_illustration", "scipy"): (
        [
            [34.90800779982102, 42.84530849122564, 33.34825287022326],
            [36.75687997232051, 44.63173124388974, 33.98946513708617],
        ],
        [
            [163.35729431903093, 473.299267625404, 451.4190466221222],
            [170.92318044530947, 479.09496156507333, 439.3353438226583],
        ],
    ),
    ("cartmath_illustration", "jax"): (
        [
            [34.908007843032415, 42.84530892252534, 33.348252962210424],
            [36.75687999088974, 44.631731687274616, 33.98946515232788],
        ],
        [
            [163.35729500929654, 473.2992609882391, 451.41905027675716],
            [170.92318054331122, 479.09495151771347, 439.33534517162354],
        ],
    ),
    ("cartmath_illustration", "batch"): (
        [
            [34.908007673979064, 42.84531575231785, 33.348252342161764],
            [36.75687982121551, 44.63173850720324, 33.98946438517269],
        ],
        None,
    ),
}


@pytest.mark.parametrize(("name", "engine"), sorted(RECORDED))
def test_engines_give_the_values_recorded_before_the_request(name, engine):
    if engine == "jax":
        pytest.importorskip("jax")
        pytest.importorskip("diffrax")
    m = ck.load_model(name)
    p = {k: np.array([v, v * SCALE[name]]) for k, v in m.typical().items()}
    dose, wrt = DOSE[name], WRT[name]
    if engine == "batch":
        sol = m.evaluate_batch(T, p, dose=dose, rtol=1e-8)
    else:
        method = "Tsit5" if engine == "jax" else None
        sol = m.evaluate_with_jacobian(T, p, dose=dose, wrt=[wrt], engine=engine, method=method)
    values, jacobian = RECORDED[(name, engine)]
    assert sol.success
    np.testing.assert_allclose(sol.values["QPCR"], values, rtol=1e-9)
    if jacobian is not None:
        np.testing.assert_allclose(sol.jacobian["QPCR"][wrt], jacobian, rtol=1e-8)
    np.testing.assert_array_equal(sol.time, np.broadcast_to(T, (2, T.size)))


def _growth(default_dose=None):
    """dy/dt = k (1 - drug) y, y(0) = dose: a covariate ``drug`` (0 until it changes)."""

    class Growth(OdeModel):
        name = "growth"
        outputs = {"Y": "cells"}
        states = ("y",)
        k = theta(0.1, unit="1/day")
        iiv = omega(sd={"k": 0.1})
        error = additive(sigma=1.0)
        time_varying = {"drug": 0.0}
        solver = {"method": "LSODA", "rtol": 1e-10, "atol": 1e-12}

        @staticmethod
        def rhs(xp, time, y, *, k, drug):
            return {"y": k * (1.0 - drug) * y["y"]}

        @staticmethod
        def initial(xp, *, dose):
            return {"y": dose}

        @staticmethod
        def observe(xp, y):
            return {"Y": y["y"]}

    Growth.default_dose = default_dose
    return Growth()


def _code(call):
    with pytest.raises(ModelError) as err:
        call()
    return err.value.code


def test_request_broadcasts_every_input_to_one_subject_axis():
    m = _growth()
    tv = {"drug": ([[5.0], [np.inf], [2.0]], [[0.5], [0.5], [1.0]])}
    req = ode_request(m, [1.0, 7.0], {"k": 0.1}, dose=2.0, time_varying=tv)
    assert req.n == 3 and not req.scalar
    assert req.params["k"].shape == (3,) and req.dose.tolist() == [2.0, 2.0, 2.0]
    assert [a.shape for a in req.steps["drug"]] == [(3, 1), (3, 1)]
    assert req.time_rows().shape == (3, 2)
    sub = req.subset(np.array([2]))
    assert sub.n == 1 and sub.steps["drug"][1].tolist() == [[1.0]]
    one = ode_request(m, [1.0, 7.0], {"k": 0.1}, dose=2.0)
    assert one.n == 1 and one.scalar
    # an Op's request gets its symbolic inputs' values at each point: checked again
    grown = one.with_params({"k": np.array([0.1, 0.2])})
    assert grown.n == 2 and grown.dose.shape == (2,) and grown.params["k"].tolist() == [0.1, 0.2]
    assert _code(lambda: req.with_params({"k": np.ones(2)})) == "ode_shape"


def test_times_are_checked_once_for_every_engine():
    pytest.importorskip("jax")
    m = ck.load_model("stein2019_ode")
    p = m.typical()
    for bad in ([-1.0, 2.0], [np.nan, 2.0]):
        assert _code(lambda b=bad: m.evaluate(np, b, p)) == "ode_time"
        for engine in ("scipy", "jax"):  # JAX integrated pre-infusion times as t = 0 before
            call = lambda b=bad, e=engine: m.evaluate_with_jacobian(b, p, engine=e)  # noqa: E731
            assert _code(call) == "ode_time"
        assert _code(lambda b=bad: m.evaluate_batch(b, p)) == "ode_time"
    with pytest.raises(ModelError, match="one shared grid"):
        m.evaluate_batch([[1.0, 2.0]], p)
    assert _code(lambda: ode_request(m, np.ones((1, 1, 2)), p)) == "ode_time"


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({"tocilizumab": ([1.0], [1.0])}, "time_varying_unknown"),
        ({"drug": 3.0}, "time_varying_format"),
        ({"drug": ([1.0], [1.0], [2.0])}, "time_varying_format"),
        ({"drug": ([1.0, 2.0], [1.0])}, "time_varying_shape"),
        ({"drug": (np.ones((1, 1, 1)), np.ones((1, 1, 1)))}, "time_varying_shape"),
        ({"drug": (np.ones((3, 1)), np.ones((3, 1)))}, "ode_shape"),
    ],
)
def test_covariate_step_functions_are_checked_once_for_every_engine(spec, code):
    m = _growth(default_dose=1.0)
    p = {"k": np.array([0.1, 0.2])}
    assert _code(lambda: ode_request(m, T, p, time_varying=spec)) == code
    assert _code(lambda: m.evaluate_with_jacobian(T, p, time_varying=spec)) == code
    assert _code(lambda: m.evaluate_batch(T, p, time_varying=spec)) == code


def test_a_missing_dose_is_the_declared_default_for_every_engine():
    m = _growth(default_dose=2.0)
    tv = {"drug": ([5.0], [0.5])}
    k = 0.1
    expected = 2.0 * np.exp(k * np.minimum(T, 5.0) + 0.5 * k * np.maximum(T - 5.0, 0.0))
    np.testing.assert_allclose(m.evaluate(np, T, {"k": k}, time_varying=tv)["Y"], expected)
    batch = m.evaluate_batch(T, {"k": k}, time_varying=tv, rtol=1e-9).values["Y"][0]
    np.testing.assert_allclose(batch, expected, rtol=1e-5)
    assert _code(lambda: _growth().evaluate(np, T, {"k": k})) == "missing_dose"


def test_solve_ode_refuses_derivatives_of_parameters_not_given():
    m = _growth(default_dose=1.0)
    req = ode_request(m, T, {"k": 0.1})
    assert _code(lambda: solve_ode(req, wrt=["kk"])) == "unknown_parameter"
    assert solve_ode(req, wrt=["k"]).jacobian["Y"]["k"].shape == (1, T.size)
