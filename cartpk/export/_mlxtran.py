"""A model declaration as a Monolix model file (Mlxtran, ``cartpk export MODEL --to monolix``).

The writer translates the traced declaration (:func:`cartpk.export._symbolic.trace`), never
a copy of its equations. A Monolix model file holds the ``[LONGITUDINAL]`` model; the
population model (typical values, random effects, covariate effects) is set in the Monolix
project, so it is written as a commented parameter table. What is written:

* ``input = {...}``: the structural parameters, then the residual-error parameters, named
  as Monolix requires (``a``, ``b`` for one output; ``a1``, ``b1``, ``a2``, ... by output).
* ``PK:`` (ODE models whose equations use the dose): one ``depot(adm=1, target=state,
  Tlag=time, p=fraction x amount per unit AMT)`` per state the dose enters and part of a
  split dose (the data keep one dose record, ``ADM`` 1).
* ``EQUATION:``: ODE models ``odeType = stiff``, ``t_0 = 0``, ``state_0 =`` the initial
  values without the dose, ``ddt_state =`` the declaration's ``rhs``; then the outputs
  (``<DVID>_pred``) from ``predict`` or ``observe``. ``where`` becomes ``if``/``elseif``/
  ``else``/``end`` blocks; ``tanh`` (not an Mlxtran function) ``2/(1 + exp(-2x)) - 1``.
* ``DEFINITION:``: each output ``{distribution=..., prediction=..., errorModel=...}``:
  log-additive error ``distribution=lognormal, errorModel=constant(a)``; additive
  ``normal, constant(a)``; proportional ``normal, proportional(b)``; combined ``normal,
  combined2(a, b)`` (SD ``sqrt(a^2 + (b f)^2)``) or ``combined1(a, b)`` (``a + b f``).
* ``OUTPUT: output = {...}``. Censoring is in the data (``CENS``, ``LIMIT``), not here.
"""

from __future__ import annotations

import math
from typing import Any

from cartpk.errors import ModelError
from cartpk.export._forms import error_form, unsupported
from cartpk.export._infix import MLXTRAN, lower, number
from cartpk.export._symbolic import SymbolicModel, trace
from cartpk.model import Model

__all__ = ["error_parameters", "renamed", "to_mlxtran"]

_DISTRIBUTION = {"log": "lognormal", "logit": "logitnormal", None: "normal"}


#: error form -> (distribution, Monolix error model, its parameters' letters)
_MONOLIX = {
    "log_additive": ("lognormal", "constant", "a"),
    "additive": ("normal", "constant", "a"),
    "proportional": ("normal", "proportional", "b"),
    "combined2": ("normal", "combined2", "ab"),
    "combined1": ("normal", "combined1", "ab"),
}


def _unsupported(name: str, what: str) -> ModelError:
    return unsupported(name, "as a Monolix model file", what)


def error_parameters(sm: SymbolicModel) -> dict[str, tuple[str, str, list[str]]]:
    """``{DVID: (distribution, errorModel, [(Monolix name, cartpk name), ...])}``.

    Monolix names the parameters of an error model ``a`` (constant part) and ``b``
    (proportional part), numbered by output when there are several.

    Parameters
    ----------
    sm : SymbolicModel
        The traced declaration: its ``errors`` (:func:`cartpk.export._forms.error_form`).

    Returns
    -------
    dict
        Per output: the distribution, Monolix's error model and its parameters.

    Examples
    --------
    >>> import cartpk as ck
    >>> error_parameters(trace(ck.load_model("stein2019")))
    {'QPCR': ('lognormal', 'constant', [('a', 'sigma')])}
    """
    multi = len(sm.errors) > 1
    out: dict[str, Any] = {}
    for k, (dv, e) in enumerate(sm.errors.items(), start=1):
        form = error_form(e)
        if form is None:
            raise _unsupported(sm.name, f"the residual error `{e.kind}` of `{dv}`")
        dist, kind, letters = _MONOLIX[form[0]]
        suffix = str(k) if multi else ""
        out[dv] = (dist, kind, [(x + suffix, n) for x, n in zip(letters, form[1], strict=True)])
    return out


