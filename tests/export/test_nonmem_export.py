"""The NONMEM export, verified by an independent reader: Pharmpy parses the control stream.

Closed forms: the ``IPRED`` Pharmpy reads from ``$PRED``, evaluated with SymPy at the
``$THETA`` values, non-zero ``ETA``\\s and covariates, equals cartpk's own prediction
(NumPy engine, same values) at a grid of times to 1e-8 relative. ODE models: the ``$DES``
right-hand side, the ``A_0``/``F`` initial state, the ``$ERROR`` observation and the
``MTIME`` switch times Pharmpy extracts equal the declaration's (1e-10). ``$THETA`` inits,
bounds and FIX flags, ``$OMEGA`` variances and the M3 ``Y`` are checked against the
declaration; mutated streams show that the comparisons fail when the export is wrong.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import pytest
from _export_checks import assignment, covariate_values, parse_stream, with_phi

import cartpk as ck
from cartpk.export import trace
from cartpk.export._nonmem import ZERO_INIT, data_columns, theta_inits, to_nonmem
from cartpk.model import list_models
from cartpk.model._equations import _kwonly, _raw

sympy = pytest.importorskip("sympy")
pytest.importorskip("pharmpy")

NAMES = list(list_models()["name"])
CLOSED = [n for n in NAMES if ck.load_model(n).kind == "closed_form"]
ODE = [n for n in NAMES if ck.load_model(n).kind == "ode"]
TIMES = [0.5, 1.0, 3.0, 7.0, 9.3, 14.0, 28.0, 60.0, 90.0, 180.0, 365.0]
REL = 1e-8


@functools.cache
def _exported(name: str):
    text = to_nonmem(ck.load_model(name))
    return text, parse_stream(text)


def _eta_order(model):
    """Parameters with IIV in ETA order: declaration order of the thetas."""
    return [n for n in model.thetas if n in model.iiv]


def _etas(model):
    return {n: 0.1 * (-1) ** i * (1 + i % 3) for i, n in enumerate(_eta_order(model))}


def _data_values(model, pm):
    """Substitutions for Pharmpy's symbols: $THETA/$OMEGA inits, ETAs, covariates."""
    subs = {sympy.Symbol(k): v for k, v in pm.parameters.inits.items()}
    eta_names = pm.random_variables.etas.names
    etas = _etas(model)
    assert len(eta_names) == len(etas)
    subs |= {sympy.Symbol(e): etas[n] for e, n in zip(eta_names, _eta_order(model), strict=True)}
    sm = trace(model)
    for c in sm.covariates:
        value = covariate_values(model)[c.column]
        subs[sympy.Symbol(c.column)] = c.codes[value] if c.kind == "categorical" else value
    return subs


def exported_ipred(model, pm, times, dvid: str):
    """``IPRED`` of the parsed control stream at ``times`` (SymPy, 30 digits)."""
    expr = with_phi(pm.statements.full_expression("IPRED"))
    subs = _data_values(model, pm) | {sympy.Symbol("DVID"): trace(model).dvid_codes[dvid]}
    expr = expr.subs(subs)
    assert expr.free_symbols <= {sympy.Symbol("TIME")}, expr.free_symbols
    return np.array([float(expr.evalf(30, subs={sympy.Symbol("TIME"): t})) for t in times])


def cartpk_prediction(model, times, dvid: str):
    """cartpk's prediction (NumPy engine) at the exported values, ETAs and covariates."""
    sm = trace(model)
    inits = theta_inits(sm)
    coefs = {t.name: inits[t.name] for t in sm.thetas if t.role == "covariate"}
    model = model.with_ini(**coefs) if coefs else model
    cov = covariate_values(model)
    params = model.individual_parameters(
        eta={k: [v] for k, v in _etas(model).items()},
        covariates={k: [v] for k, v in cov.items()} if cov else None,
    )
    return np.ravel(model.evaluate(np, np.asarray(times), params)[dvid])


def max_rel_difference(model, pm) -> float:
    """Largest relative difference of exported and cartpk predictions over outputs, times."""
    worst = 0.0
    for dv in model.outputs:
        got = exported_ipred(model, pm, TIMES, dv)
        ref = cartpk_prediction(model, TIMES, dv)
        worst = max(worst, float(np.max(np.abs(got - ref) / np.abs(ref))))
    return worst


