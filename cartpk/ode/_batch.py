"""Many-subject ODE simulation: one vectorised Rosenbrock solver, a step size per subject.

``scipy.integrate.solve_ivp`` on the stacked system of all subjects shares one step size
and one error norm between them, so its cost grows with the *hardest* subject and with
a sparse LU of the whole system; a per-subject loop pays Python overhead per subject.
Here every subject carries its own time, step size and error control, and all of them
advance together in NumPy: each iteration takes one step attempt per active subject.

Method: the L-stable Rosenbrock pair of Shampine & Reichelt (1997, SIAM J Sci Comput
18:1-22; MATLAB ``ode23s``), order 2 with a 3rd-order error estimate, which needs the
state Jacobian ``J`` and ``df/dt``: both by the complex step through the model's own
``rhs`` (exact to rounding), and ``(I - h d J)^-1`` batched over subjects
(``numpy.linalg.inv`` on ``(n, ns, ns)``). Each subject stops exactly at the output
times, its dose times, its time-varying covariate changes and its ``breakpoints``; between
two stops the equations see times inside the open interval (a switch at a stop belongs to
the next interval).

Values only (no sensitivities): for gradients use
:meth:`cartpk.model.OdeModel.evaluate_with_jacobian`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.ode._request import OdeRequest, _func, _kw, ode_request
from cartpk.ode._solve import OdeSolution, OdeStatus

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.model._ode_model import OdeModel

__all__ = ["simulate_batch", "simulate_request"]

_H = 1e-30
_D = 1.0 / (2.0 + np.sqrt(2.0))
_E32 = 6.0 + np.sqrt(2.0)


def simulate_batch(
    model: OdeModel,
    time: Any,
    params: Mapping[str, Any],
    *,
    rtol: float = 1e-6,
    atol: float | None = None,
    max_steps: int = 20000,
    workers: int = 1,
    **design: Any,
) -> OdeSolution:
    """Integrate many subjects of ``model`` with per-subject adaptive steps.

    The batch engine on a model's own inputs: ``params`` checked against the declaration
    (fixed ones may be omitted), ``time`` and ``design`` by
    :func:`cartpk.ode._request.ode_request`, then :func:`simulate_request`.

    Parameters
    ----------
    model : OdeModel
        The declaration.
    time : array
        ``(n_t,)`` output days shared by all subjects (>= 0).
    params : mapping of str to array
        Structural parameters by name, scalar or one value per subject.
    rtol, atol, max_steps, workers
        As for :func:`simulate_request`.
    **design
        ``dose`` and ``time_varying``, as for :func:`cartpk.ode._request.ode_request`.

    Returns
    -------
    OdeSolution
        ``values`` ``{DVID: (n, n_t)}``; ``jacobian`` empty; ``status`` per subject.
    """
    request = ode_request(model, time, model._split_params(params), shared_time=True, **design)
    return simulate_request(request, rtol=rtol, atol=atol, max_steps=max_steps, workers=workers)


def simulate_request(
    request: OdeRequest,
    *,
    rtol: float = 1e-6,
    atol: float | None = None,
    max_steps: int = 20000,
    workers: int = 1,
) -> OdeSolution:
    """Integrate a request's subjects with per-subject adaptive steps.

    Parameters
    ----------
    request : OdeRequest
        Checked inputs with one shared 1-D grid of times (``ode_request(...,
        shared_time=True)``).
    rtol : float, default 1e-6
        Relative tolerance per subject (RMS over its states).
    atol : float, optional
        Absolute tolerance; default the model's ``solver["atol"]``.
    max_steps : int, default 20000
        Step attempts per subject before it is marked ``solver_failed``.
    workers : int, default 1
        Processes to split the subjects over (``fork`` start method; where it is not
        available the subjects are integrated in this process).

    Returns
    -------
    OdeSolution
        ``values`` ``{DVID: (n, n_t)}``; ``jacobian`` empty; ``status`` per subject.
    """
    opts = {"rtol": rtol, "atol": atol, "max_steps": max_steps}
    if workers > 1:
        split = _parallel(request, opts, workers)
        if split is not None:
            return split
    return _simulate(request, rtol, atol, max_steps)


def _simulate(request: OdeRequest, rtol: float, atol: float | None, max_steps: int) -> OdeSolution:
    """One process's batched integration of every subject of ``request``."""
    run = _Batch(request, atol)
    with np.errstate(all="ignore"):
        run.arrive(np.flatnonzero(run.stops[:, 0] == 0.0))
        while True:
            act = np.flatnonzero(run.status == 0)
            if act.size == 0:
                break
            run.attempt(act, rtol, max_steps)
    return run.solution()


