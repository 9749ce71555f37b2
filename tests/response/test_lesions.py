"""Validation of the RECIST lesion table: every problem listed once, with ID, rows and fix."""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest
from _recist_columns import TIMEPOINT_COLUMNS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartpk.errors import CartpkWarning, DatasetError
from cartpk.response import recist

HEADER = "ID,DAY,LESION,KIND,NODAL,DIAM_MM,STATUS,ORGAN\n"

# rows 1-13 as in the file (header not counted); each bad row is commented in the test
BAD = """\
1,-5,T1,TARGET,0,50,,LIVER
1,-5,T2,TARGET,0,40,,LIVER
1,-5,T3,TARGET,0,30,,LIVER
1,56,T1,TARGET,0,12mm,,LIVER
1,56,T2,TUMOUR,0,30,,LIVER
1,56,NX,NEW,,,MAYBE,
1,56,T9,TARGET,0,20,,LUNG
2,-5,T1,TARGET,2,50,,LUNG
2,-5,NT1,NONTARGET,0,,,BONE
2,-3,N1,NEW,,,UNEQUIVOCAL,
2,-5,T2,TARGET,0,,,LUNG
3,56,T1,TARGET,0,20,,LUNG
2,56,T1,TARGET,0,-4,,LUNG
"""


def _violations(err: DatasetError) -> dict[tuple[str, str | None], object]:
    return {(v.code, v.id): v for v in err.violations}


def test_recist_invalid_table_lists_every_problem(write_csv):
    path = write_csv(HEADER + BAD, name="lesions.csv")
    with pytest.raises(DatasetError) as exc:
        recist(path)
    v = _violations(exc.value)
    expected = {
        ("too_many_targets_organ", "1"): (1, 2, 3),  # 3 LIVER targets
        ("diam_not_numeric", "1"): (4,),  # 12mm
        ("kind_invalid", "1"): (5,),  # TUMOUR
        ("status_invalid", "1"): (6,),  # MAYBE for a NEW lesion
        ("target_no_baseline", "1"): (7,),  # T9 first seen on day 56
        ("nodal_invalid", "2"): (8,),  # NODAL=2
        ("status_missing", "2"): (9,),  # non-target without STATUS
        ("new_at_baseline", "2"): (10,),
        ("target_baseline_not_measured", "2"): (11,),
        ("no_baseline", "3"): (12,),
        ("diam_negative", "2"): (13,),
    }
    for key, rows in expected.items():
        assert key in v, key
        assert v[key].rows == rows, key
        assert v[key].fix, key
    assert len(exc.value.violations) == len(expected)
    text = str(exc.value)
    assert "ID 1, rows 1-3" in text
    assert "record the extra lesions of the organ as NONTARGET" in text
    assert "fix: write the diameter as a plain number in mm" in text


def test_recist_missing_columns_raise_once(write_csv):
    path = write_csv("ID,DAY,LESION,KIND\n1,-5,T1,TARGET\n")
    with pytest.raises(DatasetError) as exc:
        recist(path)
    codes = [(v.code, v.column) for v in exc.value.violations]
    assert codes == [
        ("missing_column", "NODAL"),
        ("missing_column", "DIAM_MM"),
        ("missing_column", "STATUS"),
    ]
    assert "add the column `DIAM_MM`" in str(exc.value)


def test_recist_more_than_five_targets_names_subject_and_rows():
    rows = [("7", -5, f"T{i}", "TARGET", 0, 20 + i, "") for i in range(1, 7)]
    t = pd.DataFrame(rows, columns=["ID", "DAY", "LESION", "KIND", "NODAL", "DIAM_MM", "STATUS"])
    with pytest.raises(DatasetError) as exc:
        recist(t)
    (v,) = exc.value.violations
    assert (v.code, v.id, v.rows) == ("too_many_targets", "7", (1, 2, 3, 4, 5, 6))
    assert "5 largest" in v.fix and "6 targets" in v.value


