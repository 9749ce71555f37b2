"""From tumour records (SDTM TR or ADaM ADTR, normalised) to the rows of ``lesions.csv``.

The source readers in :mod:`cartpk.cdisc._lesions` bring TR and ADTR records to one shape
(:data:`RECORD_COLUMNS`) and the lesions they belong to to :class:`Lesion` objects; this
module decides what each record becomes:

* a target lesion's RECIST 1.1 measurement: the short axis of a lymph node (``SAXIS``, else
  ``LPERP``, the longest perpendicular, else ``DIAMETER``), the longest diameter of any other
  lesion (``LDIAM``, else ``DIAMETER``); the other diameters of the same lesion and day are
  not used, and ``conversion.csv`` says which one was;
* a non-target lesion's state (``TUMSTATE``: ``PRESENT``, ``ABSENT``, ``UNEQUIVOCAL`` ->
  ``UNEQUIVOCAL_PD``, not done -> ``NE``);
* a new lesion (``UNEQUIVOCAL``, ``EQUIVOCAL``; ``PRESENT`` -> ``UNEQUIVOCAL``);
* or nothing, with the reason (another evaluator, a sum of diameters, no date, ...).

Diameters must be in mm; cm is converted (x 10, said in the reason); any other unit, a
diameter without a unit, a result that is neither a number nor a known state, and a record
of a lesion of unknown kind are :class:`~cartpk.errors.Violation` objects raised together.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cartpk.cdisc._files import Domain
from cartpk.cdisc._log import ConversionLog
from cartpk.cdisc._result import LESION_COLUMNS
from cartpk.errors import DatasetError, Violation

__all__ = [
    "RECORD_COLUMNS",
    "Lesion",
    "Pending",
    "Problems",
    "kind_of",
    "lesion_rows",
    "nodal_of",
]

TABLE = "lesions.csv"

#: the normalised record: position in its file, subject, evaluator, lesion link, test,
#: numeric and character result, unit, not-done flag and reason, day since first dose and
#: how it was obtained, visit key, a reason it is not used whatever it holds (ADaM derived
#: records), whether the evaluator is the one converted, and a note for the reason column
RECORD_COLUMNS = (
    "POS", "ID", "READER", "LNK", "GROUP", "TEST", "NUM", "TEXT", "UNIT", "NOTDONE",
    "WHYND", "DAY", "HOW", "VISIT", "SKIP", "SELECTED", "NOTE",
)  # fmt: skip

_KINDS = {
    "TARGET": "TARGET",
    "NON-TARGET": "NONTARGET",
    "NONTARGET": "NONTARGET",
    "NON TARGET": "NONTARGET",
    "NEW": "NEW",
}
_NODE = re.compile(r"\bLYMPH\b|\bNODES?\b|\bNODAL\b")
# the RECIST 1.1 measurement of a target lesion, in order of preference
SHORT_AXIS = ("SAXIS", "LPERP", "DIAMETER")  # lymph nodes (RECIST 1.1 section 3.1.1)
LONG_AXIS = ("LDIAM", "DIAMETER")  # other lesions
MEASURES = {"SAXIS", "LPERP", "LDIAM", "DIAMETER"}
STATE = "TUMSTATE"
_NOT_DONE = {"NOT DONE", "ND", "NE", "NOT EVALUABLE", "NOT EVALUATED", "NOT ASSESSABLE"}
_NT_STATES = {
    "PRESENT": "PRESENT",
    "ABSENT": "ABSENT",
    "UNEQUIVOCAL": "UNEQUIVOCAL_PD",
    "UNEQUIVOCAL PROGRESSION": "UNEQUIVOCAL_PD",
    "UNEQUIVOCAL PD": "UNEQUIVOCAL_PD",
    "PROGRESSION": "UNEQUIVOCAL_PD",
}
_NEW_STATES = {"UNEQUIVOCAL": "UNEQUIVOCAL", "EQUIVOCAL": "EQUIVOCAL", "PRESENT": "UNEQUIVOCAL"}
_NEW_ABSENT = {"ABSENT", "NO", "N"}


def kind_of(text: Any) -> str | None:
    """The lesion kind of a ``TUSTRESC``/``TRGRPID`` value, or ``None``.

    Examples
    --------
    >>> kind_of("NON-TARGET"), kind_of("target"), kind_of("SPLIT"), kind_of(None)
    ('NONTARGET', 'TARGET', None, None)
    """
    if not isinstance(text, str):
        return None
    return _KINDS.get(text.strip().upper())


def nodal_of(location: Any, group: Any = None) -> int | None:
    """1 for a lymph node, 0 for another location, ``None`` when neither is given.

    ``group`` is ADaM's ``TULOCGR1`` (``NODAL``/``NON-NODAL``), which wins when given.

    Examples
    --------
    >>> nodal_of("LYMPH NODE"), nodal_of("LIVER"), nodal_of(None), nodal_of("X", "NODAL")
    (1, 0, None, 1)
    """
    if isinstance(group, str) and group.strip():
        g = group.strip().upper().replace("-", " ").replace("_", " ")
        if g in ("NODAL", "NON NODAL"):
            return 1 if g == "NODAL" else 0
    if isinstance(location, str) and location.strip():
        return 1 if _NODE.search(location.upper()) else 0
    return None


@dataclass
class Lesion:
    """A lesion as identified (TU, or the ADTR rows of one ``TRLNKID``)."""

    kind: str
    organ: str
    nodal: int | None
    label: str  # where the kind came from, for the reasons
    rows: list[int] = field(default_factory=list)  # its rows in the output (row ids)


class Problems:
    """Violations grouped by (code, domain, message): rows and values collected."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str, str], dict[str, Any]] = {}

    def add(
        self,
        code: str,
        domain: Domain,
        pos: int | None,
        subject: str,
        message: str,
        value: str,
        *,
        column: str,
        expected: str,
        fix: str,
    ) -> None:
        """Add one problem of record ``pos`` (0-based; ``None``: of the dataset as a whole)."""
        g = self._groups.setdefault(
            (code, domain.name, message),
            {"rows": [], "values": [], "ids": set(), "column": column, "e": expected, "f": fix},
        )
        if pos is not None:
            g["rows"].append(domain.row(pos))
        if subject:
            g["ids"].add(subject)
        if value not in g["values"]:
            g["values"].append(value)

    def raise_if_any(self, what: str) -> None:
        if not self._groups:
            return
        out = []
        for (code, name, message), g in self._groups.items():
            vals = g["values"]
            shown = "; ".join(vals[:5]) + (f"; ... ({len(vals)} values)" if len(vals) > 5 else "")
            ids = sorted(g["ids"])
            out.append(
                Violation(
                    code,
                    f"{name}: {message}",
                    id=ids[0] if len(ids) == 1 else None,
                    rows=tuple(sorted(g["rows"])),
                    column=g["column"],
                    value=shown,
                    expected=g["e"],
                    fix=g["f"],
                )
            )
        raise DatasetError(f"{what}: {len(out)} problem(s)", out)


