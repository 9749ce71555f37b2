"""A model declaration as an nlmixr2 model function (``cartpk export MODEL --to nlmixr2``).

The writer translates the traced declaration (:func:`cartpk.export._symbolic.trace`), never
a copy of its equations. What it writes:

* ``ini({...})``: each structural theta on its estimation scale (``lfoldx <- log(3900)``,
  ``logitfb <- logit(0.0079)``, ``fixed(...)`` when fixed, ``c(lower, value, upper)`` for
  finite bounds on that scale) with ``label("...")`` and a ``# [unit]`` comment; covariate
  coefficients; random effects as ``eta.<name> ~ variance`` (nlmixr2 reads variances;
  cartpk declares SDs: variance = SD**2); residual SDs under their declared names.
* ``model({...})``: individual parameters ``foldx <- exp(lfoldx + eta.foldx)`` (the
  declaration's transform; covariate shifts inside, categorical covariates as ``(TARGET ==
  2)`` with the numeric codes of ``cartpk export-data --to nlmixr2 --model``), the
  declaration's equations (``if``/``else`` blocks for ``where``), and one output per DVID,
  named as the DVID (the data's ``DVID`` column names it): ``QPCR ~ lnorm(sigma)`` for
  log-additive error (``log(y) = log(f) + eps``), ``add()``, ``prop()``, ``add() + prop()``
  (``combined2``) or ``+ combined1()``.
* ODE models: ``cmt()`` declares the states in order (``CMT`` numbers), ``state(0) <-``
  the initial values without the dose, ``d/dt(state) <-`` the declaration's ``rhs``,
  ``f(state) <-`` the amount per unit ``AMT`` of each state the dose enters (``f(first) <-
  0`` when the equations do not use the dose); a split dose is one data record per part.
* censoring is in the data: ``CENS``/``LIMIT`` (nlmixr2 uses them in the likelihood).
"""

from __future__ import annotations

import math
from typing import Any

from cartpk.errors import ModelError, Violation
from cartpk.export._forms import error_form, unsupported
from cartpk.export._infix import RXODE2, lower, number, printer
from cartpk.export._symbolic import SymbolicModel, forward, trace
from cartpk.model import Model

__all__ = ["theta_names", "to_nlmixr2"]

_PREFIX = {"log": "l", "logit": "logit", None: "t"}
_FORWARD = {"log": "log({})", "logit": "logit({})", None: "{}"}
_BACKWARD = {"log": "exp({})", "logit": "expit({})", None: "{}"}
#: error form -> nlmixr2 residual model ({0}, {1}: the sigma names, additive first)
_NLMIXR2 = {
    "log_additive": "lnorm({0})",
    "additive": "add({0})",
    "proportional": "prop({0})",
    "combined2": "add({0}) + prop({1})",
    "combined1": "add({0}) + prop({1}) + combined1()",
}


def theta_names(sm: SymbolicModel) -> dict[str, str]:
    """``{declared name: nlmixr2 ini name}``: a structural theta on its estimation scale
    (``lfoldx``, ``logitfb``, ``tgate``), a covariate coefficient under its own name.

    Parameters
    ----------
    sm : SymbolicModel
        The traced declaration: its ``thetas``.

    Returns
    -------
    dict of str to str
        In the order of ``sm.thetas``.

    Examples
    --------
    >>> import cartpk as ck
    >>> theta_names(trace(ck.load_model("stein2019")))["fb"]
    'logitfb'
    """
    return {
        t.name: (_PREFIX[t.transform] + t.name if t.role == "structural" else t.name)
        for t in sm.thetas
    }


def _check_names(sm: SymbolicModel, names: dict[str, str]) -> None:
    taken = [*sm.params, *sm.states, *sm.covariate_symbols, *sm.outputs]
    clash = sorted(n for n in names.values() if n in taken and n not in sm.coefficients)
    if clash:
        raise ModelError(
            f"Model `{sm.name}` cannot be written for nlmixr2: names clash.",
            [
                Violation(
                    "export_name_clash",
                    "the nlmixr2 name of a theta is also a parameter, state, covariate or "
                    "output of the model",
                    value=", ".join(clash),
                    fix="rename the parameter in the declaration",
                )
            ],
        )


def _value(t: Any) -> str:
    """A theta's ini value: the transform written out, then bounds and ``fixed``."""
    text = _FORWARD[t.transform].format(number(t.value))
    # a transform's own bounds are open on its scale; an identity theta keeps its bounds
    lo, hi = (t.lower, t.upper) if t.transform is None else (-math.inf, math.inf)
    if math.isfinite(lo) or math.isfinite(hi):
        bounds = [number(lo) if math.isfinite(lo) else "-Inf", text]
        bounds += [number(hi)] if math.isfinite(hi) else []
        text = f"c({', '.join(bounds)})"
    return f"fixed({text})" if t.fixed else text


def _ini(sm: SymbolicModel, names: dict[str, str]) -> list[str]:
    out = ["  ini({"]
    for t in sm.thetas:
        what = {"log": "log scale", "logit": "logit scale", None: "natural scale"}[t.transform]
        label = t.label.replace('"', "'")
        out.append(
            f'    {names[t.name]} <- {_value(t)}; label("{label}")  # {t.name} [{t.unit}], {what}'
        )
    for p, var in sm.iiv.items():
        fixed = p in sm.iiv_fixed
        var = float(f"{var:.15g}")  # the declared SD squared, without float noise
        value = f"fixed({number(var)})" if fixed else number(var)
        scale = {"log": f"log({p})", "logit": f"logit({p})", None: p}[sm.transforms[p]]
        out.append(
            f"    eta.{p} ~ {value}  # variance of the random effect on {scale} "
            f"(cartpk declares its SD, {math.sqrt(var):.6g})"
        )
    for dv, e in sm.errors.items():
        for (name, value), role, fixed in zip(e.sigmas, e.roles, e.fixed, strict=True):
            scale = "natural-log scale" if e.scale == "log" else f"scale of {dv}"
            text = f"fixed({number(value)})" if fixed else number(value)
            out.append(
                f'    {name} <- {text}; label("residual SD of {dv} ({e.kind}, {role}), {scale}")'
            )
    return [*out, "  })"]


