"""`cartpk.sse`: per-replicate seeds, metrics, worker-count invariance, failures, resume."""

from __future__ import annotations

import json
import math

import batch_helpers as bh
import numpy as np
import pandas as pd
import pytest

import cartpk as ck
from cartpk.batch import dask_client, spawn_seeds, summarise_sse
from cartpk.errors import FitError, SpecError

DAYS = (7, 14, 21, 28, 60, 90)


def _study(out, client, n=6, estimator=bh.observed_peak, **kw):
    kw.setdefault("seed", 11)
    kw.setdefault("n_subjects", 12)
    kw.setdefault("lloq", 50.0)
    return ck.sse("stein2019", DAYS, n, estimator, out=out, client=client, quiet=True, **kw)


def test_spawn_seeds_are_the_seedsequence_children():
    seeds = spawn_seeds(5, 3)
    for i, child in enumerate(np.random.SeedSequence(5).spawn(3)):
        assert seeds[i].entropy == 5 and seeds[i].spawn_key == (i,)
        assert (
            np.random.default_rng(seeds[i]).integers(0, 2**62, 4)
            == np.random.default_rng(child).integers(0, 2**62, 4)
        ).all()


def test_summarise_sse_hand_computed():
    est = pd.DataFrame(
        {
            "replicate": [0, 1, 2, 3],
            "parameter": "tmax",
            "ID": "",
            "estimate": [9.0, 11.0, 12.0, 50.0],
            "lower": [8.0, 10.0, 7.0, np.nan],
            "upper": [10.0, 12.0, 13.0, np.nan],
            "converged": [True, True, True, False],
            "identified": np.nan,
            "true": 10.0,
        }
    )
    s = summarise_sse(est, n_replicates=5, n_subjects=3).iloc[0]
    # converged: 9, 11, 12 -> errors -1, 1, 2
    assert s["n"] == 3 and s["convergence_pct"] == pytest.approx(60.0)
    assert s["bias"] == pytest.approx(2 / 3)
    assert s["rel_bias_pct"] == pytest.approx(100 * (2 / 3) / 10)
    assert s["rmse"] == pytest.approx(math.sqrt((1 + 1 + 4) / 3))
    assert s["rel_rmse_pct"] == pytest.approx(100 * math.sqrt((0.01 + 0.01 + 0.04) / 3))
    assert s["median_abs_rel_error_pct"] == pytest.approx(10.0)
    # intervals [8, 10] and [7, 13] hold 10, [10, 12] holds it at its edge
    assert s["n_ci"] == 3 and s["coverage_pct"] == pytest.approx(100.0)
    assert math.isnan(s["identified_pct"]) and s["level"] == "typical"


def test_sse_writes_tables_and_one_file_per_replicate(tmp_path, client):
    res = _study(tmp_path / "s", client)
    assert sorted(p.name for p in (tmp_path / "s" / "tasks").iterdir()) == [
        f"{i:05d}.json" for i in range(6)
    ]
    for name in ("summary.csv", "estimates.csv", "replicates.csv", "manifest.json", "study.json"):
        assert (tmp_path / "s" / name).is_file()
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["tasks"] == {"total": 6, "ok": 6, "failed": 0}
    assert set(res.summary["parameter"]) == {"cmax", "tmax"}
    assert (res.summary["true"].to_numpy() == [24000.0, 9.3]).all()
    # each replicate is its own simulated trial
    assert res.estimates.groupby("parameter")["estimate"].nunique().min() > 1
    assert res.status == "ok" and (res.replicates["status"] == "ok").all()


def test_replicate_reproduces_from_its_seed(tmp_path, client):
    """Replicate r is the estimator applied to `simulate(seed=default_rng(seed_r))`."""
    res = _study(tmp_path / "s", client, n=3)
    seeds = spawn_seeds(11, 3)
    model = ck.load_model("stein2019")
    table = ck.simulate(model, n=12, seed=np.random.default_rng(seeds[2]), days=DAYS, lloq=50.0)
    ds = ck.read_dataset(table)
    direct = bh.observed_peak(ds, model)
    got = res.estimates[res.estimates["replicate"] == 2].set_index("parameter")["estimate"]
    assert got["cmax"] == direct.set_index("parameter").at["cmax", "estimate"]


