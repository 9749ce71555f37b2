"""Run folders are atomic and carry a reproducible manifest."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cartpk.run import run_folder, sha256_file, write_atomic


def test_run_folder_writes_manifest_and_renames(tmp_path):
    inp = tmp_path / "in.csv"
    inp.write_text("ID,TIME,DV\n1,7,100\n")
    out = tmp_path / "run1"
    with run_folder(out, command=["cartpk", "x"], seed=42, inputs=[inp]) as rf:
        assert not out.exists()
        rf.write_csv("t.csv", pd.DataFrame({"a": [1]}))
    m = json.loads((out / "manifest.json").read_text())
    assert m["seed"] == 42 and m["status"] == "ok" and m["command"] == ["cartpk", "x"]
    assert m["inputs"][str(inp)] == sha256_file(inp)
    assert m["versions"]["cartpk"] and m["versions"]["numpy"]
    assert m["started"] <= m["finished"] and "t.csv" in m["files"]
    # known digest of the input bytes
    import hashlib

    assert sha256_file(inp) == hashlib.sha256(b"ID,TIME,DV\n1,7,100\n").hexdigest()


def test_run_folder_failure_midway_leaves_nothing(tmp_path):
    out = tmp_path / "run2"
    with pytest.raises(RuntimeError, match="boom"):
        with run_folder(out, command="x") as rf:
            rf.write_text("half.txt", "partial")
            raise RuntimeError("boom")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_run_folder_refuses_existing_unless_overwrite(tmp_path):
    out = tmp_path / "run3"
    with run_folder(out, command="x") as rf:
        rf.write_text("old.txt", "old")
    with pytest.raises(FileExistsError):
        with run_folder(out, command="x"):
            pass
    with run_folder(out, command="x", overwrite=True) as rf:
        rf.write_text("new.txt", "new")
    assert (out / "new.txt").exists() and not (out / "old.txt").exists()
    # a failed overwrite keeps the previous complete run
    with pytest.raises(KeyboardInterrupt):
        with run_folder(out, command="x", overwrite=True) as rf:
            rf.write_text("newer.txt", "x")
            raise KeyboardInterrupt
    assert (out / "new.txt").exists() and not (out / "newer.txt").exists()


def test_write_atomic_replaces_whole_file(tmp_path):
    p = write_atomic(tmp_path / "a" / "f.txt", "one")
    write_atomic(p, b"two")
    assert p.read_text() == "two"
    assert [x.name for x in p.parent.iterdir()] == ["f.txt"]


def test_write_atomic_gives_usual_permissions(tmp_path):
    import os
    import stat

    mask = os.umask(0)
    os.umask(mask)
    p = write_atomic(tmp_path / "f.txt", "x")
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask


def test_manifest_versions_cover_every_runtime_dependency():
    """Issue 21: every package cartpk requires at run time (jax and diffrax included)."""
    import re
    from importlib import metadata

    from cartpk.run import dependency_versions

    required = metadata.requires("cartpk") or []
    names = {
        re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower() for r in required if "extra ==" not in r
    }
    got = dependency_versions()
    assert names and names <= set(got), names - set(got)
    assert got["jax"] and got["diffrax"]
