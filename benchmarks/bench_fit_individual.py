"""Per-subject fits: time per subject, serial against worker processes, and a naive baseline.

Run: ``python benchmarks/bench_fit_individual.py [--n 200] [--jobs 2] [--design trial|rich]
[--naive-subjects 5] [--ci auto|wald|profile]``.

Simulates ``--n`` subjects of Stein 2019 (declared IIV, residual SD 0.56, LLOQ 50
copies/ug, seeded) on the trial design (days 7, 14, 21, 28, 60, 90) or a rich one (days 1
to 365), fits them with :func:`cartpk.fit_individual` (M3, fixed sigma, 4 starts) once with
``workers=1`` and once with ``workers=--jobs``, and prints seconds per subject and the ratio
serial / parallel. The naive baseline is the loop the issue compares against:
``scipy.optimize.least_squares`` on log residuals (no censoring: BLQ records dropped) with
predictions from the ODE form of the same model (``stein2019_ode``, ``solve_ivp``), one
start, no uncertainty; it runs on ``--naive-subjects`` subjects and is scaled per subject.

``--ode`` (issue 7) fits the ODE form ``stein2019_ode`` instead, the same fitter three ways
on the same subjects (M3, fixed sigma, ``--ode-starts`` starts, Wald intervals, MAP with the
population prior unless ``--ode-prior none``):

* ``gradient="exact"``: the JAX engine's forward sensitivities chained with the
  likelihood's derivatives (residual Jacobian for ``least_squares``);
* ``gradient="fd"``: the same objective, ``solve_ivp`` predictions and lmfit's
  finite-difference Jacobian (the fitter as it was before exact derivatives);
* the naive loop above (``solve_ivp`` + ``least_squares``, finite differences).

All at the declaration's tolerance (DOP853, rtol 1e-11). Reported: ms per subject (the
exact path including its one-off JAX compilation, and without it), the ratios, and the
agreement of the two cartpk paths (objective at the optimum, estimates).
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
        try:
            f = ode.evaluate(np, t[None, :], p, dose=subject.dose)["QPCR"][0]
        except ck.ModelError:  # a failed integration: a large residual, as a user would
            return np.full(y.size, 1e6)
        return np.log(y) - np.log(np.maximum(f, 1e-300))

    res = least_squares(resid, x0, bounds=(-np.inf, upper), max_nfev=200)
    return dict(zip(names, np.exp(res.x), strict=True))


def bench_ode(args) -> None:  # noqa: ANN001
    """Per-patient fits of ``stein2019_ode``: exact derivatives against finite differences."""
    from cartpk.fit import fit_subject

    closed = ck.load_model("stein2019")
    ode = ck.load_model("stein2019_ode")
    days = TRIAL if args.design == "trial" else RICH
    sim = ck.simulate(closed, n=args.ode_subjects, seed=20261125, days=days, lloq=50.0)
    subs = subjects_from_dataset(ode, ck.read_dataset(sim))
    prior = None if args.ode_prior == "none" else "population"
    kw = dict(n_starts=args.ode_starts, seed=1, interval="wald", prior=prior)
    print(
        f"stein2019_ode, {len(subs)} subjects, design {args.design}, prior {args.ode_prior}, "
        f"{args.ode_starts} starts, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    t0 = time.perf_counter()
    fit_subject(ode, subs[0], gradient="exact", **kw)  # compiles the JAX engine
    compile_s = time.perf_counter() - t0
    res = {}
    for label, grad, n in (("exact", "exact", len(subs)), ("fd", "fd", args.ode_fd_subjects)):
        t0 = time.perf_counter()
        res[label] = [fit_subject(ode, s, gradient=grad, **kw) for s in subs[:n]]
        res[label + "_s"] = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for s in subs[: args.ode_fd_subjects]:
        naive_fit(ode, s)
    naive = (time.perf_counter() - t0) / args.ode_fd_subjects
    ex, fd = res["exact_s"], res["fd_s"]
    print(
        f"exact (JAX sensitivities): {1e3 * ex:.0f} ms/subject (+ {compile_s:.1f} s compilation once)"
    )
    print(
        f"finite differences (solve_ivp): {1e3 * fd:.0f} ms/subject ({args.ode_fd_subjects} subjects)"
    )
    print(f"naive solve_ivp + least_squares (1 start, no M3): {1e3 * naive:.0f} ms/subject")
    print(
        f"ratio fd / exact: {fd / ex:.1f}x; naive / exact: {naive / ex:.1f}x; "
        f"fd / exact incl. compilation over {len(subs)} subjects: "
        f"{fd * len(subs) / (ex * len(subs) + compile_s):.1f}x"
    )
    # agreement on the subjects fitted both ways: objective at the optimum and estimates
    from cartpk.fit import individual as ind
    from cartpk.fit._subject_problem import _to_tr

    d_obj, d_est = [], []
    for a, b, s in zip(res["exact"], res["fd"], subs, strict=False):
        spec = ind._spec(ode, s, sigma="fixed", bounds=None)
        prob = ind._Problem(ode, s, spec, blq="m3", prior=prior is not None)
        pairs = list(zip(spec.names, spec.transforms, strict=True))
        h, g = (np.array([[_to_tr(t, f.estimate[n]) for n, t in pairs]]) for f in (a, b))
        d_obj.append(float(prob.objective(h)[0] - prob.objective(g)[0]))
        # parameters both fits identify (a flat likelihood has no single estimate)
        ident = [n for n in spec.names if a.identifiable[n] and b.identifiable[n]]
        d_est.append(max([abs(a.estimate[n] / b.estimate[n] - 1) for n in ident], default=0.0))
    print(
        f"-2 log L at the optimum, exact - fd: {np.round(d_obj, 4).tolist()} (negative: exact better)"
    )
    print(f"largest relative difference of an identified estimate: {np.round(d_est, 4).tolist()}")
    conv = {k: sum(f.status.name == "converged" for f in res[k]) for k in ("exact", "fd")}
    print(f"converged: exact {conv['exact']}/{len(res['exact'])}, fd {conv['fd']}/{len(res['fd'])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--design", choices=("trial", "rich"), default="trial")
    ap.add_argument("--naive-subjects", type=int, default=5)
    ap.add_argument("--ci", choices=("auto", "wald", "profile"), default="auto")
    ap.add_argument("--ode", action="store_true", help="per-patient fits of the ODE form (issue 7)")
    ap.add_argument("--ode-subjects", type=int, default=20)
    ap.add_argument("--ode-fd-subjects", type=int, default=4)
    ap.add_argument("--ode-starts", type=int, default=4)
    ap.add_argument(
        "--ode-prior",
        choices=("population", "none"),
        default="population",
        help="MAP (default, as fits/stein2019_individual.toml) or maximum likelihood",
    )
    args = ap.parse_args()
    if args.ode:
        bench_ode(args)
        return

    model = ck.load_model("stein2019")
    days = TRIAL if args.design == "trial" else RICH
    sim = ck.simulate(model, n=args.n, seed=20261125, days=days, lloq=50.0)
    ds = ck.read_dataset(sim)
    print(
        f"{args.n} subjects, design {args.design} {days}, interval={args.ci}, cores {os.cpu_count()}"
    )

    timings = {}
    for jobs in (1, args.jobs):
        t0 = time.perf_counter()
        fit = ck.fit_individual(model, ds, workers=jobs, seed=1, progress=False, interval=args.ci)
        timings[jobs] = time.perf_counter() - t0
        counts = fit.status["status"].value_counts().to_dict()
        ci = fit.parameters["ci_method"].value_counts().to_dict()
        print(
            f"workers={jobs}: {timings[jobs]:.1f} s total, "
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