def test_individual_level_uses_each_subjects_simulated_value(tmp_path, client):
    res = _study(tmp_path / "s", client, n=2, estimator=bh.individual_peaks)
    model = ck.load_model("stein2019")
    truth = ck.simulation.simulate_parameters(
        model, n=12, seed=np.random.default_rng(spawn_seeds(11, 2)[1])
    ).set_index("ID")
    rep = res.estimates[res.estimates["replicate"] == 1].set_index("ID")
    assert np.allclose(rep["true"].to_numpy(), truth.loc[rep.index, "cmax"].to_numpy())
    row = res.summary.iloc[0]
    assert row["level"] == "individual" and row["n"] == 24 and math.isnan(row["true"])


def test_failed_replicates_are_recorded_and_all_failed_raises(tmp_path, client):
    with pytest.raises(FitError) as err:
        _study(tmp_path / "s", client, n=2, estimator=bh.broken)
    assert err.value.code == "all_replicates_failed" and "broken on purpose" in str(err.value)
    rep = pd.read_csv(tmp_path / "s" / "replicates.csv")
    assert (rep["status"] == "error").all() and set(rep["error"]) == {"RuntimeError"}


def test_rerun_with_other_settings_is_refused(tmp_path, client):
    _study(tmp_path / "s", client, n=2)
    with pytest.raises(SpecError) as err:
        _study(tmp_path / "s", client, n=2, seed=12)
    assert err.value.code == "study_mismatch" and "seed" in str(err.value)


def test_rerun_of_a_finished_study_recomputes_nothing(tmp_path, client):
    first = _study(tmp_path / "s", client, n=3)
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s" / "tasks").iterdir()}
    again = _study(tmp_path / "s", client, n=3)
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s" / "tasks").iterdir()}
    pd.testing.assert_frame_equal(first.summary, again.summary)


def test_more_replicates_extend_a_study(tmp_path, client):
    _study(tmp_path / "s", client, n=3)
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s" / "tasks").iterdir()}
    extended = _study(tmp_path / "s", client, n=5)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s" / "tasks").iterdir()}
    assert {k: after[k] for k in stamps} == stamps and len(after) == 5
    fresh = _study(tmp_path / "f", client, n=5)
    pd.testing.assert_frame_equal(extended.estimates, fresh.estimates, check_exact=True)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["spec"]["n_replicates"] == 5 and manifest["tasks"]["total"] == 5


def test_invalid_settings_listed_at_once(tmp_path):
    with pytest.raises(SpecError) as err:
        ck.sse("stein2019", DAYS, 0, "x", seed=-1, n_subjects=0, out=tmp_path / "s")
    codes = {v.code for v in err.value.violations}
    assert codes == {
        "n_replicates_invalid",
        "n_subjects_invalid",
        "seed_invalid",
        "estimator_invalid",
    }
    assert not (tmp_path / "s").exists()


@pytest.mark.slow  # 12-17 s on one core (compiles, or Dask workers); CI runs it with -m slow
def test_same_results_on_one_and_two_workers(tmp_path):
    """The issue's acceptance test: identical numbers whatever the number of workers."""
    out = {}
    for n_workers in (1, 2):
        with dask_client(workers=n_workers, quiet=True, dashboard_address=None) as cl:
            assert len(cl.scheduler_info()["workers"]) == n_workers
            out[n_workers] = _study(tmp_path / f"w{n_workers}", cl, n=8)
    pd.testing.assert_frame_equal(out[1].summary, out[2].summary, check_exact=True)
    pd.testing.assert_frame_equal(out[1].estimates, out[2].estimates, check_exact=True)
    for i in range(8):
        a = json.loads((tmp_path / "w1" / "tasks" / f"{i:05d}.json").read_text())
        b = json.loads((tmp_path / "w2" / "tasks" / f"{i:05d}.json").read_text())
        assert a["result"] == b["result"]
