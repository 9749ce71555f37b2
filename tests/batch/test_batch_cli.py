"""`cartpk sse` and `cartpk bootstrap`: specs validated first (exit 2), runs, exit codes."""

from __future__ import annotations

import pandas as pd
import pytest
from _spec_file import write_spec

from cartpk.batch import IndividualFitEstimator, load_spec
from cartpk.cli import main
from cartpk.errors import SpecError

GOOD = """
model = "stein2019"
days = [7, 14, 21, 28, 60, 90]
n_subjects = 8
n_replicates = 3
seed = 2
lloq = 20.0

[estimator]
kind = "import"
target = "batch_helpers:observed_peak"
"""


def test_unknown_key_exits_2_naming_the_line_and_valid_keys(tmp_path, capsys):
    spec = write_spec(tmp_path, GOOD.replace("lloq = 20.0", "lloq = 20.0\nreplicates = 5"))
    rc = main(["sse", str(spec), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "[spec_unknown_key] unknown key `replicates`" in err
    assert "spec.toml, line 7" in err and "n_replicates" in err
    assert not (tmp_path / "o").exists()


def test_every_spec_problem_reported_at_once(tmp_path):
    text = """
    model = "stein2020"
    days = [7, 7, 14]
    n_subjects = 0
    seed = 1.5

    [estimator]
    kind = "individual_fits"
    blq = "m9"
    startz = 3
    """
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(tmp_path, text), kind="sse")
    codes = [v.code for v in err.value.violations]
    assert set(codes) == {
        "unknown_model",
        "spec_value",
        "spec_type",
        "spec_missing_key",
        "estimator_option",
    }
    msg = str(err.value)
    assert "n_replicates" in msg and "startz" in msg and "line 9" in msg
    assert "stein2019" in msg  # the valid model names are listed


def test_estimator_options_are_validated_by_the_estimator(tmp_path):
    bad = GOOD.split("[estimator]")[0] + '[estimator]\nkind = "individual_fits"\nblq = "m9"\n'
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(tmp_path, bad), kind="sse")
    assert err.value.code == "estimator_option" and "m9" in str(err.value)
    ok = load_spec(
        write_spec(
            tmp_path, GOOD.split("[estimator]")[0] + "[estimator]\nsummary = 'individual'\n"
        ),
        kind="sse",
    )
    assert ok.estimator == {"kind": "individual_fits", "summary": "individual"}


def test_import_estimator_must_be_importable(tmp_path):
    bad = GOOD.replace("batch_helpers:observed_peak", "batch_helpers:no_such_thing")
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(tmp_path, bad), kind="sse")
    assert err.value.code == "estimator_import"


def test_shipped_sse_specs_validate():
    from pathlib import Path

    specs = sorted((Path(__file__).parents[2] / "fits" / "long").glob("*sse*.toml"))
    assert specs
    for p in specs:
        spec = load_spec(p, kind="sse")
        if spec.kind == "er_chain":  # the E-R chain study (tests/batch/test_sse_er_chain.py)
            assert spec.model == "stein2019_smooth" and spec.estimator == {}
            continue
        assert spec.model == "stein2019"
        IndividualFitEstimator(**{k: v for k, v in spec.estimator.items() if k != "kind"})


def test_sse_command_runs_and_prints_the_dashboard_line(tmp_path, capsys):
    spec = write_spec(tmp_path, GOOD)
    rc = main(["sse", str(spec), "--out", str(tmp_path / "o"), "--workers", "1", "--format", "csv"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "started a local Dask cluster" in err and "dashboard" in err
    table = pd.read_csv(tmp_path / "o" / "summary.csv")
    assert out.splitlines()[0] == ",".join(table.columns)
    assert list(table["parameter"]) == ["cmax", "tmax"]


def test_bootstrap_command_on_the_bundled_trial(tmp_path, capsys):
    spec = write_spec(
        tmp_path,
        """
        model = "stein2019"
        data = "example:trial.csv"
        seed = 3
        n_bootstrap = 4

        [estimator]
        kind = "import"
        target = "batch_helpers:observed_peak"
        """,
    )
    rc = main(["bootstrap", str(spec), "--out", str(tmp_path / "b"), "--workers", "1", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0
    iv = pd.read_csv(tmp_path / "b" / "intervals.csv")
    assert list(iv["parameter"]) == ["cmax", "tmax"] and (iv["n"] == 4).all()
    assert "cmax" in out
    # another seed into the same folder is another study: refused, exit 2
    other = write_spec(tmp_path, spec.read_text().replace("seed = 3", "seed = 4"), "other.toml")
    rc = main(["bootstrap", str(other), "--out", str(tmp_path / "b"), "--quiet"])
    assert rc == 2 and "study_mismatch" in capsys.readouterr().err


def test_unreachable_scheduler_is_a_user_error(tmp_path, capsys):
    import socket

    import dask

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = write_spec(tmp_path, GOOD)
    argv = ["sse", str(spec), "--out", str(tmp_path / "o"), "--quiet"]
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        rc = main([*argv, "--scheduler", f"tcp://127.0.0.1:{port}"])
    assert rc == 2 and "scheduler_unreachable" in capsys.readouterr().err


def test_study_whose_replicates_all_fail_exits_1_with_the_reason(tmp_path, capsys):
    """Issue 21: a study that ran and failed as a whole is a failed run, not a user error."""
    spec = write_spec(tmp_path, GOOD.replace("batch_helpers:observed_peak", "batch_helpers:broken"))
    rc = main(["sse", str(spec), "--out", str(tmp_path / "o"), "--workers", "1", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "all_replicates_failed" in err and "broken on purpose" in err
