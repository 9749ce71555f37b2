"""The run folder's data dictionary (`columns.csv`): a unit and a meaning for every column."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from cartpk.run import run_folder
from cartpk.units import describe_columns, write_dictionary

#: numeric columns that are not quantities: identifiers, 0/1 flags and codes
NOT_QUANTITIES = {"ID", "ROW", "CENS", "crs_grade3plus", "ae_grade3plus", "orr", "pfs_event"}
NOT_QUANTITIES |= {"dor_event", "os_event", "replicate"}
#: covariates keep the data file's unit, which the data format does not declare
COVARIATES = {"DOSE", "SLD0", "AGE", "WT"}


def _dictionary(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(folder / "columns.csv", encoding="utf-8", newline="") as fh:
        return {(r["file"], r["column"]): r for r in csv.DictReader(fh)}


def assert_every_column_described(root: Path) -> int:
    """Every column of every CSV of every run folder under ``root`` is in its columns.csv,
    described, and every numeric column has a unit unless it is an ID, flag or code."""
    problems, n = [], 0
    for manifest in sorted(root.rglob("manifest.json")):
        folder = manifest.parent
        tables = sorted(p for p in folder.glob("*.csv") if p.name != "columns.csv")
        if not tables:
            continue
        records = _dictionary(folder)
        for p in tables:
            frame = pd.read_csv(p)
            for col in frame.columns:
                n += 1
                rec = records.get((p.name, col))
                where = f"{folder.relative_to(root)}/{p.name}:{col}"
                if rec is None or rec["description"] in ("", "(not described)"):
                    problems.append(f"{where} not described")
                    continue
                numeric = pd.api.types.is_numeric_dtype(frame[col]) and not (
                    pd.api.types.is_bool_dtype(frame[col])
                )
                if numeric and frame[col].notna().any() and not rec["unit"]:
                    if col not in NOT_QUANTITIES | COVARIATES:
                        problems.append(f"{where} is numeric without a unit")
                assert "µ" not in rec["unit"], where  # files spell copies/ug
    assert not problems, "\n".join(problems)
    return n


def test_describe_columns_wide_parameter_table_takes_the_declared_units():
    recs = describe_columns(
        "individual.csv",
        ["ID", "tmax", "tmax_lower", "tmax_se", "tmax_identifiable", "eta_cmax", "mystery"],
        units={"tmax": "day"},
        descriptions={"tmax": "peak time"},
    )
    got = {r["column"]: (r["unit"], r["description"]) for r in recs}
    assert got["ID"] == ("", "subject identifier")
    assert got["tmax"] == ("day", "peak time")
    assert got["tmax_lower"][0] == got["tmax_se"][0] == "day"
    assert got["tmax_identifiable"][0] == ""
    assert got["eta_cmax"][0] == "1"
    assert got["mystery"] == ("", "(not described)")


def test_write_dictionary_units_of_wide_fit_tables_from_the_parameter_table(tmp_path):
    # a population fit's long table (units from the model declaration) next to its wide one
    pd.DataFrame(
        {"parameter": ["cmax", "sigma"], "estimate": [450.0, 1.0], "unit": ["copies/ug", "1"]}
    ).to_csv(tmp_path / "population.csv", index=False)
    pd.DataFrame(
        {"ID": ["1"], "cmax": [400.0], "cmax_lower": [300.0], "cmax_upper": [500.0], "sigma": ["x"]}
    ).to_csv(tmp_path / "individual.csv", index=False)
    write_dictionary(tmp_path, {})
    d = _dictionary(tmp_path)
    assert d[("individual.csv", "cmax")]["unit"] == "copies/ug"
    assert d[("individual.csv", "cmax_upper")]["unit"] == "copies/ug"
    # `sigma` here is the fit's residual-error mode, not the parameter (no sigma_lower)
    assert d[("individual.csv", "sigma")]["unit"] == ""
    assert d[("population.csv", "estimate")]["unit"] == "[unit]"


def test_run_folder_writes_columns_csv_from_the_writers_units(tmp_path):
    frame = pd.DataFrame({"ID": ["1"], "cmax": [3.0], "auc_0_28d": [40.0]})
    frame.attrs["units"] = {"cmax": "copies/ug", "auc_0_28d": "day*copies/ug"}
    with run_folder(tmp_path / "run", command=["test"]) as rf:
        rf.write_csv("exposure.csv", frame, descriptions={"auc_0_28d": "AUC 0-28 d"})
    d = _dictionary(tmp_path / "run")
    assert d[("exposure.csv", "cmax")]["unit"] == "copies/ug"
    assert d[("exposure.csv", "auc_0_28d")] == {
        "file": "exposure.csv",
        "column": "auc_0_28d",
        "unit": "day*copies/ug",
        "description": "AUC 0-28 d",
    }
    manifest = (tmp_path / "run" / "manifest.json").read_text()
    assert '"columns.csv"' in manifest  # listed, so --force may replace the folder


def test_stage_folders_every_column_has_a_unit_record(tmp_path):
    """Issue 21: every numeric column of the demo's NCA, exposure, RECIST and E-R tables has
    a unit (or is an ID, flag or code, recorded as such) in its folder's columns.csv (the
    fit stages: the slow demo test below)."""
    from cartpk import examples
    from cartpk.cli import main
    from cartpk.cli._demo import _exposure_stage, _nca_stage
    from cartpk.data import read_dataset
    from cartpk.model import load_model

    ds = read_dataset(examples.path("trial.csv"))
    _nca_stage(ds, tmp_path / "nca", seed=1)
    # the exposure stage on a stand-in for the per-patient fits: typical values
    typical = load_model("stein2019").typical()
    fits = tmp_path / "fit_individual"
    fits.mkdir()
    rows = [{"ID": str(s), **typical, "converged": True} for s in ds.subjects[:4]]
    pd.DataFrame(rows).to_csv(fits / "individual.csv", index=False)
    _exposure_stage(fits, tmp_path / "nca", tmp_path / "exposure", seed=1, lloq=20.0)
    lesions = examples.path("lesions.csv")
    assert main(["recist", str(lesions), "--out", str(tmp_path / "recist")]) == 0
    spec = Path(__file__).parents[1] / "fits" / "er_example.toml"
    assert main(["er", str(spec), "--out", str(tmp_path / "er"), "--quiet"]) in (0, 1)
    assert assert_every_column_described(tmp_path) > 100
    e = _dictionary(tmp_path / "exposure")
    assert e[("exposure_model.csv", "auc_0_28d")]["unit"] == "day*copies/ug"
    assert e[("exposure_model.csv", "tmax")]["unit"] == "day"
    n = _dictionary(tmp_path / "nca")
    assert n[("nca_wide.csv", "lambda_z")]["unit"] == "1/day"
    s = _dictionary(tmp_path / "er")
    assert s[("er_subjects.csv", "il6_cmax")]["unit"] == "pg/mL"
    assert s[("er_subjects.csv", "auclast")]["unit"] == "day*copies/ug"


@pytest.mark.slow
def test_demo_every_column_has_a_unit_record(tmp_path):
    """The whole demo: the population and per-patient fit tables too (individual.csv: one
    column per parameter, its unit the model's declaration)."""
    from cartpk.cli import main

    out = tmp_path / "demo"
    main(["demo", "--out", str(out), "--quiet", "--draws", "300", "--tune", "300"])
    assert_every_column_described(out)
    for fit in ("fit_population", "fit_individual"):
        d = _dictionary(out / fit)
        assert d[("individual.csv", "tmax")]["unit"] == "day", fit
        assert d[("individual.csv", "cmax_upper")]["unit"] == "copies/ug", fit
        assert d[("individual.csv", "alpha")]["unit"] == "1/day", fit
    s = _dictionary(out / "er")
    assert s[("er_subjects.csv", "auc_0_90d_upper")]["unit"] == "day*copies/ug"
