"""The RECIST 1.1 lesion table (``lesions.csv``) from SDTM TU/TR or ADaM ADTR.

SDTM
    TU identifies each lesion (``TUTESTCD`` ``TUMIDENT``): ``TULNKID`` names it,
    ``TUSTRESC`` (else ``TUORRES``) gives its kind (``TARGET``, ``NON-TARGET``, ``NEW``) and
    ``TULOC`` its organ; a ``TULOC`` naming a lymph node makes it nodal. TR holds the
    assessments, linked by ``TRLNKID``: the diameters of target lesions, the state
    (``TUMSTATE``) of non-target and new lesions. ``DAY`` is the time since the subject's
    first dose (:mod:`cartpk.cdisc._time`; a baseline scan before the dose has ``DAY < 0``).
    RS holds the evaluator's responses: not used, since ``cartpk recist`` derives the
    responses from the measurements (``docs/cdisc_peer_check.md`` compares the two).
ADaM
    ADTR holds one record per lesion, test and visit (``TRLNKID``, ``TRTESTCD``, ``AVAL``,
    ``TULOC``/``TULOCGR1``); its derived parameters (the sum of diameters, records with a
    ``DTYPE``) are not used. ADRS (derived responses) is not used either.

One evaluator's assessments make the table: the investigator's by default (``--EVAL``
``INVESTIGATOR``, or no evaluator given); ``evaluator=`` names another (a ``--EVALID`` such
as ``RADIOLOGIST 1``, or a ``--EVAL``). The records of the others are not used, and
``conversion.csv`` says so. What each record became is in :mod:`cartpk.cdisc._lesions_rows`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from cartpk.cdisc._files import Domain
from cartpk.cdisc._lesions_rows import (
    RECORD_COLUMNS,
    Lesion,
    Pending,
    Problems,
    align_visits,
    finish,
    kind_of,
    lesion_rows,
    nodal_of,
)
from cartpk.cdisc._log import ConversionLog
from cartpk.cdisc._result import LESION_COLUMNS
from cartpk.cdisc._time import FirstDose, days_since_first_dose

__all__ = ["adam_lesions", "sdtm_lesions"]

RS_REASON = (
    "assessor responses; cartpk recist derives responses from TR measurements "
    "(compared in docs/cdisc_peer_check.md)"
)
ADRS_REASON = (
    "derived responses; cartpk recist derives responses from the ADTR measurements "
    "(compared in docs/cdisc_peer_check.md)"
)
INVESTIGATOR = "INVESTIGATOR"


def _text(frame: pd.DataFrame, *names: str) -> pd.Series:
    """The first of ``names`` present in ``frame`` as stripped text ('' when missing); a
    blank cell falls back to the next column named."""
    out = pd.Series("", index=frame.index, dtype=object)
    for name in reversed(names):
        if name in frame.columns:
            s = frame[name]
            t = s.map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
            t = t.map(_cell).astype(object)
            out = t.where(t != "", out)
    return out


def _cell(v: Any) -> str:
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def _number(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[name], errors="coerce").astype(float)


def _iso(s: pd.Series) -> pd.Series:
    """Dates as read from R or SAS (``date``, ``Timestamp``) or text, as ISO 8601 text."""

    def one(v: Any) -> Any:
        if isinstance(v, pd.Timestamp):
            return v.strftime("%Y-%m-%dT%H:%M:%S") if v != v.normalize() else v.strftime("%F")
        if hasattr(v, "isoformat") and not isinstance(v, str):
            return v.isoformat()
        return v

    return s.map(one).astype(object)


def _readers(frame: pd.DataFrame, prefix: str, evaluator: str) -> tuple[pd.Series, pd.Series]:
    """Each record's evaluator (``--EVALID``, else ``--EVAL``) and whether it is converted."""
    ev = _text(frame, f"{prefix}EVAL").str.upper()
    evid = _text(frame, f"{prefix}EVALID").str.upper()
    reader = evid.where(evid != "", ev)
    want = evaluator.strip().upper()
    selected = (reader == want) | (ev == want) | ((reader == "") & (want == INVESTIGATOR))
    return reader.where(reader != "", "(none given)"), selected


