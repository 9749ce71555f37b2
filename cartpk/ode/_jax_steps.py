"""One step of the JAX engine's fused loop, per method: explicit Runge-Kutta pairs with
their tableaus read from diffrax, ESDIRK (diffrax's Kvaerno tableaus, simplified Newton
unrolled) and Shampine & Reichelt's Rosenbrock23 pair. Each factory returns
``step(t, y, h, cov, lo, hi) -> (y1, error norm, converged)`` for the loop in
:mod:`cartpk.ode._jax`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__: list[str] = []  # private: the steps of cartpk.ode._jax


@functools.cache
def _jax() -> tuple[Any, Any, Any]:
    """``(jax, jax.numpy, diffrax)``, imported on first use; float64 switched on."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffrax
    import jax.numpy as jnp

    return jax, jnp, diffrax


@dataclass(frozen=True)
class _Tableau:
    """A Runge-Kutta tableau as NumPy arrays: stages ``A`` (s, s), ``b``, ``b_error``, ``c``."""

    name: str
    a: np.ndarray
    b: np.ndarray
    b_error: np.ndarray
    c: np.ndarray
    order: int
    implicit: bool
    gamma: float
    predictor: np.ndarray


@functools.cache
def _tableau(name: str) -> _Tableau:
    """The coefficients of diffrax's solver ``name`` (not a transcription of ours)."""
    _, _, dfx = _jax()
    solver = getattr(dfx, name)()
    tb = solver.tableau
    s = int(tb.num_stages)
    a = np.zeros((s, s))
    pred = np.zeros((s, s))
    for i, row in enumerate(tb.a_lower):
        a[i + 1, : len(row)] = np.asarray(row)
    implicit = bool(tb.implicit)
    gamma = 0.0
    if implicit:
        diag = np.asarray(tb.a_diagonal)
        a[np.arange(s), np.arange(s)] = diag
        gamma = float(diag[1])
        if not (diag[0] == 0 and np.allclose(diag[1:], gamma)):  # pragma: no cover
            raise ValueError(f"{name}: only ESDIRK tableaus (constant diagonal) are supported")
        for i, row in enumerate(tb.a_predictor):
            pred[i + 1, : len(row)] = np.asarray(row)
    return _Tableau(
        name=name,
        a=a,
        b=np.asarray(tb.b_sol, dtype=float),
        b_error=np.asarray(tb.b_error, dtype=float),
        c=np.concatenate([[0.0], np.asarray(tb.c, dtype=float)]),
        order=int(solver.order(None)),
        implicit=implicit,
        gamma=gamma,
        predictor=pred,
    )


_NEWTON_ITERATIONS = 4  # simplified Newton per implicit stage (unrolled); else the step is rejected
_NEWTON_TOL = 0.1  # estimated Newton error left, in units of the error tolerance


def _weighted(coef: np.ndarray, ks: Sequence[Sequence[Any]], n: int) -> list[Any]:
    """``sum_j coef[j] ks[j]`` per state component, over the non-zero coefficients."""
    out: list[Any] = [0.0] * n
    for cj, kj in zip(coef, ks, strict=False):
        if cj != 0.0:
            out = [o + cj * x for o, x in zip(out, kj, strict=True)]
    return out


