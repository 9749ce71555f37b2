"""Doses (ADEX, ADPC dose records or ADSL) and graded adverse events (ADAE).

Doses come from ADEX (records of ``PARAMCD`` ``DOSE``; an ADEX without ``PARAMCD`` is read
as one record per administration); without ADEX from the dose records an ADPC carries
(``PARAMCD`` ``DOSE`` or ``SRCDOM`` ``EX``); without either from ADSL (``TRTSDTM``, else
``TRTSDT``, amount ``DOSE01A``/``DOSEA``). The amount is ``EXDOSE`` where ADEX has it (the
``AVAL`` of ``PARAMCD`` ``DOSE`` is often the total of a dosing interval). A dose of amount 0
(placebo) is not a dose; doses of several treatments (``EXTRT``: lymphodepletion besides the
CAR-T product) are a problem unless ``treatment`` names the CAR-T product, as for SDTM. The
first dose of each subject is time 0.

Adverse events: one row per graded event, ``DV`` the grade (``ATOXGRN``, ``ATOXGR``,
``AETOXGRN``, ``AETOXGR``; CTCAE, or ASTCT for CRS and ICANS), ``TIME`` the onset
(``ASTDTM``/``ASTDT``, else ``ASTDY``), ``DVID`` ``CRS``, ``ICANS`` or ``AE_<TERM>``
(``AEDECOD``). Two events of one term with the same onset: the highest grade is kept.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from cartpk.cdisc._adam_conc import dose_copies
from cartpk.cdisc._adam_rows import Pending, clip, each, fmt, text_column
from cartpk.cdisc._adam_time import adam_dates, numbers, record_days, relative_days
from cartpk.cdisc._files import Domain
from cartpk.cdisc._sdtm_events import ae_dvid as sdtm_ae_dvid
from cartpk.cdisc._time import FirstDose, days_since_first_dose
from cartpk.errors import CartpkWarning, Violation

__all__ = ["adverse_events", "doses"]

#: EXDOSFRQ values that mean one administration (as for SDTM EX)
_ONCE = {"", "ONCE"}


def _dose_source(domains: dict[str, Domain]) -> tuple[Domain | None, pd.Series]:
    """The dataset doses are read from and which of its records are dose records."""
    if "ADEX" in domains:
        d = domains["ADEX"]
        if "PARAMCD" in d.frame.columns:
            return d, text_column(d.frame, "PARAMCD").str.upper() == "DOSE"
        return d, pd.Series(True, index=d.frame.index)
    if "ADPC" in domains and dose_copies(domains["ADPC"].frame).any():
        d = domains["ADPC"]
        return d, dose_copies(d.frame)
    if "ADSL" in domains:
        d = domains["ADSL"]
        return d, pd.Series(True, index=d.frame.index)
    return None, pd.Series(dtype=bool)


def _amounts(d: Domain) -> tuple[pd.Series, pd.Series, str]:
    """Dose amount per administration, its unit and the variable it came from.

    ADEX: ``EXDOSE`` (``AVAL`` of ``PARAMCD`` ``DOSE`` is often the total of a dosing
    interval), else ``AVAL``; ADPC dose records: ``AVAL``; ADSL: ``DOSE01A``, else ``DOSEA``.
    """
    f = d.frame
    order = {"ADEX": (("EXDOSE", "EXDOSU"), ("AVAL", "AVALU")),
             "ADPC": (("AVAL", "AVALU"),),
             "ADSL": (("DOSE01A", "DOSE01U"), ("DOSEA", "DOSEU"))}[d.name]  # fmt: skip
    for amount, unit in order:
        if amount in f.columns:
            u = text_column(f, unit)
            return numbers(f[amount])[0], u.where(u != "", text_column(f, "DOSEU")), amount
    return pd.Series(np.nan, index=f.index), pd.Series("", index=f.index, dtype=object), ""


def _dates(d: Domain) -> tuple[pd.Series, pd.Series | None]:
    """ISO dates of the dose records and their study days."""
    f = d.frame
    if d.name == "ADSL":  # TRTSDT is day 1 of ADaM's relative days (ADY, ASTDY)
        dtc = adam_dates(f, "TRTSDTM", "TRTSDT", "TRTSTMF")
        return dtc, pd.Series(1.0, index=f.index).where(dtc.notna())
    if d.name == "ADPC":
        dy = numbers(f["ADY"])[0] if "ADY" in f.columns else None
        return adam_dates(f, "ADTM", "ADT", "ATMF"), dy
    dtc = adam_dates(f, "ASTDTM", "ASTDT", "ASTTMF")
    dtc = dtc.where(dtc.notna(), adam_dates(f, "EXSTDTC", None, None))
    dy = numbers(f["ASTDY"])[0] if "ASTDY" in f.columns else None
    return dtc, dy


def _treatment_of(
    d: Domain, pend: Pending, ok: pd.Series, reason: pd.Series, treatment: list[str] | None
) -> pd.Series:
    """The records of the CAR-T product: those of ``treatment``, or all if one is dosed."""
    trt = text_column(d.frame, "EXTRT")
    if treatment:
        other = ok & ~trt.str.upper().isin({t.strip().upper() for t in treatment})
        reason[other] = "EXTRT " + each(trt[other], repr) + " is not the treatment converted"
        return ok & ~other
    names = sorted(set(trt[ok]))
    if len(names) > 1:
        pend.problem(
            "cdisc_several_treatments", d, d.frame.index[ok],
            f"doses of {len(names)} treatments; which one is the CAR-T infusion (TIME = 0) "
            "is not known", column="EXTRT", value=", ".join(map(repr, names)),
            expected="the doses of one treatment (EXDOSE > 0)",
            fix="name the CAR-T product: --treatment NAME (read_adam(..., treatment=[NAME])); "
            "the other treatments' records are then not used, with the reason",
        )  # fmt: skip
    return ok


def _dose_problems(
    d: Domain, pend: Pending, ok: pd.Series, amount: pd.Series, unit: pd.Series, col: str
) -> None:
    """Negative amounts, no amount, mixed units among the doses used."""
    idx = d.frame.index
    for code, hit, what in (
        ("cdisc_dose_negative", ok & (amount < 0), f"`{col}` is negative"),
        ("cdisc_dose_without_amount", ok & amount.isna(), "doses without an amount"
         + (f" (`{col}` blank)" if col else " (no EXDOSE, AVAL, DOSE01A)")),
    ):  # fmt: skip
        if hit.any():
            pend.problem(code, d, idx[hit], what, column=col or "EXDOSE",
                         value=clip(text_column(d.frame, "USUBJID")[hit]),
                         expected="the infused amount (> 0) on every dose record",
                         fix="give ADEX (EXDOSE, EXDOSU) or DOSE01A/DOSE01U in ADSL")  # fmt: skip
    norm = unit[ok & (amount > 0)].str.replace(r"\s+", "", regex=True).str.lower()
    if norm.nunique() > 1:
        pend.problem(
            "cdisc_mixed_dose_units", d, idx[ok & (amount > 0)],
            "doses in more than one unit; cartpk does not convert them",
            column="EXDOSU", value=", ".join(repr(u or "(blank)") for u in sorted(set(unit[ok]))),
            expected="one dose unit (e.g. all CAR+ cells, or all cells/kg)",
            fix="convert the doses to one unit before converting",
        )  # fmt: skip


def doses(
    domains: dict[str, Domain], pend: Pending, treatment: list[str] | None = None
) -> tuple[FirstDose, pd.Series]:
    """Dose rows into ``pend``; each subject's first dose and ADPC's dose records.

    Parameters
    ----------
    domains : dict of str to Domain
        The datasets read: ADEX, else ADPC's dose records, else ADSL give the doses.
    pend : Pending
        Receives the dose rows, the records not used with their reasons, the problems and
        warnings.
    treatment : list of str, optional
        ``EXTRT`` values of the CAR-T product (others are not used); without it, doses of
        several treatments are a problem.

    Returns
    -------
    first : FirstDose
        Of the subjects with a dose of amount > 0.
    adpc_doses : pandas.Series of bool
        ADPC's dose records (logged here; the concentration reader leaves them alone).
    """
    src, is_dose = _dose_source(domains)
    adpc = domains.get("ADPC")
    copies = dose_copies(adpc.frame) if adpc is not None else pd.Series(dtype=bool)
    if src is None:
        pend.problems.append(_no_doses("no ADEX, ADPC dose record or ADSL in the folder"))
        return FirstDose.from_records(*[pd.Series(dtype=object)] * 3), copies
    if adpc is not None and src is not adpc:
        pend.skip(adpc, adpc.frame.index[copies],
                  f"dose record copied into ADPC: the doses are read from {src.name}")  # fmt: skip
    f = src.frame
    reason = pd.Series("", index=f.index, dtype=object)
    code, cat = text_column(f, "PARAMCD"), text_column(f, "PARCAT1")
    if src.name == "ADEX":
        reason[~is_dose] = ("exposure parameter PARAMCD " + code[~is_dose] + " ("
                            + cat[~is_dose] + "): a summary, not a dose record")  # fmt: skip
    dtype = text_column(f, "DTYPE")
    reason[is_dose & (dtype != "")] = "derived record (DTYPE " + dtype + "), not data"
    amount, unit, col = _amounts(src)
    dtc, dy = _dates(src)
    has_time = dtc.notna() | (dy.notna() if dy is not None else False)
    if src.name == "ADPC":
        rel = relative_days(f, "AFRLT", "FRLTU")[0]
        has_time |= rel.notna()
    ok = is_dose & (reason == "")
    if src.name == "ADSL":
        reason[ok & ~has_time] = "no treatment start (TRTSDTM, TRTSDT): no dose"
        ok &= has_time
    ok = _treatment_of(src, pend, ok, reason, treatment)
    known = len(pend.problems)
    _dose_problems(src, pend, ok, amount, unit, col)
    trt = text_column(f, "EXTRT")
    zero = ok & (amount == 0)
    reason[zero] = f"{col} 0 (placebo or dose not given): no dose record"
    blank = ok & ~has_time & (amount > 0)
    reason[blank] = "no start: no date, study day or relative time"
    ok &= (amount > 0) & has_time
    if not ok.any() and len(pend.problems) == known:
        pend.problems.append(_no_doses(f"no {src.name} record of a dose > 0 with its start"))
    ids = text_column(f, "USUBJID")
    first = FirstDose.from_records(ids[ok], dtc[ok], dy[ok] if dy is not None else None)
    time, how = days_since_first_dose(ids, dtc, dy, first)
    if src.name == "ADPC":
        how = ("AFRLT " + each(rel * 24) + " h").where(
            rel.notna(), how)  # fmt: skip
        time = rel.where(rel.notna(), time)
    ok &= ~_later_doses(src, pend, ok, ids, time, amount, reason)
    freq = text_column(f, "EXDOSFRQ").str.upper()
    what = pd.Series(f"dose {col} ", index=f.index, dtype=object) + each(amount) + " " + unit
    what += " of " + trt.where(trt != "", text_column(f, "PARAM")).replace("", src.name)
    many = ok & ~freq.isin(_ONCE)
    what[many] += ("; EXDOSFRQ " + freq[many] + ": one dose record at the start; repeated "
                   "dosing to AENDTM was not expanded")  # fmt: skip
    rows = pd.DataFrame({"ID": ids, "TIME": time, "DV": np.nan, "EVID": 1, "AMT": amount,
                         "MDV": 1, "CENS": 0, "LLOQ": np.nan, "DVID": "", "UNIT": unit,
                         "SOURCE": f"{src.name} {col}" + (" (EXTRT " + trt + ")").where(
                             trt != "", ""),
                         "_POS": f.index, "_REASON": what + "; TIME from " + how})[ok]  # fmt: skip
    pend.add_rows(src, rows)
    if many.any():
        pend.warnings.append(CartpkWarning(
            f"{int(many.sum())} {src.name} record(s) with repeated dosing (EXDOSFRQ other than "
            "ONCE) became one dose record each, at their start", "cdisc_dosing_not_expanded"))  # fmt: skip
    rest = ~ok & (is_dose | (src.name == "ADEX"))
    why = reason.where(reason != "", "not a dose (see the problems)")
    if src.name == "ADSL":  # logged with the covariates, this reason included
        pend.notes.update({int(p): str(why[p]) for p in f.index[rest]})
    else:
        pend.skip(src, f.index[rest], why[rest].tolist())
    _compare_adsl(domains, src, first, pend)
    return first, copies


def _later_doses(
    d: Domain,
    pend: Pending,
    ok: pd.Series,
    ids: pd.Series,
    time: pd.Series,
    amount: pd.Series,
    reason: pd.Series,
) -> pd.Series:
    """Doses after the first (``TIME > 0``): not used, as for SDTM (cartpk models one CAR-T
    infusion at ``TIME`` 0); two records at the first dose are a problem."""
    later = ok & (time > 0)
    reason[later] = ("dose after the first (TIME > 0): cartpk models one CAR-T infusion at "
                     "TIME 0, later doses are not in trial.csv")  # fmt: skip
    if later.any():
        who = sorted(set(ids[later]))
        pend.warnings.append(CartpkWarning(
            f"{int(later.sum())} {d.name} dose record(s) of {len(who)} subject(s) after the first "
            "dose are not in trial.csv (one infusion at TIME 0 per subject); conversion.csv "
            "lists them", "cdisc_later_doses_not_used", {"subjects": who}))  # fmt: skip
    first = ok & ~later
    twice = first & ids.where(first).duplicated(keep=False) & (ids != "")
    for sid in sorted(set(ids[twice])):
        at = twice & (ids == sid)
        pend.problem(
            "cdisc_first_dose_repeated", d, d.frame.index[at],
            "more than one dose record at the subject's first dose", subject=sid,
            column="EXDOSE", value=", ".join(each(amount[at])),
            expected="one dose record of the CAR-T infusion (TIME 0)",
            fix="give the infusion as one record (the total dose), or correct the start of the "
            "record that is not the infusion",
        )  # fmt: skip
    return later


def _no_doses(where: str) -> Violation:
    return Violation(
        "cdisc_no_doses",
        f"no dose to start the time axis: {where}",
        expected="ADEX records of the CAR-T infusion (EXDOSE > 0, ASTDTM or ASTDY), or ADSL "
        "TRTSDTM with DOSE01A",
        fix="add ADEX (adex.xpt, adex.csv, ...) to the folder",
    )


def _compare_adsl(domains: dict[str, Domain], src: Domain, first: FirstDose, pend: Pending) -> None:
    """Warn where ADSL's TRTSDT is not the date of the first dose read from ``src``."""
    if src.name == "ADSL" or "ADSL" not in domains:
        return
    sl = domains["ADSL"].frame
    start = pd.Series(
        pd.to_datetime(adam_dates(sl, None, "TRTSDT", None), errors="coerce").to_numpy(),
        index=text_column(sl, "USUBJID").to_numpy(),
    )
    dosed = pd.to_datetime(first.when).dt.normalize()
    both = dosed.dropna().index.intersection(start.dropna().index)
    off = [s for s in both if start[s] != dosed[s]]
    if off:
        pend.warnings.append(
            CartpkWarning(
                f"{len(off)} subjects' first dose in {src.name} is not on ADSL's TRTSDT; "
                f"times count from the {src.name} dose: {clip(off)}",
                "cdisc_first_dose_disagree",
                {"subjects": off},
            )
        )


