"""The symbolic core of the exports: ``trace(model)`` against the NumPy engine.

Every catalogue model is traced and its expressions are evaluated with SymPy's lambdify;
the individual parameters, predictions, ODE right-hand sides, initial states, observations
and residual SDs must equal what cartpk's own NumPy evaluation of the same declaration
gives (1e-12 relative): the trace is the declaration, not a copy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _export_checks import PythonIf, Sine, covariate_values

import cartpk as ck
from cartpk.errors import ModelError
from cartpk.export import trace
from cartpk.export._symbolic import backward, forward, lambdify_individual, sympy_namespace
from cartpk.model import list_models
from cartpk.model._equations import _kwonly, _raw

sympy = pytest.importorskip("sympy")

NAMES = list(list_models()["name"])
CLOSED = [n for n in NAMES if ck.load_model(n).kind == "closed_form"]
ODE = [n for n in NAMES if ck.load_model(n).kind == "ode"]
TIMES = [0.5, 1.0, 3.0, 7.0, 9.3, 14.0, 28.0, 60.0, 90.0, 180.0, 365.0]


def _etas(model):
    """Non-zero random effects, one per parameter with IIV (deterministic)."""
    return {n: 0.1 * (-1) ** i * (1 + i % 3) for i, n in enumerate(model.iiv.names)}


def _with_coefficients(model):
    """The model with non-zero covariate coefficients (declared ones are 0)."""
    coefs = {}
    for i, eff in enumerate(model.covariates):
        for j, name in enumerate(eff.coefficients):
            coefs[name] = 0.2 + 0.1 * i + 0.05 * j
    return model.with_ini(**coefs) if coefs else model


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def _symbol_values(model, sm, cov):
    values = {f"tv_{n}": t.value for n, t in model.thetas.items()}
    values |= {f"eta_{n}": v for n, v in _etas(model).items()}
    for eff in model.covariates:
        values |= {k: float(v) for k, v in eff.coefficients.items()}
    for c in sm.covariates:
        values[c.column] = c.codes[cov[c.column]] if c.kind == "categorical" else cov[c.column]
    return values


@pytest.mark.parametrize("name", NAMES)
def test_individual_parameters_match_the_engine(name):
    model = _with_coefficients(ck.load_model(name))
    sm = trace(model)
    cov = covariate_values(model)
    got = lambdify_individual(sm)(**_symbol_values(model, sm, cov))
    ref = model.individual_parameters(
        eta={k: [v] for k, v in _etas(model).items()},
        covariates={k: [v] for k, v in cov.items()} if cov else None,
    )
    for n in model.thetas:
        assert _rel(got[n], np.ravel(ref[n])[0]) < 1e-12, n


@pytest.mark.parametrize("name", CLOSED)
def test_closed_form_predictions_match_the_engine(name):
    model = ck.load_model(name)
    sm = trace(model)
    params = model.typical()
    for dv, expr in sm.predictions.items():
        args = [sm.time, *sm.params.values()]
        f = sympy.lambdify(args, expr, "numpy")
        got = [float(f(t, *[params[n] for n in sm.params])) for t in TIMES]
        ref = model.evaluate(np, np.asarray(TIMES), params)[dv]
        assert _rel(got, ref) < 1e-12, dv


def _declared(model, attr, *args, **params):
    func = _raw(type(model), attr)
    kw = _kwonly(func)[1]
    return func(np, *args, **{k: v for k, v in params.items() if k in kw})


@pytest.mark.parametrize("name", ODE)
def test_ode_equations_match_the_declaration(name):
    model = ck.load_model(name)
    sm = trace(model)
    params = {k: float(v) for k, v in model.typical().items()}
    params["dose"] = float(model.default_dose or 1e8)
    subs = {sm.params[n]: v for n, v in params.items() if n in sm.params}
    if sm.dose is not None:
        subs[sm.dose] = params["dose"]
    for t in (1.0, 5.0, 12.0, 40.0):
        y = {s: 1.7 * (i + 1) for i, s in enumerate(sm.states)}
        ref = _declared(model, "rhs", t, y, **params)
        point = subs | {sm.time: t} | {sm.states[s]: v for s, v in y.items()}
        for s, expr in sm.rhs.items():
            assert _rel(float(expr.evalf(30, subs=point)), ref[s]) < 1e-12, (s, t)
    ref = _declared(model, "initial", **params)
    for s, expr in sm.initial.items():
        assert float(expr.evalf(30, subs=subs)) == pytest.approx(float(ref[s]), rel=1e-12)
    y = {s: 2.3 * (i + 1) for i, s in enumerate(sm.states)}
    ref = _declared(model, "observe", y, **params)
    point = subs | {sm.states[s]: v for s, v in y.items()}
    for dv, expr in sm.observe.items():
        assert _rel(float(expr.evalf(30, subs=point)), ref[dv]) < 1e-12


def test_dose_inputs_follow_the_declared_split():
    sm = trace(ck.load_model("hardiansyah2019"))
    (d,) = sm.dose_inputs
    assert (d.state, d.compartment) == ("cart_e_pb", 2)
    assert float(d.scale) == pytest.approx(1e-9) and d.baseline == 0
    assert d.schedule == ((0.0, 0.1), (1.0, 0.3), (2.0, 0.6))
    assert trace(ck.load_model("stein2019_ode")).dose_inputs == ()
    (c,) = trace(ck.load_model("cartmath_illustration")).dose_inputs
    assert (c.state, c.compartment, float(c.scale), c.schedule) == ("cd", 1, 1.0, ((0.0, 1.0),))


def test_covariate_shifts_match_the_declared_effects():
    model = _with_coefficients(ck.load_model("stein2019_covariates"))
    sm = trace(model)
    coefs = {k: v for e in model.covariates for k, v in e.coefficients.items()}
    for eff, info in zip(model.covariates, sm.covariates, strict=True):
        column = [1e7, 3e7, 2.2e8] if info.kind == "power" else list(eff.levels)
        ref = eff.shift(np, np.asarray(column), coefs)
        codes = [info.codes[v] for v in column] if info.kind == "categorical" else column
        sym = sm.covariate_symbols[info.column]
        got = [float(info.shift.subs({sympy.Symbol(k): v for k, v in coefs.items()} | {sym: c}))
               for c in codes]  # fmt: skip
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)
    assert sm.covariates[1].codes == {"GD2": 1, "PSMA": 2, "MUC1": 3, "MSLN": 4}
    assert [t.role for t in sm.thetas].count("covariate") == 4


def test_thetas_iiv_and_errors_are_the_declaration():
    model = ck.load_model("cartmath_illustration")
    sm = trace(model)
    assert [t.name for t in sm.thetas] == list(model.thetas)
    assert sm.iiv == pytest.approx(model.iiv.var)
    assert sm.dvid_codes == {"QPCR": 1, "SOD": 2}
    for dv, info in sm.errors.items():
        em = model.error[dv]
        f = np.array([0.5, 20.0, 3e4])
        ref = em.sd(np, f)
        got = [float(info.sd.subs({info.f: x} | {sympy.Symbol(n): v for n, v in em.sigmas}))
               for x in f]  # fmt: skip
        np.testing.assert_allclose(got, ref, rtol=1e-14)
        assert info.scale == ("log" if dv == "QPCR" else "linear")
    fb = trace(ck.load_model("stein2019")).theta_map["fb"]
    assert (fb.lower, fb.upper, fb.transform) == (0.0, 1.0, "logit")


def test_transforms_round_trip():
    x = sympy.Symbol("x", positive=True)
    for tr in ("log", "logit", None):
        value = float(backward(tr, forward(tr, x)).subs(x, 0.3))
        assert value == pytest.approx(0.3, rel=1e-15)
    assert math.isclose(float(backward("logit", sympy.Float(0.0))), 0.5)


@pytest.mark.parametrize(
    ("cls", "what"), [(Sine, "xp.sin"), (PythonIf, "an operation SymPy cannot trace")]
)
def test_untraceable_declarations_fail_clearly(cls, what):
    with pytest.raises(ModelError) as err:
        trace(cls())
    assert err.value.code == "export_unsupported"
    v = err.value.violations[0]
    assert what in v.message and "`predict`" in v.message and cls.name in v.message


def test_namespace_names_the_function():
    xp = sympy_namespace("m")
    with pytest.raises(ModelError, match="xp.cumsum"):
        xp.cumsum([1.0])