def renamed(sm: SymbolicModel) -> dict[str, str]:
    """Parameters renamed because Mlxtran gives their names a meaning (``il6_0`` is the
    initial value of the state ``il6``; ``t``, ``t_0``, ``amtDose``): ``name -> name_par``;
    and ``dose`` -> ``amtDose`` (the amount of the last dose).

    Parameters
    ----------
    sm : SymbolicModel
        The traced declaration: its parameter and state names.

    Returns
    -------
    dict of str to str
        Declared name -> the name in the model file.

    Examples
    --------
    >>> import cartpk as ck
    >>> renamed(trace(ck.load_model("hardiansyah2019")))["il6_0"]
    'il6_0_par'
    """
    meaning = {"t", "t_0", "amtDose", "tDose", "odeType"}
    for s in sm.states:
        meaning |= {f"{s}_0", f"ddt_{s}"}
    out = {p: f"{p}_par" for p in sm.params if p in meaning}
    return out | {"dose": "amtDose"}


def _pk(sm: SymbolicModel, names: dict[str, str]) -> list[str]:
    """Administration macros: the dose into each state it enters, at each part of a split."""
    if not sm.dose_inputs:
        return []
    out = ["PK:", "; the dose (ADM 1 in the data): amount per unit AMT x fraction, at Tlag"]
    for d in sm.dose_inputs:
        if d.scale.free_symbols:
            out += lower(MLXTRAN, f"F_{d.state}", d.scale, names)
            scale = f"F_{d.state}"
        else:
            scale = None
        for t, f in d.schedule:
            if scale:
                p = f"{number(f)}*{scale}"
            else:  # a number: written to 15 digits (no float noise of the product)
                p = number(float(f"{float(d.scale * f):.15g}"))
            out.append(f"depot(adm=1, target={d.state}, Tlag={number(t)}, p={p})")
    return [*out, ""]


def _equations(sm: SymbolicModel, names: dict[str, str]) -> list[str]:
    out = ["EQUATION:"]
    if sm.kind == "closed_form":
        out.append("; the declaration's predict")
        for dv, expr in sm.predictions.items():
            out += lower(MLXTRAN, f"{dv}_pred", expr, names)
        return out
    dosed = {d.state: d for d in sm.dose_inputs}
    out += ["odeType = stiff", "; state at t = 0, without the dose", "t_0 = 0"]
    for s, expr in sm.initial.items():
        base = dosed[s].baseline if s in dosed else expr
        if base != 0:
            out += lower(MLXTRAN, f"{s}_0", base, names, temp=f"{s}_init")
    if not sm.dose_inputs:
        out.append("; the equations do not use the dose: no administration macro")
    out.append("; the declaration's rhs")
    for s, expr in sm.rhs.items():
        out += lower(MLXTRAN, f"ddt_{s}", expr, names, temp=f"rhs_{s}")
    out.append("; the declaration's observe")
    for dv, expr in sm.observe.items():
        out += lower(MLXTRAN, f"{dv}_pred", expr, names)
    return out


def _population(sm: SymbolicModel, errors: dict[str, Any], names: dict[str, str]) -> list[str]:
    """The population model as a commented table (Monolix sets it in the project)."""
    out = [
        "; -----------------------------------------------------------------------------",
        "; Population model (set in the Monolix project, Individual model tab; not part of",
        "; a model file). omega is the SD of the random effect on the transformed scale,",
        "; as Monolix parameterises it (cartpk declares SDs; NONMEM/nlmixr2 carry SD^2).",
        "; parameter | distribution | typical value | omega (SD) | unit | label",
    ]
    for t in sm.thetas:
        if t.role != "structural":
            continue
        dist = _DISTRIBUTION[t.transform]
        if t.transform == "logit":
            dist += f" (min={number(t.lower)}, max={number(t.upper)})"
        omega = number(float(f"{math.sqrt(sm.iiv[t.name]):.6g}")) if t.name in sm.iiv else "-"
        fixed = " (fixed)" if t.fixed else ""
        if t.name in sm.iiv_fixed:
            omega += " (fixed)"
        name = f"{t.name} (here {names[t.name]})" if t.name in names else t.name
        out.append(f"; {name} | {dist} | {number(t.value)}{fixed} | {omega} | {t.unit} | {t.label}")
    for c in sm.covariates:
        if c.kind == "power":
            (name, value), *_ = c.coefficients.items()
            out.append(
                f"; covariate: {c.param} ~ {c.column}, transformed covariate "
                f"log({c.column}/{number(c.ref or 1.0)}), beta = {number(value)} [cartpk {name}]"
            )
        else:
            betas = ", ".join(
                f"{lv}: {number(c.coefficients[n])} [cartpk {n}]"
                for lv in c.levels
                if lv != c.reference
                for n in c.coefficients
                if n.endswith("_" + lv.lower())
            )
            out.append(
                f"; covariate: {c.param} ~ {c.column} (categorical, reference {c.reference}), "
                f"beta per level: {betas}"
            )
    for dv, (dist, kind, params) in errors.items():
        e = sm.errors[dv]
        values = dict(e.sigmas)
        pairs = ", ".join(f"{m} = {number(values[c])} [cartpk {c}]" for m, c in params)
        out.append(f"; residual error of {dv}: {kind} ({dist}), {pairs}")
    return out


