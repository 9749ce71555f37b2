"""NumPy/SciPy engine for ODE models: every subject in one ``solve_ivp`` system.

The states of all subjects are flattened state-major (``y[k * n + i]`` is state ``k`` of
subject ``i``), so the right-hand side is evaluated once per step for all subjects with
the model's own ``rhs`` written against NumPy. Stiff methods (BDF, Radau) get the
block-diagonal Jacobian sparsity, which keeps finite-difference Jacobians cheap.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.errors import ModelError, Violation

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.model._ode_model import OdeModel

__all__ = ["solve"]


def _kw(func: Any) -> set[str]:
    return {p.name for p in inspect.signature(func).parameters.values() if p.kind == p.KEYWORD_ONLY}


def solve(
    model: OdeModel,
    time: Any,
    params: Mapping[str, Any],
    *,
    dose: Any = None,
) -> dict[str, np.ndarray]:
    """Integrate ``model`` for all subjects at once and observe it at ``time``.

    Parameters
    ----------
    model : OdeModel
        The model (its ``rhs``, ``initial``, ``observe``, ``states``, ``dosing``, ``solver``).
    time : array
        ``(n_t,)`` shared by all subjects or ``(n_subjects, n_t)``; days >= 0.
    params : mapping of str to array
        Every structural parameter, scalar or one value per subject (any shape of size n).
    dose : array, optional
        Passed to ``initial`` when it takes ``dose``.

    Returns
    -------
    dict of str to ndarray
        ``(n_subjects, n_t)``, or ``(n_t,)`` when all parameters are scalars and ``time``
        is 1-D.
    """
    from scipy.sparse import csr_matrix, eye, kron

    cls = type(model)
    t = np.asarray(time, dtype=float)
    if np.any(t < 0) or not np.all(np.isfinite(t)):
        raise ModelError(
            f"Cannot integrate `{model.name}` at negative or non-finite times.",
            [
                Violation(
                    "ode_time",
                    "ODE models start at the infusion (t = 0)",
                    value=repr(t[(t < 0) | ~np.isfinite(t)][:5].tolist()),
                    expected="times >= 0",
                    fix="drop pre-infusion times",
                )
            ],
        )
    arrs = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    scalar_params = all(a.ndim == 0 for a in arrs.values()) and (dose is None or np.ndim(dose) == 0)
    sizes = {a.size for a in arrs.values() if a.size != 1}
    if dose is not None and np.size(dose) != 1:
        sizes.add(int(np.size(dose)))
    if t.ndim == 2 and t.shape[0] != 1:
        sizes.add(t.shape[0])
    if len(sizes) > 1:
        raise ModelError(
            f"Cannot integrate `{model.name}`: subject axes disagree.",
            [
                Violation(
                    "ode_shape",
                    "parameters, dose and time have different numbers of subjects",
                    value=repr(sorted(sizes)),
                    fix="give one value per subject, or scalars",
                )
            ],
        )
    n = sizes.pop() if sizes else 1
    p1 = {k: np.broadcast_to(a.reshape(-1), (n,)) for k, a in arrs.items()}
    p2 = {k: v[:, None] for k, v in p1.items()}
    states = tuple(cls.states)
    ns = len(states)

    def pick(func: Any, pdict: Mapping[str, Any]) -> dict[str, Any]:
        return {k: pdict[k] for k in _kw(func) if k in pdict}

    init_kw = pick(cls.initial, p1)
    if "dose" in _kw(cls.initial):
        init_kw["dose"] = (
            None
            if dose is None
            else np.broadcast_to(np.asarray(dose, dtype=float).reshape(-1), (n,))
        )
    y_init = cls.initial(np, **init_kw)
    missing = [s for s in states if s not in y_init]
    if missing:
        raise ModelError(
            f"`{model.name}.initial` does not give every state.",
            [Violation("ode_initial", "states missing from `initial`", value=repr(missing))],
        )
    full = np.stack([np.broadcast_to(np.asarray(y_init[s], dtype=float), (n,)) for s in states])
    rhs_kw = pick(cls.rhs, p1)

    def fun(tt: float, yflat: np.ndarray) -> np.ndarray:
        y2 = yflat.reshape(ns, n)
        y = {s: y2[k] for k, s in enumerate(states)}
        d = cls.rhs(np, tt, y, **rhs_kw)
        return np.concatenate([np.broadcast_to(d[s], (n,)) for s in states])

    opts = dict(cls.solver)
    method = opts.pop("method", "BDF")
    if method in ("BDF", "Radau") and "jac_sparsity" not in opts and "jac" not in opts:
        # The Newton matrix only steers convergence (results stay error-controlled), so the
        # complex-step Jacobian is safe; equations that cannot take complex numbers fall
        # back to sparse finite differences.
        try:
            jac = _exact_jacobian(model, p1, n, ns)
            jac(0.0, full.reshape(-1))
            opts["jac"] = jac
        except (TypeError, ValueError):
            opts["jac_sparsity"] = csr_matrix(kron(np.ones((ns, ns)), eye(n)))

    grid = np.unique(t)
    dosed = set(cls.dosed_states or states)
    if cls.dosing:
        schedule = sorted((float(a), float(b)) for a, b in cls.dosing)
    else:
        schedule = [(0.0, 1.0)]
    mask = np.array([s in dosed for s in states])[:, None]
    y0 = np.where(mask, 0.0, full)
    out = np.empty((ns * n, grid.size))
    cursor = 0.0
    for j, (t_dose, frac) in enumerate(schedule):
        if t_dose > cursor:  # integrate up to this dose time
            y0 = _segment(fun, cursor, t_dose, y0, grid, out, method, opts, n, ns, last=False)
            cursor = t_dose
        y0 = y0 + np.where(mask, frac * full, 0.0)
        if j == len(schedule) - 1:
            t_end = max(float(grid.max()) if grid.size else 0.0, cursor)
            _segment(fun, cursor, t_end, y0, grid, out, method, opts, n, ns, last=True)
    states_out = {s: out[k * n : (k + 1) * n] for k, s in enumerate(states)}
    obs = cls.observe(np, states_out, **pick(cls.observe, p2))
    result: dict[str, np.ndarray] = {}
    for dv, val in obs.items():
        v = np.broadcast_to(np.asarray(val, dtype=float), (n, grid.size))
        if t.ndim <= 1:
            r = v[:, np.searchsorted(grid, t.reshape(-1))].reshape((n, *t.shape))
            result[dv] = r[0] if scalar_params and t.ndim == 1 else r
        else:
            idx = np.searchsorted(grid, np.broadcast_to(t, (n, t.shape[1])))
            result[dv] = np.take_along_axis(v, idx, axis=1)
    return result


def _exact_jacobian(model: Any, p1: Mapping[str, np.ndarray], n: int, ns: int) -> Any:
    """Block-diagonal state Jacobian by complex step through the model's own ``rhs``."""
    from scipy.sparse import csc_matrix

    from cartpk.model._ode_engine import _Problem

    prob = _Problem(model, p1, (), None, {}, n)
    k_idx, j_idx, i_idx = np.meshgrid(np.arange(ns), np.arange(ns), np.arange(n), indexing="ij")
    rows = (k_idx * n + i_idx).reshape(-1)
    cols = (j_idx * n + i_idx).reshape(-1)

    def jac(tt: float, yflat: np.ndarray) -> Any:
        data = prob.state_jacobian(tt, yflat.reshape(ns, n)).reshape(-1)
        return csc_matrix((data, (rows, cols)), shape=(ns * n, ns * n))

    return jac


