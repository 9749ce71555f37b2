"""``cartpk simulate --force`` replaces only a table cartpk wrote and nobody changed since.

A user's NONMEM-style data file has the very header a simulated table has (``ID,TIME,DV,
EVID,AMT,...``), so the header cannot tell them apart: cartpk records the SHA-256 of what it
writes (``cartpk.run.is_recorded_output``) and ``--force`` replaces only those bytes.
"""

from __future__ import annotations

import shutil

import pytest

import cartpk as ck
from cartpk.cli import main
from cartpk.run import is_recorded_output

ARGS = ["simulate", "stein2019", "--n", "2", "--seed", "1"]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CARTPK_CACHE_DIR", str(tmp_path / "cache"))


def test_force_replaces_an_unchanged_simulated_table(tmp_path, capsys):
    out = tmp_path / "sim.csv"
    assert main([*ARGS, "--out", str(out)]) == 0
    assert is_recorded_output(out)
    assert main([*ARGS[:-1], "2", "--out", str(out), "--force"]) == 0
    assert is_recorded_output(out)


def test_force_refuses_a_users_nonmem_style_data_file(tmp_path, capsys):
    out = tmp_path / "mytrial.csv"
    shutil.copy(ck.examples.path("trial.csv"), out)
    before = out.read_bytes()
    assert before.startswith(b"ID,TIME,DV,EVID,AMT")  # the header a simulated table has
    assert main([*ARGS, "--out", str(out), "--force"]) == 2
    err = capsys.readouterr().err
    assert "no record of writing these bytes" in err and "Traceback" not in err
    assert out.read_bytes() == before


def test_force_refuses_a_simulated_table_edited_since(tmp_path, capsys):
    out = tmp_path / "sim.csv"
    assert main([*ARGS, "--out", str(out)]) == 0
    out.write_text(out.read_text() + "1,999,1,0,0,0,0,,QPCR\n")
    edited = out.read_bytes()
    assert main([*ARGS, "--out", str(out), "--force"]) == 2
    assert out.read_bytes() == edited
