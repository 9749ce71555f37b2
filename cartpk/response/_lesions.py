"""Read and validate a RECIST 1.1 lesion table (one row per lesion per assessment).

Every problem in the table becomes a :class:`~cartpk.errors.Violation`; all of them are
raised together in one :class:`~cartpk.errors.DatasetError`. Suspicious but usable input
(small baseline target lesions, subjects without target lesions, an old baseline scan) is
returned as :class:`~cartpk.errors.CartpkWarning` objects, one per code, for the caller to
emit once the table is known to be valid.

Row numbers are data records counted from 1 in the order of the input (the header is not
counted: row N of a CSV file is on line N + 1).

Columns: ``ID, DAY, LESION, KIND, NODAL, DIAM_MM, STATUS`` (required), ``ORGAN`` and
``DEATH_DAY`` (optional); names are case-insensitive and other columns are ignored.

``DEATH_DAY``
    Day of death, in days since infusion (>= 0), for time-to-event endpoints (PFS counts
    progression or death, see ``docs/time_to_event.md``). It belongs to the subject: write
    it on every row of the subject, or on some rows and leave the others blank; the values
    given must agree. Blank on every row of a subject means alive or not known to have died.
    No assessment may come after the death (``DAY > DEATH_DAY``). The parsed values are in
    :attr:`LesionTable.deaths`; the lesion table itself (:attr:`LesionTable.table`) is
    unchanged by the column.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cartpk.data._table import read_text_table
from cartpk.errors import CartpkWarning, DatasetError, Violation

__all__ = ["LesionTable", "validate_lesions"]

REQUIRED = ("ID", "DAY", "LESION", "KIND", "NODAL", "DIAM_MM", "STATUS")
OPTIONAL = ("ORGAN", "DEATH_DAY")
KINDS = ("TARGET", "NONTARGET", "NEW")
# allowed STATUS codes per KIND ("" = blank cell)
STATUSES: dict[str, tuple[str, ...]] = {
    "TARGET": ("", "PRESENT", "ABSENT", "NE"),
    "NONTARGET": ("PRESENT", "ABSENT", "UNEQUIVOCAL_PD", "NE"),
    "NEW": ("UNEQUIVOCAL", "EQUIVOCAL"),
}
MAX_TARGETS = 5  # RECIST 1.1 section 3.3.1: at most 5 target lesions in total ...
MAX_PER_ORGAN = 2  # ... and at most 2 per organ
NODAL_MEASURABLE_MM = 15.0  # RECIST 1.1 section 3.1.1: malignant node >= 15 mm short axis
MEASURABLE_MM = 10.0  # RECIST 1.1 section 3.1.1: >= 10 mm longest diameter on CT
BASELINE_WINDOW_DAYS = 28.0  # RECIST 1.1 section 3.2: baseline within 4 weeks before start

_MISSING = {"", ".", "NA", "NAN", "NULL", "NONE"}
_NODAL_CODES = {"1": 1, "0": 0, "1.0": 1, "0.0": 0, "TRUE": 1, "FALSE": 0}

# code -> (message, expected, fix): the rules of the table, as data
_TEXT: dict[str, tuple[str, str, str]] = {
    "missing_column": (
        "required column `{column}` is missing",
        "columns ID, DAY, LESION, KIND, NODAL, DIAM_MM, STATUS (ORGAN, DEATH_DAY optional)",
        "add the column `{column}` (cells may be blank where the format allows)",
    ),
    "id_missing": (
        "`ID` is blank",
        "a subject identifier on every row",
        "fill in the subject's ID",
    ),
    "day_missing": (
        "`DAY` is blank",
        "the assessment day (days since infusion; baseline DAY <= 0) on every row",
        "fill in the day of the scan",
    ),
    "day_not_numeric": (
        "`DAY` is not a number",
        "days since infusion as a number, e.g. -7 or 56",
        "write the day as a plain number (no units, no dates)",
    ),
    "lesion_missing": (
        "`LESION` is blank",
        "a lesion identifier that stays the same across assessments",
        "fill in the lesion's identifier (e.g. T1, NT2, N1)",
    ),
    "kind_invalid": (
        "`KIND` is not a known lesion kind",
        "one of TARGET, NONTARGET, NEW",
        "recode the lesion kind",
    ),
    "nodal_invalid": (
        "`NODAL` is not 1 or 0",
        "1 for a lymph node, 0 otherwise (required for TARGET lesions)",
        "write 1 or 0",
    ),
    "diam_not_numeric": (
        "`DIAM_MM` is not a number",
        "a diameter in mm, or a blank cell when the lesion was not evaluated",
        "write the diameter as a plain number in mm (no units); leave blank if not measured",
    ),
    "diam_negative": (
        "`DIAM_MM` is negative",
        "a diameter >= 0 mm (0 when a lesion has disappeared)",
        "correct the measurement",
    ),
    "status_missing": (
        "`STATUS` is blank for a {kind} lesion",
        "{allowed}",
        "write the assessment; use NE for a non-target lesion that was not evaluated",
    ),
    "status_invalid": (
        "`STATUS` is not a valid code for a {kind} lesion",
        "{allowed}",
        "recode the status",
    ),
    "target_status_conflict": (
        "`STATUS` contradicts `DIAM_MM` for a target lesion",
        "ABSENT with DIAM_MM blank or 0; NE with DIAM_MM blank",
        "write 0 for a disappeared lesion, leave DIAM_MM blank for a lesion not evaluated",
    ),
    "duplicate_assessment": (
        "the same lesion is reported more than once on the same day",
        "one row per subject, DAY and LESION",
        "remove the duplicate rows or give the lesions distinct identifiers",
    ),
    "kind_inconsistent": (
        "the same lesion has different `KIND` values across rows",
        "a lesion keeps the kind it was given (a new lesion is never a baseline lesion)",
        "give the lesions distinct identifiers or correct the kind",
    ),
    "nodal_inconsistent": (
        "the same lesion has different `NODAL` values across rows",
        "NODAL fixed per lesion",
        "correct NODAL so that it is the same on every row of the lesion",
    ),
    "organ_inconsistent": (
        "the same lesion has different `ORGAN` values across rows",
        "ORGAN fixed per lesion",
        "correct ORGAN so that it is the same on every row of the lesion",
    ),
    "no_baseline": (
        "the subject has no baseline assessment",
        "baseline rows (DAY <= 0) listing the target and non-target lesions",
        "add the baseline scan, or remove the subject from the table",
    ),
    "new_at_baseline": (
        "a NEW lesion is reported at baseline",
        "NEW lesions only after infusion (DAY > 0)",
        "record a lesion present at baseline as TARGET or NONTARGET",
    ),
    "target_no_baseline": (
        "a TARGET lesion appears after baseline without a baseline row",
        "every target lesion selected and measured at baseline (DAY <= 0)",
        "add its baseline measurement, or record a lesion that appeared later as NEW",
    ),
    "nontarget_no_baseline": (
        "a NONTARGET lesion appears after baseline without a baseline row",
        "every non-target lesion recorded at baseline (DAY <= 0)",
        "add its baseline row, or record a lesion that appeared later as NEW",
    ),
    "target_baseline_not_measured": (
        "a target lesion has no baseline diameter",
        "a baseline diameter (mm) for every target lesion",
        "fill in DIAM_MM at baseline, or record the lesion as NONTARGET",
    ),
    "target_baseline_zero": (
        "a target lesion measures 0 mm or is ABSENT at baseline",
        "a measurable lesion at baseline (> 0 mm)",
        "correct the baseline diameter, or drop the lesion from the target list",
    ),
    "duplicate_baseline": (
        "a lesion is reported on more than one baseline day",
        "one baseline row per lesion",
        "keep the baseline scan closest to infusion (RECIST 1.1: within 4 weeks)",
    ),
    "too_many_targets": (
        "more than 5 target lesions",
        "at most 5 target lesions per subject (RECIST 1.1 section 3.3.1)",
        "keep the 5 largest reproducibly measurable lesions as TARGET, the rest NONTARGET",
    ),
    "death_day_not_numeric": (
        "`DEATH_DAY` is not a number",
        "the day of death in days since infusion, e.g. 143, or a blank cell if the subject "
        "is alive or not known to have died",
        "write the day as a plain number (no units, no dates); leave blank if there was no death",
    ),
    "death_day_negative": (
        "`DEATH_DAY` is negative",
        "the day of death in days since infusion (>= 0: a subject infused has not died before)",
        "correct the day of death (days counted from the infusion, day 0)",
    ),
    "death_day_inconsistent": (
        "the subject has different `DEATH_DAY` values across rows",
        "one day of death per subject (rows may be blank, the values given must agree)",
        "write the same DEATH_DAY on every row of the subject, or leave all but one blank",
    ),
    "assessment_after_death": (
        "an assessment is dated after the subject's `DEATH_DAY`",
        "every assessment on or before the day of death (DAY <= DEATH_DAY)",
        "correct DEATH_DAY or the DAY of the assessment",
    ),
    "too_many_targets_organ": (
        "more than 2 target lesions in one organ",
        "at most 2 target lesions per organ (RECIST 1.1 section 3.3.1)",
        "record the extra lesions of the organ as NONTARGET",
    ),
}

_WARN_TEXT: dict[str, str] = {
    "nodal_target_small": (
        "nodal target lesion(s) under 15 mm short axis at baseline are not measurable "
        "by RECIST 1.1 (section 3.1.1)"
    ),
    "target_small": (
        "non-nodal target lesion(s) under 10 mm at baseline are not measurable by RECIST 1.1 "
        "(section 3.1.1)"
    ),
    "no_target_lesions": (
        "subject(s) without target lesions: responses use RECIST 1.1 Table 2 (non-target "
        "disease only; SOD, PCHG and TRGRESP left blank)"
    ),
    "baseline_early": (
        "baseline scan(s) more than 28 days before infusion (RECIST 1.1 section 3.2 asks "
        "for a baseline within 4 weeks)"
    ),
    "organ_missing": (
        "target lesion(s) without ORGAN: the 2-per-organ limit was not checked for them"
    ),
}


@dataclass(frozen=True)
class LesionTable:
    """A validated lesion table.

    Attributes
    ----------
    table : pandas.DataFrame
        ``ROW, ID, DAY, LESION, KIND, NODAL, DIAM_MM, STATUS, ORGAN`` with ``DAY`` and
        ``DIAM_MM`` as floats (``NaN`` = not evaluated), ``NODAL`` as 0/1 (``-1`` unknown,
        allowed for non-target and new lesions), codes upper-cased, ``ORGAN`` ``""`` when
        not given. Target lesions recorded ``ABSENT`` with a blank diameter hold 0 mm.
    warnings : tuple of CartpkWarning
        Suspicious but usable input, one warning per code.
    deaths : pandas.DataFrame
        One row per subject (input order): ``ID, DEATH_DAY`` (days since infusion; ``NaN``
        when the column is absent or blank for the subject: alive or not known to have died).
    """

    table: pd.DataFrame
    warnings: tuple[CartpkWarning, ...]
    deaths: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"ID": pd.Series(dtype=str), "DEATH_DAY": []})
    )


def _load(source: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    """The table as text cells with upper-case column names and a 1-based ``ROW``."""
    raw, _ = read_text_table(
        source,
        expected="a CSV file with a header line (ID,DAY,LESION,KIND,...)",
        fix="export the table as CSV with one header line and one row per lesion",
    )
    raw.columns = [c.upper() for c in raw.columns]
    if isinstance(source, pd.DataFrame) and "ROW" in raw.columns:
        row = pd.to_numeric(raw["ROW"], errors="coerce")
        if row.notna().all():
            raw["ROW"] = row.astype(int)
            return raw
    raw["ROW"] = np.arange(1, len(raw) + 1)
    return raw


class _Issues:
    """Collects problems and groups them into one Violation per (code, subject, column);
    ``warn_items`` collects the items of each warning code, in order of first appearance."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.warn_items: dict[str, list[str]] = defaultdict(list)

    def add(
        self,
        code: str,
        sid: str,
        rows: Any,
        column: str = "",
        value: str | None = None,
        **fmt: str,
    ) -> None:
        key = (code, sid, column)
        g = self._groups.setdefault(key, {"rows": [], "values": [], "fmt": fmt})
        g["rows"].extend(int(r) for r in np.atleast_1d(rows))
        if value is not None and value not in g["values"]:
            g["values"].append(value)

    def violations(self) -> list[Violation]:
        out = []
        for (code, sid, column), g in self._groups.items():
            message, expected, fix = (t.format(column=column, **g["fmt"]) for t in _TEXT[code])
            values = g["values"]
            value = "; ".join(values[:5]) + (f"; ... ({len(values)})" if len(values) > 5 else "")
            out.append(
                Violation(
                    code=code,
                    message=message,
                    id=sid or None,
                    rows=tuple(sorted(set(g["rows"]))),
                    column=column or None,
                    value=value or None,
                    expected=expected,
                    fix=fix,
                )
            )
        return out

    def __bool__(self) -> bool:
        return bool(self._groups)