def _visit(frame: pd.DataFrame, *names: str) -> pd.Series:
    return _text(frame, *names)


#: ``cdisc_lesion_kind_conflict`` by dataset: message, link variable, and the fields
#: ``column``, ``expected`` and ``fix`` of the violation
_CONFLICT: dict[str, tuple[str, str, dict[str, str]]] = {
    "TU": (
        "one lesion identified with two kinds",
        "TULNKID",
        {
            "column": "TUSTRESC",
            "expected": "one kind per lesion (a new lesion keeps its own TULNKID)",
            "fix": "give the lesions distinct TULNKID values or correct the kind",
        },
    ),
    "ADTR": (
        "one lesion with two kinds (TRGRPID)",
        "TRLNKID",
        {
            "column": "TRGRPID",
            "expected": "one kind per lesion",
            "fix": "give the lesions distinct TRLNKID values or correct TRGRPID",
        },
    ),
}


def _kind_conflict(
    problems: Problems, name: str, domain: Domain, r: Any, old: str, new: str
) -> None:
    """A record of lesion ``r.LNK`` giving kind ``new`` where an earlier one gave ``old``."""
    message, link, fields = _CONFLICT[name]
    value = f"{link}={r.LNK}: {old} and {new}"
    problems.add("cdisc_lesion_kind_conflict", domain, int(r.POS), r.ID, message, value, **fields)


def _check_evaluator(
    domain: Domain, records: pd.DataFrame, evaluator: str, problems: Problems
) -> None:
    if len(records) and not records["SELECTED"].any():
        present = ", ".join(sorted(records["READER"].unique()))
        problems.add(
            "cdisc_evaluator_unknown",
            domain,
            None,
            "",
            f"no record of evaluator {evaluator}",
            f"evaluators: {present}",
            column=f"{domain.name[:2]}EVAL",
            expected="the --EVAL or --EVALID of one evaluator in the data",
            fix="choose one of the evaluators present",
        )


def _tr_records(
    tr: Domain, first: FirstDose, evaluator: str, dtc: str, dy: str, prefix: str = "TR"
) -> pd.DataFrame:
    """TR records in the shape of :data:`RECORD_COLUMNS`."""
    f = tr.frame
    reader, selected = _readers(f, prefix, evaluator)
    # the standard result in its standard unit, else the original result in its own unit
    num = _number(f, f"{prefix}STRESN")
    unit = _text(f, f"{prefix}STRESU")
    for col, ucol in (
        (f"{prefix}STRESC", f"{prefix}STRESU"),
        (f"{prefix}ORRES", f"{prefix}ORRESU"),
    ):
        alt = _number(f, col)
        fill = num.isna() & alt.notna()
        num = num.where(~fill, alt)
        unit = unit.where(~fill, _text(f, ucol))
    ids = _text(f, "USUBJID")
    day, how = days_since_first_dose(
        ids,
        _iso(f[dtc]) if dtc in f.columns else None,
        f[dy] if dy in f.columns else None,
        first,
    )
    return pd.DataFrame(
        {
            "POS": np.arange(len(f)),
            "ID": ids,
            "READER": reader,
            "LNK": _text(f, f"{prefix}LNKID"),
            "GROUP": _text(f, f"{prefix}GRPID").str.upper(),
            "TEST": _text(f, f"{prefix}TESTCD").str.upper(),
            "NUM": num,
            "TEXT": _text(f, f"{prefix}STRESC", f"{prefix}ORRES").str.upper(),
            "UNIT": unit,
            "NOTDONE": _text(f, f"{prefix}STAT").str.upper() == "NOT DONE",
            "WHYND": _text(f, f"{prefix}REASND"),
            "DAY": day,
            "HOW": how,
            "VISIT": _visit(f, "VISITNUM", "VISIT"),
            "SKIP": "",
            "SELECTED": selected,
            "NOTE": how.map(
                lambda h: "DAY from the study day (no full date)" if h == "study day" else ""
            ),
        },
        columns=list(RECORD_COLUMNS),
    )


