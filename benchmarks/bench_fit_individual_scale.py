"""Per-patient fits at scale: the stacked optimiser against a plain Nelder-Mead loop.

Run: ``python benchmarks/bench_fit_individual_scale.py [--n 1000] [--design rich|trial]
[--prior none|population] [--nm-subjects N]``.

Simulates ``--n`` subjects of Stein 2019 (declared IIV, residual SD 0.56, LLOQ 50 copies/ug,
seed 20261203) and fits them three ways, in this one run:

* ``cartpk.fit_individual`` with its defaults (M3, fixed sigma, 4 starts, ``interval="auto"``:
  Wald intervals, profile likelihood where the Hessian is not positive definite) - the
  stacked Levenberg-Marquardt path every closed-form model with fixed sigma takes;
* the same with ``interval="wald"`` (no profiles);
* the baseline of issue 17: a plain per-subject loop of SciPy's Nelder-Mead on the same
  censored objective (the same transformed scale and search box), started from the
  declared typical values, no intervals; on ``--nm-subjects`` subjects (default all).

Reported: wall seconds, the ratio baseline / cartpk per subject, and accuracy against the
simulated truth - the objective reached (how often cartpk's is lower than or within 0.01
of Nelder-Mead's) and the median absolute log error of each parameter on the subjects
both fits cover.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import cartpk as ck
from cartpk.fit import individual as ind
from cartpk.fit import subjects_from_dataset

RICH = (1, 2, 3, 5, 7, 10, 14, 21, 28, 42, 60, 90, 180, 365)
TRIAL = (7, 14, 21, 28, 60, 90)
SEED = 20261203


def nelder_mead(model: ck.Model, subject: ind.SubjectData, prior: str) -> tuple[np.ndarray, float]:
    """One subject: Nelder-Mead from the declared typical values (transformed scale)."""
    from scipy.optimize import minimize

    prepared = ind._prepare(model, subject, "m3", prior, "fixed", None, None, None)
    if isinstance(prepared, ind.SubjectFit):
        return np.full(len(model.parameter_names("structural", free=True)), np.nan), np.nan
    problem = prepared[0]
    spec = problem.spec
    res = minimize(
        lambda x: float(problem.objective(x[None, :])[0]),
        spec.centre,
        method="Nelder-Mead",
        bounds=list(zip(spec.lo, spec.hi, strict=True)),
        options={"maxfev": 4000, "xatol": 1e-6, "fatol": 1e-6},
    )
    return res.x, float(res.fun)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--design", choices=("rich", "trial"), default="rich")
    ap.add_argument("--prior", choices=("none", "population"), default="none")
    ap.add_argument("--nm-subjects", type=int, default=None)
    args = ap.parse_args()
    model = ck.load_model("stein2019")
    days = RICH if args.design == "rich" else TRIAL
    data = ck.read_dataset(ck.simulate(model, n=args.n, seed=SEED, lloq=50, days=days))
    truth = ck.simulation.simulate_parameters(model, n=args.n, seed=SEED).set_index("ID")
    prior = None if args.prior == "none" else "population"
    names = model.parameter_names("structural", free=True)

    t0 = time.perf_counter()
    fit = ck.fit_individual(model, data, prior=prior, progress=False)
    t_auto = time.perf_counter() - t0
    t0 = time.perf_counter()
    ck.fit_individual(model, data, prior=prior, progress=False, interval="wald")
    t_wald = time.perf_counter() - t0

    subjects = subjects_from_dataset(model, data)[: args.nm_subjects or args.n]
    t0 = time.perf_counter()
    nm = [nelder_mead(model, s, "population" if prior else "none") for s in subjects]
    t_nm = time.perf_counter() - t0
    per_nm = t_nm / len(subjects)

    n = len(subjects)
    print(
        f"Stein 2019, {args.n} subjects, {args.design} design, prior={args.prior}, M3, default starts (8)"
    )
    print(f"  cartpk fit_individual (interval='auto', default): {t_auto:7.1f} s")
    print(f"  cartpk fit_individual (interval='wald'):    {t_wald:7.1f} s")
    print(f"  Nelder-Mead loop ({n} subjects):           {t_nm:7.1f} s")
    print(
        f"  ratio NM per subject / cartpk per subject: {per_nm / (t_auto / args.n):.1f}x (ci auto)"
    )
    print(
        f"                                              {per_nm / (t_wald / args.n):.1f}x (ci wald)"
    )

    obj_ck = np.array([f.objective for f in fit.fits[:n]])
    obj_nm = np.array([o for _, o in nm])
    both = np.isfinite(obj_ck) & np.isfinite(obj_nm)
    d = obj_ck[both] - obj_nm[both]
    print(
        f"  objective: cartpk lower or within 0.01 of NM for {np.mean(d <= 0.01):.1%} of "
        f"{both.sum()} subjects; cartpk lower by > 0.01: {np.mean(d < -0.01):.1%}, "
        f"higher by > 0.01: {np.mean(d > 0.01):.1%} (median difference {np.median(d):+.3f})"
    )
    print("  median |log(estimate / truth)|   cartpk   Nelder-Mead")
    for k, p in enumerate(names):
        true = truth.loc[[s.id for s in subjects], p].to_numpy(dtype=float)
        est_ck = np.array([f.estimate[p] for f in fit.fits[:n]])
        tr = next(t for t in model.thetas.values() if t.name == p).transform
        est_nm = np.array([float(ind._to_nat(tr, x[k])) for x, _ in nm])
        e_ck = np.abs(np.log(est_ck[both] / true[both]))
        e_nm = np.abs(np.log(est_nm[both] / true[both]))
        print(f"    {p:<8} {np.nanmedian(e_ck):22.3f} {np.nanmedian(e_nm):12.3f}")


if __name__ == "__main__":
    main()
