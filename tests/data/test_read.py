"""Validation of long tables: every violation class names subject, rows and the fix."""

from __future__ import annotations

import pandas as pd
import pytest

from cartpk.data import Endpoint, read_dataset
from cartpk.errors import DatasetError
from tests._ten_problems import TEN_CODES, TEN_PROBLEMS

GOOD = """
ID,TIME,DV,EVID,AMT,MDV,CENS,LLOQ,DVID,TARGET,DOSE
1,0,.,1,1e8,1,0,,QPCR,GD2,1e8
1,7,850,0,.,0,0,20,QPCR,GD2,1e8
1,14,420,0,.,0,0,20,QPCR,GD2,1e8
1,60,20,0,.,0,1,20,QPCR,GD2,1e8
1,3,150,0,.,0,0,2,IL6,GD2,1e8
1,4,2,0,.,0,0,,CRS,GD2,1e8
2,0,.,1,1e8,1,0,,QPCR,PSMA,3e8
2,7,120,0,.,0,0,20,QPCR,PSMA,3e8
2,14,60,0,.,0,0,20,QPCR,PSMA,3e8
"""


def _violations(source, **kw):
    with pytest.raises(DatasetError) as info:
        read_dataset(source, **kw)
    return info.value


def _one(err: DatasetError, code: str):
    hits = [v for v in err.violations if v.code == code]
    assert hits, f"no {code!r} in {[v.code for v in err.violations]}"
    return hits


def test_read_dataset_good_table_views(write_csv):
    ds = read_dataset(write_csv(GOOD))
    assert ds.subjects == ["1", "2"]
    obs = ds.observations("QPCR")
    assert list(obs.columns) == [
        "ROW", "ID", "TIME", "DV", "CENS", "LLOQ", "LIMIT", "DVID", "OCC",
    ]  # fmt: skip
    assert len(obs) == 5
    assert obs.loc[obs["TIME"] == 60, "CENS"].item() == 1
    assert ds.doses["AMT"].tolist() == [1e8, 1e8]
    assert ds.covariates.set_index("ID").loc["2", "TARGET"] == "PSMA"
    assert ds.covariates.set_index("ID").loc["2", "DOSE"] == 3e8
    ev = ds.events
    assert ev.to_dict("records") == [{"ROW": 6, "ID": "1", "TIME": 4.0, "EVENT": "CRS", "GRADE": 2}]
    assert ds.endpoints["IL6"].unit == "pg/mL"
    assert len(ds.exclusions) == 0
    s = ds.summary()
    assert s["observations"]["QPCR"] == {"n": 5, "blq": 1, "subjects": 2, "unit": "copies/ug"}
    assert s["blq_fraction"]["QPCR"]["60"] == 1.0


def test_read_dataset_minimal_id_time_dv(write_csv):
    ds = read_dataset(write_csv("ID,TIME,DV\n1,7,100\n1,14,50\n2,7,30\n"))
    obs = ds.observations()
    assert (obs["CENS"] == 0).all() and obs["LLOQ"].isna().all()
    assert set(obs["DVID"]) == {"QPCR"}
    assert len(ds.doses) == 0


def test_read_dataset_accepts_dataframe_and_lowercase_columns():
    df = pd.DataFrame({"id": [1, 1], "time": [7.0, 14.0], "dv": [100.0, 50.0]})
    ds = read_dataset(df)
    assert ds.observations()["DV"].tolist() == [100.0, 50.0]


def test_read_dataset_missing_column_raises(write_csv):
    err = _violations(write_csv("ID,DAY,DV\n1,7,100\n"))
    v = _one(err, "missing_column")[0]
    assert "`TIME`" in v.message and "rename" in v.fix


def test_read_dataset_dv_not_numeric_raises(write_csv):
    err = _violations(write_csv('ID,TIME,DV\n112,7,100\n112,14,"1,250"\n112,21,2410x\n'))
    v = _one(err, "dv_not_numeric")[0]
    assert v.id == "112" and v.rows == (2, 3)
    assert "'1,250'" in str(err) and "thousands separator" in v.fix
    assert "ID 112, rows 2-3" in str(err)