def _number(text: str) -> float:
    """The cell as a float; NaN when it is not a finite number."""
    try:
        x = float(text)
    except ValueError:
        return math.nan
    return x if math.isfinite(x) else math.nan


def _rows(records: list[dict[str, Any]]) -> list[int]:
    return [int(r["ROW"]) for r in records]


def _warning(code: str, items: list[str]) -> CartpkWarning:
    shown = "; ".join(items[:10]) + (f"; ... ({len(items)} in all)" if len(items) > 10 else "")
    return CartpkWarning(f"{_WARN_TEXT[code]}: {shown}", code=code, details={"items": items})


def _death_days(
    deaths: list[tuple[int, str, float]], recs: list[dict[str, Any]], issues: _Issues
) -> dict[str, float]:
    """The day of death per subject, adding the conflicts to ``issues``.

    A subject's rows may repeat the day or leave it blank; distinct values conflict, and so
    does an assessment dated after the death. Subjects without a (valid) value are absent.
    """
    given: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for row, sid, day in deaths:
        if sid.upper() not in _MISSING and not math.isnan(day):
            given[sid].append((row, day))
    out: dict[str, float] = {}
    for sid, vals in given.items():
        days = list(dict.fromkeys(d for _, d in vals))
        if len(days) > 1:
            shown = ", ".join(f"DEATH_DAY={d:g}" for d in days)
            issues.add("death_day_inconsistent", sid, [r for r, _ in vals], "DEATH_DAY", shown)
            continue
        out[sid] = days[0]
    for r in recs:
        dd = out.get(r["ID"])
        if dd is not None and r["DAY"] > dd:  # NaN days never compare greater
            issues.add(
                "assessment_after_death",
                r["ID"],
                r["ROW"],
                "DAY",
                f"DAY={r['DAY']:g} > DEATH_DAY={dd:g}",
            )
    return out