def _grade(text: str) -> float | None:
    """A grade from ``3``, ``3.0`` or ``GRADE 3``; ``None`` if not a grade 0-5.

    Examples
    --------
    >>> _grade("Grade 3"), _grade("2.0"), _grade("7"), _grade("severe")
    (3.0, 2.0, None, None)
    """
    m = re.fullmatch(r"\s*(?:GRADE\s*)?(\d+)(?:\.0*)?\s*", text, re.IGNORECASE)
    return float(m.group(1)) if m and int(m.group(1)) <= 5 else None


def _grades(f: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Each event's grade (``NaN`` if none), the variable it came from, and bad grades.

    The first of ``ATOXGRN``, ``ATOXGR``, ``AETOXGRN``, ``AETOXGR`` that is not blank; a grade
    is ``0``-``5`` (``3``, ``3.0`` or ``GRADE 3``, as for SDTM).
    """
    grade = pd.Series(np.nan, index=f.index)
    col = pd.Series("", index=f.index, dtype=object)
    bad = pd.Series(False, index=f.index)
    for c in ("ATOXGRN", "ATOXGR", "AETOXGRN", "AETOXGR"):
        text = text_column(f, c)
        take = grade.isna() & ~bad & (text != "")
        parsed = text[take].map(_grade)
        bad[take] = parsed.isna()
        ok = parsed[parsed.notna()].astype(float)
        grade[ok.index], col[ok.index] = ok, c
    return grade, col, bad


def adverse_events(dom: Domain, first: FirstDose, pend: Pending) -> None:
    """Graded adverse events of ADAE as rows into ``pend``; other records with reasons.

    Parameters
    ----------
    dom : Domain
        ADAE.
    first : FirstDose
        Each subject's first dose; onsets count from it.
    pend : Pending
        Receives one row per graded event (the highest grade of a term and onset), the
        records not used with their reasons, and invalid grades as problems.
    """
    f = dom.frame
    idx = f.index
    ids = text_column(f, "USUBJID")
    decod, term = text_column(f, "AEDECOD"), text_column(f, "AETERM")
    name = decod.where(decod != "", term)
    grade, grade_col, bad = _grades(f)
    if "ASTDTM" in f.columns or "ASTDT" in f.columns:
        time, how = record_days(f, first, datetime_col="ASTDTM", date_col="ASTDT",
                                tmf_col="ASTTMF", day_col="ASTDY")  # fmt: skip
    else:
        time, how = record_days(f, first, datetime_col="AESTDTC", date_col=None, tmf_col=None,
                                day_col="ASTDY" if "ASTDY" in f.columns else "AESTDY")  # fmt: skip
    if bad.any():
        pend.problem("cdisc_grade_invalid", dom, idx[bad], "the toxicity grade is not 0-5",
                     column="ATOXGR", value=clip(each(_raw_grades(f)[bad], repr)),
                     expected="a grade 0, 1, 2, 3, 4 or 5 (or 'GRADE 3')",
                     fix="correct ATOXGR (AETOXGR)")  # fmt: skip
    reason = pd.Series("", index=idx, dtype=object)
    dtype = text_column(f, "DTYPE")
    sev = text_column(f, "ASEV", "AESEV")
    rules = [
        (~ids.isin(first.when.index), "subject has no dose: not in trial.csv"),
        (dtype != "", "derived record (DTYPE " + dtype + "), not data"),
        (name == "", "no event term (AEDECOD, AETERM)"),
        (grade.isna() & ~bad, "no toxicity grade (ATOXGR, AETOXGR blank or absent)"
         + each(sev, lambda v: f"; AESEV {v} is a severity, not a CTCAE/ASTCT grade" if v else "")),
        (time.isna(), "no onset time: " + how),
        (time < 0, "onset before the first dose (TIME " + each(time) + " d)"),
    ]  # fmt: skip
    for hit, why in rules:
        take = hit & (reason == "")
        reason[take] = why[take] if isinstance(why, pd.Series) else why
    dvid = pd.Series([sdtm_ae_dvid(a, b) for a, b in zip(decod, term, strict=True)], index=idx)
    rows = pd.DataFrame({"ID": ids, "TIME": time, "DV": grade, "EVID": 0, "AMT": 0.0, "MDV": 0,
                         "CENS": 0, "LLOQ": np.nan, "DVID": dvid})  # fmt: skip
    live = (reason == "") & ~bad
    order = rows[live].sort_values("DV", ascending=False, kind="stable")
    top = order.drop_duplicates(["ID", "DVID", "TIME"])
    first_of = {(r.ID, r.DVID, r.TIME): int(p) for p, r in top.iterrows()}
    for p in order.index.difference(top.index):
        q = first_of[(ids[p], dvid[p], time[p])]
        reason[p] = (f"same event ({name[p]}) and onset as record {q + 1} (grade "
                     f"{fmt(grade[q])}), which is used: the highest grade is kept")  # fmt: skip
    live &= reason == ""
    used = rows[live].assign(UNIT="grade", SOURCE=dom.name + " " + grade_col[live], _POS=idx[live])
    used["_REASON"] = (name[live] + " -> DVID " + dvid[live] + ", grade " + each(grade[live])
                       + " (" + grade_col[live] + "); onset TIME from " + how[live])  # fmt: skip
    pend.add_rows(dom, used)
    pend.skip(dom, idx[~live & ~bad], reason[~live & ~bad].tolist())
    pend.skip(dom, idx[bad], "grade not 0-5 (see the problems)")


def _raw_grades(f: pd.DataFrame) -> pd.Series:
    out = pd.Series("", index=f.index, dtype=object)
    for c in ("ATOXGRN", "ATOXGR", "AETOXGRN", "AETOXGR"):
        out = out.where(out != "", text_column(f, c))
    return out
