"""Concentrations (ADPC) and mapped laboratory tests (ADLB) as observation rows.

One row per sample. BDS datasets repeat a sample: derived records (``DTYPE`` set, e.g.
``HALFLLOQ`` imputations or ``COPY`` records made for another baseline) and copies of a
record under each ``BASETYPE``. The record kept is the observed one (``DTYPE`` blank), once
per sample (``SRCDOM``/``SRCSEQ``, else ``PCSEQ``/``LBSEQ``, else subject, DVID and time);
``conversion.csv`` names, for every other record, the record of the sample that was used.
A sample none of whose records has ``ANL01FL = Y`` (where the dataset has the flag) is left
out, as its producer left it out of the analysis; a sample whose imputed copy alone is
flagged (a BLQ sample imputed for NCA) is in, as its observed record.

Time: ``AFRLT`` (actual time since the first dose) in ``FRLTU`` converted to days; without
it the analysis date-time (``ADTM``/``ADT``) minus the first dose; then ``NFRLT`` (nominal);
then the study day ``ADY`` (no day 0). Values as in SDTM
(:mod:`cartpk.cdisc._sdtm_find`): ``AVAL``; a BLQ text in ``AVALC`` (else ``PCSTRESC``,
``LBSTRESC``) makes ``CENS=1`` at the LLOQ (``ALLOQ``, else ``PCLLOQ``/``LBLLOQ``), an
above-limit text ``CENS=-1`` at its number (else ``AULOQ``, ``PCULOQ``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cartpk.cdisc._adam_rows import Pending, clip, each, fmt, text_column
from cartpk.cdisc._adam_time import numbers, record_days, relative_days
from cartpk.cdisc._files import Domain
from cartpk.cdisc._map import AnalyteMap
from cartpk.cdisc._sdtm_find import is_alq, is_blq
from cartpk.cdisc._time import FirstDose
from cartpk.errors import CartpkWarning

__all__ = ["ADLB", "ADPC", "Kind", "dose_copies", "measurements"]


@dataclass(frozen=True)
class Kind:
    """Where a BDS dataset keeps what a measurement needs (ADPC or ADLB)."""

    spec: str
    text: tuple[str, ...]
    lloq: tuple[str, ...]
    uloq: tuple[str, ...]
    unit: tuple[str, ...]
    seq: str
    keep_unmapped: bool


ADPC = Kind("PCSPEC", ("AVALC", "PCSTRESC"), ("ALLOQ", "PCLLOQ"), ("AULOQ", "PCULOQ"),
            ("AVALU", "PCSTRESU"), "PCSEQ", True)  # fmt: skip
ADLB = Kind("LBSPEC", ("AVALC", "LBSTRESC"), ("ALLOQ", "LBLLOQ"), ("AULOQ", "LBULOQ"),
            ("AVALU", "LBSTRESU"), "LBSEQ", False)  # fmt: skip


def dose_copies(frame: pd.DataFrame) -> pd.Series:
    """ADPC records that are dose records (``PARAMCD`` ``DOSE`` or ``SRCDOM`` ``EX``).

    Examples
    --------
    >>> dose_copies(pd.DataFrame({"PARAMCD": ["XAN", "DOSE"], "SRCDOM": ["PC", "EX"]})).tolist()
    [False, True]
    """
    code = text_column(frame, "PARAMCD").str.upper()
    src = text_column(frame, "SRCDOM").str.upper()
    return (code == "DOSE") | (src == "EX")


def _first_text(frame: pd.DataFrame, names: tuple[str, ...]) -> pd.Series:
    """Per record, the first non-blank text of ``names``."""
    out = pd.Series("", index=frame.index, dtype=object)
    for c in names:
        out = out.where(out != "", text_column(frame, c))
    return out


def _first_number(frame: pd.DataFrame, names: tuple[str, ...]) -> tuple[pd.Series, pd.Series]:
    """Per record, the first number of ``names`` and the column it came from."""
    value = pd.Series(np.nan, index=frame.index)
    where = pd.Series("", index=frame.index, dtype=object)
    for c in names:
        if c in frame.columns:
            v = numbers(frame[c])[0]
            take = value.isna() & v.notna()
            value[take], where[take] = v[take], c
    return value, where


def _dvids(
    dom: Domain, kind: Kind, amap: AnalyteMap, considered: pd.Series
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """DVID (``""`` where not mapped and not kept), the map's unit and a source text.

    As for SDTM: a ``PARAMCD`` whose records come from several specimens that the map gives
    one DVID (or does not map) gets one DVID per specimen, ``<DVID>_<SPEC>``.
    """
    f = dom.frame
    code = text_column(f, "PARAMCD").str.upper()
    spec = text_column(f, kind.spec).str.upper()
    pairs = pd.DataFrame({"c": code, "s": spec})[considered].drop_duplicates()
    base: dict[tuple[str, str], tuple[str, str]] = {}
    for c, s in pairs.itertuples(index=False):
        hit = amap.lookup(dom.name, c, s)
        base[(c, s)] = hit if hit is not None else ((c if kind.keep_unmapped else ""), "")
    final = dict(base)
    for c in pd.unique(pairs["c"]):
        by_dvid: dict[str, list[str]] = {}
        for (cc, s), (d, _) in base.items():
            if cc == c and d and s:
                by_dvid.setdefault(d, []).append(s)
        for d, ss in by_dvid.items():
            if len(ss) > 1:
                for s in ss:
                    label = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").upper()
                    final[(c, s)] = (f"{d}_{label}", base[(c, s)][1])
    dvid = pd.Series("", index=f.index, dtype=object)
    unit = pd.Series("", index=f.index, dtype=object)
    src = pd.Series("", index=f.index, dtype=object)
    for (c, s), (d, u) in final.items():
        at = considered & (code == c) & (spec == s)
        dvid[at], unit[at] = d, u
        src[at] = f"{dom.name} PARAMCD {c}" + (f", {kind.spec} {s}" if s else "")
    return dvid, unit, src


def _sample_keys(f: pd.DataFrame, kind: Kind, dvid: pd.Series, time: pd.Series) -> pd.Series:
    """One key per sample: source sequence, else ``--SEQ``, else subject, DVID and time."""
    ids = text_column(f, "USUBJID")
    src = text_column(f, "SRCSEQ")
    dom = text_column(f, "SRCDOM")
    seq = text_column(f, kind.seq)
    by_time = "T|" + ids + "|" + dvid + "|" + time.round(9).astype(str)
    key = by_time.where(seq == "", "Q|" + ids + "|" + seq)
    return key.where(src == "", "S|" + ids + "|" + dom + "|" + src)


def _values(dom: Domain, kind: Kind, pend: Pending, use: pd.Series) -> pd.DataFrame:
    """DV, CENS, LLOQ, what was done, and whether there is a result, of each record."""
    f = dom.frame
    aval, bad = numbers(f["AVAL"])
    text = _first_text(f, kind.text)
    lloq, lloq_from = _first_number(f, kind.lloq)
    uloq, uloq_from = _first_number(f, kind.uloq)
    blq = text.map(is_blq).astype(bool)
    alq = text.map(is_alq).astype(bool)
    bound = text.str.extract(r"(\d*\.?\d+(?:[eE][-+]?\d+)?)")[0].astype(float)
    bound_from = pd.Series("the text", index=f.index, dtype=object).where(bound.notna(), uloq_from)
    bound = bound.where(bound.notna(), uloq)
    checks = (
        ("cdisc_not_numeric", bad & ~blq & ~alq, "AVAL", f["AVAL"],
         "`AVAL` holds text that is not a number", "a number (or blank) in AVAL",
         "correct AVAL; results as text belong in AVALC"),
        ("cdisc_blq_without_lloq", blq & lloq.isna(), "ALLOQ", text,
         "results below the limit of quantitation without an LLOQ (`ALLOQ`)",
         "the assay's LLOQ in ALLOQ on every BLQ record",
         "fill in ALLOQ; a BLQ record is censored at its LLOQ (DV = LLOQ, CENS=1)"),
        ("cdisc_alq_without_limit", alq & bound.isna(), "AULOQ", text,
         "results above the limit of quantitation without a limit",
         "the limit in the text ('> 5000') or in AULOQ", "fill in AULOQ"),
    )  # fmt: skip
    for code, hit, col, shown, what, expected, fix in checks:
        if (hit & use).any():
            pend.problem(code, dom, f.index[hit & use], what, column=col,
                         value=clip(shown[hit & use]), expected=expected, fix=fix)  # fmt: skip
    cens = pd.Series(0, index=f.index).where(~blq, 1).where(~alq, -1)
    dv = aval.where(~blq, lloq).where(~alq, bound)
    why = pd.Series("DV = AVAL", index=f.index, dtype=object)
    why[blq] = "BLQ text " + each(text[blq], repr) + " -> CENS=1 at " + lloq_from[blq] + " "
    why[blq] += each(lloq[blq])
    why[alq] = "ALQ text " + each(text[alq], repr) + " -> CENS=-1 at " + each(bound[alq])
    why[alq] += " (" + bound_from[alq] + ")"
    below = (cens == 0) & (aval < lloq)
    why[below] += " (below " + lloq_from[below] + ": censored at the LLOQ when read)"
    return pd.DataFrame(
        {"DV": dv, "CENS": cens, "LLOQ": lloq, "WHY": why, "HAS": aval.notna() | blq | alq}
    )


def _times(dom: Domain, first: FirstDose) -> pd.DataFrame:
    """Per record: ``TIME`` in days, where it came from (``SRC``), whether its relative-time
    unit is unknown (``BAD_UNIT``) and whether ``AFRLT`` and the date disagree (``OFF``)."""
    f = dom.frame
    actual, unit, unknown = relative_days(f, "AFRLT", "FRLTU")
    nominal, _, unknown_nom = relative_days(f, "NFRLT", "FRLTU")
    dated, how = record_days(f, first, datetime_col="ADTM", date_col="ADT", tmf_col="ATMF",
                             day_col="ADY")  # fmt: skip
    time = actual.copy()
    src = "TIME from AFRLT " + each(numbers(f.get("AFRLT", unit))[0]) + " " + unit
    src += " (actual time since the first dose)"
    take = time.isna() & dated.notna()
    time[take] = dated[take]
    src[take] = "TIME from " + how[take] + " (ADTM, ADT or ADY)"
    take = time.isna() & nominal.notna()
    time[take] = nominal[take]
    src[take] = "TIME from NFRLT " + each(numbers(f.get("NFRLT", unit))[0][take]) + " " + unit[take]
    src[take] += " (nominal: no AFRLT or date)"
    off = actual.notna() & dated.notna() & (how == "date-time") & ((actual - dated).abs() > 1 / 24)
    bad_unit = unknown | (unknown_nom & actual.isna() & dated.isna())
    return pd.DataFrame({"TIME": time, "SRC": src, "UNIT": unit, "BAD_UNIT": bad_unit,
                         "OFF": off})  # fmt: skip


def _time_problems(dom: Domain, pend: Pending, use: pd.Series, t: pd.DataFrame) -> None:
    """Unknown units and records without time (violations), AFRLT against the date (warning)."""
    f = dom.frame
    bad_unit = use & t["BAD_UNIT"]
    if bad_unit.any():
        pend.problem(
            "cdisc_time_unit_unknown", dom, f.index[bad_unit],
            "the unit of a relative time (`FRLTU`) is blank or not known",
            column="FRLTU", value=clip(t["UNIT"][bad_unit].replace("", "(blank)")),
            expected="one of HOURS, DAYS, MINUTES, WEEKS (or H, D, MIN, W)",
            fix="fill in FRLTU",
        )  # fmt: skip
    no_time = use & t["TIME"].isna() & ~bad_unit
    if no_time.any():
        pend.problem(
            "cdisc_no_time", dom, f.index[no_time],
            "records without relative time (AFRLT, NFRLT) and without a date or day (ADTM, ADT, "
            "ADY)", column="AFRLT", value=clip(text_column(f, "USUBJID")[no_time]),
            expected="AFRLT with FRLTU, or ADTM/ADT, on every record",
            fix="fill in AFRLT (or the sample's date-time)",
        )  # fmt: skip
    off = use & t["OFF"]
    if off.any():
        pend.warnings.append(
            CartpkWarning(
                f"{dom.name}: {int(off.sum())} records' AFRLT differs by more than 1 hour from "
                "their ADTM minus the first dose; AFRLT was used",
                "cdisc_time_disagree",
                {"dataset": dom.name, "records": [int(i) + 1 for i in f.index[off][:20]]},
            )
        )


def _left_out(f: pd.DataFrame, keys: pd.Series, considered: pd.Series) -> pd.Series:
    """Records of samples with no record flagged ``ANL01FL = Y`` (where the dataset has
    the flag): an imputed copy flagged for the analysis keeps its sample in."""
    if "ANL01FL" not in f.columns:
        return pd.Series(False, index=f.index)
    flag = text_column(f, "ANL01FL").str.upper() == "Y"
    kept = set(keys[considered & flag])
    return ~keys.isin(kept)


def _derived_reasons(
    f: pd.DataFrame, derived: pd.Series, observed: pd.Series, keys: pd.Series
) -> pd.Series:
    """Why each derived record is not used, naming the sample's observed record."""
    dtype = text_column(f, "DTYPE")
    where: dict[str, int] = {}
    for p, k in zip(f.index[observed], keys[observed], strict=True):
        where.setdefault(k, int(p))
    out = pd.Series("", index=f.index, dtype=object)
    text = []
    for k, d in zip(keys[derived], dtype[derived], strict=True):
        q = where.get(k)
        text.append(
            f"derived record (DTYPE {d}), not data: "
            + (
                f"record {q + 1} is this sample's observed record"
                if q is not None
                else "no observed record (DTYPE blank) of this sample"
            )
        )
    out[derived] = text
    return out


