"""Differentiable ODE engine: values and exact parameter gradients, batched over subjects.

Forward sensitivities: for ``dy/dt = f(t, y, p)`` the sensitivities ``S_j = dy/dp_j`` obey
``dS_j/dt = (df/dy) S_j + df/dp_j``. Every directional derivative the engine needs
(the sensitivity right-hand side, the state Jacobian for the implicit solver's Newton
iterations, ``d y(0)/dp``, ``d observe/dp`` and ``d breakpoint/dp``) is computed by the
**complex step** through the model's own equations written against NumPy:
``f'(x) v = Im f(x + i h v) / h`` with ``h = 1e-30``. That is exact to rounding error (no
subtraction, unlike finite differences), needs no second copy of the equations, and costs
one vectorised NumPy call for all subjects and all parameters at once (the parameter
directions are stacked on a leading axis). See ``docs/ode_engine.md`` for the measurements
behind this choice (against compiling symbolic PyTensor Jacobians, and against
``solve_ivp`` + finite differences).

The state and the sensitivities of all subjects are integrated as one
``scipy.integrate.solve_ivp`` system (BDF/Radau with an analytic sparse Jacobian, LSODA, or an
explicit method), piecewise between *event times*: dose fractions (split dosing),
changes of time-varying covariates, and parameter-dependent switch times declared by the
model's ``breakpoints`` (e.g. Stein's ``tmax``). At a switch time ``tau(p)`` the
sensitivities jump by ``(f^- - f^+) dtau/dp`` (the solution is continuous, its parameter
derivative is not). A failed integration is retried per subject, and each subject gets a
status (:class:`OdeStatus`) instead of NaNs.

Requirements on the equations (for the complex step): use ``xp`` functions that are
analytic (``exp``, ``log`` of positive quantities, ``where``, ``minimum``/``maximum``,
arithmetic); never ``abs`` of, or branch on, a quantity whose derivative is wanted.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.errors import ModelError, Violation
from cartpk.ode._request import _func, _kw
from cartpk.ode._solve import OdeSolution, OdeStatus

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.ode._request import OdeRequest

# OdeSolution and OdeStatus live in cartpk.ode._solve; named here for older imports
__all__ = ["OdeSolution", "OdeStatus", "solve_sensitivities"]

_H = 1e-30  # complex-step size: exact derivatives to rounding error for analytic equations
_IMPLICIT = ("BDF", "Radau")


class _Problem:
    """One model + parameter set + design, flattened for the solver (state-major layout).

    Arrays: states ``(ns, n)``; sensitivities ``(npar, ns, n)``; complex evaluations
    stack the ``1 + npar`` directions on a leading axis.
    """

    def __init__(
        self, request: OdeRequest, wrt: Sequence[str], tv: Mapping[str, np.ndarray]
    ) -> None:
        cls = request.model_class
        self.cls = cls
        self.states = tuple(cls.states)
        self.ns = len(self.states)
        self.n = request.n
        self.wrt = tuple(wrt)
        self.npar = len(self.wrt)
        self.params = request.params
        self.dose = request.dose
        self.tv = dict(tv)  # current value of each time-varying covariate, (n,)
        self.f_rhs = _func(cls, "rhs")
        self.f_init = _func(cls, "initial")
        self.f_obs = _func(cls, "observe")
        self.f_bp = _func(cls, "breakpoints")
        self.kw_rhs = _kw(self.f_rhs)
        self.kw_init = _kw(self.f_init)
        self.kw_obs = _kw(self.f_obs)
        self.kw_bp = _kw(self.f_bp) if self.f_bp is not None else []
        self._cache: dict[tuple[Any, ...], dict[str, Any]] = {}

    # -- complex-step helpers ----------------------------------------------------------
    def _cparams(self, names: Sequence[str], ndir: int, shape: tuple[int, ...]) -> dict[str, Any]:
        """Parameters with ``i h`` added in their own direction (row ``1 + j`` for ``wrt[j]``).

        Built once per (names, directions, rank) and reused: the solver calls this per step.
        """
        key = (tuple(names), ndir, len(shape))
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._build_cparams(names, ndir, shape)
        return dict(cached)

    def _build_cparams(
        self, names: Sequence[str], ndir: int, shape: tuple[int, ...]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in names:
            if k not in self.params:
                continue
            if ndir == 1:  # values only: stay real (complex arithmetic costs 2-4x)
                out[k] = self.params[k].reshape((1, self.n) + (1,) * (len(shape) - 2))
                continue
            v = np.empty((ndir, self.n), dtype=complex)
            v[:] = self.params[k]
            if k in self.wrt and ndir > 1:
                v[1 + self.wrt.index(k)] += 1j * _H
            out[k] = v.reshape((ndir, self.n) + (1,) * (len(shape) - 2))
        return out

    def _rhs_data(self) -> dict[str, Any]:
        """The data ``rhs`` takes besides parameters: covariates' current values, the dose."""
        out = {k: self.tv[k] for k in self.kw_rhs if k in self.tv}
        if "dose" in self.kw_rhs:
            out["dose"] = self.dose
        return out

    def rhs_directional(
        self, t: float, y: np.ndarray, sens: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``f(t, y)`` and, with ``sens``, ``(df/dy) S_j + df/dp_j`` for every ``j``."""
        ndir = 1 + (self.npar if sens is not None else 0)
        yc = np.empty((ndir, self.ns, self.n), dtype=complex if sens is not None else float)
        yc[:] = y
        if sens is not None:
            yc[1:] += 1j * _H * sens
        kw = self._cparams(self.kw_rhs, ndir, (ndir, self.n)) | self._rhs_data()
        d = self.f_rhs(np, t, {s: yc[:, i] for i, s in enumerate(self.states)}, **kw)
        f = np.empty((ndir, self.ns, self.n), dtype=yc.dtype)
        for i, s in enumerate(self.states):
            f[:, i] = d[s]
        val = f[0].real
        return val, (f[1:].imag / _H if sens is not None else None)

    def state_jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        """``df_k/dy_j`` per subject, ``(ns, ns, n)`` (row k, column j)."""
        yc = np.empty((self.ns, self.ns, self.n), dtype=complex)
        yc[:] = y
        for j in range(self.ns):
            yc[j, j] += 1j * _H
        kw = {k: self.params[k] for k in self.kw_rhs if k in self.params} | self._rhs_data()
        d = self.f_rhs(np, t, {s: yc[:, i] for i, s in enumerate(self.states)}, **kw)
        jac = np.empty((self.ns, self.ns, self.n))
        for k, s in enumerate(self.states):
            jac[k] = np.broadcast_to(d[s], (self.ns, self.n)).imag / _H  # [j, subject]
        return jac

    def initial(self) -> tuple[np.ndarray, np.ndarray]:
        """``y(0)`` before dosing fractions, ``(ns, n)``, and its sensitivities ``(npar, ns, n)``."""
        ndir = 1 + self.npar
        kw = self._cparams(self.kw_init, ndir, (ndir, self.n))
        if "dose" in self.kw_init:
            kw["dose"] = self.dose
        y0 = self.f_init(np, **kw)
        missing = [s for s in self.states if s not in y0]
        if missing:
            raise ModelError(
                "`initial` does not give every state.",
                [Violation("ode_initial", "states missing from `initial`", value=repr(missing))],
            )
        full = np.empty((ndir, self.ns, self.n), dtype=complex)
        for i, s in enumerate(self.states):
            full[:, i] = np.broadcast_to(y0[s], (ndir, self.n))
        return full[0].real.copy(), full[1:].imag / _H

    def breakpoints(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Parameter-dependent switch times ``{name: (n,)}`` and ``{name: (npar, n)}``."""
        if self.f_bp is None:
            return {}, {}
        ndir = 1 + self.npar
        out = self.f_bp(np, **self._cparams(self.kw_bp, ndir, (ndir, self.n)))
        times, grads = {}, {}
        for k, v in out.items():
            v = np.broadcast_to(np.asarray(v, dtype=complex), (ndir, self.n))
            times[k] = v[0].real.copy()
            grads[k] = v[1:].imag / _H
        return times, grads

    def observe(
        self, y: np.ndarray, sens: np.ndarray | None
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Outputs ``{DVID: (n, m)}`` and total derivatives ``{DVID: (npar, n, m)}``."""
        m = y.shape[-1]
        ndir = 1 + (self.npar if sens is not None else 0)
        yc = np.empty((ndir, self.ns, self.n, m), dtype=complex if sens is not None else float)
        yc[:] = y
        if sens is not None:
            yc[1:] += 1j * _H * sens
        kw = self._cparams(self.kw_obs, ndir, (ndir, self.n, m))
        out = self.f_obs(np, {s: yc[:, i] for i, s in enumerate(self.states)}, **kw)
        vals, ders = {}, {}
        for dv, v in out.items():
            v = np.broadcast_to(np.asarray(v, dtype=complex), (ndir, self.n, m))
            vals[dv] = v[0].real.copy()
            ders[dv] = v[1:].imag / _H if sens is not None else np.empty((0, self.n, m))
        return vals, ders


def solve_sensitivities(
    request: OdeRequest,
    *,
    wrt: Sequence[str] | None = None,
    method: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> OdeSolution:
    """Integrate a request's subjects with forward sensitivities.

    Parameters
    ----------
    request : OdeRequest
        The model (its ``rhs``, ``initial``, ``observe``, optional ``breakpoints``,
        ``dosing``, ``time_varying``, ``solver``), times, every structural parameter, the
        doses and the covariates' step functions (before the first change a covariate has
        its declared default), checked once by :func:`cartpk.ode._request.ode_request`.
    wrt : sequence of str, optional
        Parameters to differentiate with respect to; default all of ``request.params``.
        An empty sequence integrates the states only.
    method, rtol, atol : optional
        Override the model's ``solver`` options (``"BDF"``, ``"Radau"``, ``"LSODA"``,
        ``"RK45"``, ``"DOP853"``). The absolute tolerance of a sensitivity ``dy/dp`` is
        ``atol / |p|``, so that relative sensitivities are controlled like the states.

    Returns
    -------
    OdeSolution
        Values, Jacobians by parameter name, per-subject status.

    Raises
    ------
    ModelError
        ``ode_initial`` (``initial`` misses a state).
    """
    cls = request.model_class
    n = request.n
    wrt_list = list(request.params) if wrt is None else list(wrt)
    declared = dict(getattr(cls, "time_varying", {}) or {})
    opts = dict(cls.solver)
    method = method or opts.pop("method", "BDF")
    opts.pop("method", None)
    if rtol is not None:
        opts["rtol"] = rtol
    if atol is not None:
        opts["atol"] = atol
    grid = np.unique(request.time)
    t_end = float(grid.max()) if grid.size else 0.0

    def run(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, list[OdeStatus], list[str]]:
        sub = request.subset(idx)
        tv0 = {k: np.full(idx.size, float(declared[k])) for k in declared}
        return _integrate(_Problem(sub, wrt_list, tv0), grid, t_end, sub.steps, method, opts)

    all_idx = np.arange(n)
    ys, ss, status, msgs = run(all_idx)
    if n > 1 and any(s is not OdeStatus.success for s in status):
        # isolate the failing subjects: integrate each one on its own
        ys = np.full_like(ys, np.nan)
        ss = None if ss is None else np.full_like(ss, np.nan)
        status, msgs = [], []
        for i in all_idx:
            y1, s1, st1, m1 = run(np.array([i]))
            ys[:, i : i + 1] = y1
            if ss is not None and s1 is not None:
                ss[:, :, i : i + 1] = s1
            status.extend(st1)
            msgs.extend(m1)
    vals, ders = _Problem(request, wrt_list, {}).observe(ys, ss)
    t = request.time
    if t.ndim == 1:
        cols = np.searchsorted(grid, t)
    else:
        cols = np.searchsorted(grid, np.broadcast_to(t, (n, t.shape[1])))

    def pick(a: np.ndarray) -> np.ndarray:
        """Columns of the sorted grid -> the requested times (shared or per subject)."""
        if cols.ndim == 1:
            return a[..., cols]
        return np.take_along_axis(a, cols, axis=-1)

    values = {dv: pick(v) for dv, v in vals.items()}
    jac = {dv: {w: pick(ders[dv][j]) for j, w in enumerate(wrt_list)} for dv in vals}
    bad_rows = np.array([s is not OdeStatus.success for s in status])
    for dv in values:
        values[dv][bad_rows] = np.nan
        for w in jac[dv]:
            jac[dv][w][bad_rows] = np.nan
    return OdeSolution(values, jac, tuple(status), np.array(request.time_rows()), tuple(msgs))


def _integrate(
    prob: _Problem,
    grid: np.ndarray,
    t_end: float,
    steps: Mapping[str, tuple[np.ndarray, np.ndarray]],
    method: str,
    opts: Mapping[str, Any],
) -> tuple[np.ndarray, np.ndarray | None, list[OdeStatus], list[str]]:
    """States ``(ns, n, n_grid)`` and sensitivities ``(npar, ns, n, n_grid)`` on ``grid``."""
    cls = prob.cls
    ns, n, npar = prob.ns, prob.n, prob.npar
    full, dfull = prob.initial()
    dosed = set(cls.dosed_states or prob.states)
    mask = np.array([s in dosed for s in prob.states])[:, None]
    schedule = sorted((float(a), float(b)) for a, b in cls.dosing) if cls.dosing else [(0.0, 1.0)]
    y = np.where(mask, 0.0, full)
    sens = np.where(mask[None], 0.0, dfull) if npar else None
    bp_t, bp_g = prob.breakpoints()
    # event times: doses, covariate changes, switch times (all subjects), the end
    events = {a for a, _ in schedule}
    for tt, _ in steps.values():
        events |= {float(x) for x in np.ravel(tt) if np.isfinite(x)}
    for v in bp_t.values():
        events |= {float(x) for x in v if np.isfinite(x)}
    events = sorted(e for e in events if 0.0 <= e <= t_end) or [0.0]
    bounds = sorted(set(events) | {0.0, t_end})
    ys = np.full((ns, n, grid.size), np.nan)
    ss = np.full((npar, ns, n, grid.size), np.nan) if npar else None
    status = [OdeStatus.success] * n
    msgs: list[str] = []
    scale = {k: np.maximum(np.abs(v), 1e-300) for k, v in prob.params.items()}
    atol_y = float(opts.get("atol", 1e-10))
    if npar:
        atol_s = np.stack([np.broadcast_to(atol_y / scale[w], (ns, n)) for w in prob.wrt])
        atol_vec = np.concatenate([np.full(ns * n, atol_y), atol_s.reshape(-1)])
    else:
        atol_vec = np.full(ns * n, atol_y)
    solver_opts = {k: v for k, v in opts.items() if k != "atol"}
    for j, b in enumerate(bounds):
        # 1. what happens at b: switch-time jumps, doses, covariate changes
        if j > 0:
            for name, tb in bp_t.items():
                hit = tb == b
                if np.any(hit) and sens is not None:
                    delta = 1e-9 * max(1.0, abs(b))
                    f_minus, _ = prob.rhs_directional(b - delta, y, None)
                    f_plus, _ = prob.rhs_directional(b + delta, y, None)
                    jump = (f_minus - f_plus)[None] * bp_g[name][:, None, :]
                    sens = sens + np.where(hit[None, None, :], jump, 0.0)
        for t_dose, frac in schedule:
            if t_dose == b:
                y = y + np.where(mask, frac * full, 0.0)
                if sens is not None:
                    sens = sens + np.where(mask[None], frac * dfull, 0.0)
        for k, (tt, vv) in steps.items():
            ch = tt == b
            if np.any(ch):
                newv = np.max(np.where(ch, vv, -np.inf), axis=1)
                prob.tv[k] = np.where(ch.any(axis=1), newv, prob.tv[k])
        # 2. record grid points at b, then integrate to the next bound
        at = np.flatnonzero(grid == b)
        ys[:, :, at] = y[:, :, None]
        if ss is not None and sens is not None:
            ss[:, :, :, at] = sens[..., None]
        if j == len(bounds) - 1:
            break
        b1 = bounds[j + 1]
        inside = np.flatnonzero((grid > b) & (grid < b1))
        t_eval = np.concatenate([grid[inside], [b1]])
        ok, y, sens, msg = _segment(prob, b, b1, y, sens, t_eval, method, solver_opts, atol_vec)
        if not ok:
            status = [OdeStatus.solver_failed] * n
            msgs.append(msg)
            return ys, ss, status, msgs
        ys[:, :, inside] = y[0][:, :, : inside.size]
        if ss is not None:
            ss[:, :, :, inside] = sens[0][..., : inside.size]
        y = y[0][:, :, -1]
        sens = sens[0][..., -1] if sens is not None else None
    finite = np.isfinite(ys).all(axis=(0, 2))
    if ss is not None:
        finite &= np.isfinite(ss).all(axis=(0, 1, 3))
    status = [OdeStatus.success if f else OdeStatus.nonfinite for f in finite]
    return ys, ss, status, msgs


def _segment(
    prob: _Problem,
    t0: float,
    t1: float,
    y0: np.ndarray,
    s0: np.ndarray | None,
    t_eval: np.ndarray,
    method: str,
    opts: Mapping[str, Any],
    atol_vec: np.ndarray,
) -> tuple[bool, Any, Any, str]:
    """Integrate one event-free interval; the equations see times inside ``(t0, t1)``."""
    from scipy.integrate import solve_ivp
    from scipy.sparse import csc_matrix

    ns, n, npar = prob.ns, prob.n, prob.npar
    nd = 1 + (npar if s0 is not None else 0)
    size = ns * n
    # A switch at a segment end belongs to the next segment: clamp the time the equations
    # see to the open interval, so every evaluation in here takes this segment's branch.
    eps = min(1e-9 * max(1.0, abs(t1)), 0.25 * (t1 - t0))
    lo, hi = t0 + eps, t1 - eps

    def fun(tt: float, z: np.ndarray) -> np.ndarray:
        zz = z.reshape(nd, ns, n)
        te = min(max(tt, lo), hi)
        f, ds = prob.rhs_directional(te, zz[0], zz[1:] if nd > 1 else None)
        return f.reshape(-1) if ds is None else np.concatenate([f.reshape(-1), ds.reshape(-1)])

    kwargs = dict(opts)
    if method in _IMPLICIT:
        # Newton matrix: the exact state Jacobian, repeated for every sensitivity block
        # (the sensitivity equations are linear in S with that same matrix).
        k_idx, j_idx, i_idx = np.meshgrid(np.arange(ns), np.arange(ns), np.arange(n), indexing="ij")
        rows = (k_idx * n + i_idx).reshape(-1)
        cols = (j_idx * n + i_idx).reshape(-1)
        rows_all = np.concatenate([rows + c * size for c in range(nd)])
        cols_all = np.concatenate([cols + c * size for c in range(nd)])

        def jac(tt: float, z: np.ndarray) -> Any:
            te = min(max(tt, lo), hi)
            jy = prob.state_jacobian(te, z[:size].reshape(ns, n)).reshape(-1)
            return csc_matrix((np.tile(jy, nd), (rows_all, cols_all)), shape=(nd * size, nd * size))

        kwargs["jac"] = jac
        if s0 is None and not _complex_safe(jac, t0, y0):
            # values only, from equations that cannot take complex numbers: the Newton
            # matrix by sparse finite differences instead (it only steers convergence)
            del kwargs["jac"]
            kwargs["jac_sparsity"] = csc_matrix(
                (np.ones(rows.size), (rows, cols)), shape=(size, size)
            )
    z0 = y0.reshape(-1) if s0 is None else np.concatenate([y0.reshape(-1), s0.reshape(-1)])
    atol = atol_vec[: nd * size]
    # Overflow in a diverging subject is reported through its status, not as a warning;
    # the solver's own warnings are kept as messages of the solution.
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            sol = solve_ivp(fun, (t0, t1), z0, method=method, t_eval=t_eval, atol=atol, **kwargs)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as err:
            return False, None, None, f"{method}: {err}"
    notes = "; ".join(str(w.message) for w in caught)
    if not sol.success:
        return False, None, None, f"{method}: {sol.message}" + (f" ({notes})" if notes else "")
    zt = sol.y.reshape(nd, ns, n, -1)
    y = zt[0][None]
    s = zt[1:][None] if s0 is not None else None
    return True, y, s, ""


def _complex_safe(jac: Any, t0: float, y0: np.ndarray) -> bool:
    """Whether the complex-step state Jacobian can be evaluated (the equations accept
    complex numbers: no ``max``, comparisons or integer casts of the states)."""
    try:
        with np.errstate(all="ignore"):
            jac(t0, y0.reshape(-1))
    except (TypeError, ValueError):
        return False
    return True