def _cell_number(text: str, code: str, sid: str, row: int, column: str, issues: _Issues) -> float:
    """The cell as a finite number, or NaN with ``code`` added to ``issues``."""
    x = _number(text)
    if not np.isfinite(x):
        issues.add(code, sid, row, column, f"{column}={text!r}")
        return np.nan
    return x


def _parse_day(text: str, sid: str, row: int, issues: _Issues) -> float:
    """The assessment day of a row (NaN when blank or not a number)."""
    if text.upper() in _MISSING:
        issues.add("day_missing", sid, row, "DAY")
        return np.nan
    return _cell_number(text, "day_not_numeric", sid, row, "DAY", issues)


def _parse_nodal(cell: Any, kind: str, sid: str, row: int, issues: _Issues) -> int:
    """The NODAL flag of a row: 1, 0, or -1 when unknown."""
    nodal_txt = str(cell).upper()
    if nodal_txt in _NODAL_CODES:
        return _NODAL_CODES[nodal_txt]
    if nodal_txt not in _MISSING or kind == "TARGET":
        issues.add("nodal_invalid", sid, row, "NODAL", f"NODAL={cell!r}")
    return -1


def _parse_diam(text: str, sid: str, row: int, issues: _Issues) -> float:
    """The diameter of a row in mm (NaN when blank or not a number; a negative one is kept)."""
    if text.upper() in _MISSING:
        return np.nan
    diam = _cell_number(text, "diam_not_numeric", sid, row, "DIAM_MM", issues)
    if diam < 0:  # NaN never compares less
        issues.add("diam_negative", sid, row, "DIAM_MM", f"DIAM_MM={text}")
    return diam


