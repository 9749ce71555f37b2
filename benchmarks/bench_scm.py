"""Step-wise covariate search (issue 20): SCM over 4 candidates on 2 Dask workers, in one run
against the same fits one after another in one process.

Run: ``python benchmarks/bench_scm.py [--subjects 100] [--workers 2] [--explore 300 --smooth 200]``.

The trial: ``stein2019_smooth`` with random effects on cmax and alpha (foldx, fb and beta
fixed, as ``fits/stein2019_saem.toml``), ``--subjects`` subjects on the originating design
(days 7-90, LLOQ 50 copies/ug), three dose levels (1e7, 3e7, 1e8 CAR+ cells) and weights
around 70 kg. Truth: cmax scales with dose (power 0.5, reference 3e7) and weight (power 1.5,
reference 70 kg); age on cmax and sex on alpha are null. The search (default SAEM settings)
runs into a temporary folder on a local cluster of ``--workers`` processes; then every fit it
made is repeated in this process, one after another, and the ratio of the two wall times
printed (the search's time includes starting the cluster).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _bench_args import bench_parser

import cartpk as ck
from cartpk.model import categorical, power

DROP = ["foldx", "tmax", "fb", "beta"]
TRIAL = (7.0, 14.0, 21.0, 28.0, 60.0, 90.0)
TRUTH = {"cov_cmax_dose": 0.5, "cov_cmax_wt": 1.5}


def _trial(n: int, path: Path) -> tuple[ck.model.Model, Path]:
    """The base model and the simulated trial (written to ``path``)."""
    rng = np.random.default_rng(2031)
    cov = pd.DataFrame(
        {
            "DOSE": rng.choice([1.0e7, 3.0e7, 1.0e8], n),
            "WT": np.exp(rng.normal(np.log(70.0), 0.25, n)).round(1),
            "AGE": rng.uniform(20, 80, n).round(),
            "SEX": rng.choice(["F", "M"], n),
        }
    )
    base = ck.load_model("stein2019_smooth").fix("foldx", "fb", "beta")
    truth = base.with_iiv(drop=DROP).with_covariates(
        power("cmax", on="DOSE", ref=3.0e7, coef=TRUTH["cov_cmax_dose"]),
        power("cmax", on="WT", ref=70.0, coef=TRUTH["cov_cmax_wt"]),
    )
    table = ck.simulate(truth, n=n, seed=2032, lloq=50.0, days=TRIAL, covariates=cov)
    table.to_csv(path, index=False)
    return base, path


CANDIDATES = [
    power("cmax", on="DOSE", ref=3.0e7),
    power("cmax", on="WT", ref=70.0),
    power("cmax", on="AGE", ref=50.0),
    categorical("alpha", on="SEX", reference="F", levels=["F", "M"]),
]


def _sequential(result: ck.batch.ScmResult, base: ck.model.Model, data: Path, opts: dict) -> float:
    """Wall time of the search's fits repeated one after another in this process."""
    from cartpk.batch._scm import _ScmFit

    dataset = ck.read_dataset(data)
    model = base.with_iiv(drop=DROP)
    task = _ScmFit(model, dataset, tuple(CANDIDATES), opts, 1)
    fits = sorted(result.path.glob("tasks/fit_*.json"))
    t0 = time.perf_counter()
    for f in fits:
        task(json.loads(f.read_text())["result"]["included"])
    return time.perf_counter() - t0


def main() -> None:
    ap = bench_parser(__doc__, subjects=100, workers=2, explore=300, smooth=200)
    ap.add_argument("--no-sequential", action="store_true", help="skip the one-process run")
    args = ap.parse_args()
    opts = {"explore": args.explore, "smooth": args.smooth}
    with tempfile.TemporaryDirectory() as tmp:
        base, data = _trial(args.subjects, Path(tmp) / "trial.csv")
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        result = ck.batch.scm(
            base,
            data,
            CANDIDATES,
            out=Path(tmp) / "study",
            options={**opts, "drop_iiv": DROP},
            seed=1,
            workers=args.workers,
        )
        t_scm = time.perf_counter() - t0
        n_fits = result.result["fits"]
        print(f"\n{args.subjects} subjects, 4 candidates, {args.workers} workers, load {load:.1f}")
        cols = ["step", "direction", "candidate", "df", "ofv", "dofv", "p_value", "converged"]
        print(result.steps[[*cols, "chosen"]].to_string(index=False))
        print(f"final model: {', '.join(result.final) or 'base'} (truth: cmax-DOSE, cmax-WT)")
        pop = result.population.set_index("parameter")
        for name, value in TRUTH.items():
            if name in pop.index:
                row = pop.loc[name]
                print(
                    f"  {name}: {row['estimate']:.3f} [{row['lower']:.3f}, {row['upper']:.3f}]"
                    f" (truth {value})"
                )
        on_workers = sum(
            json.loads(f.read_text())["seconds"] for f in result.path.glob("tasks/fit_*.json")
        )
        print(
            f"SCM: {t_scm:.1f} s wall for {n_fits} fits on {args.workers} workers "
            f"({on_workers / n_fits:.1f} s per fit on a worker; load now {os.getloadavg()[0]:.1f})"
        )
        if not args.no_sequential:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_seq = _sequential(result, base, data, opts)
            print(
                f"same {n_fits} fits one after another in one process: {t_seq:.1f} s "
                f"({t_seq / n_fits:.1f} s per fit; load now {os.getloadavg()[0]:.1f})"
            )
            print(f"ratio one process / SCM on {args.workers} workers: {t_seq / t_scm:.2f}x")


if __name__ == "__main__":
    main()
