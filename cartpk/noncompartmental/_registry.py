"""The NCA parameter registry: one entry per parameter declares what it depends on and how
it is computed (PKNCA's ``add.interval.col(FUN=, depends=)``), and drives the computation
order, the CDISC long table, the wide view's column names, units and display labels.

The engine (:func:`cartpk.noncompartmental._nca_steps._evaluate`) walks :data:`ORDER`, the
entries in dependency order, and computes each from the values of its ``depends``: basic
inputs (:data:`INPUTS`, provided by the engine), internal quantities (:data:`QUANTITIES`,
computed once and shared, never reported) and other parameters. A parameter whose
dependency is missing is missing too, with the dependency's reason and its name
(``"[lambda_z_too_few_points] LAMZ is missing: 2 positive point(s) ..."``); the interval
AUC (``propagate=False``) decides itself, since it needs lambda_z only to extrapolate. The
graph is checked when this module is imported: every dependency declared, no cycle.

Units are built from the concentration unit ``C`` of ``DV`` and the time unit ``T``:

======== ===================== ===========
kind     unit                  example
======== ===================== ===========
conc     ``C``                 copies/ug
time     ``T``                 day
auc      ``T*C``               day*copies/ug
rate     ``1/T``               1/day
count    (empty)
fraction (empty)
percent  ``%``
======== ===================== ===========
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cartpk.noncompartmental import _calc

__all__ = [
    "INPUTS",
    "ORDER",
    "PARAMETERS",
    "QUANTITIES",
    "Parameter",
    "Quantity",
    "by_testcd",
    "dependency_order",
    "missing_with",
    "unit_for",
]

UnitKind = Literal["conc", "time", "auc", "rate", "count", "fraction", "percent"]
Compute = Callable[[_calc.Deps], Any]

#: basic inputs the engine provides, by name
INPUTS: Mapping[str, str] = {
    "time": "padded (profile x sample) times, usable samples first",
    "conc": "concentrations after the BLQ rules, aligned with `time`",
    "row": "1-based input rows of the samples",
    "count": "usable samples per profile",
    "profiles": "ID and DVID of each profile",
    "auc_method": "'linear' or 'linuplogdown'",
    "lambda_z_rule": "the LambdaZ options",
    "intervals": "the AUC intervals",
    "extrapolate": "whether interval AUCs may be extrapolated with lambda_z",
    "time_unit": "unit of TIME",
    "rules": "the collector of applied rules",
}


@dataclass(frozen=True)
class Quantity:
    """An internal quantity shared by several parameters, never reported or missing.

    Attributes
    ----------
    key : str
        Name that ``depends`` refer to.
    depends : tuple of str
        Names of basic inputs and other quantities it is computed from.
    compute : callable
        ``compute(deps)`` -> the quantity (see :mod:`cartpk.noncompartmental._calc`).
    """

    key: str
    depends: tuple[str, ...]
    compute: Compute


@dataclass(frozen=True)
class Parameter:
    """One NCA parameter.

    Attributes
    ----------
    testcd : str
        CDISC SDTM ``PPTESTCD`` (PKPARMCD codelist), e.g. ``"AUCLST"``.
    name : str
        Column name in the wide view (snake_case), e.g. ``"auclast"``; interval parameters
        get the interval appended (``auc_0_28d``).
    label : str
        Display label (CDISC ``PPTEST`` wording).
    unit : str
        Unit kind, see the module docstring.
    interval : bool
        Whether the parameter belongs to a time interval (``PPSTINT``/``PPENINT`` set).
    depends : tuple of str
        Names of the parameters (``PPTESTCD``), quantities and basic inputs it is computed
        from; where a parameter among them is missing, so is this one, with its reason.
    compute : callable, optional
        ``compute(deps)`` -> values per profile, or ``(values, reasons)`` with reasons of
        its own (:mod:`cartpk.noncompartmental._calc`).
    propagate : bool
        Whether missing dependencies make it missing (``False``: ``compute`` reads their
        reasons and decides).
    """

    testcd: str
    name: str
    label: str
    unit: UnitKind
    interval: bool = False
    depends: tuple[str, ...] = ()
    compute: Compute | None = None
    propagate: bool = True

    @property
    def key(self) -> str:
        """The name other entries' ``depends`` use: the ``PPTESTCD``."""
        return self.testcd

    @property
    def needs_lambda_z(self) -> bool:
        """Whether it is missing whenever ``lambda_z`` is (``LAMZ`` itself, or a parameter
        that depends on it through parameters that propagate missing values)."""
        return self.testcd == "LAMZ" or "LAMZ" in missing_with(self.testcd)


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("peak", ("time", "conc"), _calc.peak),
    Quantity("last", ("time", "conc"), _calc.last),
    Quantity(
        "lambda_z_fit",
        ("time", "conc", "row", "profiles", "lambda_z_rule", "rules", "peak", "last"),
        _calc.terminal_fit,
    ),
)

