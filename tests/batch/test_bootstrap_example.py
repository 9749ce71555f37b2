"""The bundled bootstrap example (``fits/stein2019_bootstrap.toml``) run as a user runs it.

The cohort (``cartpk/examples/rich.csv``) is simulated from ``stein2019`` as declared, so
every subject's true parameters are known (``simulate_parameters`` with the generator's
seed). The bootstrap resamples this cohort, so its percentile interval of each typical value
(the median of per-patient estimates) must cover the cohort's own median of the true
parameters; the example's own run reports whether it also covers the population value.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cartpk as ck
from cartpk.examples._make import RICH_MODEL, RICH_N, RICH_SEED, make_rich

SPEC = Path(__file__).resolve().parents[2] / "fits" / "stein2019_bootstrap.toml"


def test_bundled_rich_cohort_is_what_the_generator_writes():
    shipped = pd.read_csv(ck.examples.path("rich.csv"), dtype={"ID": str, "DVID": str})
    made = make_rich().astype({"ID": str})
    pd.testing.assert_frame_equal(
        shipped.fillna({"DVID": ""}), made.fillna({"DVID": ""}), check_dtype=False
    )


@pytest.mark.slow
def test_bootstrap_example_covers_the_cohorts_true_medians(tmp_path):
    out = tmp_path / "boot"
    cmd = [sys.executable, "-m", "cartpk", "bootstrap", str(SPEC), "--out", str(out)]
    done = subprocess.run([*cmd, "-n", "60", "--workers", "2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    iv = pd.read_csv(out / "intervals.csv").set_index("parameter")
    truth = ck.simulation.simulate_parameters(ck.load_model(RICH_MODEL), n=RICH_N, seed=RICH_SEED)
    for p in ("foldx", "tmax", "cmax", "alpha", "fb", "beta"):
        median = float(np.median(truth[p]))
        assert iv.loc[p, "n_ok"] == 60
        assert iv.loc[p, "lower"] <= median <= iv.loc[p, "upper"], (p, median, iv.loc[p].to_dict())
