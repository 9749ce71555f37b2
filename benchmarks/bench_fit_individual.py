"""Per-subject fits: time per subject, serial against worker processes, and a naive baseline.

Run: ``python benchmarks/bench_fit_individual.py [--n 200] [--jobs 2] [--design trial|rich]
[--naive-subjects 5] [--ci auto|wald|profile]``.

Simulates ``--n`` subjects of Stein 2019 (declared IIV, residual SD 0.56, LLOQ 50
copies/ug, seeded) on the trial design (days 7, 14, 21, 28, 60, 90) or a rich one (days 1
to 365), fits them with :func:`cartpk.fit_individual` (M3, fixed sigma, 4 starts) once with
``n_jobs=1`` and once with ``n_jobs=--jobs``, and prints seconds per subject and the ratio
serial / parallel. The naive baseline is the loop the issue compares against:
``scipy.optimize.least_squares`` on log residuals (no censoring: BLQ records dropped) with
predictions from the ODE form of the same model (``stein2019_ode``, ``solve_ivp``), one
start, no uncertainty; it runs on ``--naive-subjects`` subjects and is scaled per subject.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import cartpk as ck
from cartpk.fit import subjects_from_dataset

TRIAL = (7, 14, 21, 28, 60, 90)
RICH = (1, 2, 3, 5, 7, 10, 14, 21, 28, 42, 60, 90, 180, 365)


def naive_fit(ode: ck.Model, subject) -> dict[str, float]:  # noqa: ANN001
    """solve_ivp + least_squares on the log scale for one subject (BLQ dropped)."""
    from scipy.optimize import least_squares

    names = list(ode.thetas)
    x0 = np.log([ode.typical()[n] for n in names])
    q = subject.cens == 0
    t, y = subject.time[q], subject.dv[q]
    # fb is a fraction: keep it below 1 on the log scale
    upper = [np.inf if n != "fb" else -1e-9 for n in names]

    def resid(x: np.ndarray) -> np.ndarray:
        p = {n: np.array([[v]]) for n, v in zip(names, np.exp(x), strict=True)}
        f = ode.evaluate(np, t[None, :], p, dose=subject.dose)["QPCR"][0]
        return np.log(y) - np.log(np.maximum(f, 1e-300))

    res = least_squares(resid, x0, bounds=(-np.inf, upper), max_nfev=200)
    return dict(zip(names, np.exp(res.x), strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--design", choices=("trial", "rich"), default="trial")
    ap.add_argument("--naive-subjects", type=int, default=5)
    ap.add_argument("--ci", choices=("auto", "wald", "profile"), default="auto")
    args = ap.parse_args()

    model = ck.load_model("stein2019")
    days = TRIAL if args.design == "trial" else RICH
    sim = ck.simulate(model, n=args.n, seed=20261125, days=days, lloq=50.0)
    ds = ck.read_dataset(sim)
    print(f"{args.n} subjects, design {args.design} {days}, ci={args.ci}, cores {os.cpu_count()}")

    timings = {}
    for jobs in (1, args.jobs):
        t0 = time.perf_counter()
        fit = ck.fit_individual(model, ds, n_jobs=jobs, seed=1, progress=False, ci=args.ci)
        timings[jobs] = time.perf_counter() - t0
        counts = fit.status["status"].value_counts().to_dict()
        ci = fit.parameters["ci_method"].value_counts().to_dict()
        print(
            f"n_jobs={jobs}: {timings[jobs]:.1f} s total, "
            f"{1000 * timings[jobs] / args.n:.1f} ms/subject; status {counts}; CI {ci}"
        )
    print(f"serial / parallel ({args.jobs} processes): {timings[1] / timings[args.jobs]:.2f}x")

    if args.naive_subjects > 0:
        ode = ck.load_model("stein2019_ode")
        subs = subjects_from_dataset(model, ds)[: args.naive_subjects]
        subs = [s for s in subs if (s.cens == 0).sum() >= 1]
        t0 = time.perf_counter()
        for s in subs:
            naive_fit(ode, s)
        per = (time.perf_counter() - t0) / max(len(subs), 1)
        ours = timings[args.jobs] / args.n
        print(
            f"naive solve_ivp + least_squares: {1000 * per:.0f} ms/subject "
            f"({len(subs)} subjects); naive / cartpk ({args.jobs} processes): {per / ours:.1f}x"
        )


if __name__ == "__main__":
    main()