def _check_status(
    r: Any, kind: str, status: str, diam: float, sid: str, row: int, issues: _Issues
) -> None:
    """Add a STATUS that is missing, not allowed for the kind, or at odds with the diameter."""
    if kind not in STATUSES:
        return
    allowed = STATUSES[kind]
    text = {"kind": kind, "allowed": "one of " + ", ".join(a for a in allowed if a)}
    if status == "" and "" not in allowed:
        issues.add("status_missing", sid, row, "STATUS", **text)
    elif status not in allowed:
        issues.add("status_invalid", sid, row, "STATUS", f"STATUS={r.STATUS!r}", **text)
    elif kind == "TARGET" and (
        (status == "ABSENT" and np.isfinite(diam) and diam > 0)
        or (status == "NE" and np.isfinite(diam))
    ):
        issues.add(
            "target_status_conflict",
            sid,
            row,
            "STATUS",
            f"STATUS={status}, DIAM_MM={r.DIAM_MM}",
        )


def _parse_death(text: str, sid: str, row: int, issues: _Issues) -> float:
    """The DEATH_DAY cell of a row (NaN when blank, not a number or negative)."""
    if text.upper() in _MISSING:
        return np.nan
    death = _cell_number(text, "death_day_not_numeric", sid, row, "DEATH_DAY", issues)
    if death < 0:
        issues.add("death_day_negative", sid, row, "DEATH_DAY", f"DEATH_DAY={text}")
        return np.nan
    return death


