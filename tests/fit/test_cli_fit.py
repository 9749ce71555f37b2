"""`cartpk fit SPEC.toml --out DIR`: exit codes, files, columns, spec validation."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cartpk as ck
from cartpk.cli import main

REPO = Path(__file__).resolve().parents[2]


def _spec(tmp_path: Path, body: str, name: str = "spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(body).strip() + "\n")
    return p


def _sim_spec(tmp_path: Path, body: str, name: str = "spec.toml") -> Path:
    """An individual fit of stein2019 to ``data/sim.csv`` (:func:`small_data`), then ``body``."""
    head = 'model = "stein2019"\ndata = "data/sim.csv"\nmethod = "individual"\n'
    return _spec(tmp_path, head + textwrap.dedent(body), name)


@pytest.fixture
def small_data(tmp_path: Path) -> Path:
    sim = ck.simulate(
        ck.load_model("stein2019"), n=3, seed=4, days=[1, 3, 7, 14, 28, 60, 90, 180], lloq=5.0
    )
    p = tmp_path / "data" / "sim.csv"
    p.parent.mkdir()
    sim.to_csv(p, index=False)
    return p


def test_fit_individual_writes_run_folder(tmp_path, small_data, capsys):
    spec = _sim_spec(
        tmp_path,
        """
        seed = 7
        [options]
        blq = "m3"
        n_starts = 2
        workers = 1
        """,
    )
    out = tmp_path / "run"
    assert main(["fit", str(spec), "--out", str(out), "--quiet"]) == 0
    files = {p.name for p in out.iterdir()}
    assert {
        "individual.csv",
        "predictions.csv",
        "parameters.csv",
        "individual_fits.png",
        "iwres.png",
        "manifest.json",
    } <= files
    ind = pd.read_csv(out / "individual.csv", dtype={"ID": str})
    names = list(ck.load_model("stein2019").thetas)
    head = ["ID", *names, *[f"{n}_{s}" for n in names for s in ("lower", "upper")], "converged"]
    assert list(ind.columns[: len(head)]) == head
    assert sorted(ind["ID"]) == ["1", "2", "3"] and ind["ID"].is_unique
    assert (ind["blq"] == "m3").all()
    pred = pd.read_csv(out / "predictions.csv")
    assert {"ID", "TIME", "DV", "CENS", "PRED", "IPRED", "IWRES", "DVID", "BLQ"} <= set(
        pred.columns
    )
    man = json.loads((out / "manifest.json").read_text())
    assert man["seed"] == 7 and man["spec"]["model"] == "stein2019"
    assert man["results"]["blq"] == "m3" and man["status"] == "ok"


def test_fit_exit_1_when_a_subject_does_not_converge(tmp_path, small_data):
    sim = pd.read_csv(small_data)
    extra = sim[sim["ID"] == 1].copy()
    extra["ID"] = 99
    obs = extra["EVID"] == 0
    extra.loc[obs, "CENS"] = 1
    extra.loc[obs, "DV"] = extra.loc[obs, "LLOQ"]
    pd.concat([sim, extra]).to_csv(small_data, index=False)
    spec = _spec(
        tmp_path, 'model = "stein2019"\ndata = "data/sim.csv"\nseed = 1\nn_starts = 1\nworkers = 1'
    )
    out = tmp_path / "run"
    assert main(["fit", str(spec), "--out", str(out), "--quiet"]) == 1
    ind = pd.read_csv(out / "individual.csv", dtype={"ID": str})
    row = ind.set_index("ID").loc["99"]
    assert not row["converged"] and row["status"] == "all_censored"
    assert json.loads((out / "manifest.json").read_text())["status"] == "failed_checks"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('model = "stein2019"\ndata = "data/sim.csv"\nbql = "m3"', "`bql`"),
        ('model = "stein2020"\ndata = "data/sim.csv"', "stein2019"),
        ('model = "stein2019"\ndata = "data/sim.csv"\nmethod = "foce"', "'individual'"),
        ('model = "stein2019"\ndata = "data/sim.csv"\nblq = "m5"', "'m3'"),
        ('model = "stein2019"\ndata = "nope.csv"', "spec_data_missing"),
        ('data = "data/sim.csv"', "`model`"),
        ('model = "stein2019"\ndata = "data/sim.csv"\n[options]\nstarts = 3', "options.starts"),
    ],
)
def test_invalid_spec_exit_2_names_key_and_choices(tmp_path, small_data, capsys, body, needle):
    spec = _spec(tmp_path, body)
    out = tmp_path / "run"
    assert main(["fit", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err
    assert not out.exists()


@pytest.mark.slow
def test_shipped_spec_runs_on_bundled_example(tmp_path):
    out = tmp_path / "run"
    code = main(
        ["fit", str(REPO / "fits" / "stein2019_individual.toml"), "--out", str(out), "--quiet"]
    )
    ind = pd.read_csv(out / "individual.csv", dtype={"ID": str})
    assert code == (0 if ind["converged"].all() else 1)
    assert len(ind) == ck.examples.load_trial().summary()["subjects"]
    assert np.isfinite(ind.loc[ind["converged"], "cmax"]).all()


def test_fit_spec_ini_sets_typical_values_and_rejects_unknown_names(tmp_path, small_data, capsys):
    bad = _sim_spec(
        tmp_path,
        """
        [ini]
        cmax = 600.0
        cmaxx = 1.0
        """,
        "bad.toml",
    )
    assert main(["fit", str(bad), "--out", str(tmp_path / "r0")]) == 2
    err = capsys.readouterr().err
    assert "spec_ini" in err and "cmaxx" in err and "omega_cmax" in err
    assert not (tmp_path / "r0").exists()
    from cartpk.cli._fit import load_spec

    good = _sim_spec(
        tmp_path,
        """
        prior = "population"
        [ini]
        cmax = 600.0
        omega_cmax = 0.5
        """,
        "good.toml",
    )
    spec = load_spec(good)
    assert spec.ini == {"cmax": 600.0, "omega_cmax": 0.5}
    m = ck.load_model(spec.model).with_ini(**spec.ini)
    assert m.typical()["cmax"] == 600.0


def test_fit_spec_errors_name_the_line(tmp_path, capsys):
    spec = _spec(
        tmp_path,
        """
        model = "stein2019x"
        data = "example:trial.csv"
        method = "individual"
        blqq = "m3"
        """,
    )
    assert main(["fit", str(spec), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "unknown key `blqq`" in err and "line 4" in err
    assert 'line 1: model = "stein2019x"' in err and "stein2019_smooth" in err
    assert "Traceback" not in err
