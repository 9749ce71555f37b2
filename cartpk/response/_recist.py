"""RECIST 1.1 time-point responses and best overall response from lesion measurements.

Every derived value carries the code of the rule that produced it (``RULES`` lists them)
and, in :attr:`RecistResult.rules`, the numbers behind it.

References
----------
Eisenhauer EA et al. New response evaluation criteria in solid tumours: revised RECIST
guideline (version 1.1). Eur J Cancer 2009;45:228-247 (sections 4.3-4.4, Tables 1-3).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cartpk.errors import CartpkWarning, SpecError, Violation
from cartpk.response._lesions import validate_lesions

__all__ = ["RULES", "RecistResult", "recist"]

CR, PR, SD, PD, NE, NN = "CR", "PR", "SD", "PD", "NE", "NON-CR/NON-PD"
TIMEPOINT_COLUMNS = [
    "ID",
    "DAY",
    "SOD",
    "PCHG_BASE",
    "PCHG_NADIR",
    "TRGRESP",
    "NTRGRESP",
    "NEWLPROG",
    "OVRLRESP",
]
BOR_COLUMNS = ["ID", "BOR_UNCONFIRMED", "BOR_CONFIRMED"]
PR_PCHG = -30.0  # RECIST 1.1 4.3.1: PR is a >= 30 % decrease of the SOD from baseline
PD_PCHG = 20.0  # RECIST 1.1 4.3.1: PD is a >= 20 % increase over the nadir ...
PD_ABS_MM = 5.0  # ... and an absolute increase of >= 5 mm
NODE_NORMAL_MM = 10.0  # RECIST 1.1 4.3.1: CR needs every target node < 10 mm short axis
_EPS = 1e-9  # % units: -30 % computed as -30.000000000000004 still counts as PR

#: rule code -> what it means (RECIST 1.1 section or table it implements)
RULES: dict[str, str] = {
    "baseline": "baseline assessment (DAY <= 0): reference SOD, no response assessed",
    "sod.sum": "SOD = longest diameters of non-nodal + short axes of nodal targets (4.2)",
    "sod.incomplete": "SOD not assessable: at least one target lesion not evaluated",
    "sod.none": "no target lesions at baseline: no SOD",
    "pchg.base": "PCHG_BASE = 100 * (SOD - baseline SOD) / baseline SOD",
    "pchg.nadir": "PCHG_NADIR = 100 * (SOD - nadir) / nadir, nadir = smallest earlier SOD "
    "(baseline included)",
    "pchg.nadir_zero": "nadir SOD is 0 mm: the relative change is undefined",
    "pchg.na": "no SOD at this assessment",
    "trg.cr": "target CR: every non-nodal target 0 mm and every nodal target < 10 mm (4.3.1)",
    "trg.pd": "target PD: SOD >= 20 % over the nadir and >= 5 mm over it (4.3.1)",
    "trg.pd_partial": "target PD although a target was not evaluated: the evaluated "
    "targets alone are >= 20 % and >= 5 mm over the nadir (4.3.1)",
    "trg.pr": "target PR: SOD >= 30 % below baseline (4.3.1)",
    "trg.sd": "target SD: neither PR nor PD (4.3.1)",
    "trg.ne": "target NE: at least one target lesion not evaluated",
    "trg.none": "no target lesions: target response not applicable",
    "ntrg.pd": "non-target PD: unequivocal progression of a non-target lesion (4.3.2)",
    "ntrg.cr": "non-target CR: every non-target lesion absent (4.3.2)",
    "ntrg.ne": "non-target NE: at least one non-target lesion not evaluated",
    "ntrg.noncr_nonpd": "non-target NON-CR/NON-PD: a non-target lesion persists (4.3.2)",
    "ntrg.none": "no non-target lesions at baseline: not applicable",
    "new.unequivocal": "unequivocal new lesion: progression (4.3.2)",
    "new.equivocal": "equivocal new lesion only: recorded, not progression (4.3.2); "
    "if later confirmed, RECIST dates PD from its first scan",
    "new.none": "no new lesion",
    "ovr.pd": "overall PD: target PD, non-target PD or an unequivocal new lesion (Table 1)",
    "ovr.cr": "overall CR: target CR, non-target CR (or none), no new lesion (Table 1)",
    "ovr.pr_cr_noncr": "overall PR: target CR with non-target NON-CR/NON-PD (Table 1)",
    "ovr.pr_cr_ne": "overall PR: target CR with non-target not evaluated (Table 1)",
    "ovr.pr": "overall PR: target PR, non-target not PD, no new lesion (Table 1)",
    "ovr.sd": "overall SD: target SD, non-target not PD, no new lesion (Table 1)",
    "ovr.ne": "overall NE: targets not all evaluated, no PD (Table 1)",
    "ovr.nt_cr": "overall CR, non-target disease only (Table 2)",
    "ovr.nt_noncr": "overall NON-CR/NON-PD, non-target disease only (Table 2)",
    "ovr.nt_ne": "overall NE, non-target disease only (Table 2)",
    "bor.cr": "BOR CR: a CR time point before any PD (unconfirmed)",
    "bor.pr": "BOR PR: a PR time point before any PD (unconfirmed)",
    "bor.cr_confirmed": "BOR CR: CR confirmed by a CR >= confirm_days later, nothing worse "
    "than CR (NE allowed) in between (4.4.1, Table 3)",
    "bor.pr_confirmed": "BOR PR: CR/PR confirmed by a CR or PR >= confirm_days later, "
    "nothing worse than PR (NE allowed) in between (4.4.1, Table 3)",
    "bor.sd": "BOR SD: an SD-or-better time point >= min_sd_days after infusion (4.4.1)",
    "bor.noncr_nonpd": "BOR NON-CR/NON-PD: non-target disease only, a NON-CR/NON-PD-or-"
    "better time point >= min_sd_days after infusion",
    "bor.pd": "BOR PD: progression before any qualifying response (4.4.1, Table 3)",
    "bor.ne": "BOR NE: no qualifying response and no PD (too early, or not evaluable)",
}


@dataclass(frozen=True)
class RecistResult:
    """RECIST 1.1 responses of a set of subjects.

    Attributes
    ----------
    timepoints : pandas.DataFrame
        One row per subject and assessment (the baseline first, with blank responses):
        ``ID, DAY, SOD, PCHG_BASE, PCHG_NADIR, TRGRESP, NTRGRESP, NEWLPROG, OVRLRESP``
        followed by one ``<COLUMN>_RULE`` column per derived value (codes of :data:`RULES`).
        ``SOD`` in mm, ``PCHG_*`` in %.
    bor : pandas.DataFrame
        One row per subject: ``ID, BOR_UNCONFIRMED, BOR_CONFIRMED`` followed by
        ``BOR_UNCONFIRMED_RULE, BOR_CONFIRMED_RULE`` and ``BEST_PCHG_BASE`` (best % change of
        the SOD from baseline up to the first PD; what the waterfall plot shows).
    rules : pandas.DataFrame
        Long table ``ID, DAY, VARIABLE, VALUE, RULE, DETAIL``: every derived value with the
        rule that produced it and the numbers behind it (``DAY`` of a BOR row is the
        assessment that decided it, blank when none did).
    lesions : pandas.DataFrame
        The validated input (``ROW`` = 1-based row in the file).
    min_sd_days, confirm_days : float
        The settings used.
    warnings : tuple of CartpkWarning
        Suspicious input found (already emitted as warnings).
    deaths : pandas.DataFrame
        One row per subject, in the order of :attr:`bor`: ``ID, DEATH_DAY`` (days since
        infusion) from the optional ``DEATH_DAY`` column of the input; ``NaN`` when not given
        (alive or not known to have died). Responses ignore it; time-to-event endpoints
        (:func:`cartpk.er_subjects`) count a death as an event.
    """

    timepoints: pd.DataFrame
    bor: pd.DataFrame
    rules: pd.DataFrame
    lesions: pd.DataFrame
    min_sd_days: float
    confirm_days: float
    warnings: tuple[CartpkWarning, ...] = ()
    deaths: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"ID": pd.Series(dtype=str), "DEATH_DAY": []})
    )


def _pct(x: float, ref: float) -> float:
    return round(100.0 * (x - ref) / ref, 10)


def _mm(x: float) -> str:
    return f"{x:g} mm"


_Rec = dict[str, Any]  # one validated lesion row


@dataclass
class _Baseline:
    day: float
    targets: dict[str, tuple[int, float]]  # lesion -> (nodal, baseline diameter)
    nontargets: list[str]
    sod: float


def _target(base: _Baseline, rows: list[_Rec], nadir: float, nadir_day: float) -> dict[str, Any]:
    """Target part of one assessment: SOD, % changes and TRGRESP with their rules."""
    if not base.targets:
        return {
            "SOD": (np.nan, "sod.none", "no target lesions at baseline"),
            "PCHG_BASE": (np.nan, "pchg.na", "no SOD"),
            "PCHG_NADIR": (np.nan, "pchg.na", "no SOD"),
            "TRGRESP": (None, "trg.none", "no target lesions at baseline"),
        }
    found = {r["LESION"]: r["DIAM_MM"] for r in rows if r["KIND"] == "TARGET"}
    diam = {les: float(found.get(les, math.nan)) for les in base.targets}
    missing = [les for les, d in diam.items() if not math.isfinite(d)]
    measured = {les: d for les, d in diam.items() if math.isfinite(d)}
    total = round(float(sum(measured.values())), 10)  # 31.85 + 17.15 -> 49.0, not 49.00..1
    parts = " + ".join(f"{les} {d:g}" for les, d in measured.items())
    over_nadir = total - nadir
    pd_hit = over_nadir >= PD_ABS_MM - 1e-9 and (
        nadir == 0 or 100.0 * over_nadir / nadir >= PD_PCHG - _EPS
    )
    nadir_txt = f"nadir {_mm(nadir)} (day {nadir_day:g})"
    if missing:
        sod = (
            np.nan,
            "sod.incomplete",
            f"not evaluated: {', '.join(missing)}; evaluated sum {_mm(total)} ({parts or 'none'})",
        )
        na = (np.nan, "pchg.na", "SOD not assessable")
        if pd_hit:
            trg = (
                PD,
                "trg.pd_partial",
                f"evaluated sum {_mm(total)} is {over_nadir:+g} mm over {nadir_txt}",
            )
        else:
            trg = (NE, "trg.ne", f"not evaluated: {', '.join(missing)}")
        return {"SOD": sod, "PCHG_BASE": na, "PCHG_NADIR": na, "TRGRESP": trg}
    pchg_base = _pct(total, base.sod)
    out: dict[str, Any] = {
        "SOD": (total, "sod.sum", parts),
        "PCHG_BASE": (pchg_base, "pchg.base", f"baseline SOD {_mm(base.sod)}"),
    }
    if nadir > 0:
        pchg_nadir = _pct(total, nadir)
        out["PCHG_NADIR"] = (pchg_nadir, "pchg.nadir", nadir_txt)
    else:
        out["PCHG_NADIR"] = (np.nan, "pchg.nadir_zero", nadir_txt)
    nodes = {les: measured[les] for les, (nodal, _) in base.targets.items() if nodal == 1}
    others = {les: measured[les] for les, (nodal, _) in base.targets.items() if nodal != 1}
    if all(d == 0 for d in others.values()) and all(d < NODE_NORMAL_MM for d in nodes.values()):
        detail = "non-nodal targets 0 mm" if others else "no non-nodal targets"
        if nodes:
            detail += "; nodes " + ", ".join(f"{les} {d:g}" for les, d in nodes.items())
            detail += " (< 10 mm)"
        out["TRGRESP"] = (CR, "trg.cr", detail)
    elif pd_hit:
        out["TRGRESP"] = (PD, "trg.pd", f"SOD {_mm(total)} is {over_nadir:+g} mm over {nadir_txt}")
    elif pchg_base <= PR_PCHG + _EPS:
        out["TRGRESP"] = (PR, "trg.pr", f"{pchg_base:g} % from baseline (<= -30 %)")
    else:
        out["TRGRESP"] = (
            SD,
            "trg.sd",
            f"{pchg_base:g} % from baseline, {over_nadir:+g} mm over {nadir_txt}",
        )
    return out


def _nontarget(base: _Baseline, rows: list[_Rec]) -> tuple[str | None, str, str]:
    if not base.nontargets:
        return None, "ntrg.none", "no non-target lesions at baseline"
    found = {r["LESION"]: r["STATUS"] for r in rows if r["KIND"] == "NONTARGET"}
    status = {les: str(found.get(les, "NE")) for les in base.nontargets}
    unreported = [les for les in base.nontargets if les not in found]
    listing = ", ".join(f"{les} {s}" for les, s in status.items())
    if unreported:
        listing += f" (not reported: {', '.join(unreported)})"
    if any(s == "UNEQUIVOCAL_PD" for s in status.values()):
        return PD, "ntrg.pd", listing
    if all(s == "ABSENT" for s in status.values()):
        return CR, "ntrg.cr", listing
    if any(s == "NE" for s in status.values()):
        return NE, "ntrg.ne", listing
    return NN, "ntrg.noncr_nonpd", listing


def _new(rows: list[_Rec], first_seen: dict[str, tuple[float, str]]) -> tuple[str, str, str]:
    new = [r["LESION"] for r in rows if r["KIND"] == "NEW"]
    uneq = [r["LESION"] for r in rows if r["KIND"] == "NEW" and r["STATUS"] == "UNEQUIVOCAL"]
    if uneq:
        items = []
        for les in uneq:
            day, status = first_seen[les]
            seen = f" (first seen {status.lower()} on day {day:g})" if status == "EQUIVOCAL" else ""
            items.append(f"{les}{seen}")
        return "Y", "new.unequivocal", ", ".join(items)
    if new:
        return "N", "new.equivocal", "equivocal: " + ", ".join(new)
    return "N", "new.none", ""


def _overall(trg: str | None, ntrg: str | None, newl: str) -> tuple[str, str, str]:
    parts = f"target {trg or 'none'}, non-target {ntrg or 'none'}, new lesion {newl}"
    if PD in (trg, ntrg) or newl == "Y":
        return PD, "ovr.pd", parts
    if trg is None:  # non-target disease only: RECIST 1.1 Table 2
        table2 = {CR: (CR, "ovr.nt_cr"), NN: (NN, "ovr.nt_noncr"), NE: (NE, "ovr.nt_ne")}
        code, rule = table2[str(ntrg)]
        return code, rule, parts
    if trg == CR:
        if ntrg in (CR, None):
            return CR, "ovr.cr", parts
        return PR, ("ovr.pr_cr_noncr" if ntrg == NN else "ovr.pr_cr_ne"), parts
    table1 = {PR: (PR, "ovr.pr"), SD: (SD, "ovr.sd"), NE: (NE, "ovr.ne")}
    code, rule = table1[trg]
    return code, rule, parts


_RANK = {CR: 3, PR: 2, SD: 1, NN: 1}


def _confirmed(
    tps: list[tuple[float, str]], target: str, confirm_days: float
) -> tuple[float, float] | None:
    """First (day, confirming day) of a ``target`` (CR or PR) response that is confirmed."""
    ok = {CR} if target == CR else {CR, PR}
    for i, (d_i, r_i) in enumerate(tps):
        if r_i not in ok:
            continue
        for d_j, r_j in tps[i + 1 :]:
            if r_j not in ok and r_j != NE:
                break  # something worse than the response in between
            if r_j in ok and d_j - d_i >= confirm_days - 1e-9:
                return d_i, d_j
    return None


def _bor(
    tps: list[tuple[float, str]], min_sd_days: float, confirm_days: float, targets: bool
) -> dict[str, tuple[str, str, str, float]]:
    """Unconfirmed and confirmed best overall response: (value, rule, detail, day)."""
    first_pd = next((i for i, (_, r) in enumerate(tps) if r == PD), None)
    used = tps if first_pd is None else tps[: first_pd + 1]
    after = (
        ""
        if first_pd is None or first_pd == len(tps) - 1
        else (
            f"; {len(tps) - first_pd - 1} assessment(s) after PD on day {tps[first_pd][0]:g} ignored"
        )
    )
    stable, stable_rule = (SD, "bor.sd") if targets else (NN, "bor.noncr_nonpd")
    qualifying = [(d, r) for d, r in used if r in _RANK and d >= min_sd_days - 1e-9]
    early = [(d, r) for d, r in used if r in _RANK and d < min_sd_days - 1e-9]

    def fallback(extra: str) -> tuple[str, str, str, float]:
        if qualifying:
            d, r = qualifying[0]
            return stable, stable_rule, f"{r} on day {d:g} (>= {min_sd_days:g} d){extra}{after}", d
        why = ""
        if early:
            d, r = early[0]
            why = f"; {r} on day {d:g} is before the {min_sd_days:g}-day minimum"
        if first_pd is not None:
            return (
                PD,
                "bor.pd",
                f"PD on day {tps[first_pd][0]:g}{extra}{why}{after}",
                tps[first_pd][0],
            )
        what = "no post-baseline assessment" if not tps else "no evaluable response"
        return NE, "bor.ne", f"{what}{extra}{why}", math.nan

    # unconfirmed: the best time point up to the first PD
    best = max((r for _, r in used if r in (CR, PR)), key=_RANK.__getitem__, default=None)
    if best is not None:
        d = next(d for d, r in used if r == best)
        rule = "bor.cr" if best == CR else "bor.pr"
        unconf = (best, rule, f"{best} on day {d:g} (unconfirmed){after}", d)
    else:
        unconf = fallback("")

    conf: tuple[str, str, str, float] | None = None
    for response, rule in ((CR, "bor.cr_confirmed"), (PR, "bor.pr_confirmed")):
        hit = _confirmed(used, response, confirm_days)
        if hit is not None:
            d_i, d_j = hit
            conf = (
                response,
                rule,
                f"{dict(used)[d_i]} on day {d_i:g} confirmed on day {d_j:g} "
                f"(>= {confirm_days:g} d later){after}",
                d_i,
            )
            break
    if conf is None:
        unconfirmed = [f"{r} on day {d:g}" for d, r in used if r in (CR, PR)]
        extra = f"; not confirmed: {', '.join(unconfirmed)}" if unconfirmed else ""
        conf = fallback(extra)
    return {"BOR_UNCONFIRMED": unconf, "BOR_CONFIRMED": conf}


def _subject(
    sid: str, g: list[_Rec], min_sd_days: float, confirm_days: float
) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    b = [r for r in g if r["DAY"] <= 0]
    tb = [r for r in b if r["KIND"] == "TARGET"]
    base = _Baseline(
        day=max(r["DAY"] for r in b),
        targets={r["LESION"]: (int(r["NODAL"]), float(r["DIAM_MM"])) for r in tb},
        nontargets=list(dict.fromkeys(r["LESION"] for r in b if r["KIND"] == "NONTARGET")),
        sod=round(float(sum(r["DIAM_MM"] for r in tb)), 10),
    )
    first_seen: dict[str, tuple[float, str]] = {}
    for r in sorted((r for r in g if r["KIND"] == "NEW"), key=lambda r: r["DAY"]):
        first_seen.setdefault(r["LESION"], (r["DAY"], r["STATUS"]))
    visits: dict[float, list[_Rec]] = {}
    for r in g:
        if r["DAY"] > 0:
            visits.setdefault(r["DAY"], []).append(r)
    rules: list[dict[str, Any]] = []
    tp_rows: list[dict[str, Any]] = []

    def record(day: float, values: dict[str, tuple[Any, str, str]]) -> None:
        row: dict[str, Any] = {"ID": sid, "DAY": day}
        for var, (val, rule, detail) in values.items():
            row[var] = val
            row[f"{var}_RULE"] = rule
            rules.append(
                {
                    "ID": sid,
                    "DAY": day,
                    "VARIABLE": var,
                    "VALUE": val,
                    "RULE": rule,
                    "DETAIL": detail,
                }
            )
        tp_rows.append(row)

    has_targets = bool(base.targets)
    base_sod = base.sod if has_targets else np.nan
    parts = " + ".join(f"{les} {d:g}" for les, (_, d) in base.targets.items())
    blank = (None, "baseline", "baseline assessment")
    record(
        base.day,
        {
            "SOD": (base_sod, "baseline", f"baseline SOD: {parts}" if parts else "no targets"),
            "PCHG_BASE": (0.0 if has_targets else np.nan, "baseline", "reference"),
            "PCHG_NADIR": (np.nan, "baseline", "reference"),
            "TRGRESP": blank,
            "NTRGRESP": blank,
            "NEWLPROG": blank,
            "OVRLRESP": blank,
        },
    )
    nadir, nadir_day = base.sod, base.day
    tps: list[tuple[float, str]] = []
    for day in sorted(visits):
        rows = visits[day]
        values = _target(base, rows, nadir, nadir_day)
        values["NTRGRESP"] = _nontarget(base, rows)
        values["NEWLPROG"] = _new(rows, first_seen)
        values["OVRLRESP"] = _overall(
            values["TRGRESP"][0], values["NTRGRESP"][0], values["NEWLPROG"][0]
        )
        record(day, values)
        tps.append((day, values["OVRLRESP"][0]))
        sod = values["SOD"][0]
        if math.isfinite(sod) and sod < nadir:
            nadir, nadir_day = sod, day

    bor = _bor(tps, min_sd_days, confirm_days, has_targets)
    bor_row: dict[str, Any] = {"ID": sid}
    for var, (val, rule, detail, day) in bor.items():
        bor_row[var] = val
        bor_row[f"{var}_RULE"] = rule
        rules.append(
            {"ID": sid, "DAY": day, "VARIABLE": var, "VALUE": val, "RULE": rule, "DETAIL": detail}
        )
    first_pd = next((d for d, r in tps if r == PD), math.inf)
    changes = [
        r["PCHG_BASE"]
        for r in tp_rows[1:]
        if r["DAY"] <= first_pd and math.isfinite(r["PCHG_BASE"])
    ]
    bor_row["BEST_PCHG_BASE"] = min(changes) if changes else np.nan
    return tp_rows, bor_row, rules


def _check_days(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise SpecError(
            f"`{name}` must be a number of days >= 0",
            [
                Violation(
                    "option_invalid",
                    f"`{name}` is not a number of days >= 0",
                    column=name,
                    value=repr(value),
                    expected="a number of days >= 0",
                    fix=f"pass e.g. `{name}=42`"
                    if name == "min_sd_days"
                    else f"pass e.g. `{name}=28`",
                )
            ],
        )


def recist(
    lesions: str | os.PathLike[str] | pd.DataFrame,
    *,
    min_sd_days: float = 42,
    confirm_days: float = 28,
) -> RecistResult:
    """RECIST 1.1 time-point and best overall responses from lesion measurements.

    Parameters
    ----------
    lesions : path or pandas.DataFrame
        One row per lesion per assessment: ``ID``; ``DAY`` (days since infusion, baseline
        ``DAY <= 0``); ``LESION`` (identifier kept across assessments); ``KIND``
        (``TARGET``, ``NONTARGET``, ``NEW``); ``NODAL`` (1 lymph node, 0 otherwise; may be
        blank for non-target and new lesions); ``DIAM_MM`` (longest diameter, short axis for
        nodes, in mm; blank when not evaluated, 0 when disappeared); ``STATUS``
        (``NONTARGET``: ``PRESENT``, ``ABSENT``, ``UNEQUIVOCAL_PD``, ``NE``; ``NEW``:
        ``UNEQUIVOCAL``, ``EQUIVOCAL``; ``TARGET``: blank, ``PRESENT``, ``ABSENT`` (0 mm) or
        ``NE``); optional ``ORGAN``; optional ``DEATH_DAY`` (day of death since infusion,
        one value per subject, blank if alive or unknown; read into :attr:`RecistResult.deaths`,
        not used for responses). All rows of one assessment carry the same ``DAY``; a
        baseline lesion without a row at an assessment counts as not evaluated. Other
        columns are ignored.
    min_sd_days : float, default 42
        Minimum time after infusion (days) for SD (or an unconfirmed CR/PR) to count as
        best overall response.
    confirm_days : float, default 28
        Minimum time (days) between a CR/PR and the assessment that confirms it.

    Returns
    -------
    RecistResult
        ``.timepoints``, ``.bor``, ``.rules``, ``.deaths`` (see :class:`RecistResult`).

    Raises
    ------
    DatasetError
        The table has problems; every one is listed (codes ``missing_column``,
        ``kind_invalid``, ``status_invalid``, ``status_missing``, ``nodal_invalid``,
        ``diam_not_numeric``, ``diam_negative``, ``day_missing``, ``day_not_numeric``,
        ``id_missing``, ``lesion_missing``, ``duplicate_assessment``, ``kind_inconsistent``,
        ``nodal_inconsistent``, ``organ_inconsistent``, ``no_baseline``,
        ``new_at_baseline``, ``target_no_baseline``, ``nontarget_no_baseline``,
        ``target_baseline_not_measured``, ``target_baseline_zero``, ``duplicate_baseline``,
        ``target_status_conflict``, ``too_many_targets``, ``too_many_targets_organ``,
        ``death_day_not_numeric``, ``death_day_negative``, ``death_day_inconsistent``,
        ``assessment_after_death``, ``unreadable``).
    SpecError
        ``min_sd_days`` or ``confirm_days`` is negative or not a number.

    Warns
    -----
    CartpkWarning
        ``nodal_target_small`` (nodal target < 15 mm at baseline), ``target_small``
        (non-nodal target < 10 mm), ``no_target_lesions`` (Table 2 is used),
        ``baseline_early`` (baseline > 28 days before infusion), ``organ_missing``.

    Notes
    -----
    ``SOD`` is missing when a target lesion was not evaluated; the nadir is the smallest
    complete SOD before the assessment, baseline included. Target response, checked in this
    order:

    ======  ==============================================================================
    CR      every non-nodal target 0 mm and every nodal target < 10 mm (SOD may be > 0)
    PD      SOD >= 20 % over the nadir **and** >= 5 mm over it; with a target not evaluated,
            PD when the evaluated targets alone meet it
    PR      SOD <= 70 % of baseline (exactly -30 % counts)
    NE      a target not evaluated (and no PD)
    SD      otherwise
    ======  ==============================================================================

    Overall time-point response follows RECIST 1.1 Table 1 (Table 2 for subjects without
    target lesions, which gives ``NON-CR/NON-PD``). Only ``UNEQUIVOCAL`` new lesions are
    progression (``NEWLPROG = "Y"``); equivocal ones are recorded in the rules.

    Best overall response considers assessments up to and including the first PD:
    unconfirmed BOR is the best of CR > PR > SD > PD > NE; confirmed BOR needs a CR (PR)
    followed by a CR (CR or PR) at least ``confirm_days`` later with nothing worse than it
    in between (NE allowed; a PR confirmed by a CR is PR, a CR followed by a PR is PR).
    SD (and an unconfirmed CR/PR counted as SD) needs a time point at least
    ``min_sd_days`` after infusion, else BOR is PD if progression followed, NE otherwise.

    Not covered: lesion splitting/merging, tumour markers for non-target CR, back-dating PD
    to an earlier equivocal scan (noted in the rule detail instead), iRECIST.

    References
    ----------
    Eisenhauer EA et al. Eur J Cancer 2009;45:228-247 (RECIST 1.1).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({
    ...     "ID": ["1"] * 3, "DAY": [-7, 56, 90], "LESION": ["T1"] * 3,
    ...     "KIND": ["TARGET"] * 3, "NODAL": [0] * 3, "DIAM_MM": [50, 35, 30],
    ...     "STATUS": [""] * 3,
    ... })
    >>> res = recist(t)
    >>> res.timepoints[["DAY", "SOD", "PCHG_BASE"]].values.tolist()
    [[-7.0, 50.0, 0.0], [56.0, 35.0, -30.0], [90.0, 30.0, -40.0]]
    >>> res.timepoints["OVRLRESP"].tolist()
    [nan, 'PR', 'PR']
    >>> res.bor[["BOR_UNCONFIRMED", "BOR_CONFIRMED"]].iloc[0].tolist()
    ['PR', 'PR']
    """
    _check_days("min_sd_days", min_sd_days)
    _check_days("confirm_days", confirm_days)
    parsed = validate_lesions(lesions)
    for w in parsed.warnings:
        warnings.warn(w, stacklevel=2)
    t = parsed.table
    tp_rows: list[dict[str, Any]] = []
    bor_rows: list[dict[str, Any]] = []
    rule_rows: list[dict[str, Any]] = []
    subjects: dict[str, list[_Rec]] = {}
    for r in t.to_dict("records"):
        subjects.setdefault(str(r["ID"]), []).append(r)
    for sid, g in subjects.items():
        tps, bor, rules = _subject(sid, g, float(min_sd_days), float(confirm_days))
        tp_rows += tps
        bor_rows.append(bor)
        rule_rows += rules
    rule_cols = [f"{c}_RULE" for c in TIMEPOINT_COLUMNS[2:]]
    timepoints = pd.DataFrame(tp_rows, columns=TIMEPOINT_COLUMNS + rule_cols)
    for c in ("DAY", "SOD", "PCHG_BASE", "PCHG_NADIR"):
        timepoints[c] = timepoints[c].astype(float)
    for c in [*TIMEPOINT_COLUMNS[5:], *rule_cols]:  # codes; blank (NaN) at baseline
        timepoints[c] = timepoints[c].astype("str")
    bor_cols = BOR_COLUMNS + ["BOR_UNCONFIRMED_RULE", "BOR_CONFIRMED_RULE", "BEST_PCHG_BASE"]
    rules = pd.DataFrame(rule_rows, columns=["ID", "DAY", "VARIABLE", "VALUE", "RULE", "DETAIL"])
    rules["VALUE"] = rules["VALUE"].map(
        lambda v: (
            ""
            if v is None or (isinstance(v, float) and math.isnan(v))
            else (f"{v:g}" if isinstance(v, float) else str(v))
        )
    )
    return RecistResult(
        timepoints=timepoints,
        bor=pd.DataFrame(bor_rows, columns=bor_cols),
        rules=rules,
        lesions=t,
        min_sd_days=float(min_sd_days),
        confirm_days=float(confirm_days),
        warnings=parsed.warnings,
        deaths=parsed.deaths,
    )
