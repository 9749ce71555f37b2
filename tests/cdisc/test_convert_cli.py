"""``cartpk convert sdtm FOLDER --out DIR``: the run folder, the checks, the exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sdtm_fixtures import study, write_study

from cartpk.cli import main


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_study(tmp_path / "sdtm")


def test_convert_writes_tables_that_validate(folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["convert", "sdtm", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 subject(s); trial.csv 11 rows (2 doses, CARQPCR 4, CRS 1, ICANS 1, IL6 3)" in printed
    assert "EXDOSE 0 (placebo or dose not given): no dose record" in printed
    assert f"cartpk validate {out / 'trial.csv'}" in printed
    names = {"trial.csv", "lesions.csv", "conversion.csv", "endpoints.csv", "columns.csv"}
    assert names | {"manifest.json"} == {p.name for p in out.iterdir()}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert sorted(Path(p).name for p in manifest["inputs"]) == sorted(
        p.name for p in folder.iterdir()
    )
    log = pd.read_csv(out / "conversion.csv", dtype=str, keep_default_na=False)
    assert len(log) == sum(len(f) for f in study().values())
    trial = pd.read_csv(out / "trial.csv")
    assert len(trial) == (log["TABLE"] == "trial.csv").sum() - 2  # DM: 2 subjects' covariates
    assert pd.read_csv(out / "lesions.csv").empty
    assert main(["validate", str(out / "trial.csv")]) == 0
    assert "VALID" in capsys.readouterr().out


def test_the_map_option(folder: Path, tmp_path: Path) -> None:
    m = tmp_path / "map.csv"
    m.write_text("DOMAIN,TESTCD,SPEC,DVID,UNIT\nPC,CARQPCR,BLOOD,QPCR,copies/ug\n")
    out = tmp_path / "out"
    assert main(["convert", "sdtm", str(folder), "--out", str(out), "--map", str(m)]) == 0
    assert "QPCR" in set(pd.read_csv(out / "trial.csv")["DVID"].dropna())
    manifest = json.loads((out / "manifest.json").read_text())
    assert str(m) in manifest["inputs"] and manifest["settings"]["map"] == str(m)


def test_force_replaces_an_earlier_conversion(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["convert", "sdtm", str(folder), "--out", str(out)]) == 0
    (folder / "sv.csv").unlink()
    assert main(["convert", "sdtm", str(folder), "--out", str(out), "--force"]) == 0
    log = pd.read_csv(out / "conversion.csv", dtype=str, keep_default_na=False)
    assert "SV" not in set(log["DOMAIN"])


def test_problems_in_the_datasets_exit_1_and_write_nothing(tmp_path: Path, capsys) -> None:
    d = study()
    d["PC"].loc[5, "PCSTRESU"] = "copies/mL"
    out = tmp_path / "out"
    assert main(["convert", "sdtm", str(write_study(tmp_path / "x", d)), "--out", str(out)]) == 1
    assert "cdisc_mixed_units" in capsys.readouterr().err
    assert not out.exists()


def test_a_written_table_that_fails_the_checks_exits_1(tmp_path: Path, capsys) -> None:
    d = study()
    d["PC"] = pd.concat([d["PC"], d["PC"].iloc[[1]].assign(PCSEQ=9)], ignore_index=True)
    out = tmp_path / "out"
    assert main(["convert", "sdtm", str(write_study(tmp_path / "x", d)), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "FAILED CHECKS" in printed and "duplicate_observation" in printed
    assert json.loads((out / "manifest.json").read_text())["status"] == "failed_checks"


@pytest.mark.parametrize(
    "case",
    ["no folder", "unreadable file", "no map file", "bad map", "out exists", "no standard"],
)
def test_unreadable_input_and_usage_errors_exit_2(
    case: str, folder: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    args = ["convert", "sdtm", str(folder), "--out", str(out)]
    if case == "no folder":
        args[2] = str(tmp_path / "nowhere")
    elif case == "unreadable file":
        (folder / "vs.xpt").write_bytes(b"not a SAS transport file")
    elif case == "no map file":
        args += ["--map", str(tmp_path / "missing.csv")]
    elif case == "bad map":
        (tmp_path / "map.csv").write_text("TESTCD,DVID\nCARQPCR,QPCR\n")
        args += ["--map", str(tmp_path / "map.csv")]
    elif case == "out exists":
        out.mkdir()
    else:
        args = ["convert", str(folder), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "error [" in err and "Traceback" not in err
    assert not (out / "trial.csv").exists()


def test_convert_adam_writes_the_same_tables(tmp_path: Path, capsys) -> None:
    """``convert adam`` goes through read_adam into the same run folder (pharmaverse ADaM)."""
    folder = Path(__file__).parent / "data" / "pharmaverse" / "adam"
    out = tmp_path / "out"
    assert main(["convert", "adam", str(folder), "--out", str(out)]) == 0
    assert "source records used / not used" in capsys.readouterr().out
    log = pd.read_csv(out / "conversion.csv", dtype=str, keep_default_na=False)
    n = sum(len(pd.read_csv(f, dtype=str)) for f in folder.glob("*.csv"))
    assert len(log) == n and set(log["DOMAIN"]) == {f.stem.upper() for f in folder.glob("*.csv")}
    assert json.loads((out / "manifest.json").read_text())["settings"]["standard"] == "adam"
    assert main(["validate", str(out / "trial.csv")]) == 0
