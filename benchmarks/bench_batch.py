"""Benchmark of the Dask batch runner: parallel efficiency and per-task overhead.

Runs the same ``R``-replicate SSE (default 200) three ways and prints ratios:

* ``direct``: the replicate task (simulate, read, estimate) called in a loop in this
  process, no Dask: the pure cost of the work;
* ``1 worker`` and ``2 workers``: :func:`cartpk.sse` on a warm ``LocalCluster``
  (started, and its workers' imports done, before timing).

Parallel efficiency = ``T(1 worker) / (2 x T(2 workers))`` (target >= 0.80); per-task
overhead = ``(T(1 worker) - T(direct)) / R`` and the ratio ``T(1 worker) / T(direct)``.

Control for a shared machine: the same tasks on two plain processes
(``ProcessPoolExecutor``, no Dask). Its speed-up is what the machine offers right now; the
ratio ``T(2 plain processes) / T(2 Dask workers)`` says how much of it Dask delivers. The
runner's own cost is also timed with a task that does nothing.
The estimator is cartpk's per-patient fitter (``IndividualFitEstimator``, 1 start, one
subject per replicate by default, so that a task costs what a small real task costs);
``--estimator peak`` uses a millisecond estimator to expose the runner's own overhead.

Usage::

    python benchmarks/bench_batch.py [--replicates 200] [--subjects 1] [--estimator fits]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

import cartpk as ck
from cartpk.batch import IndividualFitEstimator, dask_client, spawn_seeds
from cartpk.batch._runner import Portable, StudyFolder, run_tasks
from cartpk.batch._sse import _SSETask

DAYS = (3, 7, 14, 21, 28, 60, 90)


def observed_peak(dataset, model) -> pd.DataFrame:
    """Millisecond estimator: typical ``cmax`` as the geometric mean of observed peaks."""
    obs = dataset.observations("QPCR")
    peak = obs.groupby("ID")["DV"].max().to_numpy()
    logc = np.log(peak)
    return pd.DataFrame(
        {
            "parameter": ["cmax"],
            "estimate": [float(np.exp(logc.mean()))],
            "lower": [np.nan],
            "upper": [np.nan],
        }
    )


def _call(task: Portable, seed: object) -> object:
    return task.obj(seed)


def _nothing(payload: object) -> dict[str, list[float]]:
    return {"x": [1.0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--subjects", type=int, default=1, help="subjects per replicate")
    ap.add_argument("--estimator", choices=("fits", "peak"), default="fits")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    model = ck.load_model("stein2019")
    if args.estimator == "fits":
        estimator = IndividualFitEstimator(summary="individual", n_starts=1)
    else:
        estimator = observed_peak
    n, seed = args.replicates, args.seed
    lloq = 20.0
    work = Path(tempfile.mkdtemp(prefix="cartpk-bench-batch-"))
    print(
        f"SSE of {n} replicates x {args.subjects} subject(s), estimator={args.estimator}, "
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at start"
    )
    try:
        task = _SSETask(model, list(DAYS), args.subjects, lloq, None, estimator)
        task(spawn_seeds(seed + 1, 1)[0])  # imports and caches, as a warm worker has them
        t0 = time.perf_counter()
        direct = [task(s) for s in spawn_seeds(seed, n)]
        t_direct = time.perf_counter() - t0

        times: dict[int, float] = {}
        results = {}
        for w in (1, 2):
            t0 = time.perf_counter()
            with dask_client(workers=w, quiet=True, dashboard_address=None) as client:
                t_start = time.perf_counter() - t0
                # warm every worker: imports of cartpk, scipy, lmfit happen once per process
                ck.sse(
                    model,
                    DAYS,
                    2 * w,
                    estimator,
                    seed=seed + 1,
                    n_subjects=args.subjects,
                    lloq=lloq,
                    out=work / f"warm{w}",
                    client=client,
                    quiet=True,
                )
                t0 = time.perf_counter()
                results[w] = ck.sse(
                    model,
                    DAYS,
                    n,
                    estimator,
                    seed=seed,
                    n_subjects=args.subjects,
                    lloq=lloq,
                    out=work / f"w{w}",
                    client=client,
                    quiet=True,
                )
                times[w] = time.perf_counter() - t0
            print(
                f"  {w} worker(s): {times[w]:8.2f} s   (cluster start {t_start:.1f} s, not counted)"
            )
            if w == 1:
                folder = StudyFolder(work / "nothing", kind="bench", spec={}, seed=None)
                with dask_client(workers=1, quiet=True, dashboard_address=None) as client:
                    t0 = time.perf_counter()
                    run_tasks(_nothing, list(range(n)), folder, client=client, quiet=True)
                    t_nothing = time.perf_counter() - t0
        print(f"  direct loop : {t_direct:8.2f} s")
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(partial(_call, Portable(task)), spawn_seeds(seed + 2, 4)))  # warm
            t0 = time.perf_counter()
            list(pool.map(partial(_call, Portable(task)), spawn_seeds(seed, n)))
            t_pool = time.perf_counter() - t0
        print(f"  2 plain processes (no Dask): {t_pool:8.2f} s")
        same = results[1].estimates.equals(results[2].estimates)
        est = pd.concat(
            [pd.DataFrame(d).assign(replicate=i) for i, d in enumerate(direct)], ignore_index=True
        )
        same_direct = np.array_equal(
            est["estimate"].to_numpy(), results[1].estimates["estimate"].to_numpy(), equal_nan=True
        )
        eff = times[1] / (2 * times[2])
        print()
        print(
            f"parallel efficiency 1 -> 2 workers : {eff:.2f}  (speed-up {times[1] / times[2]:.2f}x; target >= 0.80)"
        )
        print(f"runner time / direct time (1 worker): {times[1] / t_direct:.3f}")
        print(
            f"per-task overhead                  : {1e3 * (times[1] - t_direct) / n:.1f} ms "
            f"= {(times[1] - t_direct) / t_direct:.1%} of a task ({1e3 * t_direct / n:.0f} ms)"
        )
        print(
            f"machine's speed-up, 2 plain processes: {t_direct / t_pool:.2f}x; "
            f"Dask 2 workers vs 2 plain processes: {t_pool / times[2]:.2f}"
        )
        print(f"runner cost of an empty task       : {1e3 * t_nothing / n:.1f} ms")
        print(
            f"identical estimates 1 vs 2 workers : {same}; equal to the direct loop: {same_direct}"
        )
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