def _repeats(
    dom: Domain, pend: Pending, live: pd.Series, keys: pd.Series, rows: pd.DataFrame
) -> pd.Series:
    """Reasons for later copies of a sample (same key, same values); conflicts are errors."""
    f = dom.frame
    out = pd.Series("", index=f.index, dtype=object)
    basetype = text_column(f, "BASETYPE")
    sub = rows[live].assign(KEY=keys[live])
    for _, grp in sub[sub["KEY"].duplicated(keep=False)].groupby("KEY", sort=False):
        if len(grp[["TIME", "DV", "CENS", "DVID"]].round(12).drop_duplicates()) > 1:
            pend.problem(
                "cdisc_duplicate_sample", dom, grp.index,
                "records of one sample (same source record) give different values or times",
                value=clip(each(grp["DV"])), subject=grp["ID"].iat[0],
                expected="one value per sample", fix="keep one observed record per sample",
            )  # fmt: skip
            continue
        for p in grp.index[1:]:
            bt = f" under BASETYPE {basetype[p]!r}" if basetype[p] else ""
            out[p] = f"the same sample as record {grp.index[0] + 1}{bt}, which is used: kept once"
    clash = rows[live & (out == "")]
    dup = clash.duplicated(["ID", "DVID", "TIME"], keep=False)
    for (sid, dvid, t), grp in clash[dup].groupby(["ID", "DVID", "TIME"], sort=False):
        pend.problem(
            "cdisc_duplicate_sample", dom, grp.index,
            f"two samples of DVID {dvid} at the same time (TIME {fmt(t)} d)",
            value=clip(each(grp["DV"])), subject=sid,
            expected="one sample per subject, DVID and time",
            fix="remove the extra record, or give it its own PARAMCD or specimen",
        )  # fmt: skip
    return out


