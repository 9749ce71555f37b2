"""Endpoints (DVIDs): unit, scale and label of each observed quantity."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["DEFAULT_ENDPOINTS", "Endpoint", "display_unit", "endpoint_for", "near_endpoint"]


def display_unit(unit: object) -> str:
    """Display form of a unit string (``ug`` -> ``µg``); ``""`` when missing.

    Units are stored in ASCII (``copies/ug``); figures, reports and terminal text show them
    with this one spelling.

    Examples
    --------
    >>> display_unit("copies/ug*day")
    'copies/µg*day'
    >>> display_unit(None), display_unit(float("nan"))
    ('', '')
    """
    if unit is None or (isinstance(unit, float) and math.isnan(unit)):
        return ""
    text = str(unit)
    if text.lower() in {"nan", "none"}:
        return ""
    return re.sub(r"\bug\b", "µg", text)


Scale = Literal["log", "linear", "grade"]


@dataclass(frozen=True)
class Endpoint:
    """An observed quantity identified by its ``DVID``.

    Parameters
    ----------
    name : str
        The ``DVID`` value, e.g. ``"QPCR"``.
    unit : str
        Unit of ``DV`` (ASCII, e.g. ``"copies/ug"``, ``"pg/mL"``).
    scale : {"log", "linear", "grade"}
        ``"log"``: strictly positive measurements analysed on the log scale (DV <= 0 is
        only allowed when censored); ``"linear"``: any real value; ``"grade"``: an
        ordinal grade 0-5 (CTCAE v4.0, CRS) where ``TIME`` is the onset day.
    label : str
        Display label.
    """

    name: str
    unit: str = ""
    scale: Scale = "log"
    label: str = ""

    def __post_init__(self) -> None:
        if self.scale not in ("log", "linear", "grade"):
            raise ValueError(
                f"`scale` of endpoint {self.name!r} must be 'log', 'linear' or 'grade', "
                f"not {self.scale!r}"
            )


DEFAULT_ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        Endpoint("QPCR", "copies/ug", "log", "CAR transgene, copies/µg gDNA (qPCR)"),
        Endpoint("FLOW", "cells/uL", "log", "CAR+ cells/µL blood (flow cytometry)"),
        Endpoint("IL6", "pg/mL", "log", "IL-6"),
        Endpoint("IFNG", "pg/mL", "log", "IFN-γ"),
        Endpoint("IL10", "pg/mL", "log", "IL-10"),
        Endpoint("IL2", "pg/mL", "log", "IL-2"),
        Endpoint("TNFA", "pg/mL", "log", "TNF-α"),
        Endpoint("CRP", "mg/L", "log", "C-reactive protein"),
        Endpoint("FERRITIN", "ng/mL", "log", "ferritin"),
        Endpoint("SOD", "mm", "linear", "sum of target-lesion diameters"),
        Endpoint("CRS", "grade", "grade", "cytokine release syndrome grade"),
        Endpoint("ICANS", "grade", "grade", "ICANS grade"),
    )
}


def endpoint_for(dvid: str, endpoints: dict[str, Endpoint] | None = None) -> Endpoint:
    """The endpoint of a ``DVID``: from ``endpoints``, the defaults, or a log-scale default.

    Graded adverse events are recognised by the ``AE_`` prefix (``AE_NEUTROPENIA``).
    """
    if endpoints is not None and dvid in endpoints:
        return endpoints[dvid]
    if dvid in DEFAULT_ENDPOINTS:
        return DEFAULT_ENDPOINTS[dvid]
    if dvid.upper().startswith("AE_"):
        return Endpoint(dvid, "grade", "grade", dvid[3:].replace("_", " ").lower())
    return Endpoint(dvid, "", "log", dvid)


def _one_edit_apart(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by one substitution, insertion, deletion or swap."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [k for k in range(len(a)) if a[k] != b[k]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:k] + long_[k + 1 :] == short for k in range(len(long_)))


def near_endpoint(dvid: str, known: Iterable[str]) -> tuple[str | None, str | None]:
    """A known endpoint name that ``dvid`` differs from by case only, or by one letter.

    Parameters
    ----------
    dvid : str
        A DVID that is not itself a known name.
    known : iterable of str
        The known endpoint names.

    Returns
    -------
    same_but_case, one_letter_off : str or None
        The known name equal to ``dvid`` but for case; else the one known name one edit
        (substitution, insertion, deletion or swap of neighbours, ignoring case) away.

    Examples
    --------
    >>> near_endpoint("qpcr", DEFAULT_ENDPOINTS)
    ('QPCR', None)
    >>> near_endpoint("QPRC", DEFAULT_ENDPOINTS)
    (None, 'QPCR')
    >>> near_endpoint("CD19", DEFAULT_ENDPOINTS)
    (None, None)
    """
    names = [k for k in known if k != dvid]
    case = [k for k in names if k.upper() == dvid.upper()]
    if len(case) == 1:
        return case[0], None
    if len(dvid) < 3 or dvid.upper().startswith("AE_"):
        return None, None
    near = [k for k in names if len(k) >= 3 and _one_edit_apart(k.upper(), dvid.upper())]
    return None, (near[0] if len(near) == 1 else None)
