"""Hardening of the long-table reader (issue 16): each defect class, generated over its cases."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from cartpk.cli import main
from cartpk.data import read_dataset
from cartpk.errors import DatasetError

HEADER = "ID,TIME,DV,EVID,AMT,LLOQ,WT"
ROWS = [
    "1,0,.,1,1e8,,70",
    "1,7,850,0,,20,70",
    "1,14,420,0,,20,70",
    "2,0,.,1,1e8,,80",
    "2,7,90,0,,20,80",
]


def _csv(tmp_path, rows=ROWS, header=HEADER, name="d.csv"):
    p = tmp_path / name
    p.write_text("\n".join([header, *rows]) + "\n")
    return p


def _codes(source, **kw):
    with pytest.raises(DatasetError) as info:
        read_dataset(source, **kw)
    return info.value


def _set(rows, k, column, value, header=HEADER):
    cells = rows[k].split(",")
    cells[header.split(",").index(column)] = value
    return [*rows[:k], ",".join(cells), *rows[k + 1 :]]


# -- class 2: non-finite numbers, CSV and DataFrame alike ----------------------------------
NON_FINITE = ["inf", "-inf", "Infinity", "-Infinity", "1e400", "nan", "NaN", "+inf"]
CELLS = [("DV", 1), ("TIME", 2), ("AMT", 0), ("LLOQ", 1), ("WT", 4)]


@pytest.mark.parametrize(("text", "cell"), list(itertools.product(NON_FINITE, CELLS)))
def test_non_finite_numbers_are_violations_in_csv_and_dataframe(tmp_path, text, cell):
    column, k = cell
    rows = _set(ROWS, k, column, text)
    path = _csv(tmp_path, rows)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for source in (path, frame):
        err = _codes(source)
        hits = [v for v in err.violations if v.code == "non_finite"]
        assert hits and hits[0].rows == (k + 1,) and hits[0].column == column
        assert repr(text) in hits[0].value
        assert not [v for v in err.violations if v.column == column and v is not hits[0]]


def test_non_finite_float_in_dataframe_is_a_violation():
    df = pd.DataFrame({"ID": [1, 1], "TIME": [7.0, np.inf], "DV": [100.0, 50.0]})
    err = _codes(df)
    assert [v.code for v in err.violations] == ["non_finite"]


# -- class 3: CSV shape, encodings and separators ------------------------------------------
@pytest.mark.parametrize("k", range(len(ROWS)))
@pytest.mark.parametrize("kind", ["long", "short"])
def test_rows_of_wrong_length_are_violations_with_their_row(tmp_path, k, kind):
    rows = list(ROWS)
    rows[k] = rows[k] + ",x" if kind == "long" else ",".join(rows[k].split(",")[:3])
    err = _codes(_csv(tmp_path, rows))
    code = "too_many_fields" if kind == "long" else "too_few_fields"
    hit = [v for v in err.violations if v.code == code]
    assert hit and hit[0].rows == (k + 1,) and f"line {k + 2}" in hit[0].value


@pytest.mark.parametrize("where", [1, 2, 4])
@pytest.mark.parametrize("n_blank", [1, 3])
def test_blank_lines_keep_row_numbers_true_to_the_file(tmp_path, where, n_blank):
    rows = [*ROWS[:where], *[""] * n_blank, *ROWS[where:]]
    rows = _set(rows, len(rows) - 1, "DV", "12 copies")
    err = _codes(_csv(tmp_path, rows))
    v = [v for v in err.violations if v.code == "dv_not_numeric"][0]
    assert v.rows == (len(rows),)  # row N on line N + 1, blank lines counted
    ok = _csv(tmp_path, [*ROWS[:where], *[""] * n_blank, *ROWS[where:]], name="ok.csv")
    ds = read_dataset(ok)
    assert "blank_lines" in set(ds.conversions["code"])
    assert ds.table["ROW"].max() == len(ROWS) + n_blank


@pytest.mark.parametrize("column", ["ID", "TIME", "DV", "AGE", "id", "dv"])
def test_duplicate_column_names_are_violations(tmp_path, column):
    header = HEADER.replace("WT", "AGE") + "," + column
    rows = [r + ",1" for r in ROWS]
    err = _codes(_csv(tmp_path, rows, header))
    hits = [v for v in err.violations if v.code == "duplicate_column"]
    assert hits and column.upper() in hits[0].message.upper()


@pytest.mark.parametrize("sep", [";", "\t"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "cp1252"])
def test_european_exports_are_read_and_recorded(tmp_path, sep, encoding):
    text = "ID;TIME;DV;NOTE\n1;0,5;850,5;µg\n1;7;420;µg\n".replace(";", sep)
    p = tmp_path / "eu.csv"
    p.write_bytes(text.encode(encoding))
    ds = read_dataset(p)
    assert ds.table["DV"].tolist() == [850.5, 420.0] and ds.table["TIME"].tolist() == [0.5, 7]
    assert ds.table["NOTE"].iat[0] == "µg"
    codes = set(ds.conversions["code"])
    assert {"separator", "decimal_comma"} <= codes
    assert ("encoding" in codes) == (encoding != "utf-8")


@pytest.mark.parametrize(
    "data",
    [b"PK\x03\x04rest", "ID,TIME,DV\n1,7,5\n".encode("utf-16-le"), b"", b"\n\n"],
    ids=["xlsx", "utf16-no-bom", "empty", "blank"],
)
def test_unreadable_files_exit_2_invalid_exit_1(tmp_path, data, capsys):
    p = tmp_path / "bad.csv"
    p.write_bytes(data)
    err = _codes(p)
    assert err.code == "unreadable" and err.violations[0].fix
    assert main(["validate", str(p)]) == 2
    bad = _csv(tmp_path, [*ROWS, "3,7,x,0,,20,70,extra"], name="invalid.csv")
    assert main(["validate", str(bad)]) == 1
    capsys.readouterr()


def test_first_row_longer_than_header_does_not_become_an_index(tmp_path):
    err = _codes(_csv(tmp_path, ["1,0,.,1,1e8,,70,9", *ROWS[1:]]))
    assert [v.code for v in err.violations] == ["too_many_fields"]


# -- class 4: a missing column does not hide row-level problems ----------------------------
@pytest.mark.parametrize("drop", ["ID", "TIME", "DV"])
def test_missing_column_and_row_problems_in_one_run(tmp_path, drop):
    cols = HEADER.split(",")
    k = cols.index(drop)
    rows = _set(ROWS, 1, "AMT", "lots")
    rows = [",".join(c for j, c in enumerate(r.split(",")) if j != k) for r in rows]
    header = ",".join(c for c in cols if c != drop)
    codes = [v.code for v in _codes(_csv(tmp_path, rows, header)).violations]
    assert "missing_column" in codes and "amt_not_numeric" in codes


# -- class 6: DVIDs near a known endpoint --------------------------------------------------
@pytest.mark.parametrize("dvid", ["qpcr", "Qpcr", "il6", "Ferritin"])
def test_dvid_differing_by_case_is_normalised_and_recorded(tmp_path, dvid):
    p = _csv(
        tmp_path,
        ["1,7,850," + dvid, "1,14,420,QPCR" if dvid.upper() != "QPCR" else "1,14,1,IL6"],
        "ID,TIME,DV,DVID",
    )
    ds = read_dataset(p)
    assert dvid not in ds.endpoints and dvid.upper() in ds.endpoints
    assert "dvid_case" in set(ds.conversions["code"])


@pytest.mark.parametrize("dvid", ["QPRC", "QPC", "QPCRR", "IFNF", "FERITIN", "XPCR"])
def test_dvid_one_letter_off_is_a_violation_with_the_suggestion(tmp_path, dvid):
    p = _csv(tmp_path, ["1,7,850,QPCR", "1,14,420," + dvid], "ID,TIME,DV,DVID")
    v = [v for v in _codes(p).violations if v.code == "dvid_misspelt"][0]
    assert v.rows == (2,) and "'" in v.fix


# -- class 7: dose records and negative DV -------------------------------------------------
DOSE_CASES = {
    "evid_missing_with_amt": (0, "EVID", ""),
    "amt_on_observation": (1, "AMT", "1e8"),
    "dose_not_at_time_zero": (0, "TIME", "1"),
}


@pytest.mark.parametrize("code", sorted(DOSE_CASES))
@pytest.mark.parametrize("subject_row", [0, 3])
def test_dose_record_problems_are_violations(tmp_path, code, subject_row):
    k, column, value = DOSE_CASES[code]
    rows = _set(ROWS, subject_row + k, column, value)
    v = [v for v in _codes(_csv(tmp_path, rows)).violations if v.code == code][0]
    assert v.rows == (subject_row + k + 1,)


@pytest.mark.parametrize("time", ["0", "7"])
def test_second_dose_is_a_violation(tmp_path, time):
    rows = [*ROWS[:2], f"1,{time},.,1,1e8,,70", *ROWS[2:]]
    v = [v for v in _codes(_csv(tmp_path, rows)).violations if v.code == "dose_repeated"][0]
    assert v.id == "1" and v.rows == (1, 3)


@pytest.mark.parametrize("undosed", ["1", "2"])
def test_subject_without_a_dose_record_is_a_violation_when_others_have_one(tmp_path, undosed):
    first = {"1": 0, "2": 3}[undosed]
    rows = [r for k, r in enumerate(ROWS) if k != first]
    err = _codes(_csv(tmp_path, rows))
    assert [v.code for v in err.violations] == ["dose_missing"]
    v = err.violations[0]
    assert v.id == undosed and v.rows == ((1,) if undosed == "1" else (4,))
    assert "EVID=1" in v.fix


def test_table_without_any_dose_record_reads_with_time_since_infusion(tmp_path):
    rows = [r for r in ROWS if ",1,1e8," not in r]
    ds = read_dataset(_csv(tmp_path, rows))
    assert len(ds.table) == 3 and len(ds.exclusions) == 0


def test_unreadable_evid_of_the_dose_is_reported_once(tmp_path):
    rows = _set(ROWS, 3, "EVID", "x")
    codes = [v.code for v in _codes(_csv(tmp_path, rows)).violations]
    assert "evid_invalid" in codes and "dose_missing" not in codes


def test_observation_at_time_zero_before_the_dose_is_a_documented_baseline(tmp_path):
    rows = ["1,0,30,0,,20,70", *ROWS]
    ds = read_dataset(_csv(tmp_path, rows))
    ex = ds.exclusions
    assert ex["code"].tolist() == ["pre_dose"] and ex["ROW"].tolist() == [1]
    assert len(ds.table) + len(ex) == len(rows)


@pytest.mark.parametrize("dv", ["-1", "-0.5", "-1e3"])
@pytest.mark.parametrize("lloq", ["20", ""])
def test_negative_dv_on_log_scale_is_a_violation_not_blq(tmp_path, dv, lloq):
    rows = _set(_set(ROWS, 2, "DV", dv), 2, "LLOQ", lloq)
    v = [v for v in _codes(_csv(tmp_path, rows)).violations if v.code == "dv_nonpositive_log"]
    assert v and v[0].rows == (3,)


# -- class 8: text in a numeric covariate --------------------------------------------------
@pytest.mark.parametrize("text", ["seventy", "70kg", "n/a", "?"])
@pytest.mark.parametrize("k", [1, 4])
def test_text_in_numeric_covariate_names_the_row(tmp_path, text, k):
    rows = _set(ROWS, k, "WT", text)
    v = [v for v in _codes(_csv(tmp_path, rows)).violations if v.code == "covariate_not_numeric"]
    assert v and v[0].rows == (k + 1,) and repr(text) in v[0].value


def test_text_covariate_stays_text():
    df = pd.DataFrame({"ID": [1, 2], "TIME": [7, 7], "DV": [5, 6], "TARGET": ["CD19", "BCMA"]})
    assert read_dataset(df).covariates["TARGET"].tolist() == ["CD19", "BCMA"]


# -- class 12: raw text in messages --------------------------------------------------------
@pytest.mark.parametrize("text", ["NA", ".", "NULL"])
def test_missing_id_message_shows_the_raw_text(tmp_path, text):
    err = _codes(_csv(tmp_path, _set(ROWS, 1, "ID", text)))
    v = [v for v in err.violations if v.code == "id_missing"][0]
    assert repr(text) in v.value
