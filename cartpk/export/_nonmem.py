"""A model declaration as a NONMEM control stream (``cartpk export MODEL --to nonmem``).

The writer translates the traced declaration (:func:`cartpk.export._symbolic.trace`), never
a copy of its equations. What it writes, and the data conventions the stream expects (the
ones ``cartpk export-data --to nonmem`` writes):

* ``$INPUT ID TIME DV EVID AMT MDV CENS LLOQ DVID`` (+ ``CMT`` for an ODE model, + the
  covariate columns the effects use). ``DVID`` is numeric: outputs numbered 1, 2, ... in
  declaration order. Categorical covariates are coded 1, 2, ... by position in the
  declared levels. ``DV`` of a log-additive output is the natural log of the measurement
  (``LLOQ`` stays on the natural scale; the code takes its log).
* thetas ``(lower, init, upper)`` with ``; name [unit] label`` comments; structural thetas,
  then covariate coefficients, then residual-error SDs. MU-referencing: ``MU_k`` is the
  parameter's typical value on its transformed scale (``LOG``, logit or identity, plus
  covariate shifts) and ``P = h^-1(MU_k + ETA(k))``.
* ``$OMEGA`` holds **variances** (cartpk declares SDs; variance = SD**2), diagonal.
* residual error as ``W`` (the SD, from the declaration's error model; the SDs are thetas)
  with ``$SIGMA 1 FIX``; ``Y = LOG(IPRED) + W*EPS(1)`` for log-additive error, else
  ``Y = IPRED + W*EPS(1)``.
* M3 censoring (Beal 2001): ``CENS=1``: ``F_FLAG=1``, ``Y = PHI((LLOQ - IPRED)/W)`` on the
  residual's scale (``LOG(LLOQ)`` vs ``LOG(IPRED)`` for log-additive error); ``CENS=-1``
  (above a limit held in ``DV``): ``Y = 1 - PHI((DV - IPRED)/W)``; ``$ESTIMATION
  METHOD=COND LAPLACE INTER`` (M3 needs LAPLACE).
* interval censoring (``to_nonmem(..., interval=True)``; ``cartpk export --data FILE`` when
  FILE has ``LIMFL=1`` records): ``$INPUT`` ends with ``LIMIT LIMFL`` (``LIMIT`` the other
  bound, natural scale; ``LIMFL=1`` where it holds one: NONMEM reads ``.`` as 0), and a
  censored record with ``LIMFL=1`` has the probability of its interval, as
  :func:`cartpk.fit.loglik`: ``CENS=1`` ``Y = PHI(z(LLOQ)) - PHI(z(LIMIT))``, ``CENS=-1``
  ``Y = PHI(z(LIMIT)) - PHI(z(DV))``, ``z`` on the residual's scale; on the log scale a
  ``LIMIT <= 0`` excludes nothing (``Y = PHI(z(LLOQ))``).
* closed form: ``$PRED``; ODE: ``$SUBROUTINES ADVAN13``, ``$MODEL`` (one compartment per
  state), ``$PK`` (individual parameters, ``MTIME`` at the declared switch times, ``A_0``
  initial conditions, bioavailability ``F`` of the dosed states), ``$DES``, ``$ERROR``.
  Dose records: ``EVID=1, CMT=k, AMT=fraction*dose`` at each time of the declaration's
  dose split; a model whose equations do not use the dose gets ``F1 = 0`` (its dose record,
  ``CMT=1``, enters no state).
* piecewise expressions (``where``, ``minimum``, ``maximum``, ``tanh``) as IF blocks;
  names that clash with NONMEM reserved words renamed, listed in the header.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

from cartpk.errors import ModelError, Violation
from cartpk.export._forms import unsupported
from cartpk.export._nonmem_code import NmCode, nm_number
from cartpk.export._symbolic import SymbolicModel, backward, trace
from cartpk.model import Model

__all__ = ["INTERVAL_COLUMNS", "data_columns", "theta_inits", "to_nonmem"]

_BASE_COLUMNS = ("ID", "TIME", "DV", "EVID", "AMT", "MDV", "CENS", "LLOQ", "DVID")
#: the other bound of a censored record and its flag (NONMEM reads "." as 0): last in $INPUT
INTERVAL_COLUMNS = ("LIMIT", "LIMFL")
#: value written for an estimated theta declared exactly 0 (a covariate coefficient):
#: NONMEM scales estimates by their initial values; Pharmpy's add_covariate_effect uses it
ZERO_INIT = 0.001


def data_columns(sm: SymbolicModel, *, interval: bool = False) -> list[str]:
    """The ``$INPUT`` columns of the exported control stream, in order.

    Parameters
    ----------
    sm : SymbolicModel
        The traced declaration: its kind and covariate columns.
    interval : bool, default False
        With the interval-censoring columns ``LIMIT LIMFL`` last.

    Returns
    -------
    list of str

    Examples
    --------
    >>> import cartpk as ck
    >>> from cartpk.export import trace
    >>> data_columns(trace(ck.load_model("stein2019_ode")), interval=True)[-4:]
    ['DVID', 'CMT', 'LIMIT', 'LIMFL']
    """
    cols = list(_BASE_COLUMNS) + (["CMT"] if sm.kind == "ode" else [])
    cols += [c for c in sm.covariate_symbols if c not in cols]
    return cols + (list(INTERVAL_COLUMNS) if interval else [])


def theta_inits(sm: SymbolicModel) -> dict[str, float]:
    """``{name: $THETA initial value}`` in ``$THETA`` order (sigmas last).

    The declared values, except that an estimated theta declared exactly 0 is written as
    :data:`ZERO_INIT`.
    """
    out = {t.name: t.value for t in sm.thetas}
    for e in sm.errors.values():
        out.update(dict(e.sigmas))
    fixed = {t.name for t in sm.thetas if t.fixed}
    for e in sm.errors.values():
        fixed |= {n for (n, _), f in zip(e.sigmas, e.fixed, strict=True) if f}
    return {k: (ZERO_INIT if v == 0.0 and k not in fixed else v) for k, v in out.items()}


def _comment(text: str, width: int = 96) -> list[str]:
    return ["; " + line for line in textwrap.wrap(text, width - 2)] or [";"]


def _symbols(sm: SymbolicModel, code: NmCode) -> tuple[list[str], dict[str, int]]:
    """Bind thetas, etas, covariates; return the $THETA lines and the ETA numbers."""
    sp = code.sp
    lines, k = [], 0
    inits = theta_inits(sm)
    eta_no = {n: j + 1 for j, n in enumerate(p for p in sm.params if p in sm.etas)}
    for t in sm.thetas:
        k += 1
        sym = sm.typical[t.name] if t.role == "structural" else sm.coefficients[t.name]
        code.bind(sym, f"THETA({k})")
        lines.append(_theta_line(inits[t.name], t.lower, t.upper, t.fixed, _theta_note(t, eta_no)))
    for dv, e in sm.errors.items():
        for (name, _), role, fixed in zip(e.sigmas, e.roles, e.fixed, strict=True):
            k += 1
            code.bind(sp.Symbol(name), f"THETA({k})")
            unit = e.unit if e.kind == "additive" or role == "sigma_add" else "1"
            scale = "natural-log scale" if e.scale == "log" else f"scale of {dv}"
            note = f"{name} [{unit}] residual SD ({e.kind}, {role}) of {dv}, {scale}"
            lines.append(_theta_line(inits[name], 0.0, math.inf, fixed, note))
    for name, j in eta_no.items():
        code.bind(sm.etas[name], f"ETA({j})")
    for col, sym in sm.covariate_symbols.items():
        code.bind(sym, col)
    return lines, eta_no


def _theta_note(t: Any, eta_no: dict[str, int]) -> str:
    scale = {"log": "log scale", "logit": "logit scale", None: "identity"}[t.transform]
    iiv = f", IIV ETA({eta_no[t.name]})" if t.name in eta_no else ""
    init = " (declared 0)" if t.value == 0.0 and not t.fixed else ""
    return f"{t.name} [{t.unit}] {t.label}; {scale}{iiv}{init}"


def _theta_line(init: float, lo: float, hi: float, fixed: bool, note: str) -> str:
    v = nm_number(init)
    if math.isinf(lo) and math.isinf(hi):
        body = v
    elif math.isinf(hi):
        body = f"({nm_number(lo)}, {v})"
    else:
        low = "-INF" if math.isinf(lo) else nm_number(lo)
        body = f"({low}, {v}, {nm_number(hi)})"
    return f"$THETA {body}{' FIX' if fixed else ''} ; {note}"


def _omega_lines(sm: SymbolicModel, eta_no: dict[str, int]) -> list[str]:
    if not eta_no:
        return []
    out = [f"$OMEGA DIAGONAL({len(eta_no)}) ; VARIANCES (cartpk declares SDs: variance = SD**2)"]
    for name, j in eta_no.items():
        var = sm.iiv[name]
        fix = " FIX" if name in sm.iiv_fixed else ""
        out.append(
            f"  {float(f'{var:.15g}')!r}{fix} ; IIV_{name} variance of ETA({j}) on {name}'s "
            f"transformed scale (SD {math.sqrt(var):.4g})"
        )
    return out


def _individual(sm: SymbolicModel, code: NmCode, eta_no: dict[str, int]) -> list[str]:
    """Individual parameters: MU-referenced where a random effect is declared."""
    sp = code.sp
    lines = ["; individual parameters: MU_k typical value on the transformed scale"]
    for name, sym in sm.params.items():
        target = code.name(sym, name)
        transform = sm.transforms[name]
        if name in eta_no:
            j = eta_no[name]
            mu = sp.Symbol(f"MU_{j}")
            code.bind(mu, f"MU_{j}")
            lines += code.assign(f"MU_{j}", sm.mu[name])
            lines += code.assign(target, backward(transform, mu + sm.etas[name]))
        elif any(c.param == name for c in sm.covariates):
            lines += code.assign(target, sm.individual[name])
        else:
            lines += code.assign(target, sm.typical[name])
    return lines


def _chain(branches: list[tuple[str | None, list[str]]]) -> list[str]:
    """A flat ``IF / ELSE IF / ELSE`` chain of ``(condition or None, statements)``."""
    out = []
    for i, (cond, body) in enumerate(branches):
        head = "ELSE" if cond is None else f"{'IF' if i == 0 else 'ELSE IF'} ({cond}) THEN"
        out.append(head)
        out += [f"  {b}" for b in body]
    return out + ["END IF"]


def _error_block(
    sm: SymbolicModel, code: NmCode, preds: dict[str, str], interval: bool
) -> list[str]:
    """Residual error and M3 censoring per output (``DVID``), as flat IF chains."""
    if not sm.errors:
        raise ModelError(
            f"Model `{sm.name}` declares no residual error.",
            [
                Violation(
                    "export_no_error",
                    "a NONMEM $PRED/$ERROR needs a residual error",
                    fix="declare `error = ...` in the model",
                )
            ],  # fmt: skip
        )
    errors = list(sm.errors.values())
    multi = len(errors) > 1
    out = ["; residual error (W: SD on the residual's scale) and M3 censoring (F_FLAG)"]
    for e in errors:
        code.bind(e.f, "IPRED")
    if multi:
        out.append(f"; records without an output (doses) take DVID {errors[0].code}'s")
        branches: list[tuple[str | None, list[str]]] = [
            (f"DVID.EQ.{e.code}", [f"IPRED = {preds[e.dvid]} ; {e.dvid}"]) for e in errors
        ]
        out += _chain(branches + [(None, [f"IPRED = {preds[errors[0].dvid]}"])])
        sds: list[tuple[str | None, list[str]]] = []
        for e in errors:
            aux: list[str] = []
            text = code.expr(e.sd, aux)
            out += aux
            sds.append((f"DVID.EQ.{e.code}", [f"W = {text}"]))
        out += _chain(sds + [(None, sds[0][1])])
    else:
        out.append(f"IPRED = {preds[errors[0].dvid]}")
        out += code.assign("W", errors[0].sd)
    scales = {e.scale for e in errors}
    if len(scales) == 1:  # one scale: the censoring chain does not depend on DVID
        log = scales == {"log"}
        pred = "LOG(IPRED)" if log else "IPRED"
        censored = _m3(pred, [(None, log)], interval)
    else:  # mixed scales: LOGY flags the log-additive outputs (Y's chain without DVID)
        logs = [e for e in errors if e.scale == "log"]
        out += _chain(
            [(".OR.".join(f"DVID.EQ.{e.code}" for e in logs), ["LOGY = 1"]), (None, ["LOGY = 0"])]
        )
        out += _chain(
            [("LOGY.EQ.1.AND.MDV.EQ.0", ["TPRED = LOG(IPRED)"]), (None, ["TPRED = IPRED"])]
        )
        pred = "TPRED"
        censored = _m3(pred, [("LOGY.EQ.1", True), (None, False)], interval)
    ys: list[tuple[str | None, list[str]]] = censored + [
        ("MDV.EQ.0", ["F_FLAG = 0", f"Y = {pred} + W*EPS(1)"]),
        (None, ["F_FLAG = 0", "Y = IPRED ; no observation (a dose record): not used"]),
    ]
    return out + _chain(ys)


def _m3(
    pred: str, scales: list[tuple[str | None, bool]], interval: bool
) -> list[tuple[str | None, list[str]]]:
    """The censored records' ``Y`` (M3): below ``LLOQ`` (``CENS=1``), above ``DV``
    (``CENS=-1``), and with ``interval`` the other bound ``LIMIT`` where ``LIMFL=1``.

    ``scales``: ``(condition selecting the scale or None, log scale)`` per residual scale;
    ``pred`` is the prediction on that scale. The likelihood is
    :func:`cartpk.fit.loglik`'s: ``PHI(z(LLOQ)) - PHI(z(LIMIT))`` for ``CENS=1`` and
    ``PHI(z(LIMIT)) - PHI(z(DV))`` for ``CENS=-1`` (``DV`` of a log-scale output is
    already its log; ``LLOQ`` and ``LIMIT`` are natural); on the log scale a ``LIMIT <= 0``
    excludes nothing (the one-sided form).
    """

    def phi(value: str) -> str:
        return f"PHI(({value} - {pred})/W)"

    out: list[tuple[str | None, list[str]]] = []
    for cens in (1, -1):
        for select, log in scales:
            nat = "LOG({})" if log else "{}"
            conds = [f"CENS.EQ.{cens}", *([select] if select else [])]
            if interval:
                other = ["LIMFL.EQ.1", *(["LIMIT.GT.0"] if log else [])]
                z_other = phi(nat.format("LIMIT"))
                y = (
                    f"{phi(nat.format('LLOQ'))} - {z_other}"
                    if cens == 1
                    else f"{z_other} - {phi('DV')}"
                )
                out.append((".AND.".join(conds + other), ["F_FLAG = 1", f"Y = {y}"]))
            if cens == 1:
                out.append((".AND.".join(conds), ["F_FLAG = 1", f"Y = {phi(nat.format('LLOQ'))}"]))
            elif interval or select is None:  # without LIMIT, the same on every scale
                out.append((".AND.".join(conds), ["F_FLAG = 1", f"Y = 1.0 - {phi('DV')}"]))
    return out


def _outputs(sm: SymbolicModel, code: NmCode, exprs: dict[str, Any]) -> tuple[list, dict]:
    lines: list[str] = []
    preds: dict[str, str] = {}
    for dv, expr in exprs.items():
        name = f"IP_{dv.upper()}"
        code.bind(code.sp.Symbol(name), name)
        lines += code.assign(name, expr)
        preds[dv] = name
    return lines, preds


def _pred(sm: SymbolicModel, code: NmCode, eta_no: dict[str, int], interval: bool) -> list[str]:
    code.bind(sm.time, "TIME")
    out = ["$PRED"]
    if sm.dose is not None:
        code.bind(sm.dose, "DOSE_AMT")
        out += ["; the dose: AMT of the subject's dose record, kept for later records",
                "IF (NEWIND.NE.2) DOSE_AMT = 0.0", "IF (EVID.EQ.1) DOSE_AMT = AMT"]  # fmt: skip
    out += _individual(sm, code, eta_no)
    out.append("; structural model: the declaration's predict")
    lines, preds = _outputs(sm, code, sm.predictions)
    return out + lines + _error_block(sm, code, preds, interval)


def _ode_dose_lines(sm: SymbolicModel, code: NmCode) -> list[str]:
    """Initial conditions (A_0) and bioavailabilities (F) of the dosed compartments."""
    sp = code.sp
    comp = {s: i + 1 for i, s in enumerate(sm.states)}
    dosed = {d.state: d for d in sm.dose_inputs}
    out = ["; state at t = 0 (the declaration's initial, without the dose)"]
    for s, expr in sm.initial.items():
        base = dosed[s].baseline if s in dosed else expr
        split = s in dosed and dosed[s].schedule != ((0.0, 1.0),)
        if split and sp.simplify(base) != 0:
            raise _unsupported(sm.name, f"state `{s}` starts with a dose-free amount "
                               "that the declaration's dosing splits over time")  # fmt: skip
        if sp.simplify(base) != 0:
            out += code.assign(f"A_0({comp[s]})", base)
    if not sm.dose_inputs:
        out += ["; the equations do not use the dose: its record (CMT=1) enters no state",
                "F1 = 0.0"]  # fmt: skip
        return out
    for d in sm.dose_inputs:
        parts = ", ".join(f"{f:g} at day {t:g}" for t, f in d.schedule)
        out += _comment(f"dose into `{d.state}` (CMT={d.compartment}): records AMT = "
                        f"fraction x dose ({parts}); F = amount of the state per unit AMT")  # fmt: skip
        out += code.assign(f"F{d.compartment}", d.scale)
    return out


def _unsupported(name: str, what: str) -> ModelError:
    return unsupported(name, "as a NONMEM control stream", what)


def _ode(
    sm: SymbolicModel, code: NmCode, eta_no: dict[str, int], tol: int, interval: bool
) -> list[str]:
    for expr in [*sm.rhs.values(), *sm.observe.values(), *sm.breakpoints.values()]:
        if sm.dose is not None and expr.has(sm.dose):
            raise _unsupported(sm.name, "`rhs`, `observe` or `breakpoints` use the dose")
        if expr.has(sm.time) and expr in sm.observe.values():
            raise _unsupported(sm.name, "`observe` uses time")
    comp = {s: i + 1 for i, s in enumerate(sm.states)}
    for s, sym in sm.states.items():
        code.bind(sym, f"A({comp[s]})")
    default = sm.dose_inputs[0].compartment if sm.dose_inputs else 1
    out = [f"$SUBROUTINES ADVAN13 TOL={tol}", "$MODEL"]
    for s, k in comp.items():
        out.append(f"  COMP=({s.upper()[:20]}{' DEFDOSE' if k == default else ''}) ; A({k}) {s}")
    out += ["$PK"] + _individual(sm, code, eta_no)
    if sm.breakpoints:
        out.append("; switch times of the declaration (breakpoints): the integrator stops there")
        for i, (name, expr) in enumerate(sm.breakpoints.items()):
            out += code.assign(f"MTIME({i + 1})", expr)
            out[-1] += f" ; {name}"
    out += _ode_dose_lines(sm, code)
    code.bind(sm.time, "T")
    out += ["$DES", "; the declaration's rhs: d/dt of each state"]
    for s, expr in sm.rhs.items():
        out += code.assign(f"DADT({comp[s]})", expr)
    out += ["$ERROR", "; the declaration's observe"]
    lines, preds = _outputs(sm, code, sm.observe)
    return out + lines + _error_block(sm, code, preds, interval)


def to_nonmem(model: Model, *, data: str | None = None, interval: bool = False) -> str:
    """The model declaration as a NONMEM control stream.

    Parameters
    ----------
    model : Model
        A closed-form (``$PRED``) or ODE (``ADVAN13``, ``$DES``) model.
    data : str, optional
        File name for ``$DATA`` (default ``<model name>.csv``).
    interval : bool, default False
        Interval censoring: ``$INPUT`` ends with ``LIMIT LIMFL`` (as ``cartpk export-data
        --to nonmem --model`` writes a table with a ``LIMIT``) and a censored record with
        ``LIMFL=1`` has the probability of its interval (module docstring).

    Returns
    -------
    str
        The control stream (module docstring: what is written and the data conventions).

    Raises
    ------
    ModelError
        ``export_unsupported`` for a declaration the translation cannot express.

    Examples
    --------
    >>> import cartpk as ck
    >>> text = to_nonmem(ck.load_model("stein2019"))
    >>> text.splitlines()[0], "$PRED" in text, "METHOD=COND LAPLACE INTER" in text
    ('$PROBLEM cartpk stein2019 (closed form)', True, True)
    """
    import cartpk

    sm = trace(model)
    code = NmCode(sm.name)
    theta_lines, eta_no = _symbols(sm, code)
    if sm.kind == "closed_form":
        body = _pred(sm, code, eta_no, interval)
    else:
        rtol = float(getattr(type(model), "solver", {}).get("rtol", 1e-8))
        body = _ode(sm, code, eta_no, max(6, min(12, round(-math.log10(rtol)))), interval)
    head = [f"$PROBLEM cartpk {sm.name} ({sm.kind.replace('_', ' ')})"]
    head += _comment(f"Written by cartpk {cartpk.__version__} from the declaration of "
                     f"`{sm.name}` (cartpk export --to nonmem). {sm.reference}")  # fmt: skip
    head += _comment(f"TIME: {sm.time_unit}s since infusion. DVID: "
                     + ", ".join(f"{k} = {dv} [{sm.outputs[dv]}]" for dv, k in sm.dvid_codes.items()))  # fmt: skip
    logs = [dv for dv, e in sm.errors.items() if e.scale == "log"]
    if logs:
        head += _comment(f"DV of {', '.join(logs)} (log-additive error): natural log of the "
                         "measurement; LLOQ on the natural scale.")  # fmt: skip
    head += _comment("CENS: 0 quantified, 1 below LLOQ (M3), -1 above the limit held in DV.")
    if interval:
        head += _comment("LIMIT (natural scale) where LIMFL=1: the other bound of a censored "
                         "record, CENS=1 in (LIMIT, LLOQ), CENS=-1 in (DV, LIMIT).")  # fmt: skip
    for c in sm.covariates:
        if c.kind == "categorical":
            codes = ", ".join(f"{v} = {lv}" for lv, v in c.codes.items())
            head += _comment(f"{c.column} coded {codes} (reference {c.reference}).")
    for old, new, why in code.renamed:
        head += _comment(f"renamed: `{old}` -> {new} ({why})")
    head += [
        "$INPUT " + " ".join(data_columns(sm, interval=interval)),
        f"$DATA {data or sm.name + '.csv'} IGNORE=@",
    ]
    tail = theta_lines
    tail += _omega_lines(sm, eta_no)
    tail += [
        "$SIGMA 1 FIX ; SIGMA_EPS variance 1: EPS(1) standard normal, W (thetas) the residual SD"
    ]
    tail += [
        "$ESTIMATION METHOD=COND LAPLACE INTER MAXEVAL=9999 PRINT=5 NOABORT ; LAPLACE for M3",
        "$COVARIANCE PRINT=E",
        f"$TABLE ID TIME DV IPRED CENS DVID NOPRINT ONEHEADER FILE={sm.name}.tab",
    ]
    return "\n".join(head + body + tail) + "\n"