@pytest.mark.parametrize(
    ("rows", "code", "bad_rows"),
    [
        # same lesion, same day twice
        (
            [("1", -5, "T1", "TARGET", 0, 20, ""), ("1", -5, "T1", "TARGET", 0, 20, "")],
            "duplicate_assessment",
            (1, 2),
        ),
        # baseline on two days
        (
            [("1", -20, "T1", "TARGET", 0, 20, ""), ("1", -5, "T1", "TARGET", 0, 21, "")],
            "duplicate_baseline",
            (1, 2),
        ),
        # target at baseline, NEW later
        (
            [("1", -5, "T1", "TARGET", 0, 20, ""), ("1", 56, "T1", "NEW", 0, "", "UNEQUIVOCAL")],
            "kind_inconsistent",
            (1, 2),
        ),
        # nodal flag changes
        (
            [("1", -5, "T1", "TARGET", 1, 20, ""), ("1", 56, "T1", "TARGET", 0, 20, "")],
            "nodal_inconsistent",
            (1, 2),
        ),
        # ABSENT with a diameter
        (
            [("1", -5, "T1", "TARGET", 0, 20, ""), ("1", 56, "T1", "TARGET", 0, 5, "ABSENT")],
            "target_status_conflict",
            (2,),
        ),
        # 0 mm at baseline
        ([("1", -5, "T1", "TARGET", 0, 0, "")], "target_baseline_zero", (1,)),
        # non-target first seen after baseline
        (
            [("1", -5, "T1", "TARGET", 0, 20, ""), ("1", 56, "NT1", "NONTARGET", 0, "", "PRESENT")],
            "nontarget_no_baseline",
            (2,),
        ),
        # DAY not a number
        ([("1", "week 8", "T1", "TARGET", 0, 20, "")], "day_not_numeric", (1,)),
    ],
)
def test_recist_single_problem_codes(rows, code, bad_rows):
    t = pd.DataFrame(rows, columns=["ID", "DAY", "LESION", "KIND", "NODAL", "DIAM_MM", "STATUS"])
    with pytest.raises(DatasetError) as exc:
        recist(t)
    v = _violations(exc.value)
    assert (code, "1") in v, [x.code for x in exc.value.violations]
    assert v[(code, "1")].rows == bad_rows
    assert v[(code, "1")].fix


def test_recist_small_baseline_targets_warn_with_code(write_csv):
    path = write_csv(
        """
        ID,DAY,LESION,KIND,NODAL,DIAM_MM,STATUS
        1,-5,N1,TARGET,1,12,
        1,-5,T1,TARGET,0,8,
        1,56,N1,TARGET,1,12,
        1,56,T1,TARGET,0,8,
        """
    )
    with pytest.warns(CartpkWarning) as rec:
        res = recist(path)
    got = {w.message.code: str(w.message) for w in rec}
    assert set(got) == {"nodal_target_small", "target_small"}
    assert "ID 1 row 1 LESION N1 12 mm" in got["nodal_target_small"]
    assert "ID 1 row 2 LESION T1 8 mm" in got["target_small"]
    assert {w.code for w in res.warnings} == set(got)


def test_recist_unreadable_file_raises_dataset_error(tmp_path):
    p = tmp_path / "l.csv"
    p.write_bytes(b"ID,DAY\n\xff\xfe,1\n")
    with pytest.raises(DatasetError) as exc:
        recist(p)
    assert exc.value.code == "unreadable"


# --- property: anything goes in, only DatasetError comes out ----------------------------

