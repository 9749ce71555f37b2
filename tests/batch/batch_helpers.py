"""Cheap, deterministic estimators for testing the batch machinery (importable by workers).

They are not good estimators; they exercise the runner: each returns the table
:class:`cartpk.batch.Estimator` describes in milliseconds.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd


def observed_peak(dataset, model) -> pd.DataFrame:
    """Typical ``cmax`` and ``tmax`` from each subject's highest observation.

    ``cmax``: geometric mean of the observed peaks with a t-interval on the log scale;
    ``tmax``: median day of the observed peaks with the range as its interval.
    """
    from scipy import stats

    obs = dataset.observations("QPCR")
    obs = obs[obs["CENS"] == 0]
    peak = obs.loc[obs.groupby("ID")["DV"].idxmax()]
    logc = np.log(peak["DV"].to_numpy())
    half = stats.t.ppf(0.975, len(logc) - 1) * logc.std(ddof=1) / np.sqrt(len(logc))
    days = peak["TIME"].to_numpy()
    return pd.DataFrame(
        {
            "parameter": ["cmax", "tmax"],
            "estimate": [np.exp(logc.mean()), float(np.median(days))],
            "lower": [np.exp(logc.mean() - half), float(days.min())],
            "upper": [np.exp(logc.mean() + half), float(days.max())],
            "converged": [True, bool(len(days) > 2)],
        }
    )


class SlowPeak:
    """``observed_peak`` that sleeps first and counts its calls in files (kill tests)."""

    def __init__(self, seconds: float, counter_dir: str | None = None) -> None:
        self.seconds = seconds
        self.counter_dir = counter_dir

    def __repr__(self) -> str:
        return f"SlowPeak(seconds={self.seconds})"

    def __call__(self, dataset, model) -> pd.DataFrame:
        if self.counter_dir:
            d = Path(self.counter_dir)
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{os.getpid()}-{time.perf_counter_ns()}").touch()
        time.sleep(self.seconds)
        return observed_peak(dataset, model)


def individual_peaks(dataset, model) -> pd.DataFrame:
    """Per-subject ``cmax`` estimates (the highest observation), no interval."""
    obs = dataset.observations("QPCR")
    peak = obs.groupby("ID", sort=False)["DV"].max()
    return pd.DataFrame(
        {
            "ID": peak.index.astype(str),
            "parameter": "cmax",
            "estimate": peak.to_numpy(),
            "lower": np.nan,
            "upper": np.nan,
        }
    )


def broken(dataset, model):
    """An estimator that always fails."""
    raise RuntimeError("broken on purpose")


def doubling_runner(spec, folder):
    """A `fit_many` runner: writes a run folder with one table, returns a summary field."""
    from cartpk.run import run_folder

    if spec.get("fail"):
        raise ValueError("asked to fail")
    with run_folder(folder, command=["test"], spec=dict(spec)) as run:
        run.write_csv("result.csv", pd.DataFrame({"x": [spec["x"]], "twice": [2 * spec["x"]]}))
    return {"twice": 2 * spec["x"]}


def unconverged_peak(dataset, model) -> pd.DataFrame:
    """``observed_peak`` reported as not converged: every bootstrap sample is unusable."""
    return observed_peak(dataset, model).assign(converged=False)
