"""Mechanistic ODE simulation and gradients: cartpk's ODE engines against naive SciPy loops.

Run: ``python benchmarks/bench_ode.py [--n 10000] [--loop-subjects 40] [--workers 2]``.

1. **Simulation**: ``--n`` virtual patients of ``cartmath_illustration`` (5 states, IIV drawn from the
   declaration, seeded) over 365 days, observed on days 0, 7, 14, 21, 28, 60, 90, 180, 365:

   * ``model.evaluate_batch`` (vectorised Rosenbrock, a step size per subject), ``--workers``
     processes and one;
   * the stacked ``solve_ivp`` engine behind ``model.evaluate(np, ...)`` on a subset
     (``--stacked-subjects``; its cost grows faster than linearly, so the subset time is
     reported as measured, not extrapolated);
   * a naive per-subject ``solve_ivp`` (BDF, finite-difference Jacobian) loop over the
     model's own ``rhs``: timed on ``--loop-subjects`` subjects and **scaled linearly** to
     ``--n`` (same work per subject).

   All at the same ``--rtol`` (default 1e-5: simulation error ~1e-3 relative, far below a
   residual error of 0.3-0.5 on the log scale). Ratios are loop / engine; agreement is
   checked on the loop's subjects.
2. **Gradients** (issue 7): 10 subjects of ``stein2019_ode``, all six parameters:
   ``evaluate_with_jacobian`` (forward sensitivities by complex step) against ``solve_ivp``
   + central finite differences (13 solves), and the closed form's PyTensor gradient.

Timings depend on the load of the machine; the script prints ``os.getloadavg()``.
"""

from __future__ import annotations

import os
import time

import numpy as np
from _bench_args import bench_parser

import cartpk as ck

DAYS = np.array([0.0, 7.0, 14.0, 21.0, 28.0, 60.0, 90.0, 180.0, 365.0])


def population(model: ck.Model, n: int, seed: int = 1) -> dict[str, np.ndarray]:
    """Individual parameters: the declared IIV around the typical values (seeded)."""
    rng = np.random.default_rng(seed)
    eta = {k: sd * rng.standard_normal(n) for k, sd in model.iiv.sd.items()}
    ind = model.individual_parameters(typical=model.typical(), eta=eta)
    return {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy() for k, v in ind.items()}


def naive_loop(
    model: ck.Model, params: dict[str, np.ndarray], dose: float, idx: range, rtol: float
) -> np.ndarray:
    """One ``solve_ivp`` per subject (BDF, finite-difference Jacobian), QPCR at DAYS."""
    from scipy.integrate import solve_ivp

    cls = type(model)
    states = cls.states
    out = np.empty((len(idx), DAYS.size))
    for row, i in enumerate(idx):
        p = {k: v[i] for k, v in params.items()}
        y0 = cls.initial(np, tumour0=p["tumour0"], dose=dose)
        kw = {k: p[k] for k in ("phi", "rho", "eps", "theta", "alpha", "mu", "r", "b", "gamma",
                                "eta", "lam", "mu_n")}  # fmt: skip

        def f(t, y, kw=kw):
            d = cls.rhs(np, t, dict(zip(states, y, strict=True)), **kw)
            return [d[s] for s in states]

        sol = solve_ivp(f, (0.0, DAYS[-1]), [float(y0[s]) for s in states], method="BDF",
                        t_eval=DAYS, rtol=rtol, atol=cls.solver["atol"])  # fmt: skip
        if not sol.success:  # the naive loop has no per-subject status: record NaN
            out[row] = np.nan
            continue
        y = dict(zip(states, sol.y, strict=True))
        out[row] = cls.observe(
            np, y, qpcr_per_cell=p["qpcr_per_cell"], cells_per_ml=p["cells_per_ml"]
        )["QPCR"]
    return out