_cell = {
    "ID": st.sampled_from(["1", "2", "", "3"]),
    "DAY": st.sampled_from(["-7", "0", "28", "42", "56", "84", "", "x", "1e400"]),
    "LESION": st.sampled_from(["T1", "T2", "T3", "N1", "NT1", ""]),
    "KIND": st.sampled_from(["TARGET", "NONTARGET", "NEW", "target", "BAD", ""]),
    "NODAL": st.sampled_from(["0", "1", "", "2"]),
    "DIAM_MM": st.one_of(
        st.sampled_from(["", "0", "-1", "abc", "nan"]),
        st.floats(0, 200, allow_nan=False).map(lambda x: f"{x:.1f}"),
    ),
    "STATUS": st.sampled_from(
        ["", "PRESENT", "ABSENT", "NE", "UNEQUIVOCAL_PD", "UNEQUIVOCAL", "EQUIVOCAL", "?"]
    ),
    "ORGAN": st.sampled_from(["LIVER", "LUNG", ""]),
    "DEATH_DAY": st.sampled_from(["", "", "", "30", "400", "-2", "x", "nan"]),
}
_rows = st.lists(st.fixed_dictionaries(_cell), min_size=0, max_size=25)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rows)
def test_recist_random_tables_raise_only_dataset_error(rows):
    t = pd.DataFrame(rows, columns=list(_cell))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CartpkWarning)  # suspicious input is allowed here
        try:
            res = recist(t)
        except DatasetError:
            return
    assert list(res.timepoints.columns[:9]) == TIMEPOINT_COLUMNS
    assert set(res.bor["ID"]) == set(res.timepoints["ID"])
    ok = {"CR", "PR", "SD", "PD", "NE", "NON-CR/NON-PD"}
    assert set(res.bor["BOR_CONFIRMED"]) <= ok and set(res.bor["BOR_UNCONFIRMED"]) <= ok