@dataclass
class Pending:
    """Log entries held until the rows have their final order (row ids -> row numbers)."""

    entries: list[tuple[Domain, int, bool, str, int | None]] = field(default_factory=list)

    def skip(self, domain: Domain, pos: int, reason: str) -> None:
        self.entries.append((domain, pos, False, reason, None))

    def use(self, domain: Domain, pos: int, reason: str, row: int | None) -> None:
        self.entries.append((domain, pos, True, reason, row))

    def flush(self, log: ConversionLog, number: dict[int, int]) -> None:
        for domain, pos, used, reason, row in self.entries:
            r = None if row is None else number[row]
            log.add(domain, pos, used=used, reason=reason, table=TABLE, table_rows=[r])


_MM = {"MM": 1.0, "CM": 10.0}


def _fmt(x: float) -> str:
    return f"{x:g}"


class _Builder:
    """Turns the records of one measurement domain into lesion rows."""

    def __init__(
        self,
        domain: Domain,
        lesions: dict[tuple[str, str, str], Lesion],
        problems: Problems,
        pending: Pending,
        names: dict[str, str],
    ) -> None:
        self.domain = domain
        self.lesions = lesions
        self.problems = problems
        self.pending = pending
        self.names = names  # column names for messages: LNK, TEST, GROUP, RESULT, UNIT
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []  # reason of each row's source record
        self.sources: list[tuple[Domain, int]] = []  # source record of each row

    def row(self, rec: Any, les: Lesion, diam: float, status: str, note: str) -> None:
        rid = len(self.rows)
        self.rows.append(
            {
                "ID": rec.ID,
                "DAY": float(rec.DAY),
                "LESION": rec.LNK,
                "KIND": les.kind,
                "NODAL": "" if les.nodal is None else int(les.nodal),
                "DIAM_MM": diam,
                "STATUS": status,
                "ORGAN": les.organ,
                "VISIT": rec.VISIT,
                "READER": rec.READER,
            }
        )
        les.rows.append(rid)
        self.notes.append(note + (f"; {rec.NOTE}" if rec.NOTE else ""))
        self.sources.append((self.domain, int(rec.POS)))

    def bad(self, code: str, rec: Any, message: str, value: str, **kw: str) -> None:
        self.problems.add(code, self.domain, int(rec.POS), rec.ID, message, value, **kw)

    # --- one record ----------------------------------------------------------------------
    def lesion(self, rec: Any) -> tuple[Lesion | None, str]:
        """The lesion of a record and how its kind is known ('' when from identification)."""
        les = self.lesions.get((rec.ID, rec.READER, rec.LNK))
        if les is not None:
            return les, ""
        kind = kind_of(rec.GROUP)
        if kind is None:
            g = self.names["GROUP"]
            self.bad(
                "cdisc_lesion_unidentified",
                rec,
                f"a lesion record whose lesion is not identified and whose {g} is not "
                "TARGET, NON-TARGET or NEW",
                f"{self.names['LNK']}={rec.LNK}, {g}={rec.GROUP or '(blank)'}",
                column=self.names["LNK"],
                expected="a TU record (TUTESTCD TUMIDENT) for every lesion, or "
                f"{g} TARGET / NON-TARGET / NEW",
                fix="add the lesion's identification record, or fill the group",
            )
            return None, ""
        les = Lesion(kind, "", None, f"kind from {self.names['GROUP']} {rec.GROUP}")
        self.lesions[(rec.ID, rec.READER, rec.LNK)] = les
        return les, f"; {les.label} (no identification record)"

    def measurement(self, rec: Any) -> tuple[float, str, str] | None:
        """(diameter in mm or NaN, status, note) of a target measurement, None if invalid."""
        if rec.NOTDONE or (math.isnan(rec.NUM) and rec.TEXT in _NOT_DONE | {""}):
            why = f" ({rec.WHYND})" if rec.WHYND else ""
            return math.nan, "NE", f"not done{why} -> STATUS NE"
        if math.isnan(rec.NUM):
            self.bad(
                "cdisc_lesion_result_unknown",
                rec,
                "a target lesion measurement that is not a number",
                f"{self.names['TEST']}={rec.TEST}: {rec.TEXT}",
                column=self.names["RESULT"],
                expected="a diameter (a number, with its unit), or a record marked not done",
                fix="enter the measurement (RECIST 1.1 counts a lesion too small to measure "
                "as 5 mm) or mark the record not done",
            )
            return None
        unit = rec.UNIT.upper()
        if unit not in _MM:
            missing = unit == ""
            self.bad(
                "cdisc_lesion_unit_missing" if missing else "cdisc_lesion_unit",
                rec,
                "a diameter without a unit" if missing else "a diameter in a unit not of length",
                f"{self.names['UNIT']}={rec.UNIT or '(blank)'}",
                column=self.names["UNIT"],
                expected="mm (or cm, converted to mm)",
                fix="give the standard unit of every diameter (mm)",
            )
            return None
        if unit == "CM":
            return rec.NUM * 10.0, "", f"{_fmt(rec.NUM)} cm -> {_fmt(rec.NUM * 10)} mm"
        return float(rec.NUM), "", ""

    def state(self, rec: Any, table: dict[str, str], what: str) -> str | None:
        """The STATUS code of a TUMSTATE record, None (added as problem) if unknown."""
        text = rec.TEXT
        if rec.NOTDONE or text in _NOT_DONE or (text == "" and math.isnan(rec.NUM)):
            return "NE"
        if text in table:
            return table[text]
        self.bad(
            "cdisc_lesion_result_unknown",
            rec,
            f"a {what} lesion state that is not a known code",
            f"{self.names['TEST']}={rec.TEST}: {text or '(blank)'}",
            column=self.names["RESULT"],
            expected="one of " + ", ".join(sorted(table)) + ", or a record marked not done",
            fix="recode the tumour state",
        )
        return None

    def nontarget(self, rec: Any, les: Lesion, note: str) -> None:
        if rec.TEST != STATE:
            self.pending.skip(
                self.domain,
                int(rec.POS),
                f"{rec.TEST} of non-target lesion {rec.LNK}: non-target lesions are "
                f"assessed by their state ({STATE}){note}",
            )
            return
        if rec.TEXT == "EQUIVOCAL":
            self.row(
                rec,
                les,
                math.nan,
                "PRESENT",
                f"EQUIVOCAL progression of a non-target lesion is not PD (RECIST 1.1 "
                f"section 4.3.2) -> STATUS PRESENT{note}",
            )
            return
        status = self.state(rec, _NT_STATES, "non-target")
        if status == "NE":
            why = f" ({rec.WHYND})" if rec.WHYND else ""
            self.row(rec, les, math.nan, "NE", f"not done{why} -> STATUS NE{note}")
        elif status is not None:
            how = rec.TEXT if status == rec.TEXT else f"{rec.TEXT} -> {status}"
            self.row(rec, les, math.nan, status, f"{how}{note}")

    def new(self, rec: Any, les: Lesion, note: str) -> None:
        pos = int(rec.POS)
        if rec.TEST != STATE:
            self.pending.skip(
                self.domain,
                pos,
                f"{rec.TEST} of new lesion {rec.LNK}: a new lesion counts by its presence "
                f"({STATE}), its size is not part of RECIST 1.1{note}",
            )
            return
        if rec.TEXT in _NEW_ABSENT:
            self.pending.skip(self.domain, pos, f"new lesion {rec.LNK} recorded {rec.TEXT}")
            return
        if rec.NOTDONE or rec.TEXT in _NOT_DONE or rec.TEXT == "":
            self.pending.skip(
                self.domain, pos, f"new lesion {rec.LNK} not evaluated: no new-lesion finding"
            )
            return
        status = self.state(rec, _NEW_STATES, "new")
        if status is not None:
            how = (
                " (a new lesion is progression unless equivocal, RECIST 1.1 section 4.3.2)"
                if rec.TEXT == "PRESENT"
                else ""
            )
            self.row(rec, les, math.nan, status, f"{rec.TEXT} -> {status}{how}{note}")

    def targets(self, by_day: dict[tuple[Any, ...], list[Any]]) -> None:
        """Pick each target lesion's RECIST measurement per day among its records."""
        for (_, _, _, _), recs in by_day.items():
            les, note = recs[0][1], recs[0][2]
            tests = {r.TEST for r, _, _ in recs}
            nodal = les.nodal
            assumed = ""
            if nodal is None:
                nodal = 1 if "SAXIS" in tests else 0
                assumed = (
                    "; no location: a lymph node (short axis given)"
                    if nodal
                    else "; no location: taken as not a lymph node"
                )
            order = SHORT_AXIS if nodal else LONG_AXIS
            chosen = next((t for t in order if t in tests), None)
            what = "lymph node short axis" if nodal else "longest diameter"
            measured = False
            for rec, _, _ in (x for x in recs if x[0].TEST != STATE):
                if rec.TEST != chosen:
                    used = f"; {chosen} is used" if chosen else ""
                    self.pending.skip(
                        self.domain,
                        int(rec.POS),
                        f"{rec.TEST} of target lesion {rec.LNK}: the RECIST 1.1 measurement "
                        f"is the {what}{used}",
                    )
                    continue
                m = self.measurement(rec)
                if m is None:
                    continue
                diam, status, how = m
                measured = True
                self.row(
                    rec,
                    les,
                    diam,
                    status,
                    f"{rec.TEST} ({what}){'; ' + how if how else ''}{note}{assumed}",
                )
            for rec, _, _ in (x for x in recs if x[0].TEST == STATE):
                self.target_state(rec, les, measured, note)

    def target_state(self, rec: Any, les: Lesion, measured: bool, note: str) -> None:
        pos = int(rec.POS)
        if measured:
            self.pending.skip(
                self.domain,
                pos,
                f"state of target lesion {rec.LNK}: its measurement record of the day is used",
            )
        elif rec.TEXT == "ABSENT":
            self.row(rec, les, math.nan, "ABSENT", f"target ABSENT, not measured -> 0 mm{note}")
        elif rec.NOTDONE or rec.TEXT in _NOT_DONE:
            self.row(rec, les, math.nan, "NE", f"target not evaluated -> STATUS NE{note}")
        else:
            self.row(
                rec,
                les,
                math.nan,
                "PRESENT",
                f"target {rec.TEXT or 'state'} without a diameter: not evaluable for the sum{note}",
            )