@pytest.mark.parametrize("name", CLOSED)
def test_closed_form_pred_equals_cartpk_prediction(name):
    model = ck.load_model(name)
    text, pm = _exported(name)
    assert "$PRED" in text and "$DES" not in text
    assert max_rel_difference(model, pm) < REL


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("$THETA (0.0, 9.3)", "$THETA (0.0, 9.31)"),  # a wrong theta init
        ("EXP(-(BETA*PW2))", "EXP(-(ALPHA*PW2))"),  # a wrong structural term
        ("FOLDX = EXP(MU_1 + ETA(1))", "FOLDX = EXP(MU_1 + ETA(2))"),  # a wrong ETA
    ],
)
def test_comparison_detects_a_wrong_export(old, new):
    model = ck.load_model("stein2019")
    text, _ = _exported("stein2019")
    assert old in text
    assert max_rel_difference(model, parse_stream(text.replace(old, new))) > 1e-4


def _parameters(pm):
    return {p.name: p for p in pm.parameters}


@pytest.mark.parametrize("name", NAMES)
def test_thetas_and_omegas_are_the_declared_values(name):
    model = ck.load_model(name)
    sm = trace(model)
    _, pm = _exported(name)
    params = _parameters(pm)
    for t in sm.thetas:
        p = params[t.name]  # $THETA comments start with the declared name
        expected = ZERO_INIT if t.value == 0.0 and not t.fixed else t.value
        assert p.init == expected and p.fix == t.fixed
        assert (p.lower, p.upper) == (t.lower, t.upper)
    for dv, e in sm.errors.items():
        for (n, v), fixed in zip(e.sigmas, e.fixed, strict=True):
            assert (params[n].init, params[n].lower, params[n].fix) == (v, 0.0, fixed), dv
    omegas = [params[f"IIV_{n}"] for n in _eta_order(model)]
    etas = pm.random_variables.etas
    assert list(etas.variance_parameters) == [p.name for p in omegas]
    for p, n in zip(omegas, _eta_order(model), strict=True):
        var = model.iiv.var[n]
        assert p.init == pytest.approx(var, rel=1e-14), n  # variances, not SDs
        assert p.fix == (n in model.iiv.fixed)
    assert "VARIANCES" in _exported(name)[0]


def test_zero_covariate_coefficients_are_written_as_documented():
    text, pm = _exported("stein2019_covariates")
    params = _parameters(pm)
    assert params["cov_cmax_dose"].init == ZERO_INIT
    assert "(declared 0)" in text and "TARGET coded 1 = GD2, 2 = PSMA, 3 = MUC1" in text


def _m3_y(name, cens, lloq, dv):
    """``Y`` of a stein2019 record at day 28: the $PRED's Y with its IPRED and W."""
    model = ck.load_model(name)
    _, pm = _exported(name)
    f = float(exported_ipred(model, pm, [28.0], "QPCR")[0])
    w = assignment(pm, "W").subs(_data_values(model, pm))
    subs = {
        sympy.Symbol("CENS"): cens,
        sympy.Symbol("LLOQ"): lloq,
        sympy.Symbol("DV"): dv,
        sympy.Symbol("MDV"): 0,
        sympy.Symbol("EPS_1"): 0.0,
        sympy.Symbol("IPRED"): f,
        sympy.Symbol("W"): w,
    }
    y = float(assignment(pm, "Y").subs(subs).evalf(30))
    assert f == pytest.approx(float(cartpk_prediction(model, [28.0], "QPCR")[0]), rel=REL)
    return y, f


def test_m3_censoring_on_the_log_scale():
    from scipy.stats import norm

    sigma = 0.56
    y, f = _m3_y("stein2019", 1, 50.0, math.log(50.0))
    assert y == pytest.approx(norm.cdf((math.log(50.0) - math.log(f)) / sigma), rel=1e-10)
    y, f = _m3_y("stein2019", -1, 0.0, math.log(5e4))
    assert y == pytest.approx(norm.sf((math.log(5e4) - math.log(f)) / sigma), rel=1e-10)
    y, f = _m3_y("stein2019", 0, 50.0, 7.0)
    assert y == pytest.approx(math.log(f), rel=1e-12)
    text = _exported("stein2019")[0]
    assert "F_FLAG = 1" in text and "METHOD=COND LAPLACE INTER" in text