_FIT = ("LAMZ", "lambda_z_fit")


def _located(
    testcd: str, name: str, label: str, unit: UnitKind, point: str, index: int
) -> Parameter:
    """A parameter read off the sample that quantity ``point`` locates (:func:`_calc.located`)."""
    return Parameter(
        testcd, name, label, unit, depends=(point,), compute=_calc.located(point, index)
    )


def _of_fit(testcd: str, name: str, label: str, unit: UnitKind, attribute: str) -> Parameter:
    """An attribute of the lambda_z regression (:func:`_calc.fit_attribute`)."""
    return Parameter(
        testcd, name, label, unit, depends=_FIT, compute=_calc.fit_attribute(attribute)
    )


def _aucinf(testcd: str, name: str, label: str, clast: str) -> Parameter:
    """AUC to infinity extrapolated from the Clast parameter ``clast`` (:func:`_calc.aucinf`)."""
    return Parameter(
        testcd, name, label, "auc", depends=("AUCLST", clast, "LAMZ"), compute=_calc.aucinf(clast)
    )


def _aucpext(testcd: str, name: str, label: str, aucinf: str) -> Parameter:
    """Percentage of the AUC parameter ``aucinf`` extrapolated (:func:`_calc.aucpext`)."""
    return Parameter(
        testcd,
        name,
        label,
        "percent",
        depends=(aucinf, "AUCLST"),
        compute=_calc.aucpext(aucinf),
    )


PARAMETERS: tuple[Parameter, ...] = (
    _located("CMAX", "cmax", "Max Conc", "conc", "peak", 0),
    _located("TMAX", "tmax", "Time of CMAX", "time", "peak", 1),
    _located("TLST", "tlast", "Time of Last Nonzero Conc", "time", "last", 0),
    _located("CLST", "clast", "Last Nonzero Conc", "conc", "last", 1),
    Parameter(
        "AUCLST",
        "auclast",
        "AUC to Last Nonzero Conc",
        "auc",
        depends=("time", "conc", "last", "auc_method"),
        compute=_calc.auclast,
    ),
    Parameter(
        "AUCINT",
        "auc",
        "AUC from T1 to T2",
        "auc",
        interval=True,
        depends=(
            "time",
            "conc",
            "count",
            "auc_method",
            "intervals",
            "extrapolate",
            "time_unit",
            "rules",
            "last",
            "TLST",
            "LAMZ",
        ),
        compute=_calc.aucint,
        propagate=False,
    ),
    Parameter(
        "LAMZ",
        "lambda_z",
        "Lambda z",
        "rate",
        depends=("TLST", "CLST", "TMAX", "lambda_z_fit", "lambda_z_rule"),
        compute=_calc.lambda_z,
    ),
    Parameter(
        "LAMZHL",
        "half_life",
        "Half-Life Lambda z",
        "time",
        depends=("LAMZ",),
        compute=_calc.half_life,
    ),
    Parameter(
        "LAMZNPT",
        "lambda_z_npoints",
        "Number of Points for Lambda z",
        "count",
        depends=_FIT,
        compute=_calc.lambda_z_npoints,
    ),
    _of_fit("LAMZLL", "lambda_z_lower", "Lambda z Lower Limit", "time", "lower"),
    _of_fit("LAMZUL", "lambda_z_upper", "Lambda z Upper Limit", "time", "upper"),
    _of_fit("R2", "r2", "R Squared", "fraction", "r2"),
    _of_fit("R2ADJ", "r2adj", "R Squared Adjusted", "fraction", "r2adj"),
    _of_fit("CLSTP", "clast_pred", "Last Nonzero Conc Pred", "conc", "clast_pred"),
    _aucinf("AUCIFO", "aucinf_obs", "AUC Infinity Obs", "CLST"),
    _aucinf("AUCIFP", "aucinf_pred", "AUC Infinity Pred", "CLSTP"),
    _aucpext("AUCPEO", "aucpext_obs", "AUC %Extrapolation Obs", "AUCIFO"),
    _aucpext("AUCPEP", "aucpext_pred", "AUC %Extrapolation Pred", "AUCIFP"),
)