def _segment(
    fun: Any,
    t0: float,
    t1: float,
    y0: np.ndarray,
    grid: np.ndarray,
    out: np.ndarray,
    method: str,
    opts: dict[str, Any],
    n: int,
    ns: int,
    *,
    last: bool,
) -> np.ndarray:
    """Integrate ``[t0, t1]``; store grid points in ``[t0, t1)`` (``[t0, t1]`` if last)."""
    from scipy.integrate import solve_ivp

    sel = (grid >= t0) & ((grid <= t1) if last else (grid < t1))
    flat0 = np.ascontiguousarray(y0.reshape(-1))
    if t1 <= t0:
        out[:, sel] = flat0[:, None]
        return y0
    t_eval = np.unique(np.concatenate([grid[sel], [t1]]))
    sol = solve_ivp(fun, (t0, t1), flat0, method=method, t_eval=t_eval, **opts)
    if not sol.success:
        raise ModelError(
            "The ODE solver failed.",
            [
                Violation(
                    "ode_failed",
                    f"solve_ivp ({method}) stopped: {sol.message}",
                    expected="a successful integration",
                    fix="check parameter values, or try another `solver` method/tolerance",
                )
            ],
        )
    idx = np.searchsorted(t_eval, grid[sel])
    out[:, sel] = sol.y[:, idx]
    return sol.y[:, -1].reshape(ns, n)
