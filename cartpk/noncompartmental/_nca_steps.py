"""The steps of observed NCA on a table, in order: the records as padded per-profile arrays
(samples not used recorded), the BLQ rules by position, C0 at infusion, the per-profile
parameters with lambda_z (hand-picked points included), the interval AUCs, and the long and
wide tables. :func:`cartpk.noncompartmental._nca._compute` runs them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cartpk.errors import SpecError, Violation
from cartpk.noncompartmental import _core
from cartpk.noncompartmental._nca_rules import (
    _first_reason,
    _fmt,
    _iso,
    _pad,
    _reasons,
    _Rules,
    _wide_interval_name,
)
from cartpk.noncompartmental._options import BLQRules, LambdaZ
from cartpk.noncompartmental._registry import PARAMETERS, Parameter, unit_for

__all__: list[str] = []

_LONG_COLUMNS = [
    "ID",
    "DVID",
    "PPTESTCD",
    "PPTEST",
    "PPORRES",
    "PPORRESU",
    "PPSTINT",
    "PPENINT",
    "REASON",
    "PPANMETH",
]

#: one interval's AUC: start, end, values, reasons and methods (PPANMETH) per profile
IntervalValues = tuple[float, float, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class _Terminal:
    """What interval AUCs need of each profile's parameters: Tlast, lambda_z, reasons."""

    tlast: np.ndarray
    ilast: np.ndarray
    no_q: np.ndarray
    lam: np.ndarray
    r_noq: np.ndarray
    r_lz: np.ndarray


@dataclass(frozen=True)
class _Ends:
    """How each profile's samples end: first and last sample, a trailing BLQ zero, all BLQ."""

    first_t: np.ndarray
    last_t: np.ndarray
    last_c: np.ndarray
    zero_tail: np.ndarray
    t_zero: np.ndarray
    all_blq: np.ndarray


# ----------------------------------------------------------------------------- profiles


