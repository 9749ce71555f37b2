"""Profile-likelihood intervals of SAEM fits (NONMEM/PsN's log-likelihood profiling).

A Wald interval assumes a quadratic log-likelihood. For a typical value the design barely
informs it is not: ``fb`` slides along a ridge with an under-sampled ``beta`` (the SSE in
``docs/saem.md``: Wald coverage 76 %). The profile interval of a parameter ``P`` is the set of
values ``v`` whose refit with ``P`` fixed at ``v`` (every other parameter re-estimated) raises
-2LL by less than ``chi2_1(level)`` (3.84 at 95 %) over the maximum. Each refit is SAEM from
the estimates (warm start, shorter phases) and its -2LL is importance-sampled with the same
seed as the fit's, so the differences carry little Monte-Carlo noise.

The search walks each side on the estimation scale (log/logit): first the Wald bound, then
secant steps on ``sqrt(delta -2LL)``, which is close to linear in the parameter, until it is
within ``0.2`` of ``chi2`` or six refits were made; the end is interpolated between the two
refits that bracket the threshold. A side that does not reach the threshold inside the search
box of the parameter is open (``inf`` or ``0``/``1`` at the natural bound; ``closed`` false).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.errors import SpecError, Violation
from cartpk.fit._population_graph import _design
from cartpk.fit._saem import SaemSettings
from cartpk.fit._saem_likelihood import maximum
from cartpk.fit._saem_problem import SaemProblem
from cartpk.model._transforms import transform_of

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.data import Dataset
    from cartpk.model import Model

__all__ = ["check_profile", "profile_intervals"]

#: SAEM phases of a refit from the estimates (the full fit's are 300 + 200)
REFIT_EXPLORE, REFIT_SMOOTH = 100, 100
#: refits per side, and how close to the threshold (on the -2LL scale) ends a side
MAX_REFITS, TOLERANCE = 6, 0.2


def profileable(problem: SaemProblem) -> list[str]:
    """The typical values ``profile`` accepts: estimated, without random or covariate
    effects (declaration order)."""
    return [p for p in problem.noiiv if not problem.coefs.get(p)]


def check_profile(problem: SaemProblem, names: Sequence[str]) -> None:
    """Raise ``saem_option`` unless every name is an estimated typical value without a
    random effect or covariate effect (the parameters whose Wald interval can fail)."""
    allowed = profileable(problem)
    bad = [str(n) for n in names if str(n) not in allowed]
    if bad:
        raise SpecError(
            "Invalid SAEM options.",
            [
                Violation(
                    "saem_option",
                    f"`profile` names {n!r}, which is not an estimated typical value without "
                    "random or covariate effects",
                    column="profile",
                    value=repr(n),
                    expected=f"one of {sorted(allowed)}",
                    fix="profile only typical values without IIV (their Wald intervals are "
                    "the ones that can fail); drop the others from `profile`",
                )
                for n in bad
            ],
        )


def _refit_m2ll(model: Model, dataset: Dataset, run: dict[str, Any]) -> float:
    """-2LL after SAEM from the declared (warm) values, without standard errors."""
    design = _design(model, dataset, run["dvid"], run["blq"])
    problem = SaemProblem(model, design)
    settings = SaemSettings(
        explore=REFIT_EXPLORE, smooth=REFIT_SMOOTH, chains=run["chains"], seed=run["seed"]
    )
    ll = maximum(problem, settings, run["blq"], run["is_samples"]).loglik
    return -2.0 * ll


def profile_intervals(
    warm: Model,
    dataset: Dataset,
    names: Sequence[str],
    *,
    estimates: dict[str, float],
    se: dict[str, float],
    box: dict[str, tuple[float, float]],
    minus2ll: float,
    level: float,
    run: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """Profile-likelihood interval of each parameter in ``names``.

    Parameters
    ----------
    warm : Model
        The fitted declaration with every estimate as its declared value.
    dataset : Dataset
    names : sequence of str
        Typical values to profile (checked by :func:`check_profile`).
    estimates, se : dict
        Estimate (natural scale) and Wald SE on the estimation scale per name.
    box : dict
        Search box per name on the estimation scale.
    minus2ll : float
        -2LL at the maximum.
    level : float
        Probability of the intervals.
    run : dict
        ``dvid``, ``blq``, ``chains``, ``is_samples``, ``seed`` of the fit.

    Returns
    -------
    dict
        Per name: ``lower``, ``upper`` (natural scale), ``closed_lower``, ``closed_upper``,
        ``refits`` and ``points`` (estimation-scale value, -2LL increase).
    """
    from scipy.stats import chi2

    q = float(chi2.ppf(level, 1))
    out = {}
    for name in names:
        t = transform_of(warm.thetas[name].transform)
        h0 = float(t.forward(np, np.float64(estimates[name])))
        step = se[name] if math.isfinite(se[name]) and se[name] > 0 else 0.5

        def delta(h: float, name: str = name, t: Any = t) -> float:
            value = float(t.backward(np, np.float64(h)))
            model = warm.with_ini(**{name: value}).fix(name)
            return _refit_m2ll(model, dataset, run) - minus2ll

        points: list[tuple[float, float]] = []
        ends = {}
        for side, edge in ((-1.0, box[name][0]), (1.0, box[name][1])):
            h_end, closed, pts = _one_side(delta, h0, side, step, edge, q)
            ends[side] = (float(t.backward(np, np.float64(h_end))), closed)
            points += pts
        out[name] = {
            "lower": ends[-1.0][0],
            "upper": ends[1.0][0],
            "closed_lower": ends[-1.0][1],
            "closed_upper": ends[1.0][1],
            "refits": len(points),
            "points": sorted(points),
        }
    return out


def _one_side(
    delta: Any, h0: float, side: float, step: float, edge: float, q: float
) -> tuple[float, bool, list[tuple[float, float]]]:
    """Walk from ``h0`` towards ``edge`` until -2LL rises by ``q``: the interval end (on the
    estimation scale), whether it was reached, and the refits ``(h, delta)``."""
    limit = abs(edge - h0)
    root = math.sqrt(q)
    seen = [(0.0, 0.0)]  # (distance from h0, sqrt of the -2LL increase)
    points = []
    d = min(root * step, limit)
    for _ in range(MAX_REFITS):
        rise = delta(h0 + side * d)
        points.append((h0 + side * d, rise))
        seen.append((d, math.sqrt(max(rise, 0.0))))
        if abs(rise - q) < TOLERANCE:
            return h0 + side * d, True, points
        d = _next_distance(seen, root, limit)
        if d is None:
            break
    above = [(d_, s) for d_, s in seen if s >= root]
    if not above:
        return edge, False, points
    d_hi, s_hi = min(above)
    d_lo, s_lo = max((p for p in seen if p[0] < d_hi), default=(0.0, 0.0))
    frac = (root - s_lo) / (s_hi - s_lo) if s_hi > s_lo else 1.0
    return h0 + side * (d_lo + frac * (d_hi - d_lo)), True, points


def _next_distance(seen: list[tuple[float, float]], root: float, limit: float) -> float | None:
    """The next distance to try: a secant step on ``sqrt(rise)`` through the two refits that
    bracket (or are nearest to) the threshold; ``None`` when the box is exhausted."""
    pts = sorted(seen)
    above = [p for p in pts if p[1] >= root]
    if above:  # bracketed: secant between the last point below and the first above
        hi = above[0]
        lo = max(p for p in pts if p[0] < hi[0])
    else:
        lo, hi = pts[-2], pts[-1]
        if hi[0] >= limit:
            return None
    if hi[1] <= lo[1]:  # flat or noisy: step out
        return min(2.0 * hi[0], limit) if not above else 0.5 * (lo[0] + hi[0])
    d = lo[0] + (root - lo[1]) * (hi[0] - lo[0]) / (hi[1] - lo[1])
    if not above:
        d = min(max(d, 1.2 * hi[0]), 4.0 * hi[0], limit)
    return d
