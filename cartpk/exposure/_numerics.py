"""Vectorised numerics for model-based exposure: peak search, AUC by quadrature, and the
measure of the time a profile spends above a limit.

Every function works on many profiles at once through a callable ``conc(time, rows)``:
``time`` has shape ``(m,)`` or ``(m, k)`` and ``rows`` (shape ``(m,)``) says which profile
each of the ``m`` leading entries belongs to; it returns concentrations of ``time``'s shape.
Nothing here knows a model's equations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cartpk.errors import SpecError, Violation

__all__ = ["ExposureGrid", "auc_numerical", "common_grid", "peak", "time_above"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
Conc = Callable[[FloatArray, IntArray], FloatArray]

_INVPHI = (math.sqrt(5.0) - 1.0) / 2.0  # golden-section ratio


@dataclass(frozen=True)
class ExposureGrid:
    """Numerical settings of :func:`cartpk.model_exposure`.

    Parameters
    ----------
    n_linear : int, default 451
        Points of the linear part of the search grid on ``[0, horizon]`` (0.2 day apart
        for a 90-day horizon). The grid brackets the peak and the LLOQ crossings.
    n_log : int, default 100
        Points of the log-spaced part of the search grid, from ``t_min`` to ``horizon``
        (dense early, where expansion starts from a small level).
    t_min : float, default 1e-3
        First point of the log-spaced part (time unit of the model).
    panels : int, default 32
        Initial number of Simpson panels per integration segment. Each level halves the
        panel width of the subjects whose error estimate still exceeds ``rtol``.
    max_panels : int, default 4096
        Largest number of panels per segment; a subject still above ``rtol`` there keeps
        its estimate and is flagged (``auc_tolerance_not_met``).
    rtol : float, default 1e-9
        Target relative error of the numerical AUCs, estimated per subject by Richardson
        extrapolation (``|S(2n) - S(n)| / 15``) relative to the AUC up to the horizon.
    resolution : float, default 1.0
        Time scale (model time unit) of the finest quadrature spacing at the end of a
        segment nearest the peak; see Notes.
    xtol : float, default 1e-10
        Absolute tolerance of Tmax (golden-section search) and of LLOQ crossing times
        (bisection), in the model's time unit.

    Notes
    -----
    Each integration segment ``[a, b]`` (cut at 0, the refined Tmax and every interval
    end) is mapped from ``u`` in ``[0, 1]`` by ``s(u) = L expm1(k u) / expm1(k)``,
    ``L = b - a``, ``k = log1p(L / resolution)``, measured from the end nearer the peak:
    spacing is linear near the peak (about ``resolution * k / panels``) and geometric
    away from it, so fast expansion and contraction phases are resolved without a
    uniformly fine grid. Composite Simpson's rule is applied in ``u`` with the Jacobian
    ``ds/du``. Cutting at Tmax keeps the kink of piecewise models (Stein 2019) at a
    segment end, where Simpson's rule converges at its full order.
    """

    n_linear: int = 451
    n_log: int = 100
    t_min: float = 1e-3
    panels: int = 32
    max_panels: int = 4096
    rtol: float = 1e-9
    resolution: float = 1.0
    xtol: float = 1e-10

    def __post_init__(self) -> None:
        problems: list[Violation] = []

        def bad(name: str, expected: str, fix: str) -> None:
            problems.append(
                Violation(
                    "grid_invalid",
                    f"`grid.{name}` is out of range",
                    column=name,
                    value=repr(getattr(self, name)),
                    expected=expected,
                    fix=fix,
                )
            )

        for name, low in (("n_linear", 3), ("n_log", 0)):
            v = getattr(self, name)
            if not isinstance(v, int) or v < low:
                bad(name, f"an integer >= {low}", f"use the default {ExposureGrid.__dict__[name]}")
        for name in ("panels", "max_panels"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 2 or v % 2:
                bad(name, "an even integer >= 2", "use a power of two such as 64")
        if isinstance(self.panels, int) and isinstance(self.max_panels, int):
            if self.max_panels < self.panels:
                bad("max_panels", "max_panels >= panels", "raise max_panels")
        for name in ("t_min", "rtol", "resolution", "xtol"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                bad(
                    name,
                    "a positive finite number",
                    f"use the default {ExposureGrid.__dict__[name]}",
                )
        if problems:
            raise SpecError("invalid numerical settings for `cartpk.model_exposure`", problems)


def common_grid(horizon: float, grid: ExposureGrid) -> FloatArray:
    """Sorted union of a linear and a log-spaced grid on ``[0, horizon]``, starting at 0.

    Examples
    --------
    >>> g = common_grid(10.0, ExposureGrid(n_linear=11, n_log=3, t_min=0.01))
    >>> float(g[0]), float(g[-1]), g.size
    (0.0, 10.0, 13)
    """
    lin = np.linspace(0.0, horizon, grid.n_linear)
    parts = [lin]
    if grid.n_log > 0 and grid.t_min < horizon:
        parts.append(np.geomspace(grid.t_min, horizon, grid.n_log))
    return np.unique(np.concatenate(parts))


def peak(
    conc: Conc, times: FloatArray, values: FloatArray, rows: IntArray, xtol: float
) -> tuple[FloatArray, FloatArray]:
    """Tmax and Cmax: grid maximum refined by a golden-section search between its neighbours.

    Parameters
    ----------
    conc : callable
        ``conc(time, rows)``, see the module docstring.
    times : ndarray, shape (k,)
        The common search grid.
    values : ndarray, shape (m, k)
        ``conc`` on ``times`` for the profiles ``rows``.
    rows : ndarray of int, shape (m,)
        Profile indices.
    xtol : float
        Final bracket width.

    Returns
    -------
    tmax, cmax : ndarray, shape (m,)
        The first time of the largest value found and that value (a model evaluation,
        never an interpolation). A maximum at a grid end is searched on the one-sided
        bracket.
    """
    m = values.shape[0]
    i = np.nanargmax(np.where(np.isfinite(values), values, -np.inf), axis=1)
    g_t = times[i]
    g_c = values[np.arange(m), i]
    a = times[np.maximum(i - 1, 0)].astype(float)
    b = times[np.minimum(i + 1, times.size - 1)].astype(float)
    width = float(np.max(b - a)) if m else 0.0
    n_iter = 0 if width <= xtol else math.ceil(math.log(xtol / width) / math.log(_INVPHI))
    c = b - _INVPHI * (b - a)
    d = a + _INVPHI * (b - a)
    fc = conc(c, rows)
    fd = conc(d, rows)
    for _ in range(n_iter):
        left = fc >= fd  # the maximum lies in [a, d]
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        new = np.where(left, b - _INVPHI * (b - a), a + _INVPHI * (b - a))
        fnew = conc(new, rows)
        c, d, fc, fd = (
            np.where(left, new, d),
            np.where(left, c, new),
            np.where(left, fnew, fd),
            np.where(left, fc, fnew),
        )
    # best of: the grid point, the two interior points of the final bracket
    cand_t = np.stack([g_t, c, d], axis=1)
    cand_c = np.stack([g_c, fc, fd], axis=1)
    cand_c = np.where(np.isfinite(cand_c), cand_c, -np.inf)
    j = np.argmax(cand_c, axis=1)
    return cand_t[np.arange(m), j], cand_c[np.arange(m), j]


def _simpson_weights(panels: int) -> FloatArray:
    w = np.ones(panels + 1)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return w / (3.0 * panels)


def _segment(
    conc: Conc,
    a: FloatArray,
    b: FloatArray,
    from_right: npt.NDArray[np.bool_],
    rows: IntArray,
    panels: int,
    resolution: float,
) -> tuple[FloatArray, FloatArray]:
    """Simpson's rule on ``panels`` and on ``panels // 2`` panels of the mapped segment."""
    length = b - a
    ok = length > 0
    L = np.where(ok, length, 1.0)[:, None]
    k = np.log1p(L / resolution)
    u = np.linspace(0.0, 1.0, panels + 1)[None, :]
    em = np.expm1(k)
    s = L * np.expm1(k * u) / em
    ds = L * k * np.exp(k * u) / em
    # nodes ascend in time in every row (ODE solvers need sorted output times); the
    # Simpson weights are symmetric, so reading a row backwards changes nothing
    right = from_right[:, None]
    t = np.where(right, b[:, None] - s[:, ::-1], a[:, None] + s)
    t = np.clip(t, a[:, None], b[:, None])
    y = conc(t, rows) * np.where(right, ds[:, ::-1], ds)
    fine = y @ _simpson_weights(panels)
    coarse = y[:, ::2] @ _simpson_weights(panels // 2)
    return np.where(ok, fine, 0.0), np.where(ok, coarse, 0.0)


def auc_numerical(
    conc: Conc,
    rows: IntArray,
    tpeak: FloatArray,
    ends: FloatArray,
    grid: ExposureGrid,
) -> tuple[FloatArray, FloatArray]:
    """AUC from 0 to each of ``ends`` by adaptive mapped Simpson quadrature, per profile.

    Parameters
    ----------
    conc : callable
        ``conc(time, rows)``.
    rows : ndarray of int, shape (m,)
        Profile indices.
    tpeak : ndarray, shape (m,)
        Refined Tmax per profile (a cut point of the segments).
    ends : ndarray, shape (e,)
        Interval ends, ascending, the last one the horizon.
    grid : ExposureGrid
        Settings.

    Returns
    -------
    auc : ndarray, shape (m, e)
        AUC(0, end) per profile.
    error : ndarray, shape (m,)
        Estimated relative error (Richardson) of the AUC up to the horizon.
    """
    m = rows.size
    pts = np.concatenate(
        [np.zeros((m, 1)), tpeak[:, None], np.broadcast_to(ends, (m, ends.size))], axis=1
    )
    order = np.argsort(pts, axis=1, kind="stable")
    srt = np.take_along_axis(pts, order, axis=1)
    n_seg = srt.shape[1] - 1
    seg = np.zeros((m, n_seg))
    err = np.zeros((m, n_seg))
    todo = np.arange(m)
    panels = grid.panels
    rel = np.full(m, np.inf)
    while todo.size:
        for j in range(n_seg):
            a, b = srt[todo, j], srt[todo, j + 1]
            from_right = b <= tpeak[todo]  # cluster nodes at the end nearer the peak
            fine, coarse = _segment(conc, a, b, from_right, rows[todo], panels, grid.resolution)
            seg[todo, j] = fine
            err[todo, j] = np.abs(fine - coarse) / 15.0
        total = np.abs(seg[todo].sum(axis=1))
        rel[todo] = err[todo].sum(axis=1) / np.where(total > 0, total, 1.0)
        if panels * 2 > grid.max_panels:
            break
        todo = todo[~(rel[todo] <= grid.rtol)]
        panels *= 2
    cum = np.concatenate([np.zeros((m, 1)), np.cumsum(seg, axis=1)], axis=1)
    # position of each original point in the sorted order -> cumulative value there
    inv = np.argsort(order, axis=1)
    at = np.take_along_axis(cum, inv, axis=1)
    return at[:, 2:], rel


def time_above(
    conc: Conc,
    rows: IntArray,
    times: FloatArray,
    values: FloatArray,
    tpeak: FloatArray,
    cpeak: FloatArray,
    limit: float,
    xtol: float,
) -> FloatArray:
    """Measure of ``{t in [0, horizon] : C(t) > limit}`` per profile.

    The profile is bracketed on the search grid with the refined peak inserted (so a peak
    above the limit between two grid points below it is not missed); each sign change of
    ``C - limit`` is located by bisection to ``xtol``. Excursions above or below the limit
    that start and end between two neighbouring grid points (other than around the peak)
    are not seen; the grid spacing bounds their length.

    Parameters
    ----------
    conc, rows
        As for :func:`peak`.
    times : ndarray, shape (k,)
        Search grid, ``times[-1]`` the horizon.
    values : ndarray, shape (m, k)
        ``conc`` on ``times``.
    tpeak, cpeak : ndarray, shape (m,)
        Refined Tmax and Cmax.
    limit : float
        The limit (LLOQ).
    xtol : float
        Tolerance of the crossing times.

    Returns
    -------
    ndarray, shape (m,)
    """
    m, k = values.shape
    above = values > limit
    above_pk = cpeak > limit
    # the grid cell holding the peak is split at the peak: [t_j, tpeak] and [tpeak, t_j+1]
    j = np.clip(np.searchsorted(times, tpeak, side="right") - 1, 0, k - 2)
    r_all = np.arange(m)
    a0, a1 = above[:, :-1].copy(), above[:, 1:].copy()
    dt = np.broadcast_to(np.diff(times), (m, k - 1))
    a0[r_all, j] = a1[r_all, j] = False  # the split cell is handled below
    total = np.sum(np.where(a0 & a1, dt, 0.0), axis=1)
    cell_i, cell_j = np.nonzero(a0 != a1)
    left_lo, left_hi = times[j], tpeak
    right_lo, right_hi = tpeak, times[j + 1]
    left_a0, right_a1 = above[r_all, j], above[r_all, j + 1]
    total += np.where(left_a0 & above_pk, left_hi - left_lo, 0.0)
    total += np.where(above_pk & right_a1, right_hi - right_lo, 0.0)
    lx = np.flatnonzero(left_a0 != above_pk)
    rx = np.flatnonzero(above_pk != right_a1)
    ii = np.concatenate([cell_i, lx, rx])
    t0_all = np.concatenate([times[cell_j], left_lo[lx], right_lo[rx]])
    t1_all = np.concatenate([times[cell_j + 1], left_hi[lx], right_hi[rx]])
    up_all = np.concatenate([above[cell_i, cell_j + 1], above_pk[lx], right_a1[rx]])
    if ii.size:
        lo, hi = t0_all.copy(), t1_all.copy()
        up = up_all  # crossing upwards: above at the right end
        r = rows[ii]
        width = float(np.max(hi - lo))
        n_iter = 0 if width <= xtol else math.ceil(math.log2(width / xtol))
        for _ in range(n_iter):
            mid = 0.5 * (lo + hi)
            above_mid = conc(mid, r) > limit
            # keep the half that still contains the change of state
            go_right = above_mid != up
            lo = np.where(go_right, mid, lo)
            hi = np.where(go_right, hi, mid)
        root = 0.5 * (lo + hi)
        part = np.where(up, t1_all - root, root - t0_all)
        np.add.at(total, ii, part)
    return np.clip(total, 0.0, times[-1] - times[0])  # summing cells may round past the window