def _identify_tu(
    tu: Domain, first: FirstDose, evaluator: str, problems: Problems
) -> tuple[dict[tuple[str, str, str], Lesion], pd.DataFrame]:
    """The lesions TU identifies, and TU's records with their key and what they are."""
    f = tu.frame
    reader, selected = _readers(f, "TU", evaluator)
    ids = _text(f, "USUBJID")
    day, how = days_since_first_dose(
        ids,
        _iso(f["TUDTC"]) if "TUDTC" in f.columns else None,
        f["TUDY"] if "TUDY" in f.columns else None,
        first,
    )
    test = _text(f, "TUTESTCD").str.upper()
    recs = pd.DataFrame(
        {
            "POS": np.arange(len(f)),
            "ID": ids,
            "READER": reader,
            "SELECTED": selected,
            "LNK": _text(f, "TULNKID"),
            "TEST": test,
            "RESULT": _text(f, "TUSTRESC", "TUORRES"),
            "LOC": _text(f, "TULOC"),
            "DAY": day,
            "HOW": how,
            "VISIT": _visit(f, "VISITNUM", "VISIT"),
        }
    )
    lesions: dict[tuple[str, str, str], Lesion] = {}
    for r in recs.itertuples(index=False):
        if not r.SELECTED or r.LNK == "" or r.TEST not in ("", "TUMIDENT"):
            continue
        kind = kind_of(r.RESULT)
        if kind is None:
            problems.add(
                "cdisc_lesion_kind_unknown",
                tu,
                int(r.POS),
                r.ID,
                "a lesion identification that is not TARGET, NON-TARGET or NEW",
                f"TULNKID={r.LNK}: {r.RESULT or '(blank)'}",
                column="TUSTRESC",
                expected="TARGET, NON-TARGET or NEW",
                fix="recode the lesion's identification (TUSTRESC)",
            )
            continue
        key = (r.ID, r.READER, r.LNK)
        known = lesions.get(key)
        if known is None:
            organ = r.LOC
            lesions[key] = Lesion(kind, organ, nodal_of(organ), "TU")
        elif known.kind != kind:
            _kind_conflict(problems, "TU", tu, r, known.kind, kind)
    return lesions, recs


def _new_from_tu(
    tu: Domain,
    recs: pd.DataFrame,
    lesions: dict[tuple[str, str, str], Lesion],
    rows: list[dict[str, Any]],
    notes: list[str],
    sources: list[tuple[Domain, int]],
    assessed: set[tuple[str, str, str]],
) -> None:
    """A row for every new lesion TU identifies that TR never assessed (RECIST 1.1: a new
    lesion is progression unless equivocal); ``assessed`` holds the lesions TR has records
    of."""
    for r in recs.itertuples(index=False):
        key = (r.ID, r.READER, r.LNK)
        les = lesions.get(key)
        if les is None or les.kind != "NEW" or les.rows or not r.SELECTED or key in assessed:
            continue
        if r.TEST not in ("", "TUMIDENT") or math.isnan(r.DAY):
            continue
        les.rows.append(len(rows))
        rows.append(
            {
                "ID": r.ID,
                "DAY": float(r.DAY),
                "LESION": r.LNK,
                "KIND": "NEW",
                "NODAL": "" if les.nodal is None else les.nodal,
                "DIAM_MM": math.nan,
                "STATUS": "UNEQUIVOCAL",
                "ORGAN": les.organ,
                "VISIT": r.VISIT,
                "READER": r.READER,
            }
        )
        notes.append(
            "new lesion identified in TU without a TR assessment -> STATUS UNEQUIVOCAL "
            "(RECIST 1.1: a new lesion is progression unless equivocal)"
        )
        sources.append((tu, int(r.POS)))


