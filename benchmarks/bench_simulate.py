"""Benchmark: vectorised simulation of virtual trials vs a naive per-subject loop.

Run ``python benchmarks/bench_simulate.py``. Prints wall times and ratios (one run, same
machine), and checks the issue's target: 100,000 closed-form patients (Stein 2019, seed
design, IIV, residual error, LLOQ censoring, long table) in <= 1 s.

The naive loop evaluates one subject at a time (``simulate(model, n=1, ...)``); it is timed
on a subset and scaled per subject. The ODE rows compare the batched ``stein2019_ode``
integration (all subjects in one ``solve_ivp`` system) with one ``solve_ivp`` per subject.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _best(fn, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="closed-form patients")
    parser.add_argument("--naive", type=int, default=500, help="subjects timed in the loop")
    parser.add_argument("--n-ode", type=int, default=200, help="ODE patients")
    args = parser.parse_args(argv)

    import cartpk as ck

    model = ck.load_model("stein2019")
    ck.simulate(model, n=10, seed=0)  # warm-up (imports)
    t_vec = _best(lambda: ck.simulate(model, n=args.n, seed=1, lloq=50.0))
    t_loop = _best(
        lambda: [ck.simulate(model, n=1, seed=i, lloq=50.0) for i in range(args.naive)], 1
    )
    per_subject = t_loop / args.naive
    ratio = per_subject * args.n / t_vec
    print(f"closed form, {args.n:,} patients vectorised: {t_vec:.3f} s")
    print(
        f"closed form, naive loop: {per_subject * 1e3:.3f} ms/patient "
        f"-> {per_subject * args.n:.1f} s for {args.n:,} (extrapolated from {args.naive})"
    )
    print(f"ratio naive/vectorised: {ratio:,.0f}x")
    print(f"target <= 1 s: {'met' if t_vec <= 1.0 else 'MISSED'}")

    from scipy.integrate import solve_ivp

    ode = ck.load_model("stein2019_ode")
    ind = ck.simulation.simulate_parameters(ode, n=args.n_ode, seed=2)
    days = np.array([7.0, 14.0, 21.0, 28.0, 60.0, 90.0])
    names = list(ode.typical())
    params = {k: ind[k].to_numpy()[:, None] for k in names}
    t_batch = _best(lambda: ode.evaluate(np, days, params), 1)
    cls = type(ode)

    def loop() -> None:
        for i in range(args.n_ode):
            p = {k: float(ind[k].iat[i]) for k in names}
            y0 = cls.initial(np, cmax=p["cmax"], foldx=p["foldx"])
            kw = {k: p[k] for k in ("foldx", "tmax", "alpha", "fb", "beta")}

            def f(t, y, kw=kw):
                d = cls.rhs(np, t, {"effector": y[0], "memory": y[1]}, **kw)
                return [d["effector"], d["memory"]]

            solve_ivp(f, (0.0, 90.0), [y0["effector"], y0["memory"]], t_eval=days,
                      **cls.solver)  # fmt: skip

    t_ode_loop = _best(loop, 1)
    print(
        f"stein2019_ode, {args.n_ode} patients batched: {t_batch:.3f} s; "
        f"per-subject solve_ivp loop: {t_ode_loop:.3f} s; ratio {t_ode_loop / t_batch:.1f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