def _skip_reason(rec: Any, names: dict[str, str]) -> str | None:
    """Why a record is not used whatever it holds, or None."""
    if rec.SKIP:
        return str(rec.SKIP)
    if not rec.SELECTED:
        return f"evaluator {rec.READER}: {names['READERS']}"
    if rec.LNK == "":
        return (
            f"no {names['LNK']}: {rec.TEST or 'the record'} is not the assessment of one "
            "lesion (a sum of diameters is derived by cartpk recist from the lesions)"
        )
    if math.isnan(rec.DAY):
        return f"no time since first dose: {rec.HOW}"
    return None


def _duplicates(records: pd.DataFrame) -> dict[int, int]:
    """Position -> position of the first record it repeats exactly (same evaluator,
    lesion, test, day and result); records repeated nowhere are absent."""
    keys = ["ID", "READER", "LNK", "TEST", "DAY", "NUM", "TEXT", "UNIT", "NOTDONE"]
    live = records[records["SELECTED"] & (records["LNK"] != "") & records["DAY"].notna()]
    if live.empty:
        return {}
    first = live.groupby(keys, sort=False, dropna=False)["POS"].transform("min")
    dup = live["POS"] != first
    return dict(zip(live.loc[dup, "POS"].astype(int), first[dup].astype(int), strict=True))