def _error_call(sm: SymbolicModel, dv: str) -> str:
    """The nlmixr2 residual model of one output, from the traced SD."""
    e = sm.errors[dv]
    form = error_form(e)
    if form is None:
        raise unsupported(sm.name, "for nlmixr2", f"the residual error `{e.kind}` of `{dv}`")
    return _NLMIXR2[form[0]].format(*form[1])


def _individual(sm: SymbolicModel, names: dict[str, str]) -> list[str]:
    """``p <- h^-1(theta + covariate shifts + eta)``: the declaration's MU-referencing."""
    import sympy

    pr = printer(RXODE2)
    out = ["    # individual parameters (the declaration's transforms and covariate effects)"]
    for p in sm.params:
        t = sm.transforms[p]
        shifts = [c.shift for c in sm.covariates if c.param == p]
        # the trace's mu is h(tv) + the shifts; the ini theta is h(tv)
        if sympy.expand(sm.mu[p] - forward(t, sm.typical[p]) - sum(shifts)) != 0:
            what = f"mu of `{p}` is not h(typical) + covariate shifts"
            raise unsupported(sm.name, "for nlmixr2", what, str(sm.mu[p]))  # pragma: no cover
        text = names[p]
        for part in [pr.doprint(x) for x in shifts] + ([f"eta.{p}"] if p in sm.etas else []):
            text += f" - {part[1:]}" if part.startswith("-") else f" + {part}"
        out.append(f"    {p} <- {_BACKWARD[t].format(text)}")
    return out


def _structure(sm: SymbolicModel) -> list[str]:
    """The declaration's equations: closed-form predictions or the ODE system."""
    out: list[str] = []
    if sm.kind == "closed_form":
        if sm.dose is not None:
            raise unsupported(sm.name, "for nlmixr2", "its closed form uses the dose (AMT)")
        out.append("    # the declaration's predict")
        for dv, expr in sm.predictions.items():
            out += _lines(dv, expr, dv)
        return out
    dosed = {d.state: d for d in sm.dose_inputs}
    out.append("    # compartments in the declaration's order (the data's CMT)")
    out += [f"    cmt({s})" for s in sm.states]
    out.append("    # state at t = 0 without the dose; the dose: f(state) per unit AMT")
    for s, expr in sm.initial.items():
        base = dosed[s].baseline if s in dosed else expr
        if base != 0:
            out += _lines(f"{s}(0)", base, f"{s}_init")
    for d in sm.dose_inputs:
        out += _lines(f"f({d.state})", d.scale, f"f_{d.state}")
    if not sm.dose_inputs:
        first = next(iter(sm.states))
        out.append(f"    f({first}) <- 0  # the equations do not use the dose (its CMT=1)")
    out.append("    # the declaration's rhs")
    for s, expr in sm.rhs.items():
        out += _lines(f"d/dt({s})", expr, f"rhs_{s}")
    out.append("    # the declaration's observe")
    for dv, expr in sm.observe.items():
        out += _lines(dv, expr, dv)
    return out


def _lines(target: str, expr: Any, temp: str) -> list[str]:
    return ["    " + line for line in lower(RXODE2, target, expr, temp=temp)]


def to_nlmixr2(model: Model) -> str:
    """The model declaration as an nlmixr2 model function (R source).

    Parameters
    ----------
    model : Model
        An ODE model, or a closed-form model that does not take the dose.

    Returns
    -------
    str
        ``<name> <- function() { ini({...}); model({...}) }`` (module docstring).

    Raises
    ------
    ModelError
        ``export_unsupported``: a residual error nlmixr2 has no model for, a closed form
        that takes the dose, an expression without an rxode2 form; ``export_name_clash``
        when an ``ini`` name is also a name of the model.

    Examples
    --------
    >>> import cartpk as ck
    >>> lines = to_nlmixr2(ck.load_model("stein2019")).splitlines()
    >>> lines[2], lines[12].strip()[:16], lines[-3].strip()
    ('stein2019 <- function() {', 'eta.foldx ~ 2.4 ', 'QPCR ~ lnorm(sigma)')
    """
    import cartpk

    sm = trace(model)
    names = theta_names(sm)
    _check_names(sm, names)
    fname = sm.name.replace("-", "_")
    reference = sm.reference.replace('"', "'")
    head = [
        f"# cartpk {sm.name} ({sm.kind.replace('_', ' ')}): written by cartpk "
        f"{cartpk.__version__} from the declaration (cartpk export --to nlmixr2)",
        f"# TIME: {sm.time_unit}s since infusion. Data: cartpk export-data --to nlmixr2 "
        f"--model {sm.name} (DVID names the output: {', '.join(sm.outputs)}; CENS/LIMIT "
        "carry the censoring, which nlmixr2 uses in the likelihood).",
        f"{fname} <- function() {{",
        f'  description <- "cartpk model {sm.name}"',
        f'  reference <- "{reference}"',
    ]
    body = ["  model({", *_individual(sm, names), *_structure(sm), "    # residual error"]
    body += [f"    {dv} ~ {_error_call(sm, dv)}" for dv in sm.errors]
    return "\n".join([*head, *_ini(sm, names), *body, "  })", "}"]) + "\n"