def measurements(
    dom: Domain,
    kind: Kind,
    first: FirstDose,
    amap: AnalyteMap,
    pend: Pending,
    handled: pd.Series | None = None,
) -> None:
    """Observation rows of ADPC or ADLB into ``pend``; every other record with its reason.

    Parameters
    ----------
    dom : Domain
        ADPC or ADLB.
    kind : Kind
        :data:`ADPC` or :data:`ADLB`: where the dataset keeps specimen, texts, limits, units.
    first : FirstDose
        Each subject's first dose (``TIME = 0``); records of other subjects are not used.
    amap : AnalyteMap
        ``PARAMCD`` (and specimen) -> DVID and unit.
    pend : Pending
        Receives the rows, the records not used with their reasons, and the problems.
    handled : pandas.Series of bool, optional
        Records another reader logs (ADPC's dose records), left alone here.
    """
    f = dom.frame
    idx = f.index
    considered = pd.Series(True, index=idx) if handled is None else ~handled
    absent = [c for c in ("USUBJID", "PARAMCD", "AVAL") if c not in f.columns]
    if absent:
        for c in absent:
            pend.problem("cdisc_missing_variable", dom, [], f"no variable `{c}`", column=c,
                         expected="the BDS variables USUBJID, PARAMCD, AVAL",
                         fix=f"export {dom.name} with `{c}`")  # fmt: skip
        pend.skip(dom, idx[considered], "not read: variables missing (see the problems)")
        return
    ids = text_column(f, "USUBJID")
    code = text_column(f, "PARAMCD").str.upper()
    dvid, map_unit, source = _dvids(dom, kind, amap, considered)
    reason = pd.Series("", index=idx, dtype=object)
    reason[considered & ~ids.isin(first.when.index)] = "subject has no dose: not in trial.csv"
    unmapped = considered & (reason == "") & (dvid == "")
    reason[unmapped] = (
        f"{dom.name} test " + code[unmapped].replace("", "(blank)") + " is not in the analyte "
        f"map (add a row {dom.name},PARAMCD,,DVID,UNIT to a --map file to convert it)"
    )
    dtype = text_column(f, "DTYPE")
    derived = considered & (reason == "") & (dtype != "")
    times = _times(dom, first)
    time, how = times["TIME"], times["SRC"]
    keys = _sample_keys(f, kind, dvid, time)
    flagged = considered & (reason == "") & ~derived & _left_out(f, keys, considered)
    reason[flagged] = ("ANL01FL " + text_column(f, "ANL01FL")[flagged].replace("", "blank")
                       + ", on every record of this sample: the dataset's producer left it out "
                       "of the analysis")  # fmt: skip
    live = considered & (reason == "") & ~derived
    _time_problems(dom, pend, live, times)
    vals = _values(dom, kind, pend, live)
    reason[live & ~vals["HAS"]] = "no result (AVAL blank, no BLQ or ALQ text)"
    live &= vals["HAS"]
    pre = live & (time < 0)
    reason[pre] = ("before the first dose (TIME " + each(time[pre])
                   + " d): trial.csv starts at the first dose")  # fmt: skip
    live &= ~pre
    rows = pd.DataFrame({"ID": ids, "TIME": time, "DV": vals["DV"], "EVID": 0, "AMT": 0.0,
                         "MDV": 0, "CENS": vals["CENS"], "LLOQ": vals["LLOQ"], "DVID": dvid})  # fmt: skip
    reason[derived] = _derived_reasons(f, derived, considered & (dtype == ""), keys)[derived]
    again = _repeats(dom, pend, live, keys, rows)
    reason[again != ""] = again[again != ""]
    live &= again == ""
    unit = _first_text(f, kind.unit)
    if (live & (unit == "")).any():
        pend.problem("cdisc_unit_missing", dom, idx[live & (unit == "")],
                     "results without a unit (`AVALU` blank)", column="AVALU",
                     expected="the unit of the result on every record used",
                     fix="fill in AVALU")  # fmt: skip
    used = rows[live].assign(UNIT=unit[live], MAP_UNIT=map_unit[live], SOURCE=source[live],
                             _POS=idx[live])  # fmt: skip
    used["_REASON"] = (source[live] + " -> DVID " + dvid[live] + "; " + vals["WHY"][live] + "; "
                       + how[live])  # fmt: skip
    pend.add_rows(dom, used)
    out = considered & ~live
    pend.skip(dom, idx[out], reason[out].tolist())
