"""`cartpk simulate` and `cartpk models`."""

from __future__ import annotations

import json

import pandas as pd

from cartpk.cli import main


def test_models_lists_catalogue(capsys):
    assert main(["models", "--format", "json"]) == 0
    names = {r["name"] for r in json.loads(capsys.readouterr().out)}
    assert {"stein2019", "stein2019_ode"} <= names


def test_simulate_writes_readable_csv(tmp_path, capsys):
    out = tmp_path / "sim.csv"
    rc = main(["simulate", "stein2019", "--n", "4", "--seed", "3", "--out", str(out),
               "--days", "7,14,28", "--lloq", "50"])  # fmt: skip
    assert rc == 0
    table = pd.read_csv(out)
    assert table["ID"].nunique() == 4
    assert sorted(table.loc[table["EVID"] == 0, "TIME"].unique()) == [7, 14, 28]
    assert "4 subjects" in capsys.readouterr().out
    assert main(["validate", str(out)]) == 0


def test_simulate_unknown_model_exit_2_lists_names(tmp_path, capsys):
    rc = main(["simulate", "nope", "--n", "2", "--seed", "1", "--out", str(tmp_path / "x.csv")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "unknown_model" in err and "stein2019" in err and "Traceback" not in err


def test_simulate_bad_days_is_usage_error(tmp_path, capsys):
    rc = main(["simulate", "stein2019", "--n", "2", "--seed", "1", "--out",
               str(tmp_path / "x.csv"), "--days", "7,x"])  # fmt: skip
    assert rc == 2
    assert "--days" in capsys.readouterr().err


def test_simulate_defaults_to_the_qpcr_assay_lloq_and_says_so(tmp_path, capsys):
    import pandas as pd

    from cartpk.cli import main
    from cartpk.cli._simulate import QPCR_LLOQ

    out = tmp_path / "s.csv"
    assert main(["simulate", "stein2019", "--n", "20", "--seed", "3", "--out", str(out)]) == 0
    obs = pd.read_csv(out).query("EVID == 0")
    assert (obs["LLOQ"] == QPCR_LLOQ).all() and (obs["CENS"] == 1).any()
    assert f"LLOQ: QPCR {QPCR_LLOQ:g}" in capsys.readouterr().out
    none = tmp_path / "n.csv"
    args = ["simulate", "stein2019", "--n", "20", "--seed", "3", "--out", str(none), "--lloq", "0"]
    assert main(args) == 0
    assert (pd.read_csv(none).query("EVID == 0")["CENS"] == 0).all()
