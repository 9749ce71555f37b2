"""Findings (PC, LB) into observation rows: DVID, result, censoring, unit and time.

One function, :func:`findings`, turns the records of a findings dataset into candidate
rows of ``trial.csv``; records that cannot be used are written to the conversion record
here, with the reason. :func:`unit_problems` checks, over every domain at once, that each
``DVID`` has one unit and the map's unit where the map gives one.

Results (SDTMIG 3.4, PC and LB): ``--STRESN`` is the value, in ``--STRESU``. A text in
``--STRESC`` (else ``--ORRES``) that says the value is below the limit of quantitation
(:data:`BLQ_TEXT`: ``<BLQ``, ``BLQ``, ``< 0.01``, ``NQ``, ``below LLOQ``, ``not detected``,
...) makes a left-censored record at ``--LLOQ`` (``CENS=1``, ``DV = LLOQ``), whatever
``--STRESN`` holds (SDTM data often carry 0 there); a text above the upper limit
(:data:`ALQ_TEXT`: ``> 5000``, ``ALQ``, ``>ULOQ``) a right-censored record at the number in
the text, else ``--ULOQ`` (``CENS=-1``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from cartpk.cdisc._files import Domain
from cartpk.cdisc._log import ConversionLog
from cartpk.cdisc._map import AnalyteMap, same_unit
from cartpk.cdisc._time import FirstDose, days_since_first_dose
from cartpk.errors import Violation, compress_rows

__all__ = [
    "ALQ_TEXT",
    "BLQ_TEXT",
    "ROW_COLUMNS",
    "column",
    "findings",
    "is_alq",
    "is_blq",
    "numbers",
    "unit_problems",
]

#: result texts read as below the lower limit of quantitation (case-insensitive, whole text)
BLQ_TEXT = re.compile(
    r"^\s*(?:<\s*BLQ|BLQ|BQL|BLOQ|NQ|<\s*L?LOQ|<\s*\d*\.?\d+(?:E[-+]?\d+)?"
    r"|BELOW\s+(?:THE\s+)?(?:L?LOQ|LIMIT\s+OF\s+QUANTI\w*|QUANTI\w*\s+LIMIT)"
    r"|NOT\s+QUANTIFIABLE|ND|NOT\s+DETECTED)\s*$",
    re.IGNORECASE,
)
#: result texts read as above the upper limit of quantitation
ALQ_TEXT = re.compile(
    r"^\s*(?:>\s*\d*\.?\d+(?:E[-+]?\d+)?|ALQ|AQL|>\s*ULOQ"
    r"|ABOVE\s+(?:THE\s+)?(?:ULOQ|UPPER\s+LIMIT\s+OF\s+QUANTI\w*))\s*$",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d*\.?\d+(?:E[-+]?\d+)?", re.IGNORECASE)

#: columns of the candidate rows every reader returns (before sorting and logging)
ROW_COLUMNS = (
    "ID", "TIME", "DV", "EVID", "AMT", "MDV", "CENS", "LLOQ", "DVID",
    "UNIT", "MAP_UNIT", "SOURCE", "_DOMAIN", "_POS", "_ROW", "_REASON",
)  # fmt: skip


def is_blq(text: object) -> bool:
    """Whether a result text says "below the limit of quantitation".

    Examples
    --------
    >>> [is_blq(t) for t in ("<BLQ", "blq", "< 0.01", "NQ", "Below LLOQ", "0.5", None)]
    [True, True, True, True, True, False, False]
    """
    return isinstance(text, str) and bool(BLQ_TEXT.match(text))


def is_alq(text: object) -> bool:
    """Whether a result text says "above the upper limit of quantitation".

    Examples
    --------
    >>> [is_alq(t) for t in ("> 5000", "ALQ", ">ULOQ", "5000", "<BLQ")]
    [True, True, True, False, False]
    """
    return isinstance(text, str) and bool(ALQ_TEXT.match(text))


def column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column of ``frame``, or an all-missing one when the dataset has none."""
    if name in frame.columns:
        return frame[name]
    return pd.Series(np.nan, index=frame.index, dtype=object)


def numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers of a column read as text or as numbers, and where a cell is text that is
    not a number (blank cells are missing, not text).

    Examples
    --------
    >>> x, bad = numbers(pd.Series(["1.5", None, "abc", 2.0], dtype=object))
    >>> x.tolist(), bad.tolist()
    ([1.5, nan, nan, 2.0], [False, False, True, False])
    """
    x = pd.to_numeric(values, errors="coerce").astype(float)
    bad = x.isna() & values.notna()
    return x, bad


def _text(v: object) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def _label(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").upper()


def _dvids(domain: Domain, amap: AnalyteMap, keep_unmapped: bool) -> tuple[pd.Series, ...]:
    """``DVID`` (``NaN`` where not mapped and not kept), the map's unit and the source text.

    A test code whose records come from several specimens that the map gives one DVID
    through a row without ``SPEC`` (or does not map) gets one DVID per specimen:
    ``<DVID>_<SPEC>``. Map rows that name the specimens decide for themselves (two
    specimens mapped to one DVID stay together).
    """
    p = domain.name[:2]
    f = domain.frame
    codes = column(f, f"{p}TESTCD").map(_text).str.upper()
    specs = column(f, f"{p}SPEC").map(_text).str.upper()
    pairs = pd.unique(pd.Series(list(zip(codes, specs, strict=True)), dtype=object))
    base: dict[tuple[str, str], tuple[str | None, str]] = {}
    by_spec: set[tuple[str, str]] = set()  # mapped by a row that names the specimen
    for code, spec in pairs:
        hit = amap.lookup(domain.name, code, spec)
        if hit is not None:
            base[(code, spec)] = (hit[0], hit[1])
            if amap.lookup(domain.name, code, "\x00no specimen") != hit:
                by_spec.add((code, spec))
        else:
            base[(code, spec)] = (code if keep_unmapped and code else None, "")
    # one DVID from several specimens of one test code: separate them by specimen
    final = dict(base)
    for code in pd.unique(codes):
        by_dvid: dict[str, list[str]] = {}
        for (c, s), (d, _) in base.items():
            if c == code and d is not None and s and (c, s) not in by_spec:
                by_dvid.setdefault(d, []).append(s)
        for d, ss in by_dvid.items():
            if len(ss) > 1:
                for s in ss:
                    final[(code, s)] = (f"{d}_{_label(s)}", base[(code, s)][1])
    keys = list(zip(codes, specs, strict=True))
    dvid = pd.Series([final[k][0] for k in keys], index=f.index, dtype=object)
    unit = pd.Series([final[k][1] for k in keys], index=f.index, dtype=object)
    source = pd.Series(
        [f"{domain.name} {p}TESTCD {c}" + (f", {p}SPEC {s}" if s else "") for c, s in keys],
        index=f.index,
        dtype=object,
    )
    return dvid, unit, source


def _missing_variables(domain: Domain, names: list[str]) -> list[Violation]:
    return [
        Violation(
            "cdisc_missing_variable",
            f"{domain.name} (`{domain.path.name}`) has no variable `{c}`",
            column=c,
            expected=f"the SDTM variables of {domain.name}, at least " + ", ".join(names),
            fix=f"export {domain.name} with `{c}`",
        )
        for c in names
        if c not in domain.frame.columns
    ]


def _not_numeric(domain: Domain, name: str, bad: pd.Series, values: pd.Series) -> Violation:
    pos = np.flatnonzero(bad.to_numpy())
    shown = ", ".join(repr(v) for v in pd.unique(values.iloc[pos])[:5])
    return Violation(
        "cdisc_not_numeric",
        f"{domain.name} `{name}` holds text that is not a number",
        rows=tuple(int(k) + 1 for k in pos),
        column=name,
        value=shown,
        expected=f"a number (or blank) in `{name}`",
        fix=f"correct `{name}` in {domain.name}; results as text belong in "
        f"`{domain.name[:2]}STRESC`",
    )


def _result(
    text: str, value: float, lloq: float, uloq: float, p: str
) -> tuple[float, int, str, str | None]:
    """``(DV, CENS, what was done, code of the problem or None)`` of one result."""
    if is_blq(text):
        if np.isnan(lloq):
            return np.nan, 1, "", "cdisc_blq_without_lloq"
        return lloq, 1, f"BLQ text {text!r} -> CENS=1 at {p}LLOQ {lloq:g}", None
    if is_alq(text):
        m = _NUMBER.search(text)
        bound = float(m.group()) if m else uloq
        if np.isnan(bound):
            return np.nan, -1, "", "cdisc_alq_without_limit"
        where = "the number in the text" if m else f"{p}ULOQ"
        return bound, -1, f"ALQ text {text!r} -> CENS=-1 at {bound:g} ({where})", None
    if np.isfinite(value):
        return value, 0, "", None
    return np.nan, 0, "", "unused"


#: censoring problems: what the results lack, the variable, expected and fix (``{p}``: the
#: domain's prefix, PC or LB)
_CENSORING = {
    "cdisc_blq_without_lloq": (
        "below the limit of quantitation without `{p}LLOQ`",
        "{p}LLOQ",
        "the assay's LLOQ in `{p}LLOQ` (in `{p}STRESU`) on every BLQ record",
        "fill in `{p}LLOQ`; a BLQ record is censored at its LLOQ (DV = LLOQ, CENS=1)",
    ),
    "cdisc_alq_without_limit": (
        "above the limit of quantitation without a limit",
        "{p}ULOQ",
        "the limit in the text ('> 5000') or in `{p}ULOQ`",
        "fill in `{p}ULOQ`; such a record is censored above it (CENS=-1)",
    ),
}


def _censoring_problem(domain: Domain, code: str, pos: list[int], texts: pd.Series) -> Violation:
    what, col, expected, fix = (t.format(p=domain.name[:2]) for t in _CENSORING[code])
    shown = ", ".join(repr(t) for t in dict.fromkeys(texts).keys() if t)
    return Violation(
        code,
        f"{domain.name} results {what}",
        rows=tuple(k + 1 for k in pos),
        column=col,
        value=shown[:200],
        expected=expected,
        fix=fix,
    )


def _record_table(
    domain: Domain,
    amap: AnalyteMap,
    first: FirstDose,
    problems: list[Violation],
    keep_unmapped: bool,
) -> pd.DataFrame:
    """One row per record: what :func:`findings` decides on (text in numeric variables
    goes to ``problems``)."""
    p = domain.name[:2]
    f = domain.frame
    dvid, map_unit, source = _dvids(domain, amap, keep_unmapped)
    stresn, bad_n = numbers(column(f, f"{p}STRESN"))
    lloq, bad_l = numbers(column(f, f"{p}LLOQ"))
    uloq, bad_u = numbers(column(f, f"{p}ULOQ"))
    for name, bad in ((f"{p}STRESN", bad_n), (f"{p}LLOQ", bad_l), (f"{p}ULOQ", bad_u)):
        if bad.any():
            problems.append(_not_numeric(domain, name, bad, column(f, name)))
    stresc = column(f, f"{p}STRESC").map(_text)
    ids = column(f, "USUBJID").map(_text)
    time, how = days_since_first_dose(ids, column(f, f"{p}DTC"), column(f, f"{p}DY"), first)
    return pd.DataFrame(
        {
            "ID": ids,
            "CODE": column(f, f"{p}TESTCD").map(_text).str.upper(),
            "DVID": dvid,
            "MAP_UNIT": map_unit,
            "SOURCE": source,
            "STRESN": stresn,
            "VALUE": stresn.where(stresn.notna(), pd.to_numeric(stresc, errors="coerce")),
            "TEXT": stresc.where(stresc != "", column(f, f"{p}ORRES").map(_text)),
            "LLOQ": lloq,
            "ULOQ": uloq,
            "STAT": column(f, f"{p}STAT").map(_text).str.upper(),
            "REASND": column(f, f"{p}REASND").map(_text),
            "UNIT": column(f, f"{p}STRESU").map(_text),
            "TIME": time,
            "HOW": how,
        }
    )


def _why_not(r: Any, domain: Domain) -> str | None:
    """Why a record is not used before its result is read (not mapped, not done)."""
    p = domain.name[:2]
    if not isinstance(r.DVID, str):
        code = r.CODE
        return (
            f"{domain.name} test {code or '(blank)'} is not in the analyte map (add a row "
            f"{domain.name},{code},,DVID,UNIT to a --map file to convert it)"
        )
    if r.STAT == "NOT DONE":
        nd = r.REASND
        return f"{p}STAT NOT DONE" + (f" ({p}REASND: {nd})" if nd else "")
    return None


def findings(
    domain: Domain,
    amap: AnalyteMap,
    first: FirstDose,
    log: ConversionLog,
    problems: list[Violation],
    *,
    keep_unmapped: bool,
) -> pd.DataFrame:
    """Candidate observation rows (:data:`ROW_COLUMNS`) of a PC- or LB-like findings domain.

    Parameters
    ----------
    domain : Domain
        ``PC`` or ``LB`` (any domain with ``--TESTCD, --STRESN, --STRESC, --STRESU``).
    amap : AnalyteMap
        Test code (and specimen) -> DVID and unit.
    first : FirstDose
        Each subject's first dose (``TIME = 0``).
    log : ConversionLog
        Receives the records not used, with the reason.
    problems : list of Violation
        Receives the problems found (BLQ without LLOQ, text in a numeric variable).
    keep_unmapped : bool
        ``True`` (PC): a test code not in the map is its own DVID; ``False`` (LB): it is
        not used.

    Returns
    -------
    pandas.DataFrame
        One row per record used, ``_POS`` its 0-based position in the dataset.
    """
    p = domain.name[:2]
    missing = _missing_variables(domain, ["USUBJID", f"{p}TESTCD"])
    if missing:
        problems.extend(missing)
        return pd.DataFrame(columns=list(ROW_COLUMNS))
    records = _record_table(domain, amap, first, problems, keep_unmapped)
    unused: dict[str, list[int]] = {}
    bad_cens: dict[str, list[int]] = {}
    rows: list[dict[str, object]] = []
    for k, r in enumerate(records.itertuples(index=False)):
        why = _why_not(r, domain)
        if why is not None:
            unused.setdefault(why, []).append(k)
            continue
        dv, cens, done, code = _result(r.TEXT, r.VALUE, r.LLOQ, r.ULOQ, p)
        if code == "unused":
            why = (
                f"result text {r.TEXT!r} is neither a number nor below/above-limit text"
                if r.TEXT
                else f"no result ({p}STRESN, {p}STRESC and {p}ORRES blank)"
            )
        elif code is not None:
            bad_cens.setdefault(code, []).append(k)
            continue
        elif np.isnan(r.TIME):
            why = f"no time: {r.HOW}"
        if why is not None:
            unused.setdefault(why, []).append(k)
            continue
        parts = [f"{r.SOURCE} -> DVID {r.DVID}"]
        if not np.isfinite(r.STRESN) and cens == 0:
            parts.append(f"value from {p}STRESC")
        parts += [done] if done else []
        parts.append(f"TIME from {r.HOW}")
        rows.append(
            {
                "ID": r.ID,
                "TIME": float(r.TIME),
                "DV": float(dv),
                "EVID": 0,
                "AMT": 0.0,
                "MDV": 0,
                "CENS": cens,
                "LLOQ": float(r.LLOQ),
                "DVID": r.DVID,
                "UNIT": r.UNIT,
                "MAP_UNIT": r.MAP_UNIT,
                "SOURCE": r.SOURCE,
                "_DOMAIN": domain.name,
                "_POS": k,
                "_ROW": k + 1,
                "_REASON": "; ".join(parts),
            }
        )
    for why, pos in unused.items():
        log.add(domain, pos, used=False, reason=why)
    for code, pos in bad_cens.items():
        problems.append(_censoring_problem(domain, code, pos, records["TEXT"].iloc[pos]))
    no_unit = [int(r["_ROW"]) for r in rows if not r["UNIT"]]
    if no_unit:
        problems.append(
            Violation(
                "cdisc_unit_missing",
                f"{domain.name} results without a unit (`{p}STRESU` blank)",
                rows=tuple(no_unit),
                column=f"{p}STRESU",
                expected="the unit of the standard result on every record used",
                fix=f"fill in `{p}STRESU`",
            )
        )
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS))


def unit_problems(rows: pd.DataFrame) -> list[Violation]:
    """One unit per ``DVID`` (``cdisc_mixed_units``) and the map's unit where it gives one
    (``cdisc_unit_mismatch``), over the observation rows of every domain.

    Parameters
    ----------
    rows : pandas.DataFrame
        Candidate observation rows (:data:`ROW_COLUMNS`).

    Returns
    -------
    list of Violation
    """
    out: list[Violation] = []
    for dvid, g in rows.groupby("DVID", sort=True):
        norm = g["UNIT"].map(lambda u: re.sub(r"\s+", "", str(u)).replace("µ", "u").lower())
        if norm.nunique() > 1:
            parts = []
            for _u, gu in g.groupby(norm, sort=True):
                where = "; ".join(
                    f"{d} {compress_rows(gd['_ROW'])}" for d, gd in gu.groupby("_DOMAIN")
                )
                parts.append(f"{gu['UNIT'].iat[0] or '(blank)'} ({len(gu)}): {where}")
            domains = g["_DOMAIN"].unique()
            out.append(
                Violation(
                    "cdisc_mixed_units",
                    f"DVID {dvid} has results in {norm.nunique()} units "
                    f"({', '.join(domains)}); cartpk does not mix or convert them",
                    rows=tuple(int(r) for r in g["_ROW"]) if len(domains) == 1 else (),
                    column="--STRESU",
                    value=" | ".join(parts),
                    expected="one unit per DVID",
                    fix="convert the results to one standard unit in the source datasets, or "
                    "give the units separate DVIDs with a --map file (one row per specimen)",
                )
            )
        wanted = g["MAP_UNIT"].astype(str)
        off = (wanted != "") & ~pd.Series(
            [same_unit(a, b) for a, b in zip(g["UNIT"], wanted, strict=True)], index=g.index
        )
        if off.any():
            bad = g[off]
            out.append(
                Violation(
                    "cdisc_unit_mismatch",
                    f"DVID {dvid}: the analyte map wants {wanted[off].iat[0]}, the data have "
                    + ", ".join(sorted(set(bad["UNIT"].map(lambda u: u or "(blank)")))),
                    rows=tuple(int(r) for r in bad["_ROW"])
                    if bad["_DOMAIN"].nunique() == 1
                    else (),
                    column="--STRESU",
                    value="; ".join(
                        f"{d} {compress_rows(gd['_ROW'])}" for d, gd in bad.groupby("_DOMAIN")
                    ),
                    expected=f"results of {dvid} in {wanted[off].iat[0]}",
                    fix="convert the results to the map's unit in the source datasets, or "
                    "give a --map file whose UNIT is the data's unit",
                )
            )
    return out