def _parse_row(r: Any, issues: _Issues) -> tuple[dict[str, Any], tuple[int, str, float]]:
    """One row checked cell by cell: its record and its (row, subject, day of death)."""
    row, sid = int(r.ROW), str(r.ID)
    kind = str(r.KIND).upper()
    status = str(r.STATUS).upper()
    status = "" if status in _MISSING else status
    if sid.upper() in _MISSING:
        issues.add("id_missing", "", row, "ID")
    day = _parse_day(str(r.DAY), sid, row, issues)
    if str(r.LESION).upper() in _MISSING:
        issues.add("lesion_missing", sid, row, "LESION")
    if kind not in KINDS:
        issues.add("kind_invalid", sid, row, "KIND", f"KIND={r.KIND!r}")
    nodal = _parse_nodal(r.NODAL, kind, sid, row, issues)
    diam = _parse_diam(str(r.DIAM_MM), sid, row, issues)
    _check_status(r, kind, status, diam, sid, row, issues)
    if kind == "TARGET" and status == "ABSENT" and not np.isfinite(diam):
        diam = 0.0  # a disappeared target lesion counts 0 mm in the sum
    death = _parse_death(str(r.DEATH_DAY), sid, row, issues)
    rec = {
        "ROW": row,
        "ID": sid,
        "DAY": float(day),
        "LESION": str(r.LESION),
        "KIND": kind,
        "NODAL": nodal,
        "DIAM_MM": float(diam),
        "STATUS": status,
        "ORGAN": str(r.ORGAN),
    }
    return rec, (row, sid, float(death))


