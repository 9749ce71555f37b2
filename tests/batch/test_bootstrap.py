"""`cartpk.bootstrap`: subject resampling, percentile intervals, resumable on Dask."""

from __future__ import annotations

import math

import batch_helpers as bh
import numpy as np
import pandas as pd
import pytest

import cartpk as ck
from cartpk.batch import percentile_intervals, resample_subjects, spawn_seeds
from cartpk.errors import SpecError


def _bootstrap(estimator, n, *, seed, out, data, client):
    """``ck.bootstrap`` of ``stein2019`` fits on ``data``, quietly, on the test's cluster."""
    return ck.bootstrap(
        estimator, n, seed=seed, out=out, data=data, model="stein2019", client=client, quiet=True
    )


@pytest.fixture(scope="module")
def data():
    model = ck.load_model("stein2019")
    return ck.read_dataset(ck.simulate(model, n=15, seed=4, lloq=50.0))


def test_resample_subjects_draws_whole_subjects_with_replacement(data):
    boot = resample_subjects(data, np.random.SeedSequence(1))
    assert boot.subjects == [str(k) for k in range(1, 16)]
    drawn = np.random.default_rng(np.random.SeedSequence(1)).integers(0, 15, size=15)
    obs, bobs = data.observations(), boot.observations()
    for k, i in enumerate(drawn, start=1):
        a = obs[obs["ID"] == data.subjects[i]][["TIME", "DV", "CENS"]].reset_index(drop=True)
        b = bobs[bobs["ID"] == str(k)][["TIME", "DV", "CENS"]].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
    assert len(set(drawn)) < 15  # with replacement: some subject drawn twice (this seed)


def test_percentile_intervals_hand_computed():
    reps = pd.DataFrame(
        {
            "parameter": "cmax",
            "estimate": [1.0, 2.0, 3.0, 4.0, 5.0, 100.0],
            "converged": [True] * 5 + [False],
        }
    )
    orig = pd.DataFrame({"parameter": ["cmax"], "estimate": [3.5]})
    row = percentile_intervals(reps, orig, level=0.5).iloc[0]
    # quantiles 0.25 and 0.75 of 1..5 (linear): 2 and 4; the unconverged 100 is left out
    assert (row["lower"], row["upper"], row["estimate"]) == (2.0, 4.0, 3.5)
    assert row["n_ok"] == 5 and row["n"] == 6 and row["boot_median"] == 3.0
    assert row["boot_se"] == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1))


def test_bootstrap_intervals_are_quantiles_of_refits(tmp_path, data, client):
    res = _bootstrap(bh.observed_peak, 12, seed=7, out=tmp_path / "b", data=data, client=client)
    direct = bh.observed_peak(data, ck.load_model("stein2019")).set_index("parameter")
    iv = res.intervals.set_index("parameter")
    assert iv.at["cmax", "estimate"] == direct.at["cmax", "estimate"]
    boot = res.replicates[
        (res.replicates["replicate"] >= 0) & (res.replicates["parameter"] == "cmax")
    ]
    assert len(boot) == 12
    assert iv.at["cmax", "lower"] == pytest.approx(np.quantile(boot["estimate"], 0.025))
    assert iv.at["cmax", "upper"] == pytest.approx(np.quantile(boot["estimate"], 0.975))
    # bootstrap sample 3 is the estimator on resample_subjects(data, seed_3)
    s3 = spawn_seeds(7, 12)[3]
    again = bh.observed_peak(resample_subjects(data, s3), None).set_index("parameter")
    got = boot[boot["replicate"] == 3]["estimate"].iloc[0]
    assert got == again.at["cmax", "estimate"]
    for name in ("intervals.csv", "replicates.csv", "status.csv", "manifest.json"):
        assert (tmp_path / "b" / name).is_file()


def test_bootstrap_rejects_per_subject_estimates_and_bad_settings(tmp_path, data, client):
    with pytest.raises(ck.FitError) as err:
        _bootstrap(bh.individual_peaks, 3, seed=1, out=tmp_path / "b", data=data, client=client)
    assert err.value.code == "original_fit_failed" and "typical-value" in str(err.value)
    with pytest.raises(SpecError) as err2:
        ck.bootstrap(bh.observed_peak, 1, seed=-2, out=tmp_path / "c", level=1.5)
    assert {v.code for v in err2.value.violations} == {
        "bootstrap_n",
        "seed_invalid",
        "level_invalid",
        "data_missing",
        "model_missing",
    }


def test_median_interval_order_statistics():
    from cartpk.batch import median_interval

    # n = 20 at 95 %: P(B <= 5) = 0.0207 <= 0.025 < P(B <= 6) = 0.0577 -> x(6), x(15)
    assert median_interval(np.arange(1.0, 21.0)) == (6.0, 15.0)
    assert all(math.isnan(v) for v in median_interval([1.0, 2.0, 3.0, 4.0, 5.0]))
    rng = np.random.default_rng(0)
    hits = [
        lo <= 0.0 <= hi
        for lo, hi in (median_interval(rng.standard_normal(15)) for _ in range(2000))
    ]
    # exact coverage for n = 15 is 1 - 2 P(B <= 3) = 0.9648; 2000 draws, +-3 SE
    assert abs(np.mean(hits) - 0.9648) < 3 * math.sqrt(0.9648 * 0.0352 / 2000)


def test_bootstrap_whose_fits_never_converge_is_a_failed_study(tmp_path, data, client):
    """Issue 21: NaN intervals from unconverged samples are a failed study, not a result."""
    import json

    res = _bootstrap(bh.unconverged_peak, 4, seed=3, out=tmp_path / "b", data=data, client=client)
    assert res.intervals["lower"].isna().all()
    assert res.problems == [
        "cmax: no interval from 0 converged of 4 bootstrap fits",
        "tmax: no interval from 0 converged of 4 bootstrap fits",
    ]
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["status"] == "failed_checks"
    ok = _bootstrap(bh.observed_peak, 4, seed=3, out=tmp_path / "c", data=data, client=client)
    assert ok.problems == []