def bench_simulation(
    n: int, loop_subjects: int, stacked_subjects: int, workers: int, rtol: float
) -> None:
    model = ck.load_model("cartmath_illustration")
    dose = float(model.default_dose)
    params = population(model, n)
    print(
        f"cartmath_illustration: {n} subjects x 365 days, rtol {rtol:g} (load average {os.getloadavg()})"
    )
    timings = {}
    for w in sorted({workers, 1}, reverse=True):
        t0 = time.perf_counter()
        sol = model.evaluate_batch(DAYS, params, dose=dose, rtol=rtol, workers=w, throw=False)
        timings[w] = time.perf_counter() - t0
        ok = sum(s.name == "success" for s in sol.status)
        print(f"  evaluate_batch, {w} process(es): {timings[w]:8.2f} s  ({ok}/{n} succeeded)")
    sub = {k: v[:stacked_subjects] for k, v in params.items()}
    t0 = time.perf_counter()
    model.evaluate(np, DAYS, sub, dose=dose)
    t_stacked = time.perf_counter() - t0
    print(f"  stacked solve_ivp (model.evaluate), {stacked_subjects} subjects: {t_stacked:8.2f} s "
          f"(batched engine on the same subjects: see ratio below)")  # fmt: skip
    t0 = time.perf_counter()
    model.evaluate_batch(DAYS, sub, dose=dose, rtol=rtol, throw=False)
    t_sb = time.perf_counter() - t0
    print(
        f"    simulate_batch on those {stacked_subjects}: {t_sb:.2f} s, ratio {t_stacked / t_sb:.1f}x"
    )
    t0 = time.perf_counter()
    ref = naive_loop(model, params, dose, range(loop_subjects), rtol)
    t_loop = (time.perf_counter() - t0) * n / loop_subjects
    print(f"  naive per-subject solve_ivp loop: {t_loop:8.2f} s "
          f"(timed on {loop_subjects} subjects, scaled x{n / loop_subjects:.0f})")  # fmt: skip
    best = min(timings.values())
    print(f"  ratio naive loop / simulate_batch: {t_loop / best:.1f}x; target <= 20 s: "
          f"{'met' if best <= 20 else 'NOT met'} ({best:.2f} s)")  # fmt: skip
    # accuracy against a tight reference (stacked solve_ivp, rtol 1e-10) on the loop's subjects
    few = {k: v[:loop_subjects] for k, v in params.items()}
    exact = model.evaluate_with_jacobian(DAYS, few, dose=dose, wrt=(), rtol=1e-10, atol=1e-8)
    truth = exact.values["QPCR"]
    floor = 1e-3 * np.max(np.abs(truth), axis=1, keepdims=True)
    for label, got in (("simulate_batch", sol.values["QPCR"][:loop_subjects]), ("naive loop", ref)):
        rel = np.abs(got - truth) / (np.abs(truth) + floor)
        failed = int(np.isnan(got).any(axis=1).sum())
        print(f"  {label}: max relative error (QPCR, floor 1e-3 x peak) {np.nanmax(rel):.1e}, "
              f"{failed} of {loop_subjects} subjects failed")  # fmt: skip


def bench_gradients() -> None:
    import pytensor
    import pytensor.tensor as pt

    ode, cf = ck.load_model("stein2019_ode"), ck.load_model("stein2019")
    t = np.array([7.0, 14.0, 21.0, 28.0, 60.0, 90.0])
    params = population(cf, 10)
    names = list(cf.thetas)
    print("stein2019_ode, 10 subjects, d QPCR / d (6 parameters):")
    for method in ("LSODA", None):
        t0 = time.perf_counter()
        reps = 5
        for _ in range(reps):
            sol = ode.evaluate_with_jacobian(t, params, method=method)
        t_sens = (time.perf_counter() - t0) / reps
        print(
            f"  evaluate_with_jacobian ({method or ode.solver['method']}): {1e3 * t_sens:8.1f} ms"
        )
    t0 = time.perf_counter()
    for k in names:
        for s in (1.0, -1.0):
            q = dict(params)
            q[k] = params[k] * (1.0 + s * 1e-6)
            ode.evaluate(np, t, q)
    ode.evaluate(np, t, params)
    t_fd = time.perf_counter() - t0
    print(f"  solve_ivp ({ode.solver['method']}) + central differences (13 solves): {1e3 * t_fd:8.1f} ms "
          f"-> ratio {t_fd / t_sens:.1f}x")  # fmt: skip
    sym = {k: pt.dvector(k) for k in names}
    ll = pt.sum(pt.log(cf.evaluate(pt, t, {k: v[:, None] for k, v in sym.items()})["QPCR"]))
    f = pytensor.function(list(sym.values()), pytensor.grad(ll, list(sym.values())))
    args = [params[k] for k in names]
    f(*args)
    t0 = time.perf_counter()
    for _ in range(200):
        f(*args)
    t_cf = (time.perf_counter() - t0) / 200
    print(f"  closed form, PyTensor gradient: {1e3 * t_cf:8.3f} ms -> ODE engine / closed form "
          f"{t_sens / t_cf:.0f}x")  # fmt: skip
    max_err = max(
        np.max(np.abs(sol.jacobian["QPCR"][k] - _fd_closed(cf, t, params, k))
               / (np.abs(_fd_closed(cf, t, params, k)) + 1e-6 * np.abs(sol.values["QPCR"]).max()))
        for k in names
    )  # fmt: skip
    print(f"  max relative gradient error vs closed-form central differences: {max_err:.1e}")


def _fd_closed(cf: ck.Model, t: np.ndarray, params: dict[str, np.ndarray], k: str) -> np.ndarray:
    h = 1e-6 * params[k]
    up = {q: (v + h if q == k else v)[:, None] for q, v in params.items()}
    dn = {q: (v - h if q == k else v)[:, None] for q, v in params.items()}
    return (cf.evaluate(np, t, up)["QPCR"] - cf.evaluate(np, t, dn)["QPCR"]) / (2 * h[:, None])


def main() -> None:
    ap = bench_parser(__doc__, n=10_000, loop_subjects=40, stacked_subjects=200, workers=2)
    ap.add_argument("--rtol", type=float, default=1e-5, help="both engines and the loop")
    args = ap.parse_args()
    bench_simulation(args.n, args.loop_subjects, args.stacked_subjects, args.workers, args.rtol)
    bench_gradients()


if __name__ == "__main__":
    main()