def _by(records: list[dict[str, Any]], column: str) -> dict[str, list[dict[str, Any]]]:
    """Records grouped by the value of ``column``, groups in order of first appearance."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        out[r[column]].append(r)
    return out


def _check_lesions(recs: list[dict[str, Any]], issues: _Issues) -> dict[str, list[dict[str, Any]]]:
    """Add repeated assessments and per-lesion inconsistencies; the usable records by subject."""
    by_visit: dict[tuple[str, float, str], list[dict[str, Any]]] = defaultdict(list)
    by_lesion: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    by_subject: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in recs:
        if r["ID"] == "" or r["LESION"] == "" or r["KIND"] not in KINDS:
            continue
        by_lesion[(r["ID"], r["LESION"])].append(r)
        by_subject[r["ID"]].append(r)
        if not math.isnan(r["DAY"]):
            by_visit[(r["ID"], r["DAY"], r["LESION"])].append(r)
    for (sid, _, les), rs in by_visit.items():
        if len(rs) > 1:
            issues.add("duplicate_assessment", sid, _rows(rs), "LESION", f"LESION={les}")
    for (sid, les), rs in by_lesion.items():
        for col, code in (
            ("KIND", "kind_inconsistent"),
            ("NODAL", "nodal_inconsistent"),
            ("ORGAN", "organ_inconsistent"),
        ):
            vals = list(dict.fromkeys(r[col] for r in rs if r[col] not in (-1, "")))
            if len(vals) > 1:
                shown = ", ".join(f"{col}={v}" for v in vals)
                issues.add(code, sid, _rows(rs), col, f"LESION={les}: {shown}")
    return by_subject


def _check_baseline(sid: str, base: list[dict[str, Any]], issues: _Issues) -> None:
    """Add NEW lesions at baseline and lesions on two baseline days; warn of an early scan."""
    new_base = [r for r in base if r["KIND"] == "NEW"]
    if new_base:
        issues.add("new_at_baseline", sid, _rows(new_base), "KIND")
    first = min(r["DAY"] for r in base)
    if first < -BASELINE_WINDOW_DAYS:
        issues.warn_items["baseline_early"].append(f"ID {sid}: DAY {first:g}")
    for les, lrs in _by(base, "LESION").items():
        if len({r["DAY"] for r in lrs}) > 1:
            days = ", ".join(f"{r['DAY']:g}" for r in lrs)
            issues.add("duplicate_baseline", sid, _rows(lrs), "DAY", f"LESION={les}: {days}")


def _check_late_lesions(
    sid: str, base: list[dict[str, Any]], post: list[dict[str, Any]], issues: _Issues
) -> None:
    """Add target and non-target lesions first seen after baseline."""
    for kind, code in (
        ("TARGET", "target_no_baseline"),
        ("NONTARGET", "nontarget_no_baseline"),
    ):
        known = {r["LESION"] for r in base if r["KIND"] == kind}
        late = [r for r in post if r["KIND"] == kind and r["LESION"] not in known]
        for les, lrs in _by(late, "LESION").items():
            issues.add(code, sid, _rows(lrs), "LESION", f"LESION={les}")


def _check_target_sizes(sid: str, tb: list[dict[str, Any]], issues: _Issues) -> None:
    """Add baseline targets without a positive diameter; warn of unmeasurably small ones."""
    for r in tb:
        where = f"ID {sid} row {r['ROW']} LESION {r['LESION']} {r['DIAM_MM']:g} mm"
        if math.isnan(r["DIAM_MM"]):
            issues.add(
                "target_baseline_not_measured",
                sid,
                r["ROW"],
                "DIAM_MM",
                f"LESION={r['LESION']}",
            )
        elif r["DIAM_MM"] == 0:
            issues.add("target_baseline_zero", sid, r["ROW"], "DIAM_MM", f"LESION={r['LESION']}")
        elif r["NODAL"] == 1 and r["DIAM_MM"] < NODAL_MEASURABLE_MM:
            issues.warn_items["nodal_target_small"].append(where)
        elif r["NODAL"] == 0 and r["DIAM_MM"] < MEASURABLE_MM:
            issues.warn_items["target_small"].append(where)


def _check_target_counts(
    sid: str, tb: list[dict[str, Any]], issues: _Issues, organ_given: bool
) -> None:
    """Add more than 5 targets in all or 2 in one organ; warn of targets without an organ."""
    first_rows: dict[str, dict[str, Any]] = {}
    for r in tb:
        first_rows.setdefault(r["LESION"], r)
    lesions = list(first_rows.values())
    if len(lesions) > MAX_TARGETS:
        names = ", ".join(r["LESION"] for r in lesions)
        issues.add(
            "too_many_targets", sid, _rows(lesions), "KIND", f"{len(lesions)} targets: {names}"
        )
    for organ, ors in _by(lesions, "ORGAN").items():
        if organ == "" and organ_given:
            issues.warn_items["organ_missing"].extend(f"ID {sid} row {r['ROW']}" for r in ors)
        elif organ != "" and len(ors) > MAX_PER_ORGAN:
            names = ", ".join(r["LESION"] for r in ors)
            issues.add(
                "too_many_targets_organ", sid, _rows(ors), "ORGAN", f"ORGAN={organ}: {names}"
            )


def _check_subject(sid: str, rs: list[dict[str, Any]], issues: _Issues, organ_given: bool) -> None:
    """Add the problems of one subject's baseline and target lesions, and its warnings."""
    base = [r for r in rs if r["DAY"] <= 0]  # NaN days are in neither list
    post = [r for r in rs if r["DAY"] > 0]
    if not base:
        issues.add("no_baseline", sid, _rows(rs), "DAY")
        return
    _check_baseline(sid, base, issues)
    _check_late_lesions(sid, base, post, issues)
    tb = [r for r in base if r["KIND"] == "TARGET"]
    if not tb:
        issues.warn_items["no_target_lesions"].append(f"ID {sid}")
    _check_target_sizes(sid, tb, issues)
    _check_target_counts(sid, tb, issues, organ_given)


