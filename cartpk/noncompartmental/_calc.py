"""How each NCA parameter is computed: the ``compute`` functions of the registry
(:mod:`cartpk.noncompartmental._registry`), PKNCA's ``pk.calc.*``.

A function takes :class:`Deps`, the values of what its entry ``depends`` on (basic inputs,
internal quantities, other parameters; a missing parameter value is ``NaN``), and returns
the values per profile, or ``(values, reasons)`` where it has reasons of its own for a
missing value. The engine (:func:`cartpk.noncompartmental._nca_steps._evaluate`) adds the
reasons of missing dependencies, so a function never checks them itself; an entry with
``propagate=False`` (the interval AUC) sees them in :attr:`Deps.reasons` and decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cartpk.errors import SpecError, Violation
from cartpk.noncompartmental import _core
from cartpk.noncompartmental._nca_rules import _first_reason, _fmt, _reasons, _Rules

__all__: list[str] = []

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


@dataclass(frozen=True)
class Deps:
    """What a ``compute`` function receives: its dependencies' values and reasons.

    Attributes
    ----------
    values : Mapping
        Dependency name -> value (a parameter's values are ``NaN`` where it is missing).
    reasons : Mapping
        Parameter dependency -> reasons per profile (``"[code] message"`` or ``None``),
        as the parameter itself gave them.
    """

    values: Mapping[str, Any]
    reasons: Mapping[str, np.ndarray]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


@dataclass(frozen=True)
class TerminalFit:
    """The lambda_z regression of every profile and which profiles had hand-picked points."""

    fit: _core.LambdaZFit
    fixed: np.ndarray


# ----------------------------------------------------------------------------- quantities


def peak(v: Deps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Cmax``, ``Tmax`` and the column of ``Tmax`` of each profile."""
    return _core.peak(v["time"], v["conc"])


def last(v: Deps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Tlast``, ``Clast`` and the column of ``Tlast`` of each profile."""
    return _core.last_positive(v["time"], v["conc"])


def terminal_fit(v: Deps) -> TerminalFit:
    """The lambda_z regression over the positive points from Tmax (exclusive unless
    allowed) to Tlast, hand-picked points applied (and recorded)."""
    T, C, lz = v["time"], v["conc"], v["lambda_z_rule"]
    _, _, imax = v["peak"]
    tlast, clast, ilast = v["last"]
    no_q = ilast < 0
    colc = np.arange(T.shape[1])[None, :]
    start = imax[:, None] if lz.allow_tmax else imax[:, None] + 1
    cand = np.isfinite(C) & (C > 0) & (colc >= start) & (colc <= ilast[:, None]) & ~no_q[:, None]
    fixed = np.zeros(len(v["profiles"]), dtype=bool)
    if lz.manual is not None and len(lz.manual):
        cand, fixed = _apply_manual(lz.manual, v["profiles"], T, C, v["row"], cand, v["rules"])
    fit = _core.lambda_z(
        T, C, cand, tlast, clast, min_points=lz.min_points, tolerance=lz.tolerance, fixed=fixed
    )
    return TerminalFit(fit, fixed)


# ----------------------------------------------------------------------------- parameters


def _no_quantifiable(column: np.ndarray) -> np.ndarray:
    """Reasons for the profiles without a positive concentration (``column`` -1)."""
    return _reasons(column < 0, "no_quantifiable", "no quantifiable (positive) concentration")


def located(point: str, index: int) -> Any:
    """A compute function of one value of a located sample.

    Parameters
    ----------
    point : {"peak", "last"}
        The step that locates the sample: ``peak`` gives (Cmax, Tmax, column), ``last``
        (Tlast, Clast, column).
    index : {0, 1}
        Which of its two values.

    Returns
    -------
    callable
        ``compute(v) -> (values, reasons)``: the values, missing with the reason
        ``no_quantifiable`` for a profile without a positive concentration.
    """

    def compute(v: Deps) -> tuple[np.ndarray, np.ndarray]:
        found = v[point]
        return found[index], _no_quantifiable(found[2])

    compute.__doc__ = f"Value {index} of ``{point}``."
    return compute


def auclast(v: Deps) -> tuple[np.ndarray, np.ndarray]:
    """AUCLST: the AUC from the first sample to Tlast."""
    column = v["last"][2]
    return _core.auc_last(v["time"], v["conc"], column, v["auc_method"]), _no_quantifiable(column)


def lambda_z(v: Deps) -> tuple[np.ndarray, np.ndarray]:
    """LAMZ: missing where too few points qualify or no regression has a negative slope."""
    terminal, lz = v["lambda_z_fit"], v["lambda_z_rule"]
    fit = terminal.fit
    too_few = fit.ncandidates < lz.min_points
    where = np.where(terminal.fixed, "chosen by hand", "after Tmax" if not lz.allow_tmax else "")
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
    r_notpos = _reasons(
        ~too_few & ~np.isfinite(fit.lambda_z),
        "lambda_z_not_positive",
        "no terminal regression has a negative slope (lambda_z > 0)",
    )
    return fit.lambda_z, _first_reason(r_few, r_notpos)


def half_life(v: Deps) -> np.ndarray:
    """LAMZHL: ln 2 / LAMZ."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(2.0) / v["LAMZ"]


def lambda_z_npoints(v: Deps) -> np.ndarray:
    """LAMZNPT: the points in the chosen regression."""
    return np.where(np.isfinite(v["LAMZ"]), v["lambda_z_fit"].fit.npoints, np.nan)


def fit_attribute(attribute: str) -> Any:
    """A compute function returning one attribute of the lambda_z regression."""

    def compute(v: Deps) -> np.ndarray:
        return getattr(v["lambda_z_fit"].fit, attribute)

    compute.__doc__ = f"``{attribute}`` of the chosen lambda_z regression."
    return compute


def aucinf(clast_code: str) -> Any:
    """A compute function of AUCLST + Clast / LAMZ, Clast observed (CLST) or predicted (CLSTP)."""

    def compute(v: Deps) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return v["AUCLST"] + v[clast_code] / v["LAMZ"]

    compute.__doc__ = f"AUCLST + {clast_code} / LAMZ."
    return compute


def aucpext(aucinf_code: str) -> Any:
    """A compute function of the extrapolated percentage 100 (AUCinf - AUCLST) / AUCinf."""

    def compute(v: Deps) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return 100.0 * (v[aucinf_code] - v["AUCLST"]) / v[aucinf_code]

    compute.__doc__ = f"100 ({aucinf_code} - AUCLST) / {aucinf_code}."
    return compute


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


def aucint(v: Deps) -> list[IntervalValues]:
    """AUCINT of every interval; lambda_z is needed only where an interval is extrapolated,
    so this entry reads its dependencies' reasons itself (``propagate=False``)."""
    tl, _, ilast = v["last"]
    term = _Terminal(
        tlast=tl,
        ilast=ilast,
        no_q=ilast < 0,
        lam=v["LAMZ"],
        r_noq=v.reasons["TLST"],
        r_lz=v.reasons["LAMZ"],
    )
    T, C, count = v["time"], v["conc"], v["count"]
    ends = _profile_ends(T, C, count, term)
    return [
        _interval_auc(
            T,
            C,
            count,
            interval,
            term,
            ends,
            method=v["auc_method"],
            extrapolate=v["extrapolate"],
            time_unit=v["time_unit"],
            rules=v["rules"],
        )
        for interval in v["intervals"]
    ]


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
