"""Per-patient fits of many subjects at once: Levenberg-Marquardt in lockstep.

For a closed-form model with fixed residual error the per-subject objective is a sum of
squares (``_Problem.least_squares``). Every subject's every start is then one row of a
stack: the residuals of all rows come from one vectorised evaluation of the declaration,
their forward-difference Jacobians from ``p`` more, and each row takes its own damped
Gauss-Newton step (Levenberg-Marquardt with Nielsen's damping update) from a batched
``p x p`` solve. Rows stop independently (MINPACK's ``ftol``/``xtol``/``gtol`` tests) and
leave the stack, so the cost follows the slowest subject, not their sum. What the fit
of one subject reports afterwards (intervals, flags, status) is the per-subject code's
(``individual._finish``), so both paths give the same tables.

Bounds: the step is projected onto the search box; a parameter on a bound whose gradient
points outward is held there for that step (an active set), as TRF keeps it feasible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.fit._subject_intervals import _best, _crossing, _Curvature, _curvature
from cartpk.fit._subject_optimise import _seed_for, _starts
from cartpk.fit._subject_problem import _BIG, _residual_elements, _to_nat
from cartpk.fit.individual import SubjectFit, _finish, _prepare

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from cartpk.fit._likelihood import BlqMethod
    from cartpk.fit._subject_problem import _Problem
    from cartpk.fit._subjects import SubjectData
    from cartpk.fit.individual import CiKind, SigmaKind
    from cartpk.model import Model

__all__ = ["batchable", "fit_stacked", "minimize_stack", "profile_stack"]

#: subjects per stack: bounds the memory of the Jacobian evaluation (rows x starts x p)
_CHUNK = 2000

_FTOL = 1e-10  # relative reduction of the sum of squares (cheap here: rows are stacked)
_XTOL = 1e-8  # relative step size
_GTOL = 1e-8  # projected gradient (inf-norm)
_MAX_ITER = 300
_PROFILE_ITER = 100  # per profile point (the per-subject path allows 600 evaluations)
_MAX_STEP = 1.0  # largest change of a transformed parameter in one step (x/÷ e on log scale)
_FD_STEP = 1.4901161193847656e-08  # sqrt(machine epsilon), relative (SciPy's 2-point step)


def batchable(problems: Sequence[_Problem]) -> bool:
    """Whether these subjects' problems can share one stacked optimisation.

    Closed-form models (values from one vectorised ``evaluate``) whose objective is a sum
    of squares (fixed sigma, additive or log-additive error), with either every subject's
    dose known or none (the stack passes one dose per row).
    """
    if not problems:
        return False
    first = problems[0]
    if first.ode or first.engine is not None:
        return False
    if not all(p.least_squares for p in problems):
        return False
    doses = [p.s.dose is None for p in problems]
    return all(doses) or not any(doses)


class _Stack:
    """The subjects' records padded into ``(n_subjects, n_records)`` arrays."""

    def __init__(self, problems: Sequence[_Problem]) -> None:
        first = problems[0]
        self.model = first.model
        self.errors = first.errors
        self.blq = first.blq
        self.prior = first.prior
        self.n_struct = first.n_struct
        spec = first.spec
        self.names = spec.names
        self.transforms = spec.transforms
        self.fixed = spec.fixed
        n, t = len(problems), max(p.s.n_obs for p in problems)
        self.mask = np.zeros((n, t), dtype=bool)
        self.time = np.ones((n, t))
        self.dv = np.ones((n, t))
        self.cens = np.zeros((n, t), dtype=int)
        self.limit = np.full((n, t), np.nan)
        self.outputs = {name: np.zeros((n, t), dtype=bool) for name in self.errors}
        for i, p in enumerate(problems):
            k = p.s.n_obs
            self.mask[i, :k] = True
            self.time[i, :k] = p.s.time
            self.time[i, k:] = p.s.time[-1] if k else 1.0
            self.dv[i, :k] = p.s.dv
            self.cens[i, :k] = p.s.cens
            self.limit[i, :k] = p.limit
            for name, m in self.outputs.items():
                m[i, :k] = p.s.output == name
        self.centre = np.array([p.spec.centre for p in problems])
        self.lo = np.array([p.spec.lo for p in problems])
        self.hi = np.array([p.spec.hi for p in problems])
        self.w = first._prior_w()
        self.omega = spec.omega[: self.n_struct][self.w]
        doses = [p.s.dose for p in problems]
        self.dose = None if doses[0] is None else np.asarray(doses, dtype=float)[:, None]

    def residuals(self, rows: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Residuals ``(len(rows), n_records [+ n_prior])`` of subjects ``rows`` at ``h``;
        zero on padding, as ``_Problem.residuals`` elsewhere."""
        params: dict[str, Any] = {
            n: _to_nat(tr, h[:, j : j + 1])
            for j, (n, tr) in enumerate(zip(self.names, self.transforms, strict=True))
            if j < self.n_struct
        }
        params.update({k: np.full((h.shape[0], 1), v) for k, v in self.fixed.items()})
        dose = None if self.dose is None else self.dose[rows]
        time, dv, cens, limit = self.time[rows], self.dv[rows], self.cens[rows], self.limit[rows]
        res = np.zeros(time.shape)
        with np.errstate(all="ignore"):
            preds = self.model.evaluate(np, time, params, dose=dose)
            for name, err in self.errors.items():
                m = self.outputs[name][rows]
                if name not in preds or not m.any():
                    continue
                f = np.broadcast_to(preds[name], time.shape)
                r = _residual_elements(np, dv, f, cens, err, self.blq, limit)
                res = np.where(m, r, res)
        res = np.where(np.isfinite(res), res, 1e6)
        res[~self.mask[rows]] = 0.0
        if self.prior:
            z = (h[:, : self.n_struct][:, self.w] - self.centre[rows][:, self.w]) / self.omega
            res = np.hstack([res, z])
        return res

    def jacobian(self, rows: np.ndarray, h: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Forward-difference Jacobian ``(b, n_res, p)``, stepping inward at the upper bound."""
        b, p = h.shape
        step = _FD_STEP * np.maximum(1.0, np.abs(h))
        step = np.where(h + step > self.hi[rows], -step, step)
        pts = np.repeat(h[:, None, :], p, axis=1)
        pts[:, np.arange(p), np.arange(p)] += step
        rp = self.residuals(np.repeat(rows, p), pts.reshape(b * p, p)).reshape(b, p, -1)
        return np.transpose((rp - r[:, None, :]) / step[:, :, None], (0, 2, 1))


def _solve(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Batched ``a x = -g``; least squares for the (rare) numerically singular system."""
    try:
        return -np.linalg.solve(a, g[..., None])[..., 0]
    except np.linalg.LinAlgError:  # row by row: only the singular rows take the pseudo-inverse
        out = np.empty_like(g)
        for i in range(g.shape[0]):
            try:
                out[i] = -np.linalg.solve(a[i], g[i])
            except np.linalg.LinAlgError:
                out[i] = -np.linalg.pinv(a[i]) @ g[i]
        return out


def _reduced_step(
    damped: np.ndarray, g: np.ndarray, held: np.ndarray, moved: np.ndarray
) -> np.ndarray:
    """Damped Gauss-Newton step with ``held`` parameters moved by ``moved`` (else 0).

    Minimises ``g' d + d' damped d / 2`` over the other parameters:
    ``d_free = -(damped_ff)^-1 (g_f + damped_fh moved_h)``.
    """
    free = ~held
    rhs = np.where(free, g + np.einsum("bij,bj->bi", damped, moved), 0.0)
    eye = np.eye(damped.shape[1])
    m = damped * free[:, :, None] * free[:, None, :] + eye * held[:, None, :]
    return np.where(free, _solve(m, rhs), moved)


def _lm(
    stack: _Stack,
    owner: np.ndarray,
    h: np.ndarray,
    vary: np.ndarray | None = None,
    max_iter: int = _MAX_ITER,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levenberg-Marquardt on every row ``(owner[i], h[i])`` at once.

    ``vary`` (rows x parameters, default all True) holds the others at their value.
    Returns the points, their costs ``sum(r^2) / 2`` and whether each row converged.
    """
    h = np.clip(h.astype(float), stack.lo[owner], stack.hi[owner])
    n = h.shape[0]
    fixed = np.zeros(h.shape, dtype=bool) if vary is None else ~np.asarray(vary, dtype=bool)
    r = stack.residuals(owner, h)
    cost = 0.5 * np.sum(r * r, axis=1)
    lam = np.full(n, np.nan)
    nu = np.full(n, 2.0)
    done = np.zeros(n, dtype=bool)
    success = np.zeros(n, dtype=bool)
    for _ in range(max_iter):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        rows, ha, ra = owner[act], h[act], r[act]
        jac = stack.jacobian(rows, ha, ra)
        a = np.einsum("bki,bkj->bij", jac, jac)
        g = np.einsum("bki,bk->bi", jac, ra)
        lo, hi = stack.lo[rows], stack.hi[rows]
        width = hi - lo
        held = ((ha - lo <= 1e-10 * width) & (g > 0)) | ((hi - ha <= 1e-10 * width) & (g < 0))
        held |= fixed[act]
        g = np.where(fixed[act], 0.0, g)
        gnorm = np.max(np.abs(np.where(held, 0.0, g)), axis=1)
        diag = np.maximum(np.diagonal(a, axis1=1, axis2=2), 1e-12)
        new = np.isnan(lam[act])  # Marquardt's start: damping relative to the curvature
        lam[act[new]] = 1e-3 * np.max(diag[new], axis=1)
        damped = a + lam[act, None, None] * (diag[:, :, None] * np.eye(a.shape[1]))
        step = _reduced_step(damped, g, held, np.zeros_like(ha))
        big = np.maximum(np.max(np.abs(step), axis=1), 1e-300)
        step *= np.minimum(1.0, _MAX_STEP / big)[:, None]
        trial = np.clip(ha + step, lo, hi)
        # parameters the box stopped: hold them on the bound and re-solve for the others
        clipped = trial != ha + step
        if clipped.any():
            step = _reduced_step(damped, g, held | clipped, np.where(clipped, trial - ha, 0.0))
            trial = np.clip(ha + step, lo, hi)
        step = trial - ha
        rt = stack.residuals(rows, trial)
        ct = 0.5 * np.sum(rt * rt, axis=1)
        actual = cost[act] - ct
        curv = np.einsum("bi,bij,bj->b", step, a, step)
        predicted = -(np.einsum("bi,bi->b", g, step) + 0.5 * curv)
        ok = np.isfinite(ct) & (actual > 0)
        rho = np.where(predicted > 0, actual / np.where(predicted > 0, predicted, 1.0), 0.0)
        # Nielsen (1999): shrink the damping on a good step, grow it geometrically on a bad one
        lam[act] = np.where(
            ok, lam[act] * np.maximum(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3), lam[act] * nu[act]
        )
        nu[act] = np.where(ok, 2.0, nu[act] * 2.0)
        small_f = ok & (actual <= _FTOL * cost[act]) & (predicted <= _FTOL * cost[act])
        small_x = np.linalg.norm(step, axis=1) <= _XTOL * (_XTOL + np.linalg.norm(ha, axis=1))
        acc = act[ok]
        h[acc], r[acc], cost[acc] = trial[ok], rt[ok], ct[ok]
        stuck = lam[act] > 1e16
        stop = small_f | small_x | (gnorm <= _GTOL) | stuck
        success[act] = stop & ~stuck
        done[act] = stop
    return h, cost, success


def minimize_stack(
    problems: Sequence[_Problem], starts: Sequence[np.ndarray], *, max_iter: int = _MAX_ITER
) -> list[list[tuple[np.ndarray, float, bool]]]:
    """Local least-squares fits of every subject from each of its starts, in one stack.

    Parameters
    ----------
    problems : sequence of _Problem
        One per subject; :func:`batchable` must hold.
    starts : sequence of ndarray
        Per subject, its starts ``(n_starts_i, p)`` on the transformed scale.
    max_iter : int
        Iterations per row before it stops unconverged.

    Returns
    -------
    list of list of (ndarray, float, bool)
        Per subject and start: the point, its objective (``_Problem.objective``) and
        whether the row met a convergence test, as ``_subject_optimise._minimize`` returns.
    """
    stack = _Stack(problems)
    owner = np.concatenate([np.full(len(s), i) for i, s in enumerate(starts)])
    h, _, success = _lm(stack, owner, np.vstack(starts), max_iter=max_iter)
    out: list[list[tuple[np.ndarray, float, bool]]] = [[] for _ in problems]
    for i, p in enumerate(problems):
        idx = np.flatnonzero(owner == i)
        vals = p.objective(h[idx])
        for j, v in zip(idx, vals, strict=True):
            out[i].append((h[j].copy(), float(v), bool(success[j]) and float(v) < _BIG))
    return out


def profile_stack(
    problems: Sequence[_Problem],
    requests: Sequence[tuple[int, np.ndarray, int, int, float]],
    q: float,
) -> list[tuple[float, bool]]:
    """Profile-likelihood interval ends of many (subject, parameter, side) at once.

    Each request ``(subject, h, j, direction, step)`` walks parameter ``j`` of subject
    ``problems[subject]`` away from its optimum ``h`` (``step``, then 3x, 9x ... as
    ``_subject_intervals._profile_bound`` does), re-fitting the other parameters warm-started from
    the previous point, until ``-2 log L`` rises by ``q``; the end is then interpolated
    (``_subject_intervals._crossing``). Returns ``(end, closed)`` per request (``closed``
    False: the profile stays below the threshold up to the search range's bound, which is then the end).
    """
    if not requests:
        return []
    stack = _Stack(problems)
    owner = np.array([r[0] for r in requests])
    h0 = np.array([r[1] for r in requests], dtype=float)
    jj = np.array([r[2] for r in requests])
    side = np.array([r[3] for r in requests], dtype=float)
    step = np.array([r[4] for r in requests], dtype=float)
    n = owner.size
    at = np.arange(n)
    r0 = stack.residuals(owner, h0)
    base = np.sum(r0 * r0, axis=1)  # objective at the optimum, less its constant
    edge = np.where(side > 0, stack.hi[owner, jj], stack.lo[owner, jj])
    vary = np.ones(h0.shape, dtype=bool)
    vary[at, jj] = False
    x = h0.copy()
    prev_c, prev_g = h0[at, jj].copy(), np.full(n, -q)
    end, closed = np.full(n, np.nan), np.zeros(n, dtype=bool)
    done = np.zeros(n, dtype=bool)
    while not done.all():
        act = np.flatnonzero(~done)
        c = h0[act, jj[act]] + side[act] * step[act]
        c = np.where(side[act] > 0, np.minimum(c, edge[act]), np.maximum(c, edge[act]))
        x[act, jj[act]] = c
        x[act], cost, _ = _lm(stack, owner[act], x[act], vary[act], max_iter=_PROFILE_ITER)
        g = 2.0 * cost - base[act] - q
        cross = g >= 0
        root = _crossing(prev_c[act], prev_g[act], c, g, q)
        hit = ~cross & (c == edge[act])
        end[act[cross]], closed[act[cross]] = root[cross], True
        end[act[hit]] = edge[act[hit]]
        done[act[cross | hit]] = True
        go = act[~(cross | hit)]
        prev_c[go], prev_g[go] = c[~(cross | hit)], g[~(cross | hit)]
        step[go] *= 3.0
    return [(float(e), bool(k)) for e, k in zip(end, closed, strict=True)]


def fit_stacked(
    model: Model,
    subjects: Sequence[SubjectData],
    *,
    blq: BlqMethod,
    prior_name: str,
    sigma: SigmaKind,
    bounds: Mapping[str, tuple[float, float]] | None,
    n_starts: int,
    seed: int | None,
    interval: CiKind,
    level: float,
    done: Callable[[int], Any] | None = None,
) -> list[SubjectFit] | None:
    """Every subject's :class:`SubjectFit`, optimised in stacks; None when not batchable.

    The same starts (seeded by ``(seed, ID)``), objective and post-processing as
    :func:`cartpk.fit.fit_subject`; only the local optimiser differs (``minimize_stack``
    instead of one TRF run per start). ``done(k)`` is called as ``k`` subjects finish.
    """
    from scipy.stats import chi2

    prepared = [_prepare(model, s, blq, prior_name, sigma, bounds, None, None) for s in subjects]
    problems = [p[0] for p in prepared if not isinstance(p, SubjectFit)]
    if problems and not batchable(problems):
        return None
    starts = [_starts(p, _seed_for(seed, p.s.id), max(int(n_starts), 1)) for p in problems]
    results: list[list[tuple[np.ndarray, float, bool]]] = []
    for k in range(0, len(problems), _CHUNK):
        results += minimize_stack(problems[k : k + _CHUNK], starts[k : k + _CHUNK])
    q = float(chi2.ppf(level, 1))
    curvatures: list[_Curvature | None] = []
    requests: list[tuple[int, np.ndarray, int, int, float]] = []
    for i, (p, res) in enumerate(zip(problems, results, strict=True)):
        h, best, _, _ = _best(res)
        if best >= _BIG:
            curvatures.append(None)
            continue
        cur = _curvature(p, h, q)
        curvatures.append(cur)
        for j in cur.profiled(interval):
            requests += [(i, h, j, d, float(cur.step0[j])) for d in (-1, 1)]
    ends: dict[tuple[int, int, int], tuple[float, bool]] = {}
    for k in range(0, len(requests), _CHUNK):
        part = requests[k : k + _CHUNK]
        for (i, _, j, d, _), e in zip(part, profile_stack(problems, part, q), strict=True):
            ends[(i, j, d)] = e
    fits: list[SubjectFit] = []
    it = iter(range(len(problems)))
    for subject, prep in zip(subjects, prepared, strict=True):
        if isinstance(prep, SubjectFit):
            fits.append(prep)
        else:
            problem, sub, keep = prep
            i = next(it)
            fits.append(
                _finish(
                    problem,
                    subject,
                    sub,
                    keep,
                    results[i],
                    interval=interval,
                    level=level,
                    curvature=curvatures[i],
                    profile=partial(_lookup, ends, i),
                )
            )
        if done is not None:
            done(1)
    return fits


def _lookup(
    ends: Mapping[tuple[int, int, int], tuple[float, bool]], i: int, j: int, d: int, _: float
) -> tuple[float, bool]:
    return ends[(i, j, d)]
