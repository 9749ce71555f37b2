"""SAEM (issue 20): speed against the Bayesian fit, recovery, and M3 against M1, in one run.

Run: ``python benchmarks/bench_saem.py [--parts speed,m1m3] [--replicates 10]``.

1. **speed**: the held-out trial of ``tests/fit/test_population_default_converges.py``
   (``stein2019_smooth``, random effects on cmax and alpha, 150 subjects, days 7-90,
   LLOQ 50, data seed 2026) fitted by :func:`cartpk.fit_saem` and by
   :func:`cartpk.fit_population` (every default: sampled to convergence) in the same run;
   wall times (SAEM including -2LL and standard errors; Bayes including compile) and the
   ratio Bayes / SAEM (target >= 5), with each one's typical values against the truth.
2. **m1m3**: ``--replicates`` trials of 100 subjects on a design to day 365 with LLOQ 500
   copies/ug (the persistence phase often BLQ), fitted by SAEM with ``blq="m3"`` and
   ``blq="m1"``: median relative error of beta, cmax, alpha and the coverage of their
   95 % Wald intervals. Discarding BLQ records (M1) keeps only the high late values, which
   flattens the terminal slope.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

import cartpk as ck

DROP = ["foldx", "tmax", "fb", "beta"]
TRIAL = (7.0, 14.0, 21.0, 28.0, 60.0, 90.0)
LONG = (1.0, 3.0, 7.0, 10.0, 14.0, 21.0, 28.0, 60.0, 90.0, 180.0, 270.0, 365.0)


def _speed() -> None:
    model = ck.load_model("stein2019_smooth").with_iiv(drop=DROP)
    data = ck.read_dataset(ck.simulate(model, n=150, seed=2026, lloq=50.0, days=TRIAL))
    truth = model.typical()
    t0 = time.perf_counter()
    ml = ck.fit_saem(model, data, seed=1)
    t_ml = time.perf_counter() - t0
    t0 = time.perf_counter()
    bayes = ck.fit_population(model, data)
    t_b = time.perf_counter() - t0
    s = bayes.summary
    print(f"held-out 150 subjects (seed 2026), 2 cores, load {os.getloadavg()[0]:.1f}")
    print(
        f"  SAEM: {t_ml:6.1f} s (SAEM {ml.summary['saem_s']} s, -2LL {ml.summary['loglik_s']} s,"
        f" SEs {ml.summary['fim_s']} s); converged {ml.converged}"
    )
    print(
        f"  Bayes: {t_b:6.1f} s (compile {s['compile_s']} s, sampling {s['sample_s']} s); "
        f"converged {s['converged']}"
    )
    print(f"  ratio Bayes / SAEM wall time: {t_b / t_ml:.1f}x")
    p, q = ml.parameters.set_index("parameter"), bayes.parameters.set_index("parameter")
    print("  parameter     truth       SAEM [95 % Wald]              Bayes median [95 % CrI]")
    for name in ("cmax", "alpha", "tmax", "foldx", "fb", "beta", "omega_cmax", "omega_alpha"):
        tv = truth.get(name, model.initial_values().get(name))
        print(
            f"  {name:<11} {tv:10.4g} {p.loc[name, 'estimate']:10.4g} "
            f"[{p.loc[name, 'lower']:.4g}, {p.loc[name, 'upper']:.4g}]   "
            f"{q.loc[name, 'estimate']:10.4g} [{q.loc[name, 'lower']:.4g}, {q.loc[name, 'upper']:.4g}]"
        )


def _m1m3(replicates: int) -> None:
    model = ck.load_model("stein2019_smooth").with_iiv(drop=DROP)
    truth = model.typical()
    names = ("beta", "cmax", "alpha")
    rows: dict[str, dict[str, list[float]]] = {
        m: {f"{n}_{k}": [] for n in names for k in ("err", "cover")} for m in ("m3", "m1")
    }
    blq = []
    for r in range(replicates):
        data = ck.read_dataset(ck.simulate(model, n=100, seed=500 + r, lloq=500.0, days=LONG))
        blq.append(float(data.observations("QPCR")["CENS"].mean()))
        for method in ("m3", "m1"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = ck.fit_saem(model, data, blq=method, seed=r, fim_samples=300)
            p = fit.parameters.set_index("parameter")
            for n in names:
                rows[method][f"{n}_err"].append(p.loc[n, "estimate"] / truth[n] - 1)
                rows[method][f"{n}_cover"].append(
                    float(p.loc[n, "lower"] <= truth[n] <= p.loc[n, "upper"])
                )
    print(
        f"M3 vs M1: {replicates} trials x 100 subjects, days 1-365, LLOQ 500 "
        f"({100 * np.mean(blq):.0f} % BLQ)"
    )
    print("  parameter  method  median rel. error  95 % coverage")
    for n in names:
        for method in ("m3", "m1"):
            err = np.median(rows[method][f"{n}_err"])
            cov = np.mean(rows[method][f"{n}_cover"])
            print(f"  {n:<9}  {method:<6}  {100 * err:+16.1f} %  {100 * cov:12.0f} %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="speed,m1m3")
    ap.add_argument("--replicates", type=int, default=10)
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    if "speed" in parts:
        _speed()
    if "m1m3" in parts:
        _m1m3(args.replicates)


if __name__ == "__main__":
    main()
