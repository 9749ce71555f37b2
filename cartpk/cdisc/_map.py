"""Which measurements become which ``DVID``: the analyte map (``--map FILE``).

A map is a table with columns ``DOMAIN, TESTCD, SPEC, DVID, UNIT`` (``SPEC`` and ``UNIT``
may be blank). A source record of ``DOMAIN`` (``PC``, ``LB``, ``ADPC``, ``ADLB``; ``*`` for
any) whose test code (``PCTESTCD``, ``LBTESTCD``, ``PARAMCD``) is ``TESTCD`` and whose
specimen (``--SPEC``) is ``SPEC`` (blank: any) becomes an observation of ``DVID``; ``UNIT``,
when given, is the unit its standard result must have (compared ignoring case, with ``µ``
written ``u``): a record in another unit is a violation, never converted or mixed silently.
The rows of a user's map come before the built-in rows (:data:`DEFAULT_MAP`), so a user can
override any of them. PC analytes not in the map keep their test code as ``DVID`` (one unit
per ``DVID`` is still required); LB tests not in the map are not used (``conversion.csv``
says so), since LB holds the whole laboratory panel.

The built-in rows map the cytokines and inflammation markers cartpk knows
(:data:`cartpk.data.DEFAULT_ENDPOINTS`) from their CDISC Controlled Terminology test codes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import pandas as pd

from cartpk.cdisc._files import one_problem
from cartpk.errors import DatasetError, Violation

__all__ = ["DEFAULT_MAP", "AnalyteMap", "read_map", "same_unit"]

MAP_COLUMNS = ("DOMAIN", "TESTCD", "SPEC", "DVID", "UNIT")

#: built-in rows: CDISC CT LBTESTCD -> cartpk DVID, standard unit of cartpk's endpoints
DEFAULT_MAP = pd.DataFrame(
    [
        ("LB", "IL6", "", "IL6", "pg/mL"),
        ("LB", "IFNG", "", "IFNG", "pg/mL"),
        ("LB", "IL10", "", "IL10", "pg/mL"),
        ("LB", "IL2", "", "IL2", "pg/mL"),
        ("LB", "TNFA", "", "TNFA", "pg/mL"),
        ("LB", "CRP", "", "CRP", "mg/L"),
        ("LB", "FERRITIN", "", "FERRITIN", "ng/mL"),
        ("ADLB", "IL6", "", "IL6", "pg/mL"),
        ("ADLB", "IFNG", "", "IFNG", "pg/mL"),
        ("ADLB", "CRP", "", "CRP", "mg/L"),
        ("ADLB", "FERRITIN", "", "FERRITIN", "ng/mL"),
    ],
    columns=list(MAP_COLUMNS),
)


def same_unit(a: object, b: object) -> bool:
    """Whether two unit texts name the same unit (case, spaces and ``µ``/``u`` ignored).

    Examples
    --------
    >>> same_unit("pg/ml", "pg/mL"), same_unit("µg/L", "ug/l"), same_unit("mg/dL", "mg/L")
    (True, True, False)
    """

    def norm(u: object) -> str:
        return re.sub(r"\s+", "", str(u)).replace("µ", "u").replace("μ", "u").lower()

    return norm(a) == norm(b)


@dataclass(frozen=True)
class AnalyteMap:
    """The map in force: the user's rows, then :data:`DEFAULT_MAP`."""

    table: pd.DataFrame

    def lookup(self, domain: str, testcd: object, spec: object) -> tuple[str, str] | None:
        """``(DVID, UNIT)`` of the first row matching a record, or ``None``."""
        t = self.table
        code = "" if pd.isna(testcd) else str(testcd).upper()
        sp = "" if pd.isna(spec) else str(spec).upper()
        hit = (
            t["DOMAIN"].isin([domain.upper(), "*"])
            & (t["TESTCD"] == code)
            & ((t["SPEC"] == "") | (t["SPEC"] == sp))
        )
        if not hit.any():
            return None
        row = t[hit].iloc[0]
        return str(row["DVID"]), str(row["UNIT"])


def read_map(path: str | os.PathLike[str] | None = None) -> AnalyteMap:
    """The analyte map: ``path``'s rows (CSV) before the built-in ones.

    Raises
    ------
    DatasetError
        ``map_unreadable``, ``map_missing_column``, ``map_blank`` (a row without
        ``DOMAIN``, ``TESTCD`` or ``DVID``), listed together.
    """
    if path is None:
        return AnalyteMap(DEFAULT_MAP.copy())
    try:
        user = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise one_problem(
            f"cannot read the analyte map {path}",
            "map_unreadable",
            f"the analyte map could not be read: {exc}",
            value=str(path),
            expected="a CSV file with columns " + ", ".join(MAP_COLUMNS),
            fix="give a readable CSV file to --map",
        ) from None
    user.columns = [c.strip().upper() for c in user.columns]
    problems = [
        Violation(
            "map_missing_column",
            f"the analyte map has no column `{c}`",
            column=c,
            expected="columns " + ", ".join(MAP_COLUMNS) + " (SPEC and UNIT may be blank)",
            fix=f"add the column `{c}`",
        )
        for c in ("DOMAIN", "TESTCD", "DVID")
        if c not in user.columns
    ]
    if problems:
        raise DatasetError(f"the analyte map {path} is incomplete", problems)
    for c in ("SPEC", "UNIT"):
        if c not in user.columns:
            user[c] = ""
    user = user[list(MAP_COLUMNS)].apply(lambda s: s.str.strip())
    for c in ("DOMAIN", "TESTCD", "SPEC"):
        user[c] = user[c].str.upper()
    blank = user.index[(user[["DOMAIN", "TESTCD", "DVID"]] == "").any(axis=1)]
    if len(blank):
        raise one_problem(
            f"the analyte map {path} has rows without DOMAIN, TESTCD or DVID",
            "map_blank",
            "a map row lacks DOMAIN, TESTCD or DVID",
            rows=tuple(int(i) + 1 for i in blank),
            expected="DOMAIN (PC, LB, ADPC, ADLB or *), TESTCD and DVID on every row",
            fix="fill in or delete these rows",
        )
    return AnalyteMap(pd.concat([user, DEFAULT_MAP], ignore_index=True))