def _log_tu(
    tu: Domain,
    recs: pd.DataFrame,
    lesions: dict[tuple[str, str, str], Lesion],
    pending: Pending,
    evaluator: str,
    done: set[int],
    number: dict[int, int],
) -> None:
    """One entry per TU record not already logged as a row's source."""
    for r in recs.itertuples(index=False):
        pos = int(r.POS)
        if pos in done:
            continue
        if not r.SELECTED:
            pending.skip(tu, pos, f"evaluator {r.READER}: {_readers_text(evaluator)}")
            continue
        if r.TEST not in ("", "TUMIDENT"):
            pending.skip(tu, pos, f"TUTESTCD {r.TEST}: not a lesion identification (TUMIDENT)")
            continue
        if r.LNK == "":
            pending.skip(tu, pos, "no TULNKID: the lesion cannot be linked to its TR records")
            continue
        les = lesions.get((r.ID, r.READER, r.LNK))
        if les is None:
            pending.skip(tu, pos, "identification not used (see the violations)")
        elif not les.rows:
            pending.skip(tu, pos, f"lesion {r.LNK} ({les.kind}) has no usable TR assessment")
        else:
            nodal = "unknown" if les.nodal is None else str(les.nodal)
            pending.use(
                tu,
                pos,
                f"identifies lesion {r.LNK}: KIND {les.kind}, ORGAN {les.organ or '(none)'}, "
                f"NODAL {nodal} ({len(les.rows)} row(s); TABLE_ROW is the first)",
                min(les.rows, key=number.__getitem__),
            )


def _readers_text(evaluator: str) -> str:
    return (
        f"lesions.csv holds one evaluator's assessments, {evaluator.upper()}'s "
        "(choose another with evaluator=)"
    )


def _names(result: str, unit: str, evaluator: str) -> dict[str, str]:
    """The variables :func:`~cartpk.cdisc._lesions_rows.lesion_rows` names in its messages
    (TR's, with the result and unit variables of the source) and the evaluator note."""
    return {
        "LNK": "TRLNKID",
        "GROUP": "TRGRPID",
        "TEST": "TRTESTCD",
        "RESULT": result,
        "UNIT": unit,
        "READERS": _readers_text(evaluator),
    }


def _order(
    rows: list[dict[str, Any]],
    notes: list[str],
    sources: list[tuple[Domain, int]],
    pending: Pending,
    deaths: pd.Series,
) -> tuple[pd.DataFrame, dict[int, int]]:
    """Align the days of each visit, order the rows and add their source records to
    ``pending``; ``lesions.csv`` and the row number of each row id."""
    align_visits(rows, notes)
    table, number = finish(rows, deaths)
    for rid, ((domain, pos), note) in enumerate(zip(sources, notes, strict=True)):
        r = rows[rid]
        what = f"-> {r['KIND']} lesion {r['LESION']}, DAY {r['DAY']:g}"
        pending.use(domain, pos, f"{what}: {note}" if note else what, rid)
    return table, number


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in LESION_COLUMNS})