def _profiles(obs: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Records sorted by profile (subjects in file order, then DVID) and time; profile codes."""
    obs = obs.assign(ID=obs["ID"].astype(str), DVID=obs["DVID"].astype(str))
    # profiles in order of first appearance of the subject (file order), then DVID
    obs = obs.assign(_order=pd.factorize(obs["ID"])[0])
    obs = obs.sort_values(["_order", "DVID", "TIME"], kind="stable").drop(columns="_order")
    key = obs["ID"].to_numpy(dtype=object) + "\x00" + obs["DVID"].to_numpy(dtype=object)
    codes, _ = pd.factorize(key, sort=False)
    first = np.unique(codes, return_index=True)[1]
    keys = pd.DataFrame({"ID": obs["ID"].to_numpy()[first], "DVID": obs["DVID"].to_numpy()[first]})
    return obs, codes, keys


def _sample_grid(
    obs: pd.DataFrame, codes: np.ndarray, n: int, rules: _Rules
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Padded (profile x sample) ``TIME, DV, ROW, CENS, LLOQ`` of the samples used."""
    time_all = obs["TIME"].to_numpy(dtype=float)
    dv_all = obs["DV"].to_numpy(dtype=float)
    row_all = pd.to_numeric(obs["ROW"], errors="coerce").to_numpy(dtype=float)
    keep = _usable_samples(codes, time_all, dv_all, row_all, rules)
    codes_k = codes[keep]
    # position within profile
    starts = np.r_[0, np.flatnonzero(np.diff(codes_k)) + 1] if len(codes_k) else np.array([], int)
    pos = np.arange(len(codes_k)) - np.repeat(starts, np.diff(np.r_[starts, len(codes_k)]))
    m = int(pos.max()) + 1 if len(pos) else 1
    T = _pad(codes_k, pos, n, m, time_all[keep], np.nan)
    DV = _pad(codes_k, pos, n, m, dv_all[keep], np.nan)
    ROW = _pad(codes_k, pos, n, m, row_all[keep], np.nan)
    CENS = _pad(codes_k, pos, n, m, obs["CENS"].to_numpy(dtype=float)[keep], np.nan)
    LLOQ = _pad(codes_k, pos, n, m, obs["LLOQ"].to_numpy(dtype=float)[keep], np.nan)
    return T, DV, ROW, CENS, LLOQ


def _usable_samples(
    codes: np.ndarray, time: np.ndarray, dv: np.ndarray, row: np.ndarray, rules: _Rules
) -> np.ndarray:
    """Mask of the records that enter a profile; those before infusion or without DV recorded."""
    predose = time < 0
    rules.add(
        codes[predose],
        row[predose],
        time[predose],
        "predose_excluded",
        "sample before TIME 0 (infusion) not used",
    )
    nodv = ~predose & np.isnan(dv)
    rules.add(codes[nodv], row[nodv], time[nodv], "dv_missing", "DV is empty; sample not used")
    return ~(predose | nodv)


# ----------------------------------------------------------------------------- BLQ


Record = Callable[[np.ndarray, str, str], None]


def _recorder(rules: _Rules, ROW: np.ndarray, T: np.ndarray) -> Record:
    """A function recording a rule for every sample in a (profile x sample) mask."""

    def record(mask: np.ndarray, rule: str, detail: str) -> None:
        r, c = np.nonzero(mask)
        rules.add(r, ROW[r, c], T[r, c], rule, detail)

    return record


def _zeroed(C: np.ndarray, mask: np.ndarray, record: Record, rule: str, detail: str) -> np.ndarray:
    """``C`` with the samples in ``mask`` set to 0, recorded as ``rule``."""
    record(mask, rule, detail)
    return np.where(mask, 0.0, C)


def _blq_positions(
    T: np.ndarray, DV: np.ndarray, CENS: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Masks ``is_blq, quant, before, between, after`` (BLQ relative to the quantifiable
    samples) and each profile's last quantifiable column (-1 when none)."""
    m = T.shape[1]
    present = np.isfinite(T)
    is_blq = present & ((CENS == 1) | (DV == 0))
    quant = present & ~is_blq
    any_q = quant.any(axis=1)
    first_q = np.where(any_q, np.argmax(quant, axis=1), m)
    last_q = np.where(any_q, m - 1 - np.argmax(quant[:, ::-1], axis=1), -1)
    col = np.arange(m)[None, :]
    before = is_blq & (col < first_q[:, None])
    after = is_blq & (col > last_q[:, None]) & any_q[:, None]
    between = is_blq & ~before & ~after
    return is_blq, quant, before, between, after, last_q


def _apply_blq(
    T: np.ndarray,
    DV: np.ndarray,
    ROW: np.ndarray,
    CENS: np.ndarray,
    LLOQ: np.ndarray,
    blq: BLQRules,
    rules: _Rules,
) -> np.ndarray:
    """Concentrations after the BLQ rules by position (``NaN``: not used), each recorded."""
    is_blq, quant, before, between, after, last_q = _blq_positions(T, DV, CENS)
    limit = np.where(np.isfinite(LLOQ), LLOQ, np.where(CENS == 1, DV, np.nan))
    C = np.where(quant, DV, np.nan)
    record = _recorder(rules, ROW, T)
    for position, mask in (("before", before), ("between", between), ("after", after)):
        rule = getattr(blq, position)
        C = _blq_rule(C, mask, position, rule, record, limit=limit, last_q=last_q)
    zero_dv = is_blq & (CENS != 1)
    if zero_dv.any():
        record(zero_dv, "dv_zero_as_blq", "DV recorded as 0 treated as BLQ (as PKNCA does)")
    return C


#: each BLQ position's recorded rule, the samples it concerns and what "drop" is called
_BLQ_POSITIONS = {
    "before": ("blq_before_first", "BLQ before the first quantifiable sample", "dropped"),
    "between": ("blq_between", "BLQ between quantifiable samples", "dropped"),
    "after": ("blq_after_last", "BLQ after the last quantifiable sample", "excluded"),
}


def _blq_rule(
    C: np.ndarray,
    mask: np.ndarray,
    position: str,
    rule: str,
    record: Record,
    *,
    limit: np.ndarray,
    last_q: np.ndarray,
) -> np.ndarray:
    """Apply the :class:`BLQRules` ``rule`` of ``position`` to the BLQ samples in ``mask``.

    ``"zero"`` and ``"drop"`` work alike at every position; ``limit`` (each sample's limit)
    serves ``"half_lloq"``/``"lloq"`` and ``last_q`` (each profile's last quantifiable
    column) ``"first_zero"``.
    """
    code, samples, dropped = _BLQ_POSITIONS[position]
    if rule == "zero":
        return _zeroed(C, mask, record, code, f"{samples} set to 0")
    if rule in ("half_lloq", "lloq"):
        return _blq_at_limit(C, mask, limit, 0.5 if rule == "half_lloq" else 1.0, record)
    if rule == "first_zero":
        return _blq_first_zero(C, mask, last_q, record)
    record(mask, code, f"{samples} {dropped}")
    return C


def _blq_at_limit(
    C: np.ndarray, between: np.ndarray, limit: np.ndarray, factor: float, record: Record
) -> np.ndarray:
    """BLQ samples between quantifiable ones set to ``factor`` times their limit, if known."""
    known = between & np.isfinite(limit) & (limit > 0)
    C = np.where(known, factor * limit, C)
    what = "half the limit" if factor == 0.5 else "the limit"
    record(known, "blq_between", f"BLQ between quantifiable samples set to {what}")
    record(
        between & ~known,
        "blq_between",
        "BLQ between quantifiable samples dropped: its limit (LLOQ) is unknown",
    )
    return C


def _blq_first_zero(
    C: np.ndarray, after: np.ndarray, last_q: np.ndarray, record: Record
) -> np.ndarray:
    """The first BLQ sample after the last quantifiable one set to 0, the later ones dropped."""
    col = np.arange(C.shape[1])[None, :]
    # the first BLQ after Tlast is the next present sample after last_q
    first_after = after & (col == (last_q[:, None] + 1))
    C = _zeroed(
        C,
        first_after,
        record,
        "blq_after_last",
        "first BLQ after the last quantifiable set to 0",
    )
    record(after & ~first_after, "blq_after_last", "later BLQ after the last dropped")
    return C


def _impute_c0(
    T: np.ndarray, C: np.ndarray, ROW: np.ndarray, rules: _Rules
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prepend ``C(0) = 0`` to each profile with data but no sample at ``TIME`` 0."""
    n = T.shape[0]
    has0 = (np.isfinite(C) & (T == 0)).any(axis=1)
    need = ~has0 & np.isfinite(C).any(axis=1)
    T = np.hstack([np.where(need, 0.0, np.nan)[:, None], T])
    C = np.hstack([np.where(need, 0.0, np.nan)[:, None], C])
    ROW = np.hstack([np.full((n, 1), np.nan), ROW])
    r = np.flatnonzero(need)
    rules.add(r, None, np.zeros(len(r)), "c0_imputed", "no sample at TIME 0: C(0)=0 used")
    return T, C, ROW


# ----------------------------------------------------------------------------- parameters


def _parameters(
    T: np.ndarray,
    C: np.ndarray,
    ROW: np.ndarray,
    keys: pd.DataFrame,
    method: _core.AucMethod,
    lz: LambdaZ,
    rules: _Rules,
) -> tuple[dict[str, Any], _Terminal]:
    """Every non-interval parameter as ``PPTESTCD -> (values, reasons)``, and what intervals
    need of them."""
    cmax, tmax, imax = _core.peak(T, C)
    tlast, clast, ilast = _core.last_positive(T, C)
    auclast = _core.auc_last(T, C, ilast, method)
    no_q = ilast < 0
    r_noq = _reasons(no_q, "no_quantifiable", "no quantifiable (positive) concentration")
    fit, r_lz = _terminal_fit(T, C, ROW, keys, imax, (tlast, clast, ilast), r_noq, lz, rules)
    lam = fit.lambda_z
    with np.errstate(divide="ignore", invalid="ignore"):
        half_life = np.log(2.0) / lam
        aucifo = auclast + clast / lam
        aucifp = auclast + fit.clast_pred / lam
        aucpeo = 100.0 * (aucifo - auclast) / aucifo
        aucpep = 100.0 * (aucifp - auclast) / aucifp

    values: dict[str, Any] = {
        "CMAX": (cmax, r_noq),
        "TMAX": (tmax, r_noq),
        "TLST": (tlast, r_noq),
        "CLST": (clast, r_noq),
        "AUCLST": (auclast, r_noq),
        "LAMZ": (lam, r_lz),
        "LAMZHL": (half_life, r_lz),
        "LAMZNPT": (np.where(np.isfinite(lam), fit.npoints, np.nan), r_lz),
        "LAMZLL": (fit.lower, r_lz),
        "LAMZUL": (fit.upper, r_lz),
        "R2": (fit.r2, r_lz),
        "R2ADJ": (fit.r2adj, r_lz),
        "CLSTP": (fit.clast_pred, r_lz),
        "AUCIFO": (aucifo, r_lz),
        "AUCIFP": (aucifp, r_lz),
        "AUCPEO": (aucpeo, r_lz),
        "AUCPEP": (aucpep, r_lz),
    }
    return values, _Terminal(tlast, ilast, no_q, lam, r_noq, r_lz)


def _terminal_fit(
    T: np.ndarray,
    C: np.ndarray,
    ROW: np.ndarray,
    keys: pd.DataFrame,
    imax: np.ndarray,
    last: tuple[np.ndarray, np.ndarray, np.ndarray],
    r_noq: np.ndarray,
    lz: LambdaZ,
    rules: _Rules,
) -> tuple[_core.LambdaZFit, np.ndarray]:
    """The lambda_z regression of each profile (``last``: Tlast, Clast, its column) and the
    reason where it is missing."""
    tlast, clast, ilast = last
    no_q = ilast < 0
    colc = np.arange(T.shape[1])[None, :]
    start = imax[:, None] if lz.allow_tmax else imax[:, None] + 1
    cand = np.isfinite(C) & (C > 0) & (colc >= start) & (colc <= ilast[:, None]) & ~no_q[:, None]
    fixed = np.zeros(len(keys), dtype=bool)
    if lz.manual is not None and len(lz.manual):
        cand, fixed = _apply_manual(lz.manual, keys, T, C, ROW, cand, rules)
    fit = _core.lambda_z(
        T, C, cand, tlast, clast, min_points=lz.min_points, tolerance=lz.tolerance, fixed=fixed
    )
    too_few = ~no_q & (fit.ncandidates < lz.min_points)
    where = np.where(fixed, "chosen by hand", "after Tmax" if not lz.allow_tmax else "")
    r_few = _reasons(
        too_few,
        "lambda_z_too_few_points",
        [
            f"{k} positive point(s) {w} at or before Tlast; lambda_z needs {lz.min_points}".replace(
                "  ", " "
            )
            for k, w in zip(fit.ncandidates, where, strict=True)
        ],
    )
    notpos = ~no_q & ~too_few & ~np.isfinite(fit.lambda_z)
    r_notpos = _reasons(
        notpos,
        "lambda_z_not_positive",
        "no terminal regression has a negative slope (lambda_z > 0)",
    )
    return fit, _first_reason(r_noq, r_few, r_notpos)


def _apply_manual(
    manual: pd.DataFrame,
    keys: pd.DataFrame,
    T: np.ndarray,
    C: np.ndarray,
    ROW: np.ndarray,
    cand: np.ndarray,
    rules: _Rules,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply hand-picked lambda_z points; every unmatched row is reported at once."""
    cand = cand.copy()
    fixed = np.zeros(len(keys), dtype=bool)
    ids = keys["ID"].to_numpy()
    dvids = keys["DVID"].to_numpy()
    include: dict[int, list[int]] = {}
    problems = []
    for i, rec in enumerate(manual.to_dict("records")):
        sid = str(rec["ID"])
        mask = ids == sid
        if "DVID" in rec and rec["DVID"] is not None and rec["DVID"] == rec["DVID"]:
            mask &= dvids == str(rec["DVID"])
        profiles = np.flatnonzero(mask)
        t = float(rec["TIME"])
        hit = None
        for p in profiles:
            cols = np.flatnonzero(np.isclose(T[p], t, rtol=1e-9, atol=1e-12) & (C[p] > 0))
            if len(cols):
                hit = (int(p), int(cols[0]))
                break
        if hit is None:
            problems.append(
                Violation(
                    "lambda_z_manual_unmatched",
                    "a manual lambda_z point is not a positive concentration of that subject",
                    id=sid,
                    rows=(i + 1,),
                    value=f"TIME={t:g}",
                    expected="the TIME of a quantifiable sample of the subject",
                    fix="correct `TIME`/`ID` in the manual table",
                )
            )
            continue
        p, c = hit
        rule = f"lambda_z_manual_{rec['ACTION']}"
        rules.add(np.array([p]), ROW[p, c : c + 1], T[p, c : c + 1], rule, str(rec["REASON"]))
        if rec["ACTION"] == "exclude":
            cand[p, c] = False
        else:
            include.setdefault(p, []).append(c)
    if problems:
        raise SpecError("manual lambda_z selection does not match the data", problems)
    for p, cols in include.items():
        cand[p, :] = False
        cand[p, cols] = True
        fixed[p] = True
    return cand, fixed


def _with_reasons(v: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values present exactly where there is no reason (a non-finite one gets a reason)."""
    bad = ~np.isfinite(v) & np.equal(r, None)
    if bad.any():  # pragma: no cover - a guard against silent gaps
        r = r.copy()
        r[bad] = "[not_computable] value is not finite"
    return np.where(np.equal(r, None), v, np.nan), r


# ----------------------------------------------------------------------------- intervals


def _profile_ends(T: np.ndarray, C: np.ndarray, count: np.ndarray, term: _Terminal) -> _Ends:
    """Where each compacted profile starts and ends, for the interval AUCs."""
    rows_i = np.arange(T.shape[0])
    # a BLQ sample kept as 0 after Tlast (the samples after Tlast are all zeros)
    zero_tail = (term.ilast >= 0) & (count - 1 > term.ilast)
    return _Ends(
        first_t=T[:, 0],
        last_t=T[rows_i, np.maximum(count - 1, 0)],
        last_c=C[rows_i, np.maximum(count - 1, 0)],
        zero_tail=zero_tail,
        t_zero=np.where(zero_tail, T[rows_i, np.minimum(term.ilast + 1, T.shape[1] - 1)], np.nan),
        # no quantifiable sample but BLQ samples kept as 0 (PKNCA: AUC 0)
        all_blq=term.no_q & (count > 0),
    )


def _interval_auc(
    T: np.ndarray,
    C: np.ndarray,
    count: np.ndarray,
    interval: tuple[float, float],
    term: _Terminal,
    ends: _Ends,
    *,
    method: _core.AucMethod,
    extrapolate: bool,
    time_unit: str,
    rules: _Rules,
) -> IntervalValues:
    """AUC over one interval for every profile, with reasons and methods; rules recorded."""
    a, b = interval
    n = T.shape[0]
    lam, no_q = term.lam, term.no_q
    fa = _core.auc_at(T, C, count, np.full(n, a), method, lambda_z=lam, extrapolate=extrapolate)
    fb = _core.auc_at(T, C, count, np.full(n, b), method, lambda_z=lam, extrapolate=extrapolate)
    val = fb - fa
    early = ~no_q & (a < ends.first_t)
    r_early = _reasons(
        early,
        "interval_before_first_sample",
        [
            f"interval start {_fmt(a)} {time_unit} is before the first sample at "
            f"{_fmt(t)} {time_unit}"
            for t in ends.first_t
        ],
    )
    beyond = ~no_q & ~early & (b > ends.last_t) & (ends.last_c > 0)
    r_late = _late_reason(a, b, beyond, term, extrapolate, time_unit, rules)
    r_noq_int = np.where(ends.all_blq, None, term.r_noq)
    reason = _first_reason(r_noq_int, r_early, r_late)
    val = np.where(ends.all_blq, 0.0, val)
    how = _interval_method(b, term, ends)
    val, reason = _with_reasons(val, reason)
    ok = np.equal(reason, None)
    how = np.where(ok, how, None)
    blq_zero, all_blq = ok & (how == "blq_zero"), ok & (how == "all_blq")
    _record_interval_methods(a, b, blq_zero, all_blq, term.tlast, ends, time_unit, rules)
    return a, b, val, reason, how


def _late_reason(
    a: float,
    b: float,
    beyond: np.ndarray,
    term: _Terminal,
    extrapolate: bool,
    time_unit: str,
    rules: _Rules,
) -> np.ndarray:
    """Reasons for intervals ending after Tlast that cannot be completed; extrapolations
    with lambda_z recorded as rule ``aucint_extrapolated``."""
    tlast = term.tlast
    if not extrapolate:
        return _reasons(
            beyond,
            "interval_after_tlast",
            [
                f"interval end {_fmt(b)} {time_unit} is after Tlast {_fmt(t)} {time_unit}, "
                "the last sample used (no BLQ sample kept as 0 follows it), and extrapolation is off"
                for t in tlast
            ],
        )
    r_late = _reasons(
        beyond & ~np.isfinite(term.lam),
        "interval_needs_lambda_z",
        [
            f"interval end {_fmt(b)} {time_unit} is after Tlast {_fmt(t)} {time_unit}, "
            "the last sample used (no BLQ sample kept as 0 follows it), and lambda_z is missing: "
            f"{str(rz)[str(rz).find(']') + 2 :]}"
            for t, rz in zip(tlast, term.r_lz, strict=True)
        ],
    )
    used = beyond & np.isfinite(term.lam)
    _add_at_end(
        rules,
        used,
        b,
        "aucint_extrapolated",
        [
            f"AUC {_fmt(a)}-{_fmt(b)} {time_unit} extrapolated from Tlast {_fmt(t)} with lambda_z"
            for t in tlast[used]
        ]
        if used.any()
        else "",
    )
    return r_late


def _interval_method(b: float, term: _Terminal, ends: _Ends) -> np.ndarray:
    """``PPANMETH`` of each profile's AUC up to ``b``: how the interval end is reached."""
    with np.errstate(invalid="ignore"):
        after_tlast = b > term.tlast
    how = np.full(len(term.tlast), None, dtype=object)
    how[~after_tlast & ~term.no_q] = "interpolated"
    how[after_tlast & ends.zero_tail] = "blq_zero"
    how[after_tlast & ~ends.zero_tail & ~term.no_q] = "extrapolated_lambda_z"
    how[ends.all_blq] = "all_blq"
    return how


def _record_interval_methods(
    a: float,
    b: float,
    blq_zero: np.ndarray,
    all_blq: np.ndarray,
    tlast: np.ndarray,
    ends: _Ends,
    time_unit: str,
    rules: _Rules,
) -> None:
    """Record the interval AUCs ended through a BLQ zero and those of all-BLQ profiles."""
    span = f"AUC {_fmt(a)}-{_fmt(b)} {time_unit}"
    _add_at_end(
        rules,
        blq_zero,
        b,
        "aucint_blq_zero",
        [
            f"{span}: linear from Clast at Tlast {_fmt(t)} {time_unit} to the BLQ sample "
            f"kept as 0 at {_fmt(z)} {time_unit}" + ("" if b <= z else ", 0 after it")
            for t, z in zip(tlast[blq_zero], ends.t_zero[blq_zero], strict=True)
        ]
        if blq_zero.any()
        else "",
    )
    _add_at_end(
        rules,
        all_blq,
        b,
        "aucint_all_blq",
        f"{span} is 0: every sample is BLQ, kept as 0 (PKNCA: an all-zero profile has AUC 0)",
    )


def _add_at_end(rules: _Rules, used: np.ndarray, b: float, rule: str, detail: Any) -> None:
    """Record a profile-level ``rule`` at interval end ``b`` for the profiles in ``used``."""
    rules.add(np.flatnonzero(used), None, np.full(int(used.sum()), b), rule, detail)


# ----------------------------------------------------------------------------- tables


def _tables(
    keys: pd.DataFrame,
    values: Mapping[str, tuple[np.ndarray, np.ndarray]],
    interval_values: list[IntervalValues],
    *,
    units: Mapping[str, str],
    conc_unit: str | None,
    time_unit: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long (CDISC) table and the wide one (units and descriptions in its ``attrs``)."""
    n = len(keys)
    dvids = keys["DVID"].to_numpy()
    uniq_dvid = pd.unique(dvids)
    no_method = np.full(n, None, dtype=object)
    parts = []
    wide: dict[str, Any] = {"ID": keys["ID"].to_numpy(), "DVID": dvids}
    wide_units: dict[str, str] = {}  # the wide view's column units (one DVID: its unit)
    wide_text: dict[str, str] = {}
    for p in PARAMETERS:
        unit_map = {
            d: unit_for(p.unit, units.get(d, "") if conc_unit is None else conc_unit, time_unit)
            for d in uniq_dvid
        }
        unit_col = np.array([unit_map[d] for d in dvids], dtype=object)
        blocks = interval_values if p.interval else [(None, None, *values[p.testcd], no_method)]
        for a, b, v, r, how in blocks:
            parts.append(_long_part(keys, p, a, b, v, r, how, unit_col, time_unit))
            name = p.name if a is None else _wide_interval_name(a, b, time_unit)
            wide[name] = v.astype(float)
            spelt = set(unit_map.values())
            wide_units[name] = spelt.pop() if len(spelt) == 1 else "[DVID]"
            wide_text[name] = (
                f"{p.label} ({p.testcd})"
                if a is None
                else f"AUC from {_fmt(a)} to {_fmt(b)} {time_unit} ({p.testcd})"
            )
    long = pd.DataFrame({k: np.concatenate([q[k] for q in parts]) for k in parts[0]})
    long = long.sort_values("_p", kind="stable").drop(columns="_p").reset_index(drop=True)
    wide_frame = pd.DataFrame(wide)
    wide_frame.attrs["units"] = wide_units
    wide_frame.attrs["descriptions"] = wide_text
    return long[_LONG_COLUMNS], wide_frame


def _long_part(
    keys: pd.DataFrame,
    p: Parameter,
    a: float | None,
    b: float | None,
    v: np.ndarray,
    r: np.ndarray,
    how: np.ndarray,
    unit_col: np.ndarray,
    time_unit: str,
) -> dict[str, np.ndarray]:
    """The long table's columns for one parameter (one interval) of every profile."""
    n = len(keys)
    return {
        "ID": keys["ID"].to_numpy(),
        "DVID": keys["DVID"].to_numpy(),
        "PPTESTCD": np.full(n, p.testcd, dtype=object),
        "PPTEST": np.full(n, p.label, dtype=object),
        "PPORRES": v.astype(float),
        "PPORRESU": unit_col,
        "PPSTINT": np.full(n, None if a is None else _iso(a, time_unit), dtype=object),
        "PPENINT": np.full(n, None if b is None else _iso(b, time_unit), dtype=object),
        "REASON": r,
        "PPANMETH": how,
        "_p": np.arange(n),
    }