def test_m3_on_the_linear_scale_for_proportional_error():
    from scipy.stats import norm

    model = ck.load_model("cartmath_illustration")
    _, pm = _exported("cartmath_illustration")
    y = assignment(pm, "Y")
    ipred, w = sympy.symbols("IPRED W")
    subs = {sympy.Symbol("CENS"): 1, sympy.Symbol("LLOQ"): 2.0, sympy.Symbol("MDV"): 0}
    subs |= {sympy.Symbol("DVID"): 2, sympy.Symbol("LOGY"): 0, sympy.Symbol("TPRED"): ipred}
    # Y of a censored SOD record in terms of IPRED and W: PHI((LLOQ - IPRED)/W), no log
    got = float(y.subs(subs).subs({ipred: 1.5, w: 0.15}).evalf(30))
    assert got == pytest.approx(norm.cdf((2.0 - 1.5) / 0.15), rel=1e-10)
    assert model.error["SOD"].kind == "proportional"


# --- ODE models ----------------------------------------------------------------------
# Pharmpy's conversion of a $DES into its compartmental system (statements.ode_system)
# treats every term as a first-order flow and misreads bilinear terms (LAM*A(5)*A(2) of
# cartmath_illustration comes back as LAM*A(2)**2), so the checks read the $PK, $DES and
# $ERROR code records as Pharmpy parsed them.


def _record(pm, kind):
    return pm.internals.control_stream.get_records(kind)[0].statements


def _code_values(model, pm):
    """``THETA(k)`` at the $THETA inits, ``ETA(k)`` at the test's random effects."""
    inits = list(pm.parameters.inits.values())
    subs = {sympy.Symbol(f"THETA({k})"): inits[k - 1] for k in range(1, len(inits) + 1)}
    etas = _etas(model)
    return subs | {sympy.Symbol(f"ETA({j})"): etas[n] for j, n in enumerate(etas, start=1)}


def _definitions(statements, defs):
    """Assignments in order, each with the earlier ones substituted."""
    defs = dict(defs)
    for s in statements:
        defs[with_phi(s.symbol)] = with_phi(s.expression).subs(defs)
    return defs


def _declared(model, attr, *args, **params):
    func = _raw(type(model), attr)
    return func(np, *args, **{k: v for k, v in params.items() if k in _kwonly(func)[1]})


def _individual(model):
    ind = model.individual_parameters(eta={k: [v] for k, v in _etas(model).items()})
    return {k: float(np.ravel(v)[0]) for k, v in ind.items()}


def _amount(k: int):
    return sympy.Symbol(f"A({k})")


def des_rhs_difference(name: str, text: str | None = None) -> float:
    """Largest relative difference of the $DES rhs and the declaration's rhs."""
    model = ck.load_model(name)
    pm = parse_stream(text) if text is not None else _exported(name)[1]
    pk = _definitions(_record(pm, "PK"), _code_values(model, pm))
    params = _individual(model)
    states = list(type(model).states)
    worst = 0.0
    for time in (1.0, 5.0, 12.0, 40.0, 200.0):
        y = {s: 1.7 * (i + 1) ** 2 for i, s in enumerate(states)}
        ref = _declared(model, "rhs", time, y, **params)
        point = {_amount(k): y[s] for k, s in enumerate(states, start=1)}
        des = _definitions(_record(pm, "DES"), pk | point | {sympy.Symbol("T"): time})
        for k, s in enumerate(states, start=1):
            got = float(des[sympy.Symbol(f"DADT({k})")].evalf(30))
            worst = max(worst, abs(got - ref[s]) / max(abs(ref[s]), 1e-300))
    return worst


@pytest.mark.parametrize("name", ODE)
def test_des_equals_the_declared_rhs(name):
    text, pm = _exported(name)
    assert "ADVAN13" in text and "$DES" in text
    assert len(pm.statements.ode_system.eqs) == len(type(ck.load_model(name)).states)
    assert des_rhs_difference(name) < 1e-10


@pytest.mark.parametrize("name", ["stein2019_ode", "claret_tgi"])
def test_pharmpy_ode_system_equals_the_declared_rhs(name):
    """Where Pharmpy's compartmental reading applies (no bilinear terms), its ode_system
    evaluated at the declared values gives the declaration's rhs too."""
    model = ck.load_model(name)
    text, pm = _exported(name)
    defs = dict(_data_values(model, pm))
    for s in pm.statements.before_odes:
        defs[with_phi(s.symbol)] = with_phi(s.expression).subs(defs)
    found = re.findall(r"COMP=\((\w+)[^)]*\) ; A\(\d+\) (\w+)", text)
    t = sympy.Symbol("t")
    amount = {state: sympy.Function(f"A_{comp}")(t) for comp, state in found}
    params = _individual(model)
    for time in (1.0, 12.0, 40.0):
        y = {s: 1.7 * (i + 1) ** 2 for i, s in enumerate(amount)}
        ref = _declared(model, "rhs", time, y, **params)
        point = {amount[s]: v for s, v in y.items()} | {t: time}
        for eq in pm.statements.ode_system.eqs:
            state = next(s for s, a in amount.items() if with_phi(eq.lhs).args[0] == a)
            got = float(with_phi(eq.rhs).subs(defs).subs(point).evalf(30))
            assert got == pytest.approx(ref[state], rel=1e-10), (state, time)