def sdtm_lesions(
    domains: dict[str, Domain],
    first: FirstDose,
    deaths: pd.Series,
    log: ConversionLog,
    *,
    evaluator: str = INVESTIGATOR,
) -> pd.DataFrame:
    """The lesion table from SDTM TU, TR (and RS, logged as not used).

    Parameters
    ----------
    domains : dict of str to Domain
        The datasets read (:func:`cartpk.cdisc.read_domains`); ``TU``, ``TR`` and ``RS``
        are used when present, the others are left to their converters.
    first : FirstDose
        Each subject's first dose (``DAY`` counts from it).
    deaths : pandas.Series
        Day of death since the first dose, indexed by ``USUBJID`` (subjects who did not
        die are absent or ``NaN``); written on every row of the subject as ``DEATH_DAY``.
    log : ConversionLog
        Receives one row per TU, TR and RS record.
    evaluator : str, default "INVESTIGATOR"
        Whose assessments to convert: a ``--EVAL`` or ``--EVALID`` value.

    Returns
    -------
    pandas.DataFrame
        ``lesions.csv`` (:data:`cartpk.cdisc._result.LESION_COLUMNS`) in ``ID, DAY``
        order; no rows when there is neither TU nor TR.

    Raises
    ------
    DatasetError
        Every problem at once: ``cdisc_lesion_unidentified`` (a TR record of a lesion
        with no TU record and no ``TRGRPID``), ``cdisc_lesion_kind_unknown``,
        ``cdisc_lesion_kind_conflict``, ``cdisc_lesion_result_unknown`` (a target result
        that is not a number, a state that is not a known code), ``cdisc_lesion_unit``
        (a diameter in a unit other than mm or cm), ``cdisc_lesion_unit_missing``,
        ``cdisc_evaluator_unknown``.
    """
    problems = Problems()
    pending = Pending()
    tu, tr, rs = domains.get("TU"), domains.get("TR"), domains.get("RS")
    if rs is not None:
        for pos in range(len(rs.frame)):
            pending.skip(rs, pos, RS_REASON)
    lesions: dict[tuple[str, str, str], Lesion] = {}
    tu_recs = pd.DataFrame()
    if tu is not None:
        lesions, tu_recs = _identify_tu(tu, first, evaluator, problems)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    sources: list[tuple[Domain, int]] = []
    names = _names("TRSTRESC", "TRSTRESU", evaluator)
    assessed: set[tuple[str, str, str]] = set()
    if tr is not None:
        recs = _tr_records(tr, first, evaluator, "TRDTC", "TRDY")
        _check_evaluator(tr, recs, evaluator, problems)
        rows, notes, sources = lesion_rows(tr, recs, lesions, problems, pending, names)
        sel = recs[recs["SELECTED"]]
        assessed = set(zip(sel["ID"], sel["READER"], sel["LNK"], strict=True))
    if tu is not None:
        _new_from_tu(tu, tu_recs, lesions, rows, notes, sources, assessed)
    problems.raise_if_any("the tumour datasets (TU, TR) cannot be converted")
    if tu is None and tr is None:
        pending.flush(log, {})
        return _empty()
    table, number = _order(rows, notes, sources, pending, deaths)
    if tu is not None:
        done = {pos for d, pos in sources if d is tu}
        _log_tu(tu, tu_recs, lesions, pending, evaluator, done, number)
    pending.flush(log, number)
    return table


def _adtr_records(adtr: Domain, first: FirstDose, evaluator: str) -> pd.DataFrame:
    """ADTR records in the shape of :data:`RECORD_COLUMNS` (derived records marked)."""
    f = adtr.frame
    reader, selected = _readers(f, "TR", evaluator)
    ids = _text(f, "USUBJID")
    dtc = "ADTM" if "ADTM" in f.columns else "ADT"
    day, how = days_since_first_dose(
        ids,
        _iso(f[dtc]) if dtc in f.columns else None,
        f["ADY"] if "ADY" in f.columns else None,
        first,
    )
    lnk = _text(f, "TRLNKID")
    param = _text(f, "PARAMCD")
    label = _text(f, "PARAM")
    dtype = _text(f, "DTYPE")
    skip = pd.Series("", index=f.index, dtype=object)
    derived = lnk == ""
    skip[derived] = [
        f"derived parameter {p} ({t or 'no PARAM'}): cartpk recist derives sums and "
        "responses from the lesions' own records"
        for p, t in zip(param[derived], label[derived], strict=True)
    ]
    skip[dtype != ""] = [
        f"derived record (DTYPE {t}): not a measurement" for t in dtype[dtype != ""]
    ]
    imputed = _text(f, "ADTF")
    note = imputed.map(lambda t: f"ADT imputed by the ADaM (ADTF {t})" if t else "")
    note = note.where(how != "study day", "DAY from ADY (no full ADT)")
    num = _number(f, "AVAL")
    return pd.DataFrame(
        {
            "POS": np.arange(len(f)),
            "ID": ids,
            "READER": reader,
            "LNK": lnk,
            "GROUP": _text(f, "TRGRPID").str.upper(),
            "TEST": _text(f, "TRTESTCD").str.upper(),
            "NUM": num,
            "TEXT": _text(f, "AVALC", "TRSTRESC").str.upper(),
            "UNIT": _text(f, "AVALU", "TRSTRESU"),
            "NOTDONE": _text(f, "TRSTAT").str.upper() == "NOT DONE",
            "WHYND": _text(f, "TRREASND"),
            "DAY": day,
            "HOW": how,
            "VISIT": _visit(f, "AVISITN", "AVISIT", "VISITNUM"),
            "SKIP": skip,
            "SELECTED": selected,
            "NOTE": note,
        },
        columns=list(RECORD_COLUMNS),
    )