def dependency_order(
    entries: Iterable[Quantity | Parameter], inputs: Iterable[str]
) -> tuple[Quantity | Parameter, ...]:
    """``entries`` in an order where each comes after everything it depends on.

    Among entries whose dependencies are all computed, the one listed first goes first,
    so the order is stable.

    Parameters
    ----------
    entries : iterable of Quantity or Parameter
        The registry.
    inputs : iterable of str
        Names of the basic inputs.

    Returns
    -------
    tuple
        The entries, dependencies first.

    Raises
    ------
    ValueError
        Naming duplicated keys, undeclared dependencies, or the entries on a cycle.
    """
    entries = tuple(entries)
    known = set(inputs)
    keys = [e.key for e in entries]
    problems = [f"{k!r} is declared twice" for k in sorted({k for k in keys if keys.count(k) > 1})]
    problems += [f"{k!r} is both a basic input and an entry" for k in keys if k in known]
    declared = known | set(keys)
    problems += [
        f"{e.key} depends on undeclared {d!r}"
        for e in entries
        for d in e.depends
        if d not in declared
    ]
    if problems:
        raise ValueError("NCA registry: " + "; ".join(problems))
    done, order, waiting = set(known), [], list(entries)
    while waiting:
        ready = next((e for e in waiting if done.issuperset(e.depends)), None)
        if ready is None:
            cycle = ", ".join(f"{e.key} <- {'/'.join(e.depends)}" for e in waiting)
            raise ValueError(f"NCA registry: dependency cycle among {cycle}")
        order.append(ready)
        done.add(ready.key)
        waiting.remove(ready)
    return tuple(order)


#: the registry in dependency order, checked at import
ORDER: tuple[Quantity | Parameter, ...] = dependency_order(QUANTITIES + PARAMETERS, INPUTS)

_ENTRIES: dict[str, Quantity | Parameter] = {e.key: e for e in ORDER}


def missing_with(testcd: str) -> set[str]:
    """The parameters whose missing value makes parameter ``testcd`` missing, directly or
    through other parameters (none for one with ``propagate=False``).

    Examples
    --------
    >>> sorted(missing_with("AUCPEO"))
    ['AUCIFO', 'AUCLST', 'CLST', 'LAMZ', 'TLST', 'TMAX']
    """
    seen: set[str] = set()
    stack = [testcd]
    while stack:
        entry = _ENTRIES.get(stack.pop())
        if not isinstance(entry, Parameter) or not entry.propagate:
            continue
        for d in entry.depends:
            if isinstance(_ENTRIES.get(d), Parameter) and d not in seen:
                seen.add(d)
                stack.append(d)
    return seen


_BY_TESTCD = {p.testcd: p for p in PARAMETERS}


def by_testcd(testcd: str) -> Parameter:
    """The registered parameter with this ``PPTESTCD``.

    Raises
    ------
    KeyError
        Naming the registered codes.
    """
    try:
        return _BY_TESTCD[testcd]
    except KeyError:
        raise KeyError(
            f"unknown PPTESTCD {testcd!r}; registered: {', '.join(_BY_TESTCD)}"
        ) from None


def unit_for(kind: UnitKind, conc_unit: str, time_unit: str) -> str:
    """Unit string of a parameter kind; empty where the concentration unit is unknown.

    Examples
    --------
    >>> unit_for("auc", "copies/ug", "day")
    'day*copies/ug'
    >>> unit_for("rate", "", "day")
    '1/day'
    """
    if kind == "conc":
        return conc_unit
    if kind == "time":
        return time_unit
    if kind == "auc":
        return f"{time_unit}*{conc_unit}" if conc_unit else ""
    if kind == "rate":
        return f"1/{time_unit}"
    if kind == "percent":
        return "%"
    return ""