def _stop_times(
    request: OdeRequest, grid: np.ndarray, schedule: list[tuple[float, float]]
) -> np.ndarray:
    """Per-subject sorted stops (outputs, doses, covariate changes, switches), ``inf``-padded."""
    n = request.n
    t_end = float(grid.max()) if grid.size else 0.0
    cols = [np.broadcast_to(grid, (n, grid.size)), np.tile([d for d, _ in schedule], (n, 1))]
    for tt, _ in request.steps.values():
        cols.append(tt)
    for v in request.switch_times().values():
        cols.append(v[:, None])
    stops = np.sort(np.concatenate(cols, axis=1), axis=1)
    stops = np.where((stops > t_end) | ~np.isfinite(stops), np.inf, stops)
    dup = np.zeros_like(stops, dtype=bool)
    dup[:, 1:] = stops[:, 1:] == stops[:, :-1]
    return np.sort(np.where(dup, np.inf, stops), axis=1)


class _Batch:
    """One batched integration: every subject's state, time, step size and next stop."""

    def __init__(self, request: OdeRequest, atol: float | None) -> None:
        cls = request.model_class
        self.time = request.time
        self.grid = grid = np.unique(request.time)
        self.n = n = request.n
        self.p = p = request.params
        self.dose = request.dose
        self.states = states = tuple(cls.states)
        self.ns = ns = len(states)
        self.f_rhs, f_init, self.f_obs = (
            _func(cls, "rhs"),
            _func(cls, "initial"),
            _func(cls, "observe"),
        )
        self.kw_rhs = _kw(self.f_rhs)
        self.tv_now = {k: np.full(n, float(v)) for k, v in dict(cls.time_varying).items()}
        self.steps = request.steps
        self.atol = float(cls.solver.get("atol", 1e-10)) if atol is None else float(atol)
        self._initial_state(cls, f_init)
        self.t_end = float(grid.max()) if grid.size else 0.0
        self.stops = _stop_times(request, grid, self.schedule)
        self.kw = {k: p[k] for k in self.kw_rhs if k in p}
        self.out = np.full((ns, n, grid.size), np.nan)
        self.t = np.zeros(n)
        self.h = np.full(n, 1e-4 * max(self.t_end, 1.0))
        self.nxt = np.zeros(n, dtype=int)  # index of the next stop
        self.last = np.zeros(n)  # the previous stop (the equations see times after it)
        self.status = np.zeros(n, dtype=int)  # 0 running, 1 done, 2 failed, 3 nonfinite
        self.tries = np.zeros(n, dtype=int)
        self.eye = np.eye(ns)

    def _initial_state(self, cls: type[OdeModel], f_init: Any) -> None:
        """The undosed initial state ``y``, the full dose state and the dosing schedule."""
        p, n, states = self.p, self.n, self.states
        ikw = {k: p[k] for k in _kw(f_init) if k in p}
        if "dose" in _kw(f_init):
            ikw["dose"] = self.dose
        y_init = f_init(np, **ikw)
        self.full = np.stack([np.broadcast_to(np.asarray(y_init[s], float), (n,)) for s in states])
        dosed = set(cls.dosed_states or states)
        self.mask = np.array([s in dosed for s in states])[:, None]
        self.schedule = (
            sorted((float(a), float(b)) for a, b in cls.dosing) if cls.dosing else [(0.0, 1.0)]
        )
        self.y = np.where(self.mask, 0.0, self.full)

    def subset(self, idx: np.ndarray) -> dict[str, Any]:
        """Keyword arguments of ``rhs`` for the subjects ``idx``."""
        k2 = {k: v[idx] for k, v in self.kw.items()}
        for k in self.kw_rhs:
            if k in self.tv_now:
                k2[k] = self.tv_now[k][idx]
            elif k == "dose":
                k2[k] = None if self.dose is None else self.dose[idx]
        return k2

    def rhs(self, tt: Any, yy: np.ndarray, k2: Mapping[str, Any]) -> np.ndarray:
        """f for a subset of subjects; ``yy`` is ``(..., ns, n_subset)``."""
        states = self.states
        d = self.f_rhs(np, tt, {s: yy[..., i, :] for i, s in enumerate(states)}, **k2)
        res = np.empty(yy.shape, dtype=np.result_type(yy, tt))
        for i, s in enumerate(states):
            res[..., i, :] = d[s]
        return res

    def arrive(self, idx: np.ndarray) -> None:
        """Subjects ``idx`` are exactly at their next stop: record, dose, change covariates."""
        grid, stops, nxt, y = self.grid, self.stops, self.nxt, self.y
        tau = stops[idx, nxt[idx]]
        gcol = np.searchsorted(grid, tau)
        on_grid = (gcol < grid.size) & (grid[np.minimum(gcol, grid.size - 1)] == tau)
        for t_dose, frac in self.schedule:
            hit = idx[tau == t_dose]
            y[:, hit] = y[:, hit] + np.where(self.mask, frac * self.full[:, hit], 0.0)
        for k, (tt, vv) in self.steps.items():
            ch = tt[idx] == tau[:, None]
            rows = np.flatnonzero(ch.any(axis=1))
            if rows.size:
                self.tv_now[k][idx[rows]] = np.max(
                    np.where(ch[rows], vv[idx[rows]], -np.inf), axis=1
                )
        sel = idx[on_grid]
        self.out[:, sel, gcol[on_grid]] = y[:, sel]
        self.last[idx] = tau
        nxt[idx] += 1
        done = idx[
            ~np.isfinite(stops[idx, np.minimum(nxt[idx], stops.shape[1] - 1)])
            | (nxt[idx] >= stops.shape[1])
        ]
        self.status[done] = 1

    def _rosenbrock(
        self, act: np.ndarray, ha: np.ndarray, target: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One Rosenbrock23 step of ``ha`` for subjects ``act``: new state and error norm."""
        ns, t, y = self.ns, self.t, self.y
        ta, ya = t[act], y[:, act]
        eps = np.minimum(1e-9 * np.maximum(1.0, target), 0.25 * (target - self.last[act]))
        lo, hi = self.last[act] + eps, target - eps

        def te(x: np.ndarray) -> np.ndarray:
            return np.clip(x, lo, hi)

        # Jacobian and df/dt by complex step (directions stacked on axis 0)
        yc = np.empty((ns + 1, ns, act.size), dtype=complex)
        yc[:] = ya
        for j in range(ns):
            yc[j, j] += 1j * _H
        tc = np.empty((ns + 1, act.size), dtype=complex)
        tc[:] = te(ta)
        tc[ns] += 1j * _H
        kact = self.subset(act)
        fc = self.rhs(tc, yc, kact)
        f0 = fc[ns].real
        jac = (fc[:ns].imag / _H).transpose(2, 1, 0)  # (n, k, j): df_k/dy_j
        dfdt = fc[ns].imag / _H  # (ns, n)
        w = self.eye - (ha * _D)[:, None, None] * jac
        winv = np.linalg.inv(w)

        def solve(rhs_vec: np.ndarray) -> np.ndarray:
            return np.einsum("nkj,jn->kn", winv, rhs_vec)

        k1 = solve(f0 + ha * _D * dfdt)
        f1 = self.rhs(te(ta + 0.5 * ha), ya + 0.5 * ha * k1, kact)
        k2 = solve(f1 - k1) + k1
        ynew = ya + ha * k2
        f2 = self.rhs(te(ta + ha), ynew, kact)
        k3 = solve(f2 - _E32 * (k2 - f1) - 2.0 * (k1 - f0) + ha * _D * dfdt)
        err = ha / 6.0 * (k1 - 2.0 * k2 + k3)
        return ynew, err

    def attempt(self, act: np.ndarray, rtol: float, max_steps: int) -> None:
        """One step attempt for every active subject ``act``: accept or shrink, mark failures."""
        t, y, h, stops, nxt, status, tries = (
            self.t,
            self.y,
            self.h,
            self.stops,
            self.nxt,
            self.status,
            self.tries,
        )
        target = stops[act, nxt[act]]
        ha = np.minimum(h[act], target - t[act])
        ta, ya = t[act], y[:, act]
        ynew, err = self._rosenbrock(act, ha, target)
        scale = self.atol + rtol * np.maximum(np.abs(ya), np.abs(ynew))
        en = np.sqrt(np.mean((err / scale) ** 2, axis=0))
        good = np.isfinite(en) & np.all(np.isfinite(ynew), axis=0)
        ok = good & (en <= 1.0)
        acc = act[ok]
        t[acc] = np.where(ha[ok] == target[ok] - ta[ok], target[ok], ta[ok] + ha[ok])
        y[:, acc] = ynew[:, ok]
        fac = np.where(good, np.clip(0.9 * np.maximum(en, 1e-10) ** (-1.0 / 3.0), 0.2, 5.0), 0.2)
        h[act] = np.where(ok & (ha < h[act]), np.maximum(h[act], ha * fac), ha * fac)
        tries[act] += 1
        arrived = acc[t[acc] >= stops[acc, nxt[acc]]]
        if arrived.size:
            self.arrive(arrived)
        tiny = act[(h[act] < 1e-14 * np.maximum(1.0, t[act])) | (tries[act] > max_steps)]
        status[tiny[status[tiny] == 0]] = 2
        blown = act[~np.all(np.isfinite(y[:, act]), axis=0)]
        status[blown] = 3

    def solution(self) -> OdeSolution:
        """The observed outputs at the request's times (NaN for failed subjects) and each
        subject's status."""
        n, grid, status, t_in = self.n, self.grid, self.status, self.time
        p2 = {k: v[:, None] for k, v in self.p.items()}
        obs = self.f_obs(
            np,
            {s: self.out[i] for i, s in enumerate(self.states)},
            **{k: p2[k] for k in _kw(self.f_obs) if k in p2},
        )
        cols_out = np.searchsorted(grid, t_in)
        failed = status != 1
        values = {}
        for dv, v in obs.items():
            v = np.array(np.broadcast_to(v, (n, grid.size))[:, cols_out], dtype=float)
            v[failed] = np.nan
            values[dv] = v
        names = {1: OdeStatus.success, 2: OdeStatus.solver_failed, 3: OdeStatus.nonfinite}
        st = tuple(names.get(int(s), OdeStatus.solver_failed) for s in status)
        return OdeSolution(values, {}, st, np.broadcast_to(t_in, (n, t_in.size)).copy())


_JOB: dict[str, Any] = {}


def _chunk(i: int) -> OdeSolution:
    job = _JOB
    return _simulate(job["request"].subset(job["chunks"][i]), **job["opts"])


def _parallel(request: OdeRequest, opts: Mapping[str, Any], workers: int) -> OdeSolution | None:
    """Split the subjects over ``workers`` forked processes; ``None`` if not possible."""
    import multiprocessing as mp

    n = request.n
    if n < 2 * workers or "fork" not in mp.get_all_start_methods():
        return None
    chunks = np.array_split(np.arange(n), workers)
    _JOB.update(request=request, opts=dict(opts), chunks=chunks)
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_chunk, range(workers))
    finally:
        _JOB.clear()
    values = {dv: np.concatenate([p.values[dv] for p in parts]) for dv in parts[0].values}
    status = tuple(s for p in parts for s in p.status)
    t_out = np.concatenate([p.time for p in parts])
    return OdeSolution(values, {}, status, t_out)
