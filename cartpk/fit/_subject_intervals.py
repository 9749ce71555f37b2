"""Uncertainty of one subject's estimate: Hessian (Wald) and profile-likelihood intervals."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.fit._subject_optimise import _minimize
from cartpk.fit._subject_problem import _Problem

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.fit.individual import CiKind


def _hessian(problem: _Problem, h: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Central finite-difference Hessian of ``objective / 2`` (= -log L) on the free params."""
    idx = np.flatnonzero(free)
    k = idx.size
    step = 1e-2 * np.maximum(1.0, np.abs(h[idx]))
    pts = []
    for a in range(k):
        for b in range(a, k):
            for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                x = h.copy()
                x[idx[a]] += sa * step[a]
                x[idx[b]] += sb * step[b]
                pts.append(x)
    vals = problem.objective(np.array(pts)) / 2.0
    H = np.empty((k, k))
    i = 0
    for a in range(k):
        for b in range(a, k):
            pp, pm, mp, mm = vals[i : i + 4]
            H[a, b] = H[b, a] = (pp - pm - mp + mm) / (4.0 * step[a] * step[b])
            i += 4
    return H


def _profile_bound(
    problem: _Problem,
    h: np.ndarray,
    j: int,
    best: float,
    q: float,
    direction: int,
    step: float = 0.5,
) -> tuple[float, bool]:
    """Profile-likelihood CI end of parameter ``j`` on the transformed scale.

    Steps out from the estimate (``step``, 3 ``step``, 9 ``step``, ... on the transformed
    scale; ``step`` from the Hessian's curvature where it is positive), re-fitting
    the other parameters warm-started from the previous step, until ``objective`` rises
    by ``q``; the crossing is then interpolated inside the last step (:func:`_crossing`).
    Returns ``(bound, closed)``; ``closed`` is False when the profile stays below the
    threshold up to the search range's bound.
    """
    spec = problem.spec
    edge = float(spec.hi[j] if direction > 0 else spec.lo[j])
    vary = [i != j for i in range(h.size)]
    x, prev_c, prev_g = h.copy(), float(h[j]), -q
    while True:
        c = float(h[j] + direction * step)
        c = min(c, edge) if direction > 0 else max(c, edge)
        x[j] = c
        x, val, _ = _minimize(problem, x, vary=vary, max_nfev=600)
        g = val - best - q
        if g >= 0:
            root = float(_crossing(prev_c, prev_g, c, g, q))
            return float(root), True
        if c == edge:
            return edge, False
        prev_c, prev_g = c, g
        step *= 3.0


def _crossing(c0: Any, g0: Any, c1: Any, g1: Any, q: float) -> Any:
    """Where a profile's rise ``g + q`` reaches ``q`` between ``(c0, g0)`` and ``(c1, g1)``.

    Interpolates the signed root ``sqrt(rise)``, which is linear in the parameter for a
    quadratic profile (exact there; linear interpolation of the rise itself undershoots by
    up to a quarter of the step: a 95 % end at a rise of 3.0 instead of 3.84).
    """
    r0 = np.sqrt(np.maximum(np.asarray(g0) + q, 0.0))
    r1 = np.sqrt(np.maximum(np.asarray(g1) + q, 0.0))
    den = np.where(r1 > r0, r1 - r0, 1.0)
    frac = np.clip((math.sqrt(q) - r0) / den, 0.0, 1.0)
    return c0 + (np.asarray(c1) - c0) * frac


@dataclass(frozen=True)
class _Curvature:
    """What the Hessian at the optimum says: bounds hit, SEs, first profile steps."""

    at_bound: np.ndarray
    se_h: np.ndarray  # transformed-scale SE (NaN where not positive definite or on a bound)
    pd_ok: bool
    step0: np.ndarray  # first profile step per parameter

    def wald(self, j: int) -> bool:
        """Whether parameter ``j`` can have a Wald interval."""
        return self.pd_ok and not self.at_bound[j]

    def profiled(self, interval: CiKind) -> list[int]:
        """Parameters whose interval comes from the profile likelihood under ``interval``."""
        if interval == "wald":
            return []
        return [j for j in range(self.se_h.size) if interval == "profile" or not self.wald(j)]


def _best(results: Sequence[tuple[np.ndarray, float, bool]]) -> tuple[np.ndarray, float, bool, int]:
    """The best start's ``(h, objective, success)`` and how many starts agree with it."""
    vals = np.array([r[1] for r in results])
    h, best, ok = results[int(np.argmin(vals))]
    return h, best, ok, int(np.sum(vals <= best + 0.01))


def _curvature(problem: _Problem, h: np.ndarray, q: float) -> _Curvature:
    """The curvature of the objective at ``h``: bounds hit, Wald SEs, profile steps."""
    spec = problem.spec
    n_free = len(spec.names)
    width = spec.hi - spec.lo
    at_bound = (np.abs(h - spec.lo) < 1e-3 * width) | (np.abs(spec.hi - h) < 1e-3 * width)
    free = ~at_bound
    se_h = np.full(n_free, np.nan)
    pd_ok = False
    step0 = np.full(n_free, 0.5)
    if free.any():
        H = _hessian(problem, h, free)
        try:
            np.linalg.cholesky(H)
            cov = np.linalg.inv(H)
            pd_ok = bool(np.all(np.diag(cov) > 0) and np.all(np.isfinite(cov)))
        except np.linalg.LinAlgError:
            pd_ok = False
        if pd_ok:
            se_h[free] = np.sqrt(np.diag(cov))
        else:  # the curvature along each axis still gives a sensible first profile step
            curv = np.diag(H)
            with np.errstate(divide="ignore", invalid="ignore"):
                guess = np.where(curv > 0, np.sqrt(q / np.where(curv > 0, curv, 1.0)), 0.5)
            step0[free] = np.clip(guess, 0.05, 2.0)
    return _Curvature(at_bound=at_bound, se_h=se_h, pd_ok=pd_ok, step0=step0)


#: a profile-likelihood interval end: (parameter index, direction, first step) -> (end, closed)
ProfileFn = Callable[[int, int, float], tuple[float, bool]]
