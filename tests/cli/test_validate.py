"""`cartpk validate`: summary, exit codes 0/1/2, no traceback for user errors."""

from __future__ import annotations

import json
import subprocess
import sys

from cartpk.cli import main
from tests._ten_problems import TEN_CODES, TEN_PROBLEMS


def test_cli_validate_valid_table_exit_0(write_csv, capsys):
    p = write_csv("ID,TIME,DV,LLOQ\n1,7,100,20\n1,60,<20,20\n2,7,50,20\n")
    assert main(["validate", str(p)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID") and "2 subjects" in out and "d60: 100%" in out


def test_cli_validate_json(write_csv, capsys):
    p = write_csv("ID,TIME,DV\n1,7,100\n")
    assert main(["validate", str(p), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is True and doc["summary"]["subjects"] == 1


def test_cli_validate_ten_problems_all_listed_exit_1(write_csv, capsys):
    p = write_csv(TEN_PROBLEMS)
    assert main(["validate", str(p)]) == 1
    out = capsys.readouterr().out
    for c in TEN_CODES:
        assert f"[{c}]" in out, c
    assert main(["validate", str(p), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False and len(doc["violations"]) >= 10


def test_cli_usage_errors_exit_2_without_traceback(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err
    assert main(["validate"]) == 2
    assert main(["validate", "x.csv", "--format", "yaml"]) == 2
    assert main(["frobnicate"]) == 2
    bad = tmp_path / "bin.csv"
    bad.write_bytes(b"\xff\xfe\x00garbage\x00\n\x01")
    assert main(["validate", str(bad)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_cli_version_console_script():
    r = subprocess.run(
        [sys.executable, "-m", "cartpk.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0 and r.stdout.startswith("cartpk ")


def test_a_folder_given_as_the_data_file_is_named_as_a_folder(tmp_path, capsys):
    folder = tmp_path / "trial"
    folder.mkdir()
    for args in (
        ["validate", str(folder)],
        ["nca", str(folder), "--out", str(tmp_path / "n.csv")],
        ["recist", str(folder), "--out", str(tmp_path / "r")],
    ):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert "[not_a_file]" in err and "is a folder" in err and "Traceback" not in err