def to_mlxtran(model: Model) -> str:
    """The model declaration as a Monolix model file (Mlxtran ``[LONGITUDINAL]``).

    Parameters
    ----------
    model : Model
        A closed-form model (one that takes the dose reads ``amtDose``) or an ODE model.

    Returns
    -------
    str
        ``DESCRIPTION:``, then ``[LONGITUDINAL]`` with ``input``, ``PK:`` (a dose macro),
        ``EQUATION:``, ``DEFINITION:`` and ``OUTPUT:`` (module docstring); the population
        model as comments.

    Raises
    ------
    ModelError
        ``export_unsupported``: a residual error without a Monolix error model, parameters
        named like Monolix's error parameters (``a``, ``b``), an expression without an
        Mlxtran form.

    Examples
    --------
    >>> import cartpk as ck
    >>> text = to_mlxtran(ck.load_model("stein2019"))
    >>> print(text[text.index("DEFINITION:") : text.index("OUTPUT:")].strip())
    DEFINITION:
    QPCR = {distribution=lognormal, prediction=QPCR_pred, errorModel=constant(a)}
    """
    import cartpk

    sm = trace(model)
    errors = error_parameters(sm)
    names = renamed(sm)
    taken = set(sm.params) | set(sm.states) | set(sm.outputs)
    clash = sorted({m for _, _, ps in errors.values() for m, _ in ps} & taken)
    if clash:
        raise _unsupported(sm.name, f"parameters named like Monolix's error parameters {clash}")
    inputs = [names.get(p, p) for p in sm.params]
    inputs += [m for _, _, ps in errors.values() for m, _ in ps]
    head = [
        "DESCRIPTION:",
        f"cartpk {sm.name} ({sm.kind.replace('_', ' ')}), written by cartpk "
        f"{cartpk.__version__} from the declaration (cartpk export --to monolix).",
        sm.reference,
        f"TIME in {sm.time_unit}s since infusion. Data: cartpk export-data --to monolix "
        f"--model {sm.name} (YTYPE names the output: {', '.join(sm.outputs)}; CENS and "
        "LIMIT carry the censoring, which Monolix uses in the likelihood).",
        *(
            f"Renamed: parameter `{a}` is `{b}` here (Mlxtran gives `{a}` a meaning)."
            for a, b in names.items()
            if a in sm.params
        ),
        "",
        "[LONGITUDINAL]",
        f"input = {{{', '.join(inputs)}}}",
        "",
    ]
    definition = ["DEFINITION:"]
    for dv, (dist, kind, params) in errors.items():
        args = ", ".join(m for m, _ in params)
        definition.append(
            f"{dv} = {{distribution={dist}, prediction={dv}_pred, errorModel={kind}({args})}}"
        )
    tail = ["", *definition, "", "OUTPUT:", f"output = {{{', '.join(sm.errors)}}}", ""]
    body = [*_pk(sm, names), *_equations(sm, names)]
    return "\n".join([*head, *body, *tail, *_population(sm, errors, names)]) + "\n"
