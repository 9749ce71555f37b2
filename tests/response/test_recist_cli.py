"""`cartpk recist`: run folder contents, exit codes 0 and 2, no traceback."""

from __future__ import annotations

import json

import pandas as pd
from _recist_columns import TIMEPOINT_COLUMNS

from cartpk.cli import main

LESIONS = """
ID,DAY,LESION,KIND,NODAL,DIAM_MM,STATUS,ORGAN
101,-5,T1,TARGET,0,50,,LIVER
101,-5,NT1,NONTARGET,0,,PRESENT,BONE
101,56,T1,TARGET,0,30,,LIVER
101,56,NT1,NONTARGET,0,,PRESENT,BONE
101,90,T1,TARGET,0,30,,LIVER
101,90,NT1,NONTARGET,0,,PRESENT,BONE
102,-3,T1,TARGET,1,20,,NODE
102,28,T1,TARGET,1,18,,NODE
102,56,T1,TARGET,1,30,,NODE
"""


def test_cli_recist_writes_run_folder_exit_0(write_csv, tmp_path, capsys):
    src = write_csv(LESIONS, name="lesions.csv")
    out = tmp_path / "run"
    assert main(["recist", str(src), "--out", str(out), "--min-sd-days", "42"]) == 0
    for name in ("timepoints.csv", "bor.csv", "rules.csv", "waterfall.png", "spider.png"):
        assert (out / name).stat().st_size > 0, name
    tp = pd.read_csv(out / "timepoints.csv", dtype={"ID": str})
    assert list(tp.columns) == TIMEPOINT_COLUMNS
    bor = pd.read_csv(out / "bor.csv", dtype={"ID": str})
    assert list(bor.columns) == ["ID", "BOR_UNCONFIRMED", "BOR_CONFIRMED"]
    # 101: 50 -> 30 (-40 %) at days 56 and 90 with a persisting non-target -> PR, confirmed
    # 102: node 20 -> 18 (SD, day 28 < 42) -> 30 (+50 % and +10 mm over nadir 18) -> PD
    assert bor.set_index("ID").to_dict("index") == {
        "101": {"BOR_UNCONFIRMED": "PR", "BOR_CONFIRMED": "PR"},
        "102": {"BOR_UNCONFIRMED": "PD", "BOR_CONFIRMED": "PD"},
    }
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["command"][:2] == ["cartpk", "recist"]
    assert manifest["settings"] == {"min_sd_days": 42.0, "confirm_days": 28.0}
    assert str(src) in manifest["inputs"]
    assert "confirmed BOR: PD 1, PR 1" in capsys.readouterr().out


def test_cli_recist_invalid_table_exit_2_without_traceback(write_csv, tmp_path, capsys):
    bad = LESIONS.replace("101,56,T1,TARGET,0,30", "101,56,T1,TARGET,0,3O")
    src = write_csv(bad, name="lesions.csv")
    out = tmp_path / "run"
    assert main(["recist", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "[diam_not_numeric]" in err and "ID 101, row 3" in err and "fix:" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_cli_recist_usage_errors_exit_2(write_csv, tmp_path, capsys):
    src = write_csv(LESIONS, name="lesions.csv")
    assert main(["recist", str(src), "--out", str(tmp_path / "a"), "--confirm-days", "-1"]) == 2
    assert main(["recist", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "b")]) == 2
    assert main(["recist", str(src)]) == 2  # --out is required
    err = capsys.readouterr().err
    assert "--confirm-days" in err and "no such file" in err


def test_cli_recist_prints_warnings_and_records_them(write_csv, tmp_path, capsys):
    small = LESIONS.replace("102,-3,T1,TARGET,1,20", "102,-3,T1,TARGET,1,12")
    src = write_csv(small, name="lesions.csv")
    out = tmp_path / "run"
    assert main(["recist", str(src), "--out", str(out)]) == 0
    assert "warning [nodal_target_small]" in capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [w["code"] for w in manifest["warnings"]] == ["nodal_target_small"]
