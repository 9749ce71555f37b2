"""Pure-NumPy NCA kernels, vectorised over profiles (one profile = one subject and DVID).

Every function takes padded 2-D arrays ``time`` and ``conc`` of shape ``(n_profiles,
n_samples)``. Row ``i`` holds one profile sorted by time, its usable samples first and
``NaN`` padding after them (see :func:`compact`). Nothing here knows about pandas, BLQ
rules, units or reasons: :mod:`cartpk.noncompartmental._nca` prepares the arrays and turns
missing results into rows with reasons.

Conventions (PKNCA, Phoenix WinNonlin and NonCompart agree on all of them):

* ``Cmax`` is the largest concentration, ``Tmax`` the *first* time it occurs.
* ``Tlast``/``Clast`` is the last *positive* concentration.
* Linear trapezoid: ``(t2 - t1) * (c1 + c2) / 2``. Linear-up/log-down uses the log
  trapezoid ``(t2 - t1) * (c1 - c2) / ln(c1 / c2)`` on segments where ``0 < c2 < c1`` and
  the linear one elsewhere.
* The terminal rate constant ``lambda_z`` is minus the slope of an unweighted least-squares
  line of ``ln(C)`` on time through the last ``j`` positive points after ``Tmax``; the
  "best fit" ``j`` maximises the adjusted R^2, and any ``j`` whose adjusted R^2 is within
  ``tolerance`` of the best is preferred when it uses more points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AucMethod",
    "LambdaZFit",
    "auc_at",
    "auc_last",
    "compact",
    "lambda_z",
    "last_positive",
    "peak",
    "segment_areas",
]

AucMethod = Literal["linear", "linuplogdown"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]


def compact(
    time: FloatArray, conc: FloatArray, *others: NDArray[np.generic]
) -> tuple[FloatArray, FloatArray, IntArray, list[NDArray[np.generic]]]:
    """Move the usable samples (finite ``conc``) of each row to the front, keeping order.

    Parameters
    ----------
    time, conc : ndarray, shape (n, m)
        Times (sorted within each row) and concentrations; ``NaN`` concentration marks a
        sample that is not used.
    *others : ndarray, shape (n, m)
        Arrays that travel with the samples (e.g. file row numbers).

    Returns
    -------
    time, conc : ndarray, shape (n, m)
        The same rows with usable samples first and ``NaN`` padding after them.
    count : ndarray of int, shape (n,)
        Number of usable samples per row.
    others : list of ndarray
        ``others`` in the same order (padding positions keep whatever value moved there).
    """
    usable = np.isfinite(conc)
    # stable argsort of "not usable" keeps the time order of the usable samples
    order = np.argsort(~usable, axis=1, kind="stable")
    t = np.take_along_axis(time, order, axis=1)
    c = np.take_along_axis(conc, order, axis=1)
    count = usable.sum(axis=1)
    pad = np.arange(time.shape[1])[None, :] >= count[:, None]
    t[pad] = np.nan
    c[pad] = np.nan
    moved = [np.take_along_axis(a, order, axis=1) for a in others]
    return t, c, count, moved


def peak(time: FloatArray, conc: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
    """``Cmax``, ``Tmax`` (first occurrence) and the index of ``Tmax`` of each row.

    Rows without a positive concentration get ``NaN`` and index ``-1``.
    """
    c = np.where(np.isfinite(conc), conc, -np.inf)
    idx = np.argmax(c, axis=1)  # argmax returns the first maximum: Tmax = first occurrence
    rows = np.arange(conc.shape[0])
    cmax = c[rows, idx]
    ok = cmax > 0
    idx = np.where(ok, idx, -1)
    cmax = np.where(ok, cmax, np.nan)
    tmax = np.where(ok, time[rows, np.maximum(idx, 0)], np.nan)
    return cmax, tmax, idx


def last_positive(time: FloatArray, conc: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
    """``Tlast``, ``Clast`` (last positive concentration) and its index in each row.

    Rows without a positive concentration get ``NaN`` and index ``-1``.
    """
    pos = np.isfinite(conc) & (conc > 0)
    m = conc.shape[1]
    rev = np.argmax(pos[:, ::-1], axis=1)
    idx = m - 1 - rev
    ok = pos.any(axis=1)
    idx = np.where(ok, idx, -1)
    rows = np.arange(conc.shape[0])
    safe = np.maximum(idx, 0)
    tlast = np.where(ok, time[rows, safe], np.nan)
    clast = np.where(ok, conc[rows, safe], np.nan)
    return tlast, clast, idx


def _log_segments(c1: FloatArray, c2: FloatArray, method: AucMethod) -> BoolArray:
    """Segments integrated with the log trapezoid (declining, both ends positive)."""
    if method == "linear":
        return np.zeros(c1.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return (c2 < c1) & (c2 > 0)


def segment_areas(time: FloatArray, conc: FloatArray, method: AucMethod) -> FloatArray:
    """Area of each segment between consecutive samples, shape ``(n, m - 1)``.

    Segments touching padding are ``NaN``.
    """
    t1, t2 = time[:, :-1], time[:, 1:]
    c1, c2 = conc[:, :-1], conc[:, 1:]
    dt = t2 - t1
    lin = dt * (c1 + c2) / 2.0
    use_log = _log_segments(c1, c2, method)
    with np.errstate(divide="ignore", invalid="ignore"):
        log = dt * (c1 - c2) / np.log(c1 / c2)
    return np.where(use_log, log, lin)


def _cumulative(areas: FloatArray) -> FloatArray:
    """Cumulative area at each sample (0 at the first sample), shape ``(n, m)``."""
    cum = np.zeros((areas.shape[0], areas.shape[1] + 1))
    cum[:, 1:] = np.cumsum(np.where(np.isfinite(areas), areas, 0.0), axis=1)
    return cum


def auc_last(time: FloatArray, conc: FloatArray, ilast: IntArray, method: AucMethod) -> FloatArray:
    """AUC from the first sample of each row to ``Tlast`` (``NaN`` when ``ilast`` is -1)."""
    cum = _cumulative(segment_areas(time, conc, method))
    rows = np.arange(time.shape[0])
    out = cum[rows, np.maximum(ilast, 0)]
    return np.where(ilast >= 0, out, np.nan)


def auc_at(
    time: FloatArray,
    conc: FloatArray,
    count: IntArray,
    at: FloatArray,
    method: AucMethod,
    *,
    lambda_z: FloatArray,
    extrapolate: bool = True,
) -> FloatArray:
    """AUC from the first sample of each row to time ``at`` (one time per row).

    Inside the sampled range the concentration at ``at`` is interpolated within its
    segment, linearly or log-linearly as the segment's trapezoid is (log only for a
    declining segment under ``"linuplogdown"``), and the partial segment area is exact for
    that interpolant. After the last sample, if that sample is positive (it is then
    ``Clast``), the area ``Clast / lambda_z * (1 - exp(-lambda_z * (at - Tlast)))`` is added
    when ``extrapolate`` is true and ``lambda_z`` is finite; if the last sample is a zero
    (a BLQ value kept as 0) the concentration is taken to stay 0. A segment ending at a
    zero is always linear (a log-linear line never reaches 0), so a time between
    ``Tlast`` and a BLQ zero is interpolated linearly. Before the first sample the result
    is ``NaN``.

    Parameters
    ----------
    time, conc : ndarray, shape (n, m)
        Compacted profiles (see :func:`compact`).
    count : ndarray of int, shape (n,)
        Usable samples per row.
    at : ndarray, shape (n,)
        Time to integrate to.
    method : {"linear", "linuplogdown"}
        Trapezoid rule.
    lambda_z : ndarray, shape (n,)
        Terminal rate constant (``NaN`` where unavailable).
    extrapolate : bool, default True
        Allow extrapolation after the last sample with ``lambda_z``.

    Returns
    -------
    ndarray, shape (n,)
        ``NaN`` where the area cannot be computed.
    """
    n, m = time.shape
    rows = np.arange(n)
    cum = _cumulative(segment_areas(time, conc, method))
    with np.errstate(invalid="ignore"):
        # index of the last sample at or before `at` (-1: before the first sample)
        j = (time <= at[:, None]).sum(axis=1) - 1
    last = count - 1
    out = np.full(n, np.nan)

    # exactly on or inside the sampled range
    inside = (j >= 0) & (j < last)
    on_last = (j >= 0) & (j == last) & (at == time[rows, np.maximum(last, 0)])
    jj = np.clip(j, 0, m - 2) if m > 1 else np.zeros(n, dtype=np.intp)
    if m > 1:
        t1, t2 = time[rows, jj], time[rows, jj + 1]
        c1, c2 = conc[rows, jj], conc[rows, jj + 1]
        dt = at - t1
        use_log = _log_segments(c1, c2, method)
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.log(c1 / c2) / (t2 - t1)
            c_log = c1 * np.exp(-k * dt)
            part_log = (c1 - c_log) / k
            c_lin = c1 + (c2 - c1) * dt / (t2 - t1)
            part_lin = dt * (c1 + c_lin) / 2.0
        part = np.where(use_log, part_log, part_lin)
        out = np.where(inside, cum[rows, jj] + part, out)
    out = np.where(on_last, cum[rows, np.maximum(last, 0)], out)

    # after the last sample
    after = (j >= 0) & (j == last) & ~on_last
    t_end = time[rows, np.maximum(last, 0)]
    c_end = conc[rows, np.maximum(last, 0)]
    area_end = cum[rows, np.maximum(last, 0)]
    stays_zero = after & (c_end == 0)
    out = np.where(stays_zero, area_end, out)
    if extrapolate:
        with np.errstate(invalid="ignore", over="ignore"):
            tail = c_end / lambda_z * -np.expm1(-lambda_z * (at - t_end))
        ok = after & (c_end > 0) & np.isfinite(lambda_z) & (lambda_z > 0)
        out = np.where(ok, area_end + tail, out)
    return out


@dataclass(frozen=True)
class LambdaZFit:
    """Terminal-phase regression results, one entry per row (``NaN``/0 where none).

    Attributes
    ----------
    lambda_z : ndarray
        Terminal rate constant (1/time), minus the slope of ``ln(C)`` on time.
    r2, r2adj : ndarray
        R^2 and adjusted R^2 ``1 - (1 - R^2)(n - 1)/(n - 2)`` of the chosen regression.
    npoints : ndarray of int
        Points used (0 where no regression qualified).
    lower, upper : ndarray
        First and last time used.
    clast_pred : ndarray
        Concentration predicted by the regression at ``Tlast``.
    ncandidates : ndarray of int
        Positive points available for the regression (after Tmax unless allowed).
    any_positive : ndarray of bool
        Whether a candidate set with at least ``min_points`` had ``lambda_z > 0``.
    """

    lambda_z: FloatArray
    r2: FloatArray
    r2adj: FloatArray
    npoints: IntArray
    lower: FloatArray
    upper: FloatArray
    clast_pred: FloatArray
    ncandidates: IntArray
    any_positive: BoolArray


def lambda_z(
    time: FloatArray,
    conc: FloatArray,
    candidates: BoolArray,
    tlast: FloatArray,
    clast: FloatArray,
    *,
    min_points: int = 3,
    tolerance: float = 1e-4,
    fixed: BoolArray | None = None,
) -> LambdaZFit:
    """Best-fit terminal rate constant of each row (all rows and all sets at once).

    Parameters
    ----------
    time, conc : ndarray, shape (n, m)
        Profiles.
    candidates : ndarray of bool, shape (n, m)
        Points that may enter the regression (positive, after Tmax unless allowed, at or
        before Tlast, not manually excluded). Sets are "every candidate from position p
        on", for each candidate p.
    tlast, clast : ndarray, shape (n,)
        ``Tlast`` and ``Clast`` (used to centre the regression and predict ``Clast``).
    min_points : int, default 3
        Fewest points in a regression.
    tolerance : float, default 1e-4
        Adjusted R^2 within this of the best counts as a tie; ties go to more points.
    fixed : ndarray of bool, shape (n,), optional
        Rows whose candidates were chosen by hand: all of them are used, no search.

    Returns
    -------
    LambdaZFit
    """
    n, m = time.shape
    w = candidates & np.isfinite(conc) & (conc > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # centring on (Tlast, ln Clast) keeps the sums of squares well conditioned
        x = np.where(w, time - tlast[:, None], 0.0)
        y = np.where(w, np.log(np.where(w, conc, 1.0)) - np.log(clast)[:, None], 0.0)

    def suffix(a: FloatArray) -> FloatArray:
        return np.cumsum(a[:, ::-1], axis=1)[:, ::-1]

    cnt = suffix(w.astype(np.float64))
    sx, sy = suffix(x), suffix(y)
    sxx, syy, sxy = suffix(x * x), suffix(y * y), suffix(x * y)
    with np.errstate(divide="ignore", invalid="ignore"):
        cxx = sxx - sx * sx / cnt
        cyy = syy - sy * sy / cnt
        cxy = sxy - sx * sy / cnt
        slope = cxy / cxx
        r2 = cxy * cxy / (cxx * cyy)
        r2adj = 1.0 - (1.0 - r2) * (cnt - 1.0) / (cnt - 2.0)
        intercept = sy / cnt - slope * sx / cnt  # ln(C/Clast) predicted at Tlast
    lam = -slope
    big_enough = w & (cnt >= min_points)
    valid = big_enough & np.isfinite(lam) & (lam > 0) & np.isfinite(r2adj)
    if fixed is not None:
        # hand-picked points: only the set starting at the first candidate counts
        first = np.argmax(w, axis=1)
        at_first = np.arange(m)[None, :] == first[:, None]
        valid = np.where(fixed[:, None], valid & at_first, valid)
        big_enough = np.where(fixed[:, None], big_enough & at_first, big_enough)
    best = np.max(np.where(valid, r2adj, -np.inf), axis=1)
    ok = valid & (r2adj > best[:, None] - tolerance)
    # among near-best sets prefer the most points
    choice = np.argmax(np.where(ok, cnt, -1.0), axis=1)
    found = ok.any(axis=1)
    rows = np.arange(n)

    def pick(a: FloatArray) -> FloatArray:
        return np.where(found, a[rows, choice], np.nan)

    last_idx = m - 1 - np.argmax(w[:, ::-1], axis=1)
    upper = np.where(found, time[rows, last_idx], np.nan)
    return LambdaZFit(
        lambda_z=pick(lam),
        r2=pick(r2),
        r2adj=pick(r2adj),
        npoints=np.where(found, cnt[rows, choice], 0).astype(np.intp),
        lower=pick(time),
        upper=upper,
        clast_pred=clast * np.exp(pick(intercept)),
        ncandidates=w.sum(axis=1).astype(np.intp),
        any_positive=(big_enough & np.isfinite(lam) & (lam > 0)).any(axis=1),
    )
