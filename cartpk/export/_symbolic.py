"""The symbolic form of a model declaration: what every export writer translates.

One model declaration, every engine: the writers (NONMEM, Monolix, nlmixr2, the dataset
exporter) never copy a model's equations. :func:`trace` calls the declaration's own
functions (``predict``; ``rhs``, ``initial``, ``observe``, ``breakpoints``) with an array
namespace that builds SymPy expressions, applies the declaration's own transforms
(:func:`cartpk.model._transforms.transform_of`) and residual-error models
(:meth:`cartpk.model.ErrorModel.sd`) to symbols, and translates the covariate effects by
their declared type. The result is one :class:`SymbolicModel`.

Interface (stable; used by ``_nonmem``, ``_mlxtran``, ``_nlmixr2`` and ``_dataset``)
-----------------------------------------------------------------------------------
``trace(model) -> SymbolicModel`` with

``name``, ``kind``
    Catalogue name; ``"closed_form"`` or ``"ode"``.
``time``, ``time_unit``
    The time symbol ``t`` (days since infusion) and its unit.
``dose``, ``dose_unit``
    ``Symbol("dose")`` (the ``AMT`` of the infusion record) when an equation takes
    ``dose``, else ``None``.
``outputs``, ``dvid_codes``
    ``{DVID: unit}`` in declaration order; ``{DVID: k}``, ``k = 1, 2, ...`` in that order:
    the numeric ``DVID`` coding of the exported data sets (NONMEM data are numeric).
``thetas``
    :class:`ThetaInfo` per fixed-effect parameter: the structural thetas in declaration
    order, then the covariate coefficients in the order of the effects (``role``
    ``"structural"`` or ``"covariate"``). Values on the natural scale.
``params``, ``typical``, ``etas``, ``coefficients``, ``covariate_symbols``, ``states``
    ``{name: Symbol}``: individual structural parameters (``foldx``, the names the
    equations use), their typical values (``tv_foldx``), random effects (``eta_foldx``,
    only parameters with IIV), covariate coefficients (``cov_cmax_dose``), covariate
    columns (``DOSE``), ODE states (``effector``).
``iiv``, ``iiv_fixed``
    ``{param: variance}`` of the random effect on the parameter's transformed scale
    (cartpk stores SDs; the variance is ``SD**2``), declaration order; the names whose
    variance is fixed. cartpk declares no covariances (a diagonal omega).
``covariates``
    :class:`CovariateInfo` per declared effect, with its ``shift`` on the transformed
    scale as an expression of the covariate symbol and its coefficient symbol(s).
    Categorical covariates are coded numerically by position in the declared ``levels``
    (``codes``, ``{level: 1, 2, ...}``): the coding of the exported data sets.
``mu``
    ``{param: h(tv) + sum of covariate shifts}``: the typical value on the transformed
    scale ``h`` (``log``, ``logit``, identity) - MU-referencing.
``individual``
    ``{param: h^-1(mu + eta)}`` in ``typical``, ``etas``, ``coefficients`` and
    ``covariate_symbols``: exactly what ``Model.individual_parameters`` computes.
``predictions`` (closed form)
    ``{DVID: expression}`` in ``time``, ``params`` (and ``dose``).
``rhs``, ``initial``, ``observe``, ``breakpoints`` (ODE)
    ``{state: d/dt}`` in ``time``, ``states``, ``params``; ``{state: value at t=0 before
    dosing}``; ``{DVID: expression of states and params}``; ``{name: switch time}``.
``dose_inputs`` (ODE)
    :class:`DoseInput` per state that the dose enters: ``initial[state] = baseline +
    scale * dose`` (``scale`` free of ``dose``), given at each ``(time, fraction)`` of the
    declaration's ``dosing`` (``((0.0, 1.0),)`` without a split). In an exported data set
    each becomes a dose record ``AMT = fraction * dose`` at ``time`` into the state's
    compartment (1-based position in ``states``), with bioavailability ``scale``; the
    ``baseline`` part stays in the initial condition. Empty when no equation uses the dose.
``errors``
    :class:`ErrorInfo` per output: kind, sigma parameters (SDs), the residual SD as an
    expression of the prediction symbol ``ipred`` (``ErrorModel.sd`` traced), and the scale
    on which the residual is normal (``"log"``: log-additive, the data's ``DV`` and the
    censoring limit compared on the natural-log scale).

Anything the namespace cannot express (a NumPy function without a symbolic counterpart,
Python ``if`` on a parameter) raises :class:`~cartpk.errors.ModelError` ``export_unsupported``
naming the model and the function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cartpk._deps import require
from cartpk.errors import ModelError, Violation
from cartpk.model import Categorical, ClosedFormModel, Model, OdeModel, Power
from cartpk.model._equations import _kwonly, _raw
from cartpk.model._transforms import transform_of

__all__ = [
    "CovariateInfo",
    "DoseInput",
    "ErrorInfo",
    "SymbolicModel",
    "ThetaInfo",
    "backward",
    "forward",
    "lambdify_individual",
    "sympy_namespace",
    "trace",
]


def _sympy() -> Any:
    return require("sympy", purpose="exporting a model declaration")


# ---------------------------------------------------------------------------------------
# the traced declaration


@dataclass(frozen=True)
class ThetaInfo:
    """A fixed-effect parameter as exported.

    Attributes
    ----------
    name : str
        Declared name (``"foldx"``, ``"cov_cmax_dose"``).
    value : float
        Initial/typical value on the natural scale.
    lower, upper : float
        Natural-scale bounds implied by the transform, narrowed by declared bounds
        (``-inf``/``inf`` when open).
    unit : str
        Unit in ASCII (``"1"`` dimensionless).
    transform : {"log", "logit", None}
        Estimation scale of the parameter (random and covariate effects act on it).
    label : str
        Human-readable description.
    fixed : bool
        Whether estimation keeps it fixed.
    role : {"structural", "covariate"}
        A declared theta or a covariate coefficient.
    """

    name: str
    value: float
    lower: float
    upper: float
    unit: str
    transform: str | None
    label: str
    fixed: bool
    role: Literal["structural", "covariate"] = "structural"


@dataclass(frozen=True)
class CovariateInfo:
    """A declared covariate effect with its symbolic shift.

    Attributes
    ----------
    param : str
        Structural parameter shifted (on its transformed scale).
    column : str
        Covariate column of the data (``"DOSE"``).
    kind : {"power", "categorical"}
        ``power``: ``coef * log(COV / ref)``; ``categorical``: ``coef_level`` where
        ``COV == level`` (0 at the reference level).
    coefficients : dict of str to float
        Coefficient names and initial values.
    ref : float or None
        Reference value of a power effect.
    reference : str or None
        Reference level of a categorical effect.
    levels : tuple of str
        Declared levels (categorical), in declaration order.
    codes : dict of str to int
        Numeric code of each level (1-based position in ``levels``), the coding of the
        exported data sets.
    shift : sympy.Expr
        The shift as an expression of ``Symbol(column)`` and the coefficient symbols.
    """

    param: str
    column: str
    kind: Literal["power", "categorical"]
    coefficients: dict[str, float]
    ref: float | None
    reference: str | None
    levels: tuple[str, ...]
    codes: dict[str, int]
    shift: Any


@dataclass(frozen=True)
class ErrorInfo:
    """The residual-error model of one output.

    Attributes
    ----------
    dvid : str
        The output (``"QPCR"``).
    code : int
        Its numeric ``DVID`` in exported data sets.
    unit : str
        Unit of the output.
    kind : {"log_additive", "additive", "proportional", "combined"}
        Declared kind.
    sigmas : tuple of (str, float)
        Parameter names and values (SDs; for ``log_additive`` on the natural-log scale).
    roles : tuple of str
        ``"sigma"`` or ``"sigma_add"``/``"sigma_prop"`` per entry of ``sigmas``.
    fixed : tuple of bool
        Whether each sigma is fixed.
    scale : {"log", "linear"}
        Scale on which the residual is normal.
    f : sympy.Symbol
        The prediction symbol ``ipred`` that ``sd`` is written in.
    sd : sympy.Expr
        Residual SD on ``scale`` as an expression of ``f`` and the sigma symbols (named as
        in ``sigmas``): :meth:`cartpk.model.ErrorModel.sd` traced.
    """

    dvid: str
    code: int
    unit: str
    kind: str
    sigmas: tuple[tuple[str, float], ...]
    roles: tuple[str, ...]
    fixed: tuple[bool, ...]
    scale: Literal["log", "linear"]
    f: Any
    sd: Any


@dataclass(frozen=True)
class DoseInput:
    """How the dose (``AMT``) enters one ODE state.

    Attributes
    ----------
    state : str
        The state.
    compartment : int
        1-based position of the state in ``states`` (NONMEM's ``CMT``).
    scale : sympy.Expr
        ``d initial[state] / d dose`` (free of ``dose``): amount in the state's unit per
        unit of ``AMT`` (a bioavailability ``F`` in NONMEM).
    baseline : sympy.Expr
        ``initial[state]`` at ``dose = 0``: it stays an initial condition (given in full at
        ``t = 0``, or split like the dose when ``dosing`` splits it).
    schedule : tuple of (float, float)
        ``(time, fraction)`` of each part of the dose, fractions summing to 1.
    """

    state: str
    compartment: int
    scale: Any
    baseline: Any
    schedule: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class SymbolicModel:
    """A model declaration traced into SymPy expressions (module docstring: the interface)."""

    name: str
    kind: Literal["closed_form", "ode"]
    reference: str
    time: Any
    time_unit: str
    dose: Any
    dose_unit: str
    outputs: dict[str, str]
    dvid_codes: dict[str, int]
    thetas: tuple[ThetaInfo, ...]
    params: dict[str, Any]
    typical: dict[str, Any]
    etas: dict[str, Any]
    coefficients: dict[str, Any]
    covariate_symbols: dict[str, Any]
    iiv: dict[str, float]
    iiv_fixed: frozenset[str]
    covariates: tuple[CovariateInfo, ...]
    mu: dict[str, Any]
    individual: dict[str, Any]
    errors: dict[str, ErrorInfo]
    predictions: dict[str, Any] = field(default_factory=dict)
    states: dict[str, Any] = field(default_factory=dict)
    rhs: dict[str, Any] = field(default_factory=dict)
    initial: dict[str, Any] = field(default_factory=dict)
    observe: dict[str, Any] = field(default_factory=dict)
    breakpoints: dict[str, Any] = field(default_factory=dict)
    dose_inputs: tuple[DoseInput, ...] = ()

    @property
    def theta_map(self) -> dict[str, ThetaInfo]:
        """``{name: ThetaInfo}`` in export order."""
        return {t.name: t for t in self.thetas}

    @property
    def transforms(self) -> dict[str, str | None]:
        """``{structural parameter: transform}``."""
        return {t.name: t.transform for t in self.thetas if t.role == "structural"}


# ---------------------------------------------------------------------------------------
# the array namespace that builds SymPy expressions


class _SympyNamespace:
    """``xp`` for tracing: NumPy-like functions returning SymPy expressions.

    ``context`` names the model and the function being traced; an attribute without a
    symbolic counterpart raises ModelError ``export_unsupported`` naming both.
    """

    def __init__(self, model_name: str) -> None:
        self.__dict__["_sp"] = _sympy()
        self.__dict__["model_name"] = model_name
        self.__dict__["function"] = "?"

    def __getattr__(self, name: str) -> Any:
        raise _unsupported(self.model_name, self.function, f"xp.{name}")

    # elementary functions
    def exp(self, x: Any) -> Any:
        return self._sp.exp(x)

    def log(self, x: Any) -> Any:
        return self._sp.log(x)

    def log1p(self, x: Any) -> Any:
        return self._sp.log(1 + x)

    def expm1(self, x: Any) -> Any:
        return self._sp.exp(x) - 1

    def sqrt(self, x: Any) -> Any:
        return self._sp.sqrt(x)

    def square(self, x: Any) -> Any:
        return self._sp.Pow(x, 2)

    def power(self, x: Any, y: Any) -> Any:
        return self._sp.Pow(x, y)

    def abs(self, x: Any) -> Any:
        return self._sp.Abs(x)

    absolute = abs

    def tanh(self, x: Any) -> Any:
        return self._sp.tanh(x)

    def sign(self, x: Any) -> Any:
        return self._sp.sign(x)

    # comparisons and selections
    def minimum(self, a: Any, b: Any) -> Any:
        return self._sp.Min(a, b)

    def maximum(self, a: Any, b: Any) -> Any:
        return self._sp.Max(a, b)

    def clip(self, x: Any, lo: Any, hi: Any) -> Any:
        return self._sp.Min(self._sp.Max(x, lo), hi)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        sp = self._sp
        return sp.Piecewise((sp.sympify(a), cond), (sp.sympify(b), True))

    def logaddexp(self, a: Any, b: Any) -> Any:
        """``log(exp(a) + exp(b))`` in the overflow-free form ``max + log(1 + exp(min - max))``."""
        sp = self._sp
        hi, lo = sp.Max(a, b), sp.Min(a, b)
        return hi + sp.log(1 + sp.exp(lo - hi))

    def logical_and(self, a: Any, b: Any) -> Any:
        return self._sp.And(a, b)

    def logical_or(self, a: Any, b: Any) -> Any:
        return self._sp.Or(a, b)

    def logical_not(self, a: Any) -> Any:
        return self._sp.Not(a)

    @property
    def pi(self) -> Any:
        return self._sp.pi


def sympy_namespace(model_name: str = "model") -> Any:
    """An array namespace (``xp``) whose functions build SymPy expressions.

    Parameters
    ----------
    model_name : str
        Named in the error raised for an unsupported function.

    Returns
    -------
    object
        ``exp``, ``log``, ``log1p``, ``expm1``, ``sqrt``, ``square``, ``power``, ``abs``,
        ``tanh``, ``sign``, ``minimum`` (Min), ``maximum`` (Max), ``clip``, ``where``
        (Piecewise), ``logaddexp``, ``logical_and/or/not``, ``pi``.

    Examples
    --------
    >>> import sympy
    >>> xp = sympy_namespace()
    >>> x = sympy.Symbol("x")
    >>> xp.where(x < 1, xp.exp(x), 0.0)
    Piecewise((exp(x), x < 1), (0.0, True))
    """
    return _SympyNamespace(model_name)


def _unsupported(model: str, function: str, what: str) -> ModelError:
    return ModelError(
        f"Model `{model}` cannot be exported: `{function}` uses {what}.",
        [
            Violation(
                "export_unsupported",
                f"`{function}` of `{model}` uses {what}, which has no symbolic form",
                value=what,
                expected="exp, log, log1p, expm1, sqrt, power, abs, tanh, minimum, maximum, "
                "clip, where, logaddexp (on xp), arithmetic; xp.where instead of Python `if`",
                fix="write the equation with the functions listed, through `xp`",
            )
        ],
        code="export_unsupported",
    )


def forward(transform: str | None, value: Any) -> Any:
    """``h(value)``: the declared transform applied to a SymPy expression.

    Examples
    --------
    >>> import sympy
    >>> forward("logit", sympy.Symbol("p"))
    log(p) - log(1 - p)
    """
    return transform_of(transform).forward(sympy_namespace(), value)  # type: ignore[arg-type]


def backward(transform: str | None, value: Any) -> Any:
    """``h^-1(value)``: the inverse of the declared transform on a SymPy expression.

    Examples
    --------
    >>> import sympy
    >>> backward("log", sympy.Symbol("mu"))
    exp(mu)
    """
    return transform_of(transform).backward(sympy_namespace(), value)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# tracing


def _call(
    xp: _SympyNamespace, model: Model, attr: str, args: tuple[Any, ...], kw: Mapping[str, Any]
) -> Any:
    """Call the declaration's function ``attr`` with the namespace, naming it in errors."""
    func = _raw(type(model), attr)
    assert func is not None
    _, names, _ = _kwonly(func)
    xp.__dict__["function"] = attr
    try:
        out = func(xp, *args, **{k: kw[k] for k in names})
    except ModelError:
        raise
    except TypeError as err:  # Python control flow on a symbol: "cannot determine truth value"
        raise _unsupported(model.name, attr, f"an operation SymPy cannot trace ({err})") from None
    sp = xp._sp
    if isinstance(out, Mapping):
        return {str(k): sp.sympify(v) for k, v in out.items()}
    return sp.sympify(out)


def _clashes(model: Model, groups: Mapping[str, list[str]]) -> None:
    seen: dict[str, str] = {}
    problems = []
    for role, names in groups.items():
        for n in names:
            if n in seen and seen[n] != role:
                problems.append(
                    Violation(
                        "export_name_clash",
                        f"`{n}` names both a {seen[n]} and a {role} of `{model.name}`",
                        value=n,
                        fix="rename one of them in the declaration",
                    )
                )
            seen.setdefault(n, role)
    if problems:
        raise ModelError(f"Model `{model.name}` cannot be exported.", problems)


def _covariate(eff: Any, sp: Any, column: Any, model: Model) -> CovariateInfo:
    """Translate one declared covariate effect into its shift expression."""
    coefs = dict(eff.coefficients)
    if isinstance(eff, Power):
        ratio = sp.Mul(column, sp.Pow(sp.Float(eff.ref), -1, evaluate=False), evaluate=False)
        shift = sp.Symbol(eff.name) * sp.log(ratio)
        return CovariateInfo(eff.param, eff.on, "power", coefs, float(eff.ref), None, (), {}, shift)
    if isinstance(eff, Categorical):
        codes = {lv: i + 1 for i, lv in enumerate(eff.levels)}
        shift = sp.Integer(0)
        for lv in eff.levels:
            if lv != eff.reference:
                hit = sp.Piecewise((1, sp.Eq(column, codes[lv])), (0, True))
                shift = shift + sp.Symbol(eff.name_of(lv)) * hit
        return CovariateInfo(
            eff.param, eff.on, "categorical", coefs, None, eff.reference, eff.levels, codes, shift
        )
    raise _unsupported(model.name, "covariates", f"a `{type(eff).__name__}` covariate effect")


def _thetas(model: Model) -> tuple[ThetaInfo, ...]:
    out = []
    for t in model.ini.thetas:
        lo, hi = t.natural_bounds()
        out.append(ThetaInfo(t.name, t.value, lo, hi, t.unit, t.transform, t.label, t.fixed))
    fixed = model.ini.fixed
    for eff in model.covariates:
        coefs = eff.coefficients
        if isinstance(eff, Categorical):
            labels = {
                eff.name_of(lv): f"shift of {eff.param} at {eff.on} = {lv} (vs {eff.reference})"
                for lv in eff.levels
                if lv != eff.reference
            }
        else:
            labels = {n: f"power exponent of {eff.on}/{eff.ref:g} on {eff.param}" for n in coefs}
        for name, value in coefs.items():
            out.append(
                ThetaInfo(
                    name, float(value), -math.inf, math.inf, "1", None, labels[name],
                    name in fixed, "covariate",
                )
            )  # fmt: skip
    return tuple(out)


def _errors(model: Model, sp: Any) -> dict[str, ErrorInfo]:
    xp = sympy_namespace(model.name)
    xp.__dict__["function"] = "error"
    f = sp.Symbol("ipred")
    codes = {dv: i + 1 for i, dv in enumerate(model.outputs)}
    out = {}
    for dv, em in model.error.items():
        symbols = {n: sp.Symbol(n) for n in em.names}
        sd = sp.sympify(em.sd(xp, f, symbols))
        out[dv] = ErrorInfo(
            dv,
            codes[dv],
            str(model.outputs[dv]),
            em.kind,
            em.sigmas,
            em.roles,
            tuple(n in model.ini.fixed for n in em.names),
            em.scale,
            f,
            sd,
        )
    return out


def _dose_inputs(model: OdeModel, sp: Any, initial: dict[str, Any], dose: Any) -> tuple:
    if dose is None:
        return ()
    cls = type(model)
    states = list(cls.states)
    dosed = set(cls.dosed_states or states)
    schedule = tuple(sorted((float(a), float(b)) for a, b in (cls.dosing or ((0.0, 1.0),))))
    out = []
    for i, s in enumerate(states):
        expr = sp.expand(initial[s])
        if not expr.has(dose):
            continue
        scale = sp.diff(expr, dose)
        baseline = sp.simplify(expr - scale * dose)
        if scale.has(dose) or s not in dosed:
            raise _unsupported(
                model.name,
                "initial",
                f"the dose in state `{s}` "
                + ("non-linearly" if scale.has(dose) else "outside `dosed_states`"),
            )
        out.append(DoseInput(s, i + 1, scale, baseline, schedule))
    return tuple(out)


def trace(model: Model) -> SymbolicModel:
    """Trace a model declaration into SymPy expressions.

    Parameters
    ----------
    model : Model
        A closed-form or ODE model (a catalogue model or any declaration).

    Returns
    -------
    SymbolicModel
        The declaration's parameters, individual-parameter expressions, equations and
        residual-error models (module docstring: the interface).

    Raises
    ------
    ModelError
        ``export_unsupported`` for an equation or effect without a symbolic form,
        ``export_name_clash`` when a state, parameter or covariate share a name.

    Examples
    --------
    >>> import cartpk as ck
    >>> sm = trace(ck.load_model("stein2019"))
    >>> sm.kind, [t.name for t in sm.thetas][:3], sm.individual["foldx"]
    ('closed_form', ['foldx', 'tmax', 'cmax'], tv_foldx*exp(eta_foldx))
    """
    sp = _sympy()
    if not isinstance(model, ClosedFormModel | OdeModel):
        raise _unsupported(getattr(model, "name", "?"), "model", type(model).__name__)
    if isinstance(model, OdeModel) and type(model).time_varying:
        raise _unsupported(model.name, "rhs", "time-varying covariates")
    thetas = _thetas(model)
    names = [t.name for t in thetas if t.role == "structural"]
    coef_names = [t.name for t in thetas if t.role == "covariate"]
    states = list(getattr(type(model), "states", ()))
    columns = model.covariate_columns
    _clashes(
        model,
        {
            "parameter": names + [f"tv_{n}" for n in names] + [f"eta_{n}" for n in names],
            "coefficient": coef_names,
            "state": states,
            "covariate": columns,
            "reserved symbol": ["t", "dose", "ipred"],
        },
    )
    time = sp.Symbol("t")
    params = {n: sp.Symbol(n) for n in names}
    typical = {n: sp.Symbol(f"tv_{n}") for n in names}
    iiv = model.iiv.var
    etas = {n: sp.Symbol(f"eta_{n}") for n in names if n in iiv}
    coefficients = {n: sp.Symbol(n) for n in coef_names}
    cov_symbols = {c: sp.Symbol(c) for c in columns}
    covs = tuple(_covariate(e, sp, cov_symbols[e.on], model) for e in model.covariates)
    mu, individual = {}, {}
    for t in thetas[: len(names)]:
        h = forward(t.transform, typical[t.name])
        for c in covs:
            if c.param == t.name:
                h = h + c.shift
        mu[t.name] = h
        individual[t.name] = backward(t.transform, h + etas.get(t.name, 0))
    xp = sympy_namespace(model.name)
    kw: dict[str, Any] = dict(params)
    equations = [a for a in type(model)._equation_names() if _raw(type(model), a) is not None]
    uses_dose = any("dose" in _kwonly(_raw(type(model), a))[1] for a in equations)  # type: ignore[arg-type]
    dose = sp.Symbol("dose") if uses_dose else None
    if dose is not None:
        kw["dose"] = dose
    base: dict[str, Any] = dict(
        name=model.name,
        kind=model.kind,
        reference=model.reference,
        time=time,
        time_unit=model.time_unit,
        dose=dose,
        dose_unit=model.dose_unit,
        outputs=dict(model.outputs),
        dvid_codes={dv: i + 1 for i, dv in enumerate(model.outputs)},
        thetas=thetas,
        params=params,
        typical=typical,
        etas=etas,
        coefficients=coefficients,
        covariate_symbols=cov_symbols,
        iiv=dict(iiv),
        iiv_fixed=frozenset(model.iiv.fixed),
        covariates=covs,
        mu=mu,
        individual=individual,
        errors=_errors(model, sp),
    )
    if isinstance(model, ClosedFormModel):
        preds = _call(xp, model, "predict", (time,), kw)
        _check_keys(model, "predict", preds, list(model.outputs))
        return SymbolicModel(**base, predictions=preds)
    assert isinstance(model, OdeModel)
    return SymbolicModel(**base, **_ode_equations(model, xp, kw, equations, states))


def _ode_equations(
    model: OdeModel, xp: _SympyNamespace, kw: dict[str, Any], equations: list[str], states: list
) -> dict[str, Any]:
    """``states``, ``rhs``, ``initial``, ``observe``, ``breakpoints``, ``dose_inputs``."""
    sp = xp._sp
    time = sp.Symbol("t")
    y = {s: sp.Symbol(s) for s in states}
    rhs = _call(xp, model, "rhs", (time, y), kw)
    _check_keys(model, "rhs", rhs, states)
    init = _call(xp, model, "initial", (), kw)
    _check_keys(model, "initial", init, states)
    obs = _call(xp, model, "observe", (y,), kw)
    _check_keys(model, "observe", obs, list(model.outputs))
    bps = _call(xp, model, "breakpoints", (), kw) if "breakpoints" in equations else {}
    return {
        "states": y,
        "rhs": rhs,
        "initial": init,
        "observe": obs,
        "breakpoints": bps,
        "dose_inputs": _dose_inputs(model, sp, init, kw.get("dose")),
    }


def _check_keys(model: Model, attr: str, out: Any, expected: list[str]) -> None:
    if not isinstance(out, Mapping) or list(out) != expected and set(out) != set(expected):
        raise ModelError(
            f"`{model.name}.{attr}` returned keys that do not match the declaration.",
            [
                Violation(
                    "outputs_mismatch",
                    f"`{attr}` must return a dict keyed by {expected}",
                    value=repr(sorted(out) if isinstance(out, Mapping) else out),
                    expected=repr(expected),
                )
            ],
        )


def lambdify_individual(sm: SymbolicModel) -> Callable[..., dict[str, float]]:
    """A NumPy function ``f(**values) -> {param: value}`` of :attr:`SymbolicModel.individual`.

    Parameters
    ----------
    sm : SymbolicModel
        A traced model.

    Returns
    -------
    callable
        ``f(**values)``; ``values`` names every free symbol (``tv_<p>``, ``eta_<p>``,
        coefficients, covariate columns). Used to check the trace against
        ``Model.individual_parameters``.

    Examples
    --------
    >>> import cartpk as ck
    >>> f = lambdify_individual(trace(ck.load_model("stein2019")))
    >>> names = ("foldx", "tmax", "cmax", "alpha", "fb", "beta")
    >>> values = {f"tv_{n}": 0.5 for n in names} | {f"eta_{n}": 0.0 for n in names}
    >>> f(**values)["fb"], f(**values | {"eta_tmax": 1.0})["tmax"] / 0.5
    (0.5, 2.718281828459045)
    """
    sp = _sympy()
    funcs = {}
    for name, expr in sm.individual.items():
        syms = sorted(expr.free_symbols, key=lambda s: s.name)
        funcs[name] = (syms, sp.lambdify(syms, expr, "numpy"))

    def evaluate(**values: float) -> dict[str, float]:
        return {n: float(f(*[values[s.name] for s in syms])) for n, (syms, f) in funcs.items()}

    return evaluate