def _raise_problems(issues: _Issues) -> None:
    """Raise every problem collected, in one DatasetError (nothing when there is none)."""
    if issues:
        v = issues.violations()
        n = len({x.id for x in v if x.id is not None})
        raise DatasetError(
            f"the lesion table has {len(v)} problem(s)" + (f" in {n} subject(s)" if n else ""),
            v,
        )


def validate_lesions(source: str | os.PathLike[str] | pd.DataFrame) -> LesionTable:
    """Check a lesion table in full and return it parsed.

    Parameters
    ----------
    source : path or pandas.DataFrame
        CSV file or table with ``ID, DAY, LESION, KIND, NODAL, DIAM_MM, STATUS`` and the
        optional ``ORGAN`` and ``DEATH_DAY`` (column names are case-insensitive; other
        columns are ignored).

    Returns
    -------
    LesionTable
        Parsed table and the warnings (not yet emitted).

    Raises
    ------
    DatasetError
        With every problem found; codes are the keys of the module's ``_TEXT`` table
        (``missing_column``, ``kind_invalid``, ``too_many_targets``,
        ``death_day_not_numeric``, ``death_day_negative``, ``death_day_inconsistent``,
        ``assessment_after_death``, ...).
    FileNotFoundError
        ``source`` is a path that does not exist.
    """
    raw = _load(source)
    issues = _Issues()
    missing = [c for c in REQUIRED if c not in raw.columns]
    for c in missing:
        issues.add("missing_column", "", [], column=c)
    if missing:
        raise DatasetError("the lesion table lacks required columns", issues.violations())
    if "ORGAN" not in raw.columns:
        raw["ORGAN"] = ""
    if "DEATH_DAY" not in raw.columns:
        raw["DEATH_DAY"] = ""

    # --- cell by cell -------------------------------------------------------------------
    recs: list[dict[str, Any]] = []
    deaths: list[tuple[int, str, float]] = []  # (row, subject, day of death or NaN)
    for r in raw.itertuples(index=False):
        rec, death = _parse_row(r, issues)
        recs.append(rec)
        deaths.append(death)
    t = pd.DataFrame(
        recs,
        columns=["ROW", "ID", "DAY", "LESION", "KIND", "NODAL", "DIAM_MM", "STATUS", "ORGAN"],
    )

    # --- across rows: per lesion and per subject (plain Python: fast on small groups) ----
    organ_given = bool((raw["ORGAN"] != "").any())
    by_subject = _check_lesions(recs, issues)
    death_day = _death_days(deaths, recs, issues)
    for sid, rs in by_subject.items():
        _check_subject(sid, rs, issues, organ_given)
    _raise_problems(issues)
    warns = tuple(_warning(code, items) for code, items in issues.warn_items.items())
    subjects = list(dict.fromkeys(t["ID"]))
    death_table = pd.DataFrame(
        {"ID": subjects, "DEATH_DAY": [death_day.get(sid, math.nan) for sid in subjects]}
    )
    return LesionTable(table=t, warnings=warns, deaths=death_table)
