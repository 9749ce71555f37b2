"""`cartpk export-data` / `cartpk.export._dataset`: a long table in NONMEM, Monolix and
nlmixr2 conventions; every input record once; the NONMEM export read back by Pharmpy."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cartpk.cli import main
from cartpk.data import read_dataset
from cartpk.errors import DatasetError
from cartpk.export._dataset import (
    EXCLUSION_CODES,
    TARGETS,
    export_dataset,
    format_table,
    sidecar_paths,
    write_dataset,
)

TRIAL = Path(__file__).resolve().parents[2] / "cartpk" / "examples" / "trial.csv"

#: BLQ as text and as CENS=1, interval censoring both ways, text IDs and covariates, three
#: DVIDs, and every kind of record cartpk does not use: EVID=2, MDV=1 with text in DV, a
#: pre-dose observation; subject P-02's records are split and out of time order
HAND = textwrap.dedent(
    """\
    ID,TIME,DV,EVID,AMT,MDV,CENS,LLOQ,LIMIT,DVID,ARM,WT
    P-01,0,0.8,0,0,0,0,,,IL6,high,70.5
    P-01,0,,1,3e7,1,0,,,,high,70.5
    P-01,7,350.25,0,0,0,0,20,,QPCR,high,70.5
    P-01,14,<20,0,0,0,0,20,,QPCR,high,70.5
    P-01,21,20,0,0,0,1,20,5,QPCR,high,70.5
    P-01,28,haemolysed,0,0,1,0,20,,QPCR,high,70.5
    P-01,3,2,0,0,0,1,2,,IL6,high,70.5
    P-02,0,,1,1e8,1,0,,,,low dose,55
    P-02,14,1e5,0,0,0,-1,,2e5,QPCR,low dose,55
    P-01,30,,2,0,1,0,,,,high,70.5
    P-02,7,4.5,0,0,0,0,2,,IFNG,low dose,55
    P-02,60,20,0,0,0,1,20,0,QPCR,low dose,55
    P-02,90,1e5,0,0,0,-1,,,QPCR,low dose,55
    """
)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Records of written outputs (what --force may replace) stay in the test's folder."""
    monkeypatch.setenv("CARTPK_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def hand(tmp_path: Path) -> Path:
    p = tmp_path / "hand.csv"
    p.write_text(HAND)
    return p


def _n_records(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines()[1:] if line.strip())


def _decode(out: pd.DataFrame) -> pd.DataFrame:
    """A NONMEM export with its codes and IDs replaced by the values they stand for."""
    out = out.copy()
    ids = dict(zip(out.attrs["ids"]["ID"], out.attrs["ids"]["SOURCE_ID"], strict=True))
    out["ID"] = out["ID"].map(ids)
    for col, grp in out.attrs["codes"].groupby("COLUMN"):
        if col == "EXCL":
            continue
        table = dict(zip(grp["CODE"], grp["VALUE"], strict=True))
        out[col] = out[col].map(lambda v, t=table: np.nan if pd.isna(v) else t[int(v)])
    return out


def _same(a: pd.Series, b: pd.Series) -> bool:
    """Equal values, NaN equal to NaN, numbers compared as numbers."""
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        return bool(np.array_equal(a.to_numpy(float), b.to_numpy(float), equal_nan=True))
    return bool(((a.astype(str) == b.astype(str)) | (a.isna() & b.isna())).all())


@pytest.mark.parametrize("to", TARGETS)
def test_every_record_once_with_the_readers_values(to):
    """Each input record is one row (ROW 1..N); used records carry cartpk's values."""
    out = export_dataset(TRIAL, to)
    assert sorted(out["ROW"]) == list(range(1, _n_records(TRIAL) + 1))
    ds = read_dataset(TRIAL)
    table = ds.table.set_index("ROW").loc[out["ROW"]]
    got = _decode(out) if to == "nonmem" else out.rename(columns={"YTYPE": "DVID"})
    for c in ("ID", "TIME", "CENS", "LLOQ", "EVID", "MDV", "AMT", *ds.baseline_covariates):
        assert _same(got[c], table[c]), c
    obs = table["EVID"].to_numpy() == 0
    assert _same(got.loc[obs, "DV"], table.loc[obs, "DV"])
    assert _same(got.loc[obs, "DVID"], table.loc[obs, "DVID"])
    assert got.loc[~obs, "DV"].isna().all() and got.loc[~obs, "DVID"].isna().all()
    assert (out["EXCL"] == 0).all() and out.attrs["changes"].empty


def test_records_not_used_kept_with_mdv_1_and_every_change_listed(hand):
    out = export_dataset(hand, "nonmem")
    assert sorted(out["ROW"]) == list(range(1, 14))
    by_row = out.set_index("ROW")
    # rows 1 (pre-dose), 6 (MDV=1, DV "haemolysed"), 10 (EVID=2): MDV=1, EXCL says why
    assert by_row.loc[[1, 6, 10], "EXCL"].tolist() == [
        EXCLUSION_CODES["pre_dose"],
        EXCLUSION_CODES["mdv"],
        EXCLUSION_CODES["evid_other"],
    ]
    assert (by_row.loc[[1, 6, 10], "MDV"] == 1).all()
    assert by_row.loc[1, "DV"] == 0.8 and np.isnan(by_row.loc[6, "DV"])
    assert by_row.loc[10, "EVID"] == 2
    changes = out.attrs["changes"]
    pairs = set(zip(changes["ROW"], changes["code"], strict=True))
    assert (1, "mdv_set") in pairs  # the pre-dose observation: MDV 0 -> 1
    assert (4, "blq_text") in pairs  # "<20" read as CENS=1, DV=20
    assert (6, "dv_text_missing") in pairs  # "haemolysed" on an MDV=1 record
    assert "subject_grouped" in set(changes["code"])  # P-02's rows 8-9, 11-13
    assert "time_resorted" in set(changes["code"])  # P-01's day 3 after day 28
    # subjects together, each in time order (the tools need both)
    assert _decode(out)["ID"].tolist() == ["P-01"] * 8 + ["P-02"] * 5
    for _, g in out.groupby("ID"):
        assert g["TIME"].is_monotonic_increasing
    # the dose (row 2) after the pre-dose observation at TIME 0, as in the input
    assert out["ROW"].tolist()[:2] == [1, 2]


def test_censoring_columns_per_tool(hand):
    nm = export_dataset(hand, "nonmem").set_index("ROW")
    # "<20" -> CENS=1, DV=LLOQ (NONMEM M3); intervals keep their other bound
    assert nm.loc[4, ["DV", "CENS", "LLOQ"]].tolist() == [20.0, 1, 20.0]
    assert nm.loc[5, ["DV", "CENS", "LIMIT", "LIMFL"]].tolist() == [20.0, 1, 5.0, 1]
    assert nm.loc[9, ["DV", "CENS", "LIMIT", "LIMFL"]].tolist() == [1e5, -1, 2e5, 1]
    assert nm.loc[12, ["LIMIT", "LIMFL"]].tolist() == [0.0, 1]  # LIMIT 0 is a bound (M4)
    assert np.isnan(nm.loc[13, "LIMIT"]) and nm.loc[13, "LIMFL"] == 0  # open above
    r = export_dataset(hand, "nlmixr2").set_index("ROW")
    assert r.loc[13, "LIMIT"] == np.inf and r.loc[4, "LIMIT"] == -np.inf  # open sides
    assert np.isnan(r.loc[3, "LIMIT"]) and "LIMFL" not in r.columns
    mlx = export_dataset(hand, "monolix")
    assert "LIMFL" not in mlx.columns and np.isnan(mlx.set_index("ROW").loc[13, "LIMIT"])
    lines = format_table(mlx).splitlines()
    head = lines[0].split(",")
    row13 = next(line.split(",") for line in lines[1:] if line.split(",")[-2] == "13")
    assert row13[head.index("LIMIT")] == "."  # Monolix: "." is +Inf for CENS=-1


def test_nonmem_is_numbers_only_and_codes_are_written(hand):
    out = export_dataset(hand, "nonmem")
    text = format_table(out)
    for line in text.splitlines()[1:]:
        for cell in line.split(","):
            assert cell == "." or np.isfinite(float(cell)), line
    codes = out.attrs["codes"]
    assert codes.loc[codes["COLUMN"] == "ARM", "VALUE"].tolist() == ["high", "low dose"]
    assert codes.loc[codes["COLUMN"] == "DVID", "VALUE"].tolist() == ["IL6", "QPCR", "IFNG"]
    assert out.attrs["ids"].to_dict("list") == {"ID": [1, 2], "SOURCE_ID": ["P-01", "P-02"]}
    excl = codes[codes["COLUMN"] == "EXCL"]
    assert excl["CODE"].tolist() == [1, 2, 3]  # the reasons of the records not used


def test_monolix_and_nlmixr2_keep_text_and_name_their_columns(hand):
    mlx = export_dataset(hand, "monolix")
    assert {"ADM", "YTYPE"} <= set(mlx.columns) and "CMT" not in mlx.columns
    assert mlx.loc[mlx["EVID"] == 1, "ADM"].tolist() == [1.0, 1.0]
    assert mlx["ADM"].isna().sum() == len(mlx) - 2
    assert set(mlx["ARM"]) == {"high", "low dose"} and set(mlx["ID"]) == {"P-01", "P-02"}
    back = pd.read_csv(io.StringIO(format_table(mlx)), na_values=["."], keep_default_na=False)
    assert back["ROW"].tolist() == mlx["ROW"].tolist()
    assert _same(back["DV"], mlx["DV"]) and _same(back["YTYPE"], mlx["YTYPE"])
    r = export_dataset(hand, "nlmixr2")
    assert {"CMT", "DVID"} <= set(r.columns)
    assert set(r.loc[r["EVID"] == 0, "DVID"]) == {"QPCR", "IL6", "IFNG"}
    back = pd.read_csv(io.StringIO(format_table(r)))  # R's read.csv reads NA and -Inf alike
    assert _same(back["LIMIT"], r["LIMIT"]) and _same(back["DV"], r["DV"])


def test_dataset_input_lists_the_records_it_does_not_hold(hand):
    ds = read_dataset(hand)
    out = export_dataset(ds, "monolix")
    assert sorted(out["ROW"]) == sorted(ds.table["ROW"])
    missing = out.attrs["changes"].query("code == 'record_not_exported'")
    assert sorted(missing["ROW"]) == sorted(ds.exclusions["ROW"]) == [1, 6, 10]


def test_bad_input_is_listed_not_exported(tmp_path, hand):
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,TIME,DV,ETA,WT (kg)\n1,7,100,1,70\n")
    with pytest.raises(DatasetError) as err:
        export_dataset(bad, "nonmem")
    assert [v.column for v in err.value.violations] == ["ETA", "WT (kg)"]
    assert {v.code for v in err.value.violations} == {"column_name"}
    broken = tmp_path / "broken.csv"
    broken.write_text("ID,TIME,DV\n1,-1,abc\n")
    with pytest.raises(DatasetError) as err:
        export_dataset(broken, "nlmixr2")
    assert {"time_negative", "dv_not_numeric"} <= {v.code for v in err.value.violations}
    with pytest.raises(ValueError, match="unknown target"):
        export_dataset(hand, "pumas")


def test_model_conventions_codes_outputs_and_compartments():
    out = export_dataset(TRIAL, "nonmem", model="stein2019_covariates")
    codes = out.attrs["codes"]
    # the declaration's levels and outputs set the codes (the model writers use them)
    target = codes[codes["COLUMN"] == "TARGET"]
    assert target["VALUE"].tolist() == ["GD2", "PSMA", "MUC1", "MSLN"]
    assert target["CODE"].tolist() == [1, 2, 3, 4]
    assert codes.loc[codes["COLUMN"] == "DVID", "VALUE"].iloc[0] == "QPCR"
    qpcr = (out["DVID"] == 1) & (out["EVID"] == 0)
    assert (out.loc[qpcr, "MDV"] == 0).all() and (out.loc[qpcr, "EXCL"] == 0).all()
    others = (out["EVID"] == 0) & ~qpcr
    assert (out.loc[others, "MDV"] == 1).all()
    assert (out.loc[others, "EXCL"] == EXCLUSION_CODES["not_an_output"]).all()
    changes = out.attrs["changes"]
    assert (changes["code"] == "mdv_set").sum() == int(others.sum())
    # NONMEM: log-additive QPCR as log(DV) (the control stream compares LOG(IPRED))
    ds = read_dataset(TRIAL)
    raw = ds.table.set_index("ROW").loc[out.loc[qpcr, "ROW"].astype(int), "DV"]
    assert np.allclose(out.loc[qpcr, "DV"], np.log(raw.to_numpy()), rtol=0, atol=1e-15)
    assert (out.loc[qpcr & (out["CENS"] == 1), "LLOQ"] == 20).all()  # natural scale
    assert changes.loc[changes["code"] == "dv_log", "message"].str.contains("192 QPCR").all()
    # compartments from the declaration: hardiansyah2019 doses cart_e_pb (state 2) and
    # observes IL-6 as the state il6 (6); stein2019_ode observes effector + memory
    hard = export_dataset(TRIAL, "nlmixr2", model="hardiansyah2019")
    assert hard.loc[hard["EVID"] == 1, "CMT"].unique().tolist() == [2]
    assert hard.loc[(hard["DVID"] == "IL6") & (hard["EVID"] == 0), "CMT"].unique().tolist() == [6]
    ode = export_dataset(TRIAL, "nonmem", model="stein2019_ode")
    assert ode["CMT"].unique().tolist() == [1]
    assert list(ode.columns[:10]) == "ID TIME DV EVID AMT MDV CENS LLOQ DVID CMT".split()


def test_model_dose_split_one_record_per_part(hand):
    """hardiansyah2019 gives 10/30/60 % of the dose on days 0, 1, 2 into cart_e_pb (CMT 2)."""
    t = pd.read_csv(io.StringIO(HAND)).assign(DVID=lambda d: d["DVID"].replace("QPCR", "CART"))
    for to in ("nonmem", "nlmixr2"):
        out = export_dataset(t, to, model="hardiansyah2019")
        doses = out[out["EVID"] == 1]
        assert doses["AMT"].tolist() == pytest.approx([3e6, 9e6, 1.8e7, 1e7, 3e7, 6e7])
        assert doses["TIME"].tolist() == [0, 1, 2, 0, 1, 2] and (doses["CMT"] == 2).all()
        assert doses["ROW"].isna().tolist() == [False, True, True, False, True, True]
        split = out.attrs["changes"].query("code == 'dose_split'")
        assert sorted(split["ROW"]) == [2, 8]
        for _, g in out.groupby("ID"):
            assert g["TIME"].is_monotonic_increasing
    mlx = export_dataset(t, "monolix", model="hardiansyah2019")  # the model file splits it
    assert mlx.loc[mlx["EVID"] == 1, "AMT"].tolist() == [3e7, 1e8]


def test_model_levels_and_columns_are_checked(tmp_path):
    t = pd.read_csv(TRIAL)
    t.loc[t["TARGET"] == "MSLN", "TARGET"] = "CD19"
    with pytest.raises(DatasetError) as err:
        export_dataset(t, "nonmem", model="stein2019_covariates")
    (v,) = err.value.violations
    assert v.code == "covariate_level" and v.value == "'CD19'" and len(v.rows) > 0
    with pytest.raises(DatasetError) as err:
        export_dataset(t.drop(columns=["DOSE", "TARGET"]), "monolix", model="stein2019_covariates")
    assert [v.column for v in err.value.violations] == ["DOSE", "TARGET"]


def test_write_dataset_files_and_force(tmp_path, hand):
    out = tmp_path / "nm" / "hand_nm.csv"
    files = write_dataset(hand, out, "nonmem")
    assert files == sidecar_paths(out, "nonmem") and all(p.is_file() for p in files.values())
    assert files["table"].read_text() == format_table(export_dataset(hand, "nonmem"))
    ids = pd.read_csv(files["ids"])
    assert ids["SOURCE_ID"].tolist() == ["P-01", "P-02"]
    with pytest.raises(FileExistsError):
        write_dataset(hand, out, "nonmem")
    write_dataset(hand, out, "nonmem", force=True)
    files["codes"].write_text("edited by hand\n")
    with pytest.raises(FileExistsError, match="refused"):
        write_dataset(hand, out, "nonmem", force=True)  # not an unchanged earlier output
    with pytest.raises(FileExistsError):
        write_dataset(hand, hand, "monolix", force=True)  # never the input


def test_pharmpy_reads_the_nonmem_export_back(tmp_path, hand):
    """Pharmpy's NONMEM dataset reader gets every value back ("." is 0 in NONMEM)."""
    read_model = pytest.importorskip("pharmpy.modeling").read_model
    for name, source in (("trial", TRIAL), ("hand", hand)):
        files = write_dataset(source, tmp_path / "nm" / f"{name}.csv", "nonmem")
        out = export_dataset(source, "nonmem")
        ctl = tmp_path / "nm" / f"{name}.ctl"
        ctl.write_text(
            "$PROBLEM cartpk export-data read back\n"
            f"$INPUT {' '.join(out.columns)}\n"
            f"$DATA {files['table'].name} IGNORE=@\n"
            "$PRED\nY = THETA(1) + ETA(1) + EPS(1)\n"
            "$THETA 1\n$OMEGA 1\n$SIGMA 1\n"
        )
        back = read_model(str(ctl)).dataset
        assert list(back.columns) == list(out.columns) and len(back) == len(out)
        for c in out.columns:
            want = out[c].to_numpy(dtype=float)
            assert np.array_equal(back[c].to_numpy(dtype=float), np.nan_to_num(want, nan=0.0)), c
        # and through the codes and IDs back to the records cartpk read (the "." cells,
        # read as 0 above, are missing values)
        read = {c: back[c].to_numpy(dtype=float) for c in out.columns}
        decoded = _decode(out.assign(**read).where(out.notna()))
        ds = read_dataset(source)
        used = decoded[decoded["EXCL"] == 0]
        table = ds.table.set_index("ROW").loc[used["ROW"].astype(int)]
        for c in ("ID", "TIME", "CENS", "EVID", "MDV"):
            assert _same(used[c], table[c]), (name, c)
        obs = (table["EVID"] == 0).to_numpy()
        assert _same(used.loc[obs, "DV"], table.loc[obs, "DV"]), name
        assert _same(used.loc[obs, "DVID"], table.loc[obs, "DVID"]), name


@pytest.mark.parametrize("name", ["stein2019_covariates", "stein2019_ode"])
def test_pharmpy_reads_the_data_with_the_exported_control_stream(tmp_path, name):
    """The stream of `cartpk export --to nonmem` reads the data of `export-data --model`."""
    read_model = pytest.importorskip("pharmpy.modeling").read_model
    from cartpk.export._nonmem import to_nonmem
    from cartpk.model import load_model

    files = write_dataset(TRIAL, tmp_path / "data.csv", "nonmem", model=name)
    (tmp_path / "run.ctl").write_text(to_nonmem(load_model(name), data="data.csv"))
    back = read_model(str(tmp_path / "run.ctl")).dataset
    out = export_dataset(TRIAL, "nonmem", model=name)
    assert len(back) == len(out) and set(back.columns) <= set(out.columns)
    for c in back.columns:
        want = np.nan_to_num(out[c].to_numpy(dtype=float), nan=0.0)
        assert np.array_equal(back[c].to_numpy(dtype=float), want), c
    assert files["table"].read_text().startswith(",".join(back.columns))


def test_cli_export_data_exit_codes(tmp_path, hand, capsys):
    out = tmp_path / "hand_nm.csv"
    assert main(["export-data", str(hand), "--to", "nonmem", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "13 records of 2 subjects for NONMEM" in text and "$INPUT ID TIME DV" in text
    assert main(["export-data", str(hand), "--to", "nonmem", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    args = ["export-data", str(hand), "--to", "nonmem", "--out", str(out), "--force"]
    assert main([*args, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["written"] and doc["records"] == 13 and doc["not_used"] == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,TIME,DV\n1,-1,abc\n")
    assert main(["export-data", str(bad), "--to", "monolix", "--out", str(tmp_path / "b")]) == 1
    assert "NOT WRITTEN" in capsys.readouterr().out and not (tmp_path / "b").exists()
    assert main(["export-data", str(tmp_path / "no.csv"), "--to", "nlmixr2", "--out", "x"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main(["export-data", str(hand), "--to", "sas", "--out", "x"]) == 2
    assert main(["export-data", str(hand), "--to", "nonmem", "--out", "y", "--model", "nope"]) == 2


def test_nonmem_model_values_lloq_and_log_dv():
    """With a log-additive model: LLOQ = the limit of each censored record, DV as log(DV);
    a value <= 0 (a linear endpoint's zero) cannot be logged and is listed."""
    from cartpk.data import Endpoint

    t = pd.DataFrame(
        {
            "ID": [1, 1, 1, 1],
            "TIME": [0, 7, 14, 21],
            "DV": [None, 100, 15, 50],
            "EVID": [1, 0, 0, 0],
            "AMT": [1e8, 0, 0, 0],
            "CENS": [0, 0, 1, 0],
            "LLOQ": [None, None, 20, None],
        }
    )
    out = export_dataset(t, "nonmem", model="stein2019").set_index("ROW")
    assert out.loc[3, "LLOQ"] == 15 and out.loc[3, "DV"] == pytest.approx(np.log(15))
    assert out.loc[[2, 4], "DV"].tolist() == pytest.approx(np.log([100, 50]).tolist())
    changes = out.attrs["changes"]
    assert changes.loc[changes["code"] == "lloq_set", "ROW"].tolist() == [3]
    assert export_dataset(t, "nonmem").set_index("ROW").loc[3, "LLOQ"] == 20  # no model
    linear = {"QPCR": Endpoint("QPCR", "copies/ug", "linear", "qPCR")}
    ds = read_dataset(t.assign(DV=[None, 100, 15, 0]), endpoints=linear)
    with pytest.raises(DatasetError) as err:
        export_dataset(ds, "nonmem", model="stein2019")
    assert err.value.violations[0].code == "dv_not_positive"
    assert err.value.violations[0].rows == (4,)