def _axpy(y: Sequence[Any], h: Any, d: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(a + h * b for a, b in zip(y, d, strict=True))


def _erk_step(tab: _Tableau, f_at: Callable[..., Any], norm: Callable[..., Any]) -> Callable:
    """An explicit Runge-Kutta step with embedded error estimate.

    States are tuples of scalars and the stages are unrolled: the step is elementwise
    arithmetic that XLA fuses into a few kernels.
    """

    def step(t: Any, y: tuple[Any, ...], h: Any, cov: Any, lo: Any, hi: Any) -> Any:
        ns = len(y)
        ks: list[tuple[Any, ...]] = []
        for i in range(tab.a.shape[0]):
            yi = _axpy(y, h, _weighted(tab.a[i, :i], ks, ns)) if i else y
            ks.append(f_at(t + tab.c[i] * h, yi, cov, lo, hi))
        y1 = _axpy(y, h, _weighted(tab.b, ks, ns))
        err = tuple(h * e for e in _weighted(tab.b_error, ks, ns))
        return y1, norm(err, y, y1), True

    return step


def _esdirk_step(tab: _Tableau, f_at: Callable[..., Any], norm: Callable[..., Any]) -> Callable:
    """An ESDIRK step (e.g. Kvaerno5): simplified Newton with ``W = I - h gamma J(t, y)``.

    ``J`` comes from ``jax.jacfwd`` of the equations, without a tangent of its own: it only
    preconditions the Newton iterations, whose fixed point (and its derivative) does not
    depend on it. A stage whose last Newton update exceeds ``_NEWTON_TOL`` rejects the step.
    """
    jax, jnp, _ = _jax()
    g = tab.gamma
    sg = jax.lax.stop_gradient
    barrier = jax.lax.optimization_barrier

    def step(t: Any, y: tuple[Any, ...], h: Any, cov: Any, lo: Any, hi: Any) -> Any:
        ns = len(y)
        y_frozen = sg(jnp.stack(y))
        jac = jax.jacfwd(lambda v: jnp.stack(f_at(t, tuple(v), cov, lo, hi, True)))(y_frozen)
        w_inv = sg(jnp.linalg.inv(jnp.eye(ns) - (h * g) * jac))
        w = [[w_inv[r, c] for c in range(ns)] for r in range(ns)]
        ks: list[tuple[Any, ...]] = [f_at(t, y, cov, lo, hi)]
        conv = jnp.asarray(True)
        for i in range(1, tab.a.shape[0]):
            known = _axpy(y, h, _weighted(tab.a[i, :i], ks, ns))
            z = _axpy(y, h, _weighted(tab.predictor[i, :i], ks, ns))
            ti = t + tab.c[i] * h
            sizes = []
            for _ in range(_NEWTON_ITERATIONS):
                fz = f_at(ti, z, cov, lo, hi)
                res = [zc - kc - (h * g) * fc for zc, kc, fc in zip(z, known, fz, strict=True)]
                dz = tuple(sum(w[r][c] * res[c] for c in range(ns)) for r in range(ns))
                z = tuple(zc - dc for zc, dc in zip(z, dz, strict=True))
                # materialise: stops XLA from re-computing the unrolled iterations in fusions
                z = barrier(z)
                sizes.append(sg(norm(dz, z, z)))
            # Hairer & Wanner's test: remaining error ~ theta / (1 - theta) |last update|
            theta = sizes[-1] / jnp.maximum(sizes[-2], 1e-300)
            remaining = theta / jnp.maximum(1.0 - theta, 1e-300) * sizes[-1]
            conv = conv & (((theta < 1.0) & (remaining <= _NEWTON_TOL)) | (sizes[-1] <= 1e-3))
            ks.append(tuple((zc - kc) / (h * g) for zc, kc in zip(z, known, strict=True)))
        y1 = _axpy(y, h, _weighted(tab.b, ks, ns))
        err = tuple(h * e for e in _weighted(tab.b_error, ks, ns))
        return y1, norm(err, y, y1), conv

    return step


def _rosenbrock23_step(f_at: Callable[..., Any], norm: Callable[..., Any]) -> Callable:
    """A step of the L-stable Rosenbrock pair of Shampine & Reichelt 1997 (MATLAB
    ``ode23s``; the method of :mod:`cartpk.ode._batch`): order 2, error estimate of
    order 3, one Jacobian and one ``ns x ns`` inverse per step, no Newton iterations.

    ``J = df/dy`` and ``T = df/dt`` come from JAX (``jacfwd``/``jvp``) of the model's own
    equations and are differentiated with the step, so the parameter derivatives are
    those of the computed solution. Small graphs: it compiles in seconds where the
    ESDIRK's unrolled Newton iterations take a minute.

    Reference: Shampine LF, Reichelt MW. The MATLAB ODE suite. SIAM J Sci Comput
    1997;18:1-22 (Section 3.1).
    """
    jax, jnp, _ = _jax()
    d = 1.0 / (2.0 + np.sqrt(2.0))
    e32 = 6.0 + np.sqrt(2.0)

    def step(t: Any, y: tuple[Any, ...], h: Any, cov: Any, lo: Any, hi: Any) -> Any:
        ns = len(y)
        yv = jnp.stack(y)

        def f_vec(tt: Any, v: Any) -> Any:
            return jnp.stack(f_at(tt, tuple(v[i] for i in range(ns)), cov, lo, hi))

        f0, dfdt = jax.jvp(lambda tt: f_vec(tt, yv), (t,), (jnp.ones_like(t),))
        jac = jax.jacfwd(lambda v: f_vec(t, v))(yv)
        w_inv = jnp.linalg.inv(jnp.eye(ns) - (h * d) * jac)
        k1 = w_inv @ (f0 + (h * d) * dfdt)
        f1 = f_vec(t + 0.5 * h, yv + 0.5 * h * k1)
        k2 = w_inv @ (f1 - k1) + k1
        y1 = yv + h * k2
        f2 = f_vec(t + h, y1)
        k3 = w_inv @ (f2 - e32 * (k2 - f1) - 2.0 * (k1 - f0) + (h * d) * dfdt)
        err = (h / 6.0) * (k1 - 2.0 * k2 + k3)
        y1t = tuple(y1[i] for i in range(ns))
        return y1t, norm(tuple(err[i] for i in range(ns)), y, y1t), jnp.asarray(True)

    return step