def test_read_dataset_time_not_numeric_and_amt_not_numeric(write_csv):
    err = _violations(write_csv("ID,TIME,DV,EVID,AMT\n1,0,.,1,1e8 cells\n1,2024-01-05,100,0,.\n"))
    assert _one(err, "time_not_numeric")[0].rows == (2,)
    v = _one(err, "amt_not_numeric")[0]
    assert v.rows == (1,) and v.id == "1" and "number" in v.fix


def test_read_dataset_time_missing_and_negative(write_csv):
    err = _violations(write_csv("ID,TIME,DV\n1,,100\n1,-3,50\n2,7,40\n"))
    assert _one(err, "time_missing")[0].rows == (1,)
    v = _one(err, "time_negative")[0]
    assert v.rows == (2,) and v.id == "1" and "shift TIME" in v.fix


def test_read_dataset_cens_above_lloq(write_csv):
    err = _violations(write_csv("ID,TIME,DV,CENS,LLOQ\n107,7,100,0,50\n107,14,182,1,50\n"))
    v = _one(err, "cens_above_lloq")[0]
    assert v.id == "107" and v.rows == (2,)
    assert "DV=182.0, LLOQ=50.0" in str(err)
    assert "CENS=0" in v.fix


# code, table, (subject of the violation or None where not checked, its rows, a phrase of
# its fix): the violations that need nothing else checked
SINGLE_VIOLATIONS = [
    (
        "duplicate_observation",
        "ID,TIME,DV,DVID\n5,7,100,QPCR\n5,7,110,QPCR\n5,7,3,IL6\n",
        ("5", (1, 2), "average"),
    ),
    ("cens_invalid", "ID,TIME,DV,CENS\n1,7,100,0\n1,14,50,2\n", (None, (2,), "CENS=1")),
    ("dose_without_amt", "ID,TIME,DV,EVID,AMT\n9,0,.,1,\n9,7,100,0,.\n", ("9", (1,), "AMT")),
    (
        "subject_without_observations",
        "ID,TIME,DV,EVID,AMT\n1,0,.,1,1e8\n1,7,100,0,.\n2,0,.,1,1e8\n",
        ("2", (3,), "remove the subject"),
    ),
    (
        "covariate_missing",
        "ID,TIME,DV,TARGET\n1,7,100,GD2\n1,14,50,\n2,7,40,MUC1\n",
        ("1", (2,), "fill in TARGET"),
    ),
    ("blq_without_lloq", "ID,TIME,DV\n1,7,100\n1,60,BLQ\n", (None, (2,), "LLOQ")),
]


@pytest.mark.parametrize(
    ("code", "text", "expected"), SINGLE_VIOLATIONS, ids=[c[0] for c in SINGLE_VIOLATIONS]
)
def test_read_dataset_single_violation(write_csv, code, text, expected):
    subject, rows, fix = expected
    v = _one(_violations(write_csv(text)), code)[0]
    if subject is not None:
        assert v.id == subject
    assert v.rows == rows and fix in v.fix


def test_read_dataset_dv_nonpositive_on_log_scale(write_csv):
    err = _violations(write_csv("ID,TIME,DV,DVID\n3,7,0,QPCR\n3,14,-1,QPCR\n3,7,2,IL6\n"))
    v = _one(err, "dv_nonpositive_log")[0]
    assert v.rows == (1, 2) and "CENS=1" in v.fix
    # a linear endpoint may be zero
    ds = read_dataset(write_csv("ID,TIME,DV,DVID\n3,7,0,SOD\n3,14,5,SOD\n", "lin.csv"))
    assert ds.observations("SOD")["DV"].tolist() == [0.0, 5.0]


