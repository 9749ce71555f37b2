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

from cartpk.errors import ModelError, Violation
from cartpk.model._ode_engine import OdeSolution, OdeStatus, _func, _kw, _step_values, _subjects

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.model._ode_model import OdeModel

__all__ = ["simulate_batch"]

_H = 1e-30
_D = 1.0 / (2.0 + np.sqrt(2.0))
_E32 = 6.0 + np.sqrt(2.0)


def simulate_batch(
    model: OdeModel,
    time: Any,
    params: Mapping[str, Any],
    *,
    dose: Any = None,
    time_varying: Mapping[str, Any] | None = None,
    rtol: float = 1e-6,
    atol: float | None = None,
    max_steps: int = 20000,
    workers: int = 1,
) -> OdeSolution:
    """Integrate many subjects of ``model`` with per-subject adaptive steps.

    Parameters
    ----------
    model : OdeModel
        The declaration.
    time : array
        ``(n_t,)`` output days shared by all subjects (>= 0).
    params : mapping of str to array
        Every structural parameter by name, scalar or one value per subject.
    dose : array, optional
        ``AMT`` (CAR+ cells), scalar or one per subject.
    time_varying : mapping of str to (times, values), optional
        Step functions of the model's declared time-varying covariates.
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
        split = _parallel(model, time, params, dose, time_varying, opts, workers)
        if split is not None:
            return split
    cls = type(model)
    vals = model._split_params(params)
    t_in = np.asarray(time, dtype=float)
    if t_in.ndim != 1 or np.any(t_in < 0) or not np.all(np.isfinite(t_in)):
        raise ModelError(
            f"`{model.name}`: the batched solver needs one shared grid of times >= 0.",
            [
                Violation(
                    "ode_time",
                    "`time` must be 1-D, finite and >= 0 for `evaluate_batch`",
                    value=f"shape {t_in.shape}",
                    expected="(n_t,) days since infusion",
                    fix="pass the union of the sampling days (or use `evaluate_with_jacobian`)",
                )
            ],
        )
    grid = np.unique(t_in)
    n = _subjects(vals, dose, t_in, time_varying or {})
    p = {k: np.broadcast_to(np.asarray(v, float).reshape(-1), (n,)).copy() for k, v in vals.items()}
    dose_arr = None if dose is None else np.broadcast_to(np.asarray(dose, float).reshape(-1), (n,))
    states = tuple(cls.states)
    ns = len(states)
    f_rhs, f_init, f_obs = _func(cls, "rhs"), _func(cls, "initial"), _func(cls, "observe")
    f_bp = _func(cls, "breakpoints")
    kw_rhs = _kw(f_rhs)
    declared = dict(cls.time_varying)
    tv_now = {k: np.full(n, float(v)) for k, v in declared.items()}
    steps = {k: _step_values(v, n, k) for k, v in (time_varying or {}).items()}
    atol = float(cls.solver.get("atol", 1e-10)) if atol is None else float(atol)

    ikw = {k: p[k] for k in _kw(f_init) if k in p}
    if "dose" in _kw(f_init):
        ikw["dose"] = dose_arr
    y_init = f_init(np, **ikw)
    full = np.stack([np.broadcast_to(np.asarray(y_init[s], float), (n,)) for s in states])
    dosed = set(cls.dosed_states or states)
    mask = np.array([s in dosed for s in states])[:, None]
    schedule = sorted((float(a), float(b)) for a, b in cls.dosing) if cls.dosing else [(0.0, 1.0)]
    y = np.where(mask, 0.0, full)

    # per-subject stop times: outputs, doses, covariate changes, switch times
    t_end = float(grid.max()) if grid.size else 0.0
    cols = [np.broadcast_to(grid, (n, grid.size)), np.tile([d for d, _ in schedule], (n, 1))]
    for tt, _ in steps.values():
        cols.append(tt)
    if f_bp is not None:
        for v in f_bp(np, **{k: p[k] for k in _kw(f_bp)}).values():
            cols.append(np.broadcast_to(np.asarray(v, float), (n,))[:, None])
    stops = np.sort(np.concatenate(cols, axis=1), axis=1)
    stops = np.where((stops > t_end) | ~np.isfinite(stops), np.inf, stops)
    dup = np.zeros_like(stops, dtype=bool)
    dup[:, 1:] = stops[:, 1:] == stops[:, :-1]
    stops = np.sort(np.where(dup, np.inf, stops), axis=1)

    kw = {k: p[k] for k in kw_rhs if k in p}

    def subset(idx: np.ndarray) -> dict[str, Any]:
        """Keyword arguments of ``rhs`` for the subjects ``idx``."""
        k2 = {k: v[idx] for k, v in kw.items()}
        for k in kw_rhs:
            if k in tv_now:
                k2[k] = tv_now[k][idx]
            elif k == "dose":
                k2[k] = None if dose_arr is None else dose_arr[idx]
        return k2

    def rhs(tt: Any, yy: np.ndarray, k2: Mapping[str, Any]) -> np.ndarray:
        """f for a subset of subjects; ``yy`` is ``(..., ns, n_subset)``."""
        d = f_rhs(np, tt, {s: yy[..., i, :] for i, s in enumerate(states)}, **k2)
        res = np.empty(yy.shape, dtype=np.result_type(yy, tt))
        for i, s in enumerate(states):
            res[..., i, :] = d[s]
        return res

    out = np.full((ns, n, grid.size), np.nan)
    t = np.zeros(n)
    h = np.full(n, 1e-4 * max(t_end, 1.0))
    nxt = np.zeros(n, dtype=int)  # index of the next stop
    last = np.zeros(n)  # the previous stop (the equations see times after it)
    status = np.zeros(n, dtype=int)  # 0 running, 1 done, 2 failed, 3 nonfinite
    tries = np.zeros(n, dtype=int)
    eye = np.eye(ns)

    def arrive(idx: np.ndarray) -> None:
        """Subjects ``idx`` are exactly at their next stop: record, dose, change covariates."""
        nonlocal y
        tau = stops[idx, nxt[idx]]
        gcol = np.searchsorted(grid, tau)
        on_grid = (gcol < grid.size) & (grid[np.minimum(gcol, grid.size - 1)] == tau)
        for t_dose, frac in schedule:
            hit = idx[tau == t_dose]
            y[:, hit] = y[:, hit] + np.where(mask, frac * full[:, hit], 0.0)
        for k, (tt, vv) in steps.items():
            ch = tt[idx] == tau[:, None]
            rows = np.flatnonzero(ch.any(axis=1))
            if rows.size:
                tv_now[k][idx[rows]] = np.max(np.where(ch[rows], vv[idx[rows]], -np.inf), axis=1)
        sel = idx[on_grid]
        out[:, sel, gcol[on_grid]] = y[:, sel]
        last[idx] = tau
        nxt[idx] += 1
        done = idx[
            ~np.isfinite(stops[idx, np.minimum(nxt[idx], stops.shape[1] - 1)])
            | (nxt[idx] >= stops.shape[1])
        ]
        status[done] = 1

    with np.errstate(all="ignore"):
        arrive(np.flatnonzero(stops[:, 0] == 0.0))
        while True:
            act = np.flatnonzero(status == 0)
            if act.size == 0:
                break
            target = stops[act, nxt[act]]
            ha = np.minimum(h[act], target - t[act])
            ta, ya = t[act], y[:, act]
            eps = np.minimum(1e-9 * np.maximum(1.0, target), 0.25 * (target - last[act]))
            lo, hi = last[act] + eps, target - eps

            def te(x: np.ndarray) -> np.ndarray:
                return np.clip(x, lo, hi)  # noqa: B023

            # Jacobian and df/dt by complex step (directions stacked on axis 0)
            yc = np.empty((ns + 1, ns, act.size), dtype=complex)
            yc[:] = ya
            for j in range(ns):
                yc[j, j] += 1j * _H
            tc = np.empty((ns + 1, act.size), dtype=complex)
            tc[:] = te(ta)
            tc[ns] += 1j * _H
            kact = subset(act)
            fc = rhs(tc, yc, kact)
            f0 = fc[ns].real
            jac = (fc[:ns].imag / _H).transpose(2, 1, 0)  # (n, k, j): df_k/dy_j
            dfdt = fc[ns].imag / _H  # (ns, n)
            w = eye - (ha * _D)[:, None, None] * jac
            winv = np.linalg.inv(w)

            def solve(rhs_vec: np.ndarray) -> np.ndarray:
                return np.einsum("nkj,jn->kn", winv, rhs_vec)  # noqa: B023

            k1 = solve(f0 + ha * _D * dfdt)
            f1 = rhs(te(ta + 0.5 * ha), ya + 0.5 * ha * k1, kact)
            k2 = solve(f1 - k1) + k1
            ynew = ya + ha * k2
            f2 = rhs(te(ta + ha), ynew, kact)
            k3 = solve(f2 - _E32 * (k2 - f1) - 2.0 * (k1 - f0) + ha * _D * dfdt)
            err = ha / 6.0 * (k1 - 2.0 * k2 + k3)
            scale = atol + rtol * np.maximum(np.abs(ya), np.abs(ynew))
            en = np.sqrt(np.mean((err / scale) ** 2, axis=0))
            good = np.isfinite(en) & np.all(np.isfinite(ynew), axis=0)
            ok = good & (en <= 1.0)
            acc = act[ok]
            t[acc] = np.where(ha[ok] == target[ok] - ta[ok], target[ok], ta[ok] + ha[ok])
            y[:, acc] = ynew[:, ok]
            fac = np.where(
                good, np.clip(0.9 * np.maximum(en, 1e-10) ** (-1.0 / 3.0), 0.2, 5.0), 0.2
            )
            h[act] = np.where(ok & (ha < h[act]), np.maximum(h[act], ha * fac), ha * fac)
            tries[act] += 1
            arrived = acc[t[acc] >= stops[acc, nxt[acc]]]
            if arrived.size:
                arrive(arrived)
            tiny = act[(h[act] < 1e-14 * np.maximum(1.0, t[act])) | (tries[act] > max_steps)]
            status[tiny[status[tiny] == 0]] = 2
            blown = act[~np.all(np.isfinite(y[:, act]), axis=0)]
            status[blown] = 3
    p2 = {k: v[:, None] for k, v in p.items()}
    obs = f_obs(
        np, {s: out[i] for i, s in enumerate(states)}, **{k: p2[k] for k in _kw(f_obs) if k in p2}
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
    idx = job["chunks"][i]
    params = {k: (v[idx] if np.size(v) == job["n"] else v) for k, v in job["params"].items()}
    dose = job["dose"]
    if dose is not None and np.size(dose) == job["n"]:
        dose = dose[idx]
    tv = {
        k: tuple(
            np.asarray(a)[idx] if np.ndim(a) == 2 and np.shape(a)[0] == job["n"] else a for a in v
        )
        for k, v in (job["tv"] or {}).items()
    }
    return simulate_batch(
        job["model"], job["time"], params, dose=dose, time_varying=tv or None, **job["opts"]
    )


def _parallel(
    model: OdeModel,
    time: Any,
    params: Mapping[str, Any],
    dose: Any,
    time_varying: Mapping[str, Any] | None,
    opts: Mapping[str, Any],
    workers: int,
) -> OdeSolution | None:
    """Split the subjects over ``workers`` forked processes; ``None`` if not possible."""
    import multiprocessing as mp

    flat = {k: np.asarray(v, dtype=float).reshape(-1) for k, v in params.items()}
    n = max([v.size for v in flat.values()] + [int(np.size(dose)) if dose is not None else 1])
    if n < 2 * workers or "fork" not in mp.get_all_start_methods():
        return None
    chunks = np.array_split(np.arange(n), workers)
    _JOB.update(
        model=model,
        time=time,
        params=flat,
        dose=None if dose is None else np.asarray(dose, dtype=float).reshape(-1),
        tv=time_varying,
        opts=dict(opts),
        n=n,
        chunks=chunks,
    )
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_chunk, range(workers))
    finally:
        _JOB.clear()
    values = {dv: np.concatenate([p.values[dv] for p in parts]) for dv in parts[0].values}
    status = tuple(s for p in parts for s in p.status)
    t_out = np.concatenate([p.time for p in parts])
    return OdeSolution(values, {}, status, t_out)
