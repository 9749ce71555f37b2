"""`cartpk.fit_many`: one run folder per specification, failures recorded, resumable."""

from __future__ import annotations

import json

import batch_helpers as bh
import pytest

import cartpk as ck
from cartpk.errors import SpecError


def test_fit_many_runs_each_spec_in_its_own_run_folder(tmp_path, client):
    specs = {"a": {"x": 1}, "b": {"x": 5}, "c": {"x": 2, "fail": True}}
    res = ck.fit_many(
        specs, out=tmp_path / "m", runner=bh.doubling_runner, client=client, quiet=True
    )
    t = res.table.set_index("name")
    assert list(t.index) == ["a", "b", "c"]
    assert t.loc["a", "twice"] == 2 and t.loc["b", "twice"] == 10
    assert t.loc["c", "status"] == "error" and "asked to fail" in t.loc["c", "message"]
    for n in ("a", "b"):
        assert (
            json.loads((tmp_path / "m" / "runs" / n / "manifest.json").read_text())["status"]
            == "ok"
        )
    assert not (tmp_path / "m" / "runs" / "c").exists()
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["status"] == "failed_checks" and manifest["tasks"]["failed"] == 1
    stamp = (tmp_path / "m" / "tasks" / "a.json").stat().st_mtime_ns
    again = ck.fit_many(
        specs, out=tmp_path / "m", runner=bh.doubling_runner, client=client, quiet=True
    )
    assert (tmp_path / "m" / "tasks" / "a.json").stat().st_mtime_ns == stamp
    assert again.table.equals(res.table)


def test_fit_many_toml_paths_are_named_by_file_and_duplicates_refused(tmp_path, client):
    for name, x in (("one", 3), ("two", 4)):
        (tmp_path / f"{name}.toml").write_text(f"x = {x}\n")
    res = ck.fit_many(
        [tmp_path / "one.toml", tmp_path / "two.toml"],
        out=tmp_path / "m",
        runner=bh.doubling_runner,
        client=client,
        quiet=True,
    )
    assert list(res.table["name"]) == ["one", "two"] and list(res.table["twice"]) == [6, 8]
    with pytest.raises(SpecError) as err:
        ck.fit_many([tmp_path / "one.toml", tmp_path / "one.toml"], out=tmp_path / "n")
    assert err.value.code == "duplicate_name"


def test_default_runner_refuses_unknown_keys(tmp_path, client):
    spec = {
        "model": "stein2019",
        "data": "example:trial.csv",
        "n_startz": 2,
        "method": "population",
    }
    res = ck.fit_many({"bad": spec}, out=tmp_path / "m", client=client, quiet=True)
    row = res.table.iloc[0]
    assert row["status"] == "error" and row["error"] == "SpecError"
    assert "n_startz" in row["message"] and "n_starts" in row["message"]
    assert "method" in row["message"]


@pytest.mark.slow
def test_fit_many_default_runner_fits_individuals(tmp_path, client):
    model = ck.load_model("stein2019")
    sim = ck.simulate(model, n=2, seed=3, lloq=20.0, days=[2, 4, 7, 10, 14, 21, 28, 60, 90])
    sim.to_csv(tmp_path / "sim.csv", index=False)
    (tmp_path / "fit.toml").write_text(
        'model = "stein2019"\ndata = "sim.csv"\nmethod = "individual"\nseed = 1\n'
        'dvid = "QPCR"\nprior = "none"\n[options]\nn_starts = 1\n'
    )
    res = ck.fit_many([tmp_path / "fit.toml"], out=tmp_path / "m", client=client, quiet=True)
    row = res.table.iloc[0]
    assert row["status"] == "ok", row["message"]
    assert row["subjects"] == 2
    import pandas as pd

    ind = pd.read_csv(tmp_path / "m" / "runs" / "fit" / "individual.csv")
    assert {"ID", "tmax", "tmax_lower", "tmax_upper", "converged"} <= set(ind.columns)