def lesion_rows(
    domain: Domain,
    records: pd.DataFrame,
    lesions: dict[tuple[str, str, str], Lesion],
    problems: Problems,
    pending: Pending,
    names: dict[str, str],
) -> tuple[list[dict[str, Any]], list[str], list[tuple[Domain, int]]]:
    """The lesion rows of ``records`` (:data:`RECORD_COLUMNS`), their notes and sources.

    Records that become no row are added to ``pending`` with the reason; records that do
    are returned with their note (the caller logs them once the rows are ordered).
    """
    b = _Builder(domain, lesions, problems, pending, names)
    by_day: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    original = _duplicates(records)
    for rec in records.itertuples(index=False):
        why = _skip_reason(rec, names)
        if why is None and original.get(int(rec.POS)) is not None:
            why = (
                f"exact duplicate of record {domain.row(original[int(rec.POS)])} (same "
                "evaluator, lesion, test, day and result)"
            )
        if why is not None:
            pending.skip(domain, int(rec.POS), why)
            continue
        les, note = b.lesion(rec)
        if les is None:
            continue
        if les.kind == "TARGET":
            if rec.TEST in MEASURES or rec.TEST == STATE:
                by_day[(rec.ID, rec.READER, rec.LNK, rec.DAY)].append((rec, les, note))
            else:
                pending.skip(
                    domain,
                    int(rec.POS),
                    f"{rec.TEST} of target lesion {rec.LNK}: not a RECIST 1.1 diameter",
                )
        elif les.kind == "NONTARGET":
            b.nontarget(rec, les, note)
        else:
            b.new(rec, les, note)
    b.targets(by_day)
    return b.rows, b.notes, b.sources


