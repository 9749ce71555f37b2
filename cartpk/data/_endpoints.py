"""Endpoints (DVIDs): unit, scale and label of each observed quantity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DEFAULT_ENDPOINTS", "Endpoint", "endpoint_for"]

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