def test_des_comparison_detects_a_wrong_term():
    text, _ = _exported("stein2019_ode")
    bad = text.replace("PW2 = -BETA*A(2)", "PW2 = -ALPHA*A(2)")
    assert bad != text and des_rhs_difference("stein2019_ode", bad) > 1e-3


@pytest.mark.parametrize("name", ODE)
def test_initial_state_doses_and_switch_times(name):
    model = ck.load_model(name)
    _, pm = _exported(name)
    sm = trace(model)
    pk = _definitions(_record(pm, "PK"), _code_values(model, pm))
    params = _individual(model)
    dose = float(model.default_dose or 1e8)
    ref = _declared(model, "initial", **params, dose=dose)
    dosed = {d.state: d for d in sm.dose_inputs}
    for k, state in enumerate(type(model).states, start=1):
        a0 = float(pk.get(sympy.Symbol(f"A_0({k})"), 0.0))
        f = float(pk.get(sympy.Symbol(f"F{k}"), 1.0)) if state in dosed else 0.0
        fractions = sum(fr for _, fr in dosed[state].schedule) if state in dosed else 0.0
        assert a0 + f * dose * fractions == pytest.approx(float(ref[state]), rel=1e-10), state
    schedule = tuple(sorted(type(model).dosing or ((0.0, 1.0),)))
    assert all(d.schedule == schedule for d in sm.dose_inputs)
    if not sm.dose_inputs:
        assert float(pk[sympy.Symbol("F1")]) == 0.0  # the dose record enters no state
    bps = _declared(model, "breakpoints", **params) if sm.breakpoints else {}
    for i, (_, value) in enumerate(bps.items(), start=1):
        assert float(pk[sympy.Symbol(f"MTIME({i})")]) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("name", ODE)
def test_error_block_observes_the_declared_outputs(name):
    model = ck.load_model(name)
    _, pm = _exported(name)
    pk = _definitions(_record(pm, "PK"), _code_values(model, pm))
    params = _individual(model)
    states = list(type(model).states)
    y = {s: 2.3 * (i + 1) for i, s in enumerate(states)}
    ref = _declared(model, "observe", y, **params)
    point = {_amount(k): y[s] for k, s in enumerate(states, start=1)}
    for dv, code in trace(model).dvid_codes.items():
        err = _definitions(_record(pm, "ERROR"), pk | point | {sympy.Symbol("DVID"): code})
        got = float(err[sympy.Symbol("IPRED")].evalf(30))
        assert got == pytest.approx(float(ref[dv]), rel=1e-10), dv


# --- names, columns, bad input ---------------------------------------------------------


def test_reserved_names_are_renamed_and_listed():
    text, pm = _exported("cartmath_illustration")
    for old, new in [("theta", "THETA_P"), ("eta", "ETA_P"), ("eps", "EPS_P"), ("phi", "PHI_P")]:
        assert f"renamed: `{old}` -> {new}" in text
        assert re.search(rf"^{new} = ", text, re.M) or re.search(
            rf"^MU_\d+ = .*\n{new} = ", text, re.M
        )
    assert "H_P = THETA(19)" in _exported("hardiansyah2019")[0]


def test_input_columns():
    text, _ = _exported("stein2019_covariates")
    assert "$INPUT ID TIME DV EVID AMT MDV CENS LLOQ DVID DOSE TARGET" in text
    assert data_columns(trace(ck.load_model("hardiansyah2019")))[-1] == "CMT"


@pytest.mark.parametrize("name", NAMES)
def test_every_catalogue_model_exports_and_parses(name):
    text, pm = _exported(name)
    assert text.startswith(f"$PROBLEM cartpk {name}")
    assert max(len(line) for line in text.splitlines()) <= 160
    assert pm.statements.find_assignment("Y") is not None