def _identify_adtr(
    adtr: Domain, recs: pd.DataFrame, problems: Problems
) -> dict[tuple[str, str, str], Lesion]:
    """The lesions of ADTR: kind from ``TRGRPID``, organ ``TULOC``, nodal from
    ``TULOCGR1`` (else ``TULOC``); the first record of a lesion giving each one wins."""
    f = adtr.frame
    loc = _text(f, "TULOC")
    group = _text(f, "TULOCGR1")
    lesions: dict[tuple[str, str, str], Lesion] = {}
    for r, organ, grp in zip(recs.itertuples(index=False), loc, group, strict=True):
        if not r.SELECTED or r.SKIP or r.LNK == "":
            continue
        kind = kind_of(r.GROUP)
        key = (r.ID, r.READER, r.LNK)
        les = lesions.get(key)
        if les is None:
            if kind is None:
                continue  # reported by lesion_rows (cdisc_lesion_unidentified)
            lesions[key] = Lesion(kind, organ, nodal_of(organ, grp), "ADTR TRGRPID")
            continue
        if kind is not None and kind != les.kind:
            _kind_conflict(problems, "ADTR", adtr, r, les.kind, kind)
        if not les.organ and organ:
            les.organ = organ
        if les.nodal is None:
            les.nodal = nodal_of(organ, grp)
    return lesions


def adam_lesions(
    domains: dict[str, Domain],
    first: FirstDose,
    deaths: pd.Series,
    log: ConversionLog,
    *,
    evaluator: str = INVESTIGATOR,
) -> pd.DataFrame:
    """The lesion table from ADaM ADTR (and ADRS, logged as not used).

    Parameters
    ----------
    domains : dict of str to Domain
        The datasets read; ``ADTR`` and ``ADRS`` are used when present.
    first : FirstDose
        Each subject's first dose (``DAY`` counts from it; ADSL's ``TRTSDT(M)``).
    deaths : pandas.Series
        Day of death since the first dose by ``USUBJID`` (``DEATH_DAY``).
    log : ConversionLog
        Receives one row per ADTR and ADRS record.
    evaluator : str, default "INVESTIGATOR"
        Whose assessments to convert (``TREVAL`` or ``TREVALID``).

    Returns
    -------
    pandas.DataFrame
        ``lesions.csv``; no rows when there is no ADTR.

    Raises
    ------
    DatasetError
        The problems of :func:`sdtm_lesions` (codes ``cdisc_lesion_*``,
        ``cdisc_evaluator_unknown``), and ``cdisc_adtr_columns`` when ADTR lacks
        ``USUBJID``, ``TRLNKID`` or ``TRTESTCD``.
    """
    problems = Problems()
    pending = Pending()
    adtr, adrs = domains.get("ADTR"), domains.get("ADRS")
    if adrs is not None:
        for pos in range(len(adrs.frame)):
            pending.skip(adrs, pos, ADRS_REASON)
    if adtr is None:
        pending.flush(log, {})
        return _empty()
    missing = [c for c in ("USUBJID", "TRLNKID", "TRTESTCD") if c not in adtr.frame.columns]
    for c in missing:
        problems.add(
            "cdisc_adtr_columns",
            adtr,
            None,
            "",
            f"ADTR has no column {c}: its records cannot be told apart by lesion and test",
            c,
            column=c,
            expected="ADTR with USUBJID, TRLNKID and TRTESTCD (admiralonco keeps them)",
            fix="keep the TR variables TRLNKID and TRTESTCD in ADTR",
        )
    problems.raise_if_any("ADTR cannot be converted")
    recs = _adtr_records(adtr, first, evaluator)
    _check_evaluator(adtr, recs, evaluator, problems)
    lesions = _identify_adtr(adtr, recs, problems)
    names = _names("AVAL", "AVALU", evaluator)
    rows, notes, sources = lesion_rows(adtr, recs, lesions, problems, pending, names)
    problems.raise_if_any("ADTR cannot be converted")
    table, number = _order(rows, notes, sources, pending, deaths)
    pending.flush(log, number)
    return table