def test_read_dataset_unknown_dvid_with_map(write_csv):
    eps = {"QPCR": Endpoint("QPCR", "copies/ug"), "IL6": Endpoint("IL6", "pg/mL")}
    err = _violations(write_csv("ID,TIME,DV,DVID\n1,7,100,QPCR\n1,7,3,IL-6\n"), endpoints=eps)
    v = _one(err, "dvid_unknown")[0]
    assert v.rows == (2,) and "IL6" in v.expected and "DVID map" in v.fix


def test_read_dataset_baseline_covariate_changes(write_csv):
    err = _violations(write_csv("ID,TIME,DV,WT\n1,7,100,70\n1,14,50,72\n2,7,40,60\n"))
    v = _one(err, "covariate_not_constant")[0]
    assert v.id == "1" and v.rows == (1, 2) and v.column == "WT"
    assert "time_varying" in v.fix
    ds = read_dataset(
        write_csv("ID,TIME,DV,WT\n1,7,100,70\n1,14,50,72\n2,7,40,60\n", "tv.csv"),
        time_varying=["WT"],
    )
    assert ds.time_varying["WT"].tolist() == [70, 72, 60]


def test_read_dataset_unsorted_time_is_sorted_and_recorded(write_csv):
    ds = read_dataset(write_csv("ID,TIME,DV\n1,14,50\n1,7,100\n2,7,40\n"))
    assert ds.observations()["TIME"].tolist() == [7.0, 14.0, 7.0]
    assert ds.observations()["ROW"].tolist() == [2, 1, 3]
    conv = ds.conversions
    assert conv["code"].tolist() == ["time_resorted"] and conv["ID"].tolist() == ["1"]


def test_read_dataset_blq_text_converted_and_recorded(write_csv):
    ds = read_dataset(write_csv("ID,TIME,DV,LLOQ\n1,7,100,20\n1,60,<20,20\n1,90,BLQ,20\n"))
    obs = ds.observations()
    assert obs["CENS"].tolist() == [0, 1, 1] and obs["DV"].tolist() == [100.0, 20.0, 20.0]
    assert ds.conversions["ROW"].tolist() == [2, 3]
    assert set(ds.conversions["code"]) == {"blq_text"}


def test_read_dataset_value_below_lloq_is_censored_and_recorded(write_csv):
    ds = read_dataset(write_csv("ID,TIME,DV,LLOQ\n1,7,100,20\n1,60,12,20\n"))
    obs = ds.observations()
    assert obs["CENS"].tolist() == [0, 1] and obs["DV"].tolist() == [100.0, 20.0]
    assert ds.conversions["code"].tolist() == ["below_lloq"]


def test_read_dataset_pre_dose_and_mdv_rows_go_to_exclusions(write_csv):
    text = """
    ID,TIME,DV,EVID,AMT,MDV
    1,0,5,0,.,0
    1,0,.,1,1e8,1
    1,7,100,0,.,0
    1,14,80,0,.,1
    1,21,60,2,.,1
    """
    ds = read_dataset(write_csv(text))
    ex = ds.exclusions
    assert ex["ROW"].tolist() == [1, 4, 5]
    assert ex["code"].tolist() == ["pre_dose", "mdv", "evid_other"]
    assert all(ex["reason"].str.len() > 10)
    assert ds.observations()["ROW"].tolist() == [3]


def test_read_dataset_grade_invalid(write_csv):
    err = _violations(write_csv("ID,TIME,DV,DVID\n1,7,100,QPCR\n1,3,7,CRS\n1,5,1.5,AE_FEVER\n"))
    v = _one(err, "grade_invalid")[0]
    assert v.rows == (2, 3)


def test_read_dataset_ten_problems_reported_at_once(write_csv):
    text = TEN_PROBLEMS + "4,7,4,0,.,0,,CRS,60\n"  # and subject 4 with a grade only
    err = _violations(write_csv(text))
    codes = {v.code for v in err.violations}
    expected = {*TEN_CODES, "subject_without_observations"}
    assert expected <= codes
    assert len(err.violations) >= 10
    assert err.summary.startswith("data.csv has")