def align_visits(rows: list[dict[str, Any]], notes: list[str]) -> None:
    """One DAY per assessment: the rows of one subject, evaluator and visit scanned on
    different days take the visit's first day (cartpk recist groups an assessment by DAY),
    unless a lesion is assessed more than once in the visit (then the days are separate
    assessments that share a visit number and keep their days). The notes say so."""
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        if r["VISIT"] != "":
            groups[(r["ID"], r["READER"], r["VISIT"])].append(i)
    for (_, _, visit), idx in groups.items():
        days = {rows[i]["DAY"] for i in idx}
        lesions = [rows[i]["LESION"] for i in idx]
        if len(days) < 2 or len(set(lesions)) < len(lesions):
            continue
        first = min(days)
        for i in idx:
            if rows[i]["DAY"] != first:
                notes[i] += (
                    f"; DAY {_fmt(rows[i]['DAY'])} -> {_fmt(first)}, the first scan day of "
                    f"visit {visit} (one DAY per assessment)"
                )
                rows[i]["DAY"] = first


def finish(
    rows: list[dict[str, Any]],
    deaths: pd.Series,
) -> tuple[pd.DataFrame, dict[int, int]]:
    """The rows as ``lesions.csv`` in (ID, DAY, KIND, LESION) order, and the row number
    (1-based) of each row id."""
    kind_order = {"TARGET": 0, "NONTARGET": 1, "NEW": 2}
    frame = pd.DataFrame(rows, columns=[*LESION_COLUMNS[:-1], "VISIT", "READER"])
    frame["RID"] = np.arange(len(frame))
    frame["_K"] = frame["KIND"].map(kind_order)
    frame = frame.sort_values(["ID", "DAY", "_K", "LESION", "RID"], kind="stable")
    number = {int(rid): i + 1 for i, rid in enumerate(frame["RID"])}
    death = deaths.copy()
    death.index = death.index.astype(str)
    frame["DEATH_DAY"] = frame["ID"].map(death).astype(float)
    out = frame[list(LESION_COLUMNS)].reset_index(drop=True)
    out["DAY"] = out["DAY"].astype(float)
    out["DIAM_MM"] = out["DIAM_MM"].astype(float)
    return out, number