_valid_subject = st.builds(
    lambda n_t, n_nt, diams, visits: (n_t, n_nt, diams, visits),
    st.integers(0, 5),
    st.integers(0, 2),
    st.lists(st.floats(10, 120).map(lambda x: round(x, 1)), min_size=5, max_size=5),
    st.lists(
        st.tuples(
            st.integers(1, 400),
            st.lists(
                st.one_of(st.none(), st.floats(0, 150).map(lambda x: round(x, 1))),
                min_size=5,
                max_size=5,
            ),
            st.sampled_from(["PRESENT", "ABSENT", "NE", "UNEQUIVOCAL_PD"]),
            st.sampled_from([None, "EQUIVOCAL", "UNEQUIVOCAL"]),
        ),
        max_size=6,
        unique_by=lambda v: v[0],
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_valid_subject, min_size=1, max_size=4))
def test_recist_random_valid_tables_give_consistent_results(subjects):
    rows = []
    for i, (n_t, n_nt, diams, visits) in enumerate(subjects):
        n_nt = n_nt if n_t else max(n_nt, 1)  # a subject needs baseline disease
        sid = str(i + 1)
        for k in range(n_t):
            rows.append((sid, -3, f"T{k}", "TARGET", 0, diams[k], ""))
        for k in range(n_nt):
            rows.append((sid, -3, f"NT{k}", "NONTARGET", 0, None, "PRESENT"))
        for day, dd, nt_status, new in visits:
            for k in range(n_t):
                rows.append((sid, day, f"T{k}", "TARGET", 0, dd[k], ""))
            for k in range(n_nt):
                rows.append((sid, day, f"NT{k}", "NONTARGET", 0, None, nt_status))
            if new:
                rows.append((sid, day, f"NEW{day}", "NEW", None, None, new))
    t = pd.DataFrame(rows, columns=["ID", "DAY", "LESION", "KIND", "NODAL", "DIAM_MM", "STATUS"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CartpkWarning)  # small lesions, non-target only
        res = recist(t)
    tp = res.timepoints
    post = tp[tp["DAY"] > 0]
    # rules of the table that must hold whatever the numbers
    assert (post.loc[post["NEWLPROG"] == "Y", "OVRLRESP"] == "PD").all()
    assert (post.loc[post["NTRGRESP"] == "PD", "OVRLRESP"] == "PD").all()
    assert (post.loc[post["TRGRESP"] == "PR", "PCHG_BASE"] <= -30 + 1e-9).all()
    assert (post.loc[post["TRGRESP"] == "NE", "SOD"].isna()).all()
    rank = {"CR": 4, "PR": 3, "SD": 2, "NON-CR/NON-PD": 2, "PD": 1, "NE": 0}
    for u, c in zip(res.bor["BOR_UNCONFIRMED"], res.bor["BOR_CONFIRMED"], strict=True):
        assert rank[c] <= rank[u] or (u == "NE" and c == "NE")


# rows 1-8 as in the file; the column name in lower case (names are case-insensitive)
DEATHS = """\
ID,DAY,LESION,KIND,NODAL,DIAM_MM,STATUS,death_day
1,-7,T1,TARGET,0,50,,3 weeks
1,28,T1,TARGET,0,45,,
2,-7,T1,TARGET,0,50,,-3
3,-7,T1,TARGET,0,50,,60
3,28,T1,TARGET,0,45,,75
4,-7,T1,TARGET,0,50,,30
4,28,T1,TARGET,0,45,,30
4,56,T1,TARGET,0,44,,30
"""


def test_recist_invalid_death_day_lists_every_problem(write_csv):
    path = write_csv(DEATHS, name="lesions.csv")
    with pytest.raises(DatasetError) as exc:
        recist(path)
    v = _violations(exc.value)
    expected = {
        ("death_day_not_numeric", "1"): ((1,), "DEATH_DAY='3 weeks'"),
        ("death_day_negative", "2"): ((3,), "DEATH_DAY=-3"),
        ("death_day_inconsistent", "3"): ((4, 5), "DEATH_DAY=60, DEATH_DAY=75"),
        ("assessment_after_death", "4"): ((8,), "DAY=56 > DEATH_DAY=30"),  # scan after death
    }
    assert set(v) == set(expected)
    for key, (rows, value) in expected.items():
        assert v[key].rows == rows, key
        assert v[key].value == value, key
        assert v[key].column == ("DAY" if key[0] == "assessment_after_death" else "DEATH_DAY")
        assert v[key].fix and v[key].expected, key
    text = str(exc.value)
    assert "ID 3, rows 4-5" in text
    assert "fix: write the same DEATH_DAY on every row of the subject" in text
    assert "fix: correct DEATH_DAY or the DAY of the assessment" in text


def test_recist_death_day_blank_on_some_rows_is_one_value_per_subject():
    t = pd.DataFrame(
        {
            "ID": ["1", "1", "1", "2", "2", "3"],
            "DAY": [-7, 28, 56, -7, 28, -7],
            "LESION": ["T1"] * 6,
            "KIND": ["TARGET"] * 6,
            "NODAL": [0] * 6,
            "DIAM_MM": [50, 45, 44, 50, 45, 50],
            "STATUS": [""] * 6,
            "Death_Day": [None, 90.0, None, None, None, 0.0],  # 3: died on the infusion day
            "NOTE": ["ignored"] * 6,  # an unknown column is ignored
        }
    )
    res = recist(t)
    assert res.deaths["ID"].tolist() == ["1", "2", "3"]
    assert res.deaths["DEATH_DAY"].tolist()[0] == 90.0
    assert math.isnan(res.deaths["DEATH_DAY"].tolist()[1])
    assert res.deaths["DEATH_DAY"].tolist()[2] == 0.0
    # the lesion table and the responses are those of the table without the column
    assert list(res.lesions.columns) == [
        "ROW", "ID", "DAY", "LESION", "KIND", "NODAL", "DIAM_MM", "STATUS", "ORGAN",
    ]  # fmt: skip
    plain = recist(t.drop(columns=["Death_Day", "NOTE"]))
    pd.testing.assert_frame_equal(res.timepoints, plain.timepoints)
    pd.testing.assert_frame_equal(res.bor, plain.bor)
    assert plain.deaths["ID"].tolist() == ["1", "2", "3"]
    assert plain.deaths["DEATH_DAY"].isna().all()
