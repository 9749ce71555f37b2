"""The NCA parameter registry: one entry per parameter drives computation order, the CDISC
long table, the wide view's column names, units and display labels (PKNCA's
``add.interval.col`` idea).

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

from dataclasses import dataclass
from typing import Literal

__all__ = ["PARAMETERS", "Parameter", "by_testcd", "unit_for"]

UnitKind = Literal["conc", "time", "auc", "rate", "count", "fraction", "percent"]


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
    needs_lambda_z : bool
        Whether it is missing whenever ``lambda_z`` is.
    """

    testcd: str
    name: str
    label: str
    unit: UnitKind
    interval: bool = False
    needs_lambda_z: bool = False


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("CMAX", "cmax", "Max Conc", "conc"),
    Parameter("TMAX", "tmax", "Time of CMAX", "time"),
    Parameter("TLST", "tlast", "Time of Last Nonzero Conc", "time"),
    Parameter("CLST", "clast", "Last Nonzero Conc", "conc"),
    Parameter("AUCLST", "auclast", "AUC to Last Nonzero Conc", "auc"),
    Parameter("AUCINT", "auc", "AUC from T1 to T2", "auc", interval=True),
    Parameter("LAMZ", "lambda_z", "Lambda z", "rate", needs_lambda_z=True),
    Parameter("LAMZHL", "half_life", "Half-Life Lambda z", "time", needs_lambda_z=True),
    Parameter(
        "LAMZNPT", "lambda_z_npoints", "Number of Points for Lambda z", "count", needs_lambda_z=True
    ),
    Parameter("LAMZLL", "lambda_z_lower", "Lambda z Lower Limit", "time", needs_lambda_z=True),
    Parameter("LAMZUL", "lambda_z_upper", "Lambda z Upper Limit", "time", needs_lambda_z=True),
    Parameter("R2", "r2", "R Squared", "fraction", needs_lambda_z=True),
    Parameter("R2ADJ", "r2adj", "R Squared Adjusted", "fraction", needs_lambda_z=True),
    Parameter("CLSTP", "clast_pred", "Last Nonzero Conc Pred", "conc", needs_lambda_z=True),
    Parameter("AUCIFO", "aucinf_obs", "AUC Infinity Obs", "auc", needs_lambda_z=True),
    Parameter("AUCIFP", "aucinf_pred", "AUC Infinity Pred", "auc", needs_lambda_z=True),
    Parameter("AUCPEO", "aucpext_obs", "AUC %Extrapolation Obs", "percent", needs_lambda_z=True),
    Parameter("AUCPEP", "aucpext_pred", "AUC %Extrapolation Pred", "percent", needs_lambda_z=True),
)

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
