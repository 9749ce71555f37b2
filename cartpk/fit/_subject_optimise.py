"""Local optimisation of one subject's problem: seeded starts, TRF / L-BFGS-B runs."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from cartpk.fit._subject_problem import _BIG, _Problem


def _starts(problem: _Problem, rng: np.random.Generator, n_starts: int) -> np.ndarray:
    """Deterministic multi-start points: the typical values, then the best of a screen.

    A screen of ``64 * n_starts`` candidates drawn from the population distribution
    (``N(typical, omega)`` on the transformed scale; uniform in the box without IIV) is
    evaluated in one vectorised call; the ``n_starts - 1`` best join the typical values.
    """
    spec = problem.spec
    k = max(64 * n_starts, 64)
    om = np.where(np.isfinite(spec.omega), spec.omega, np.nan)
    draws = spec.centre + rng.standard_normal((k, spec.centre.size)) * np.where(
        np.isfinite(om), om * 1.5, 0.0
    )
    unif = rng.uniform(spec.lo, spec.hi, size=(k, spec.centre.size))
    cand = np.where(np.isfinite(om), draws, unif)
    cand = np.clip(cand, spec.lo, spec.hi)
    first = np.clip(spec.centre, spec.lo, spec.hi)[None, :]
    if n_starts <= 1:
        return first
    vals = problem.objective(cand)
    best = cand[np.argsort(vals, kind="stable")[: n_starts - 1]]
    return np.vstack([first, best])


def _minimize(
    problem: _Problem,
    start: np.ndarray,
    *,
    vary: Sequence[bool] | None = None,
    max_nfev: int = 4000,
) -> tuple[np.ndarray, float, bool]:
    """One local fit from ``start``; returns (h, objective, success).

    A sum of squares goes to lmfit's ``least_squares`` (TRF), a general objective to
    L-BFGS-B (lmfit's with finite differences, SciPy's with the exact gradient).
    """
    spec = problem.spec
    names = spec.names
    varying = [j for j in range(len(names)) if vary is None or vary[j]]
    if problem.engine is not None and not problem.least_squares:
        # scalar objective, exact gradient: SciPy's L-BFGS-B directly (scaled variables)
        return _minimize_exact(problem, start, varying, max_nfev)
    import lmfit

    params = lmfit.Parameters()
    for j, n in enumerate(spec.names):
        # lmfit parameters hold the *transformed* value of the parameter of the same name
        params.add(
            n,
            value=float(start[j]),
            min=float(spec.lo[j]),
            max=float(spec.hi[j]),
            vary=True if vary is None else bool(vary[j]),
        )

    def point(p: lmfit.Parameters) -> np.ndarray:
        return np.array([p[n].value for n in names])

    kws: dict[str, Any]
    if problem.least_squares:
        method = "least_squares"
        # relative tolerance 1e-6 on -2 log L (a change of ~1e-4 on a typical value of
        # 100, statistically nil): scipy's 1e-8 lets TRF crawl along flat valleys of
        # non-identified parameters until max_nfev
        kws = {"ftol": 1e-6, "xtol": 1e-6, "gtol": 1e-8}
        if problem.engine is not None:

            def fcn(p: lmfit.Parameters) -> Any:
                return problem.residuals_exact(point(p))[0]

            def jac(p: lmfit.Parameters) -> Any:  # lmfit wants the varying columns
                return problem.residuals_exact(point(p))[1][:, varying]

            kws["jac"] = jac
        else:

            def fcn(p: lmfit.Parameters) -> Any:
                return problem.residuals(point(p)[None, :])[0]

    else:
        method = "lbfgsb"
        kws = {}

        def fcn(p: lmfit.Parameters) -> Any:
            return float(problem.objective(point(p)[None, :])[0])

    # lmfit's least_squares always derives a covariance from J'J (ignoring calc_covar) and
    # takes sqrt of its diagonal; we do not use it (SEs come from our Hessian), so its
    # invalid-value warnings for singular J'J are silenced here and only here
    with _blas_single_thread(), np.errstate(invalid="ignore", divide="ignore"):
        res = lmfit.minimize(fcn, params, method=method, max_nfev=max_nfev, calc_covar=False, **kws)
    h = np.array([res.params[n].value for n in names])
    val = float(problem.objective(h[None, :])[0])
    return h, val, bool(res.success) and val < _BIG


#: L-BFGS-B's first step has unit length in its variables; mechanistic objectives are steep
#: (a step of 1 in log(rate) can overflow the ODE: -2 log L of 1e13 on cartmath_illustration, after which
#: the line search stalls at the start). The exact-gradient path runs in h / _LBFGS_SCALE, so
#: the first step is 0.1 on the log scale; later quasi-Newton steps adapt to the curvature.
_LBFGS_SCALE = 0.1


def _minimize_exact(
    problem: _Problem, start: np.ndarray, varying: Sequence[int], max_nfev: int
) -> tuple[np.ndarray, float, bool]:
    """L-BFGS-B (SciPy, native bounds) on the exact gradient, over the varying entries."""
    from scipy.optimize import minimize

    idx = np.asarray(varying, dtype=int)
    spec, sc = problem.spec, _LBFGS_SCALE

    def full(x: np.ndarray) -> np.ndarray:
        h = start.astype(float).copy()
        h[idx] = start[idx] + sc * x
        return h

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        val, grad = problem.objective_exact(full(x))
        return val, sc * grad[idx]

    bounds = list(
        zip((spec.lo[idx] - start[idx]) / sc, (spec.hi[idx] - start[idx]) / sc, strict=True)
    )
    with _blas_single_thread(), np.errstate(invalid="ignore", divide="ignore"):
        res = minimize(
            fun,
            np.zeros(idx.size),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxfun": max_nfev},
        )
    h = full(res.x)
    val = float(problem.objective(h[None, :])[0])
    return h, val, bool(res.success) and val < _BIG


_CONTROLLER: list[Any] = []


def _blas_single_thread() -> Any:
    """Limit BLAS to one thread during a fit.

    The optimizers call LAPACK on 6x6 matrices thousands of times; a multi-threaded
    OpenBLAS spends ~20x longer waking threads than computing (measured on 2 cores), and
    subjects run in parallel processes anyway.
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - optional: only slower without it
        import contextlib

        return contextlib.nullcontext()
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _seed_for(seed: int | None, sid: str) -> np.random.Generator:
    """A subject's generator from (seed, ID): results do not depend on subject order."""
    return np.random.default_rng([0 if seed is None else int(seed), zlib.crc32(sid.encode())])
