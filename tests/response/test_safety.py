"""Safety endpoints: AE and CRS grade summaries, cytokine peaks (values derived by hand)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from cartpk.errors import CartpkWarning, DatasetError
from cartpk.response import ae_summary, astct_grade, crs_summary, cytokine_peaks


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ROW": [3, 4, 5, 6, 7, 8],
            "ID": ["1", "1", "1", "2", "2", "1"],
            "TIME": [2.0, 4.0, 9.0, 1.0, 3.0, 1.0],
            "EVENT": ["CRS", "CRS", "CRS", "CRS", "AE_NEUTROPENIA", "AE_NEUTROPENIA"],
            "GRADE": [1, 3, 1, 0, 4, 2],
            "END": [4.0, 6.0, 10.0, 1.0, 12.0, 2.0],
        }
    )


def test_ae_summary_max_grade_onset_and_duration_by_hand():
    out = ae_summary(_events()).set_index(["ID", "EVENT"])
    crs1 = out.loc[("1", "CRS")]
    # grades 1 (day 2-4), 3 (day 4-6), 1 (day 9-10): max 3 first reached on day 4;
    # onset day 2; union of [2,4], [4,6], [9,10] = 4 + 1 = 5 days
    assert crs1["MAX_GRADE"] == 3 and bool(crs1["GRADE3PLUS"])
    assert (crs1["ONSET"], crs1["TIME_MAX_GRADE"], crs1["DURATION"]) == (2.0, 4.0, 5.0)
    assert crs1["N_RECORDS"] == 3
    # subject 2: a grade-0 record only -> max 0, no onset, with the reason
    crs2 = out.loc[("2", "CRS")]
    assert crs2["MAX_GRADE"] == 0 and math.isnan(crs2["ONSET"])
    assert "no record with grade >= 1" in crs2["REASON"]
    neut = out.loc[("2", "AE_NEUTROPENIA")]
    assert (neut["MAX_GRADE"], neut["ONSET"], neut["DURATION"]) == (4, 3.0, 9.0)


def test_ae_summary_accepts_term_and_no_end_column():
    ev = _events().drop(columns="END").rename(columns={"EVENT": "TERM"})
    out = ae_summary(ev)
    assert list(out.columns) == [
        "ID",
        "EVENT",
        "MAX_GRADE",
        "GRADE3PLUS",
        "ONSET",
        "TIME_MAX_GRADE",
        "DURATION",
        "N_RECORDS",
        "REASON",
    ]
    assert out["DURATION"].isna().all()
    assert out["REASON"].str.contains("no end times given").any()


def test_ae_summary_missing_end_time_gives_reason():
    ev = _events()
    ev.loc[1, "END"] = float("nan")
    row = ae_summary(ev).set_index(["ID", "EVENT"]).loc[("1", "CRS")]
    assert math.isnan(row["DURATION"]) and "row(s) 4" in row["REASON"]


def test_ae_summary_invalid_grades_raise_with_rows():
    ev = _events()
    ev["GRADE"] = ev["GRADE"].astype(object)
    ev.loc[0, "GRADE"] = 6
    ev.loc[4, "GRADE"] = 2.5
    ev.loc[5, "END"] = 0.5  # before onset day 1
    with pytest.raises(DatasetError) as exc:
        ae_summary(ev)
    got = {(v.code, v.id): v for v in exc.value.violations}
    assert got[("grade_out_of_range", "1")].rows == (3,)
    assert got[("grade_not_integer", "2")].rows == (7,)
    assert got[("end_before_onset", "1")].rows == (8,)
    assert all(v.fix for v in exc.value.violations)
    assert "CTCAE v4.0 grade 0-5" in str(exc.value)


def test_ae_summary_missing_columns():
    with pytest.raises(DatasetError) as exc:
        ae_summary(pd.DataFrame({"ID": ["1"], "TIME": [1.0]}))
    assert [v.column for v in exc.value.violations] == ["EVENT", "GRADE"]


def test_crs_summary_grade3_flag_and_subjects_without_crs():
    out = crs_summary(_events(), subjects=["1", "2", "3"]).set_index("ID")
    assert out["MAX_GRADE"].to_dict() == {"1": 3, "2": 0, "3": 0}
    assert out["GRADE3PLUS"].to_dict() == {"1": True, "2": False, "3": False}
    assert out.loc["3", "REASON"] == "no record: grade 0 assumed"
    assert (out["SCALE"] == "CTCAE v4.0").all()
    assert "EVENT" not in out.columns


def test_crs_summary_from_dataset_like_object_uses_its_subjects():
    class _DS:  # the two attributes crs_summary reads from a cartpk.Dataset
        events = _events().drop(columns="END")
        subjects = ["1", "2", "9"]

    out = crs_summary(_DS(), scale="ASTCT 2019")
    assert out["ID"].tolist() == ["1", "2", "9"]
    assert (out["SCALE"] == "ASTCT 2019").all()


def _obs() -> pd.DataFrame:
    # subject 1 IL6: BLQ (limit 5) at 0, 10 at 1, 40 at 3, 20 at 7, BLQ at 14
    # subject 2 IL6: all BLQ; subject 1 IFNG: 7 at 2 only
    return pd.DataFrame(
        {
            "ROW": range(1, 10),
            "ID": ["1"] * 5 + ["2"] * 3 + ["1"],
            "TIME": [0, 1, 3, 7, 14, 0, 7, 14, 2],
            "DV": [5, 10, 40, 20, 5, 5, 5, 5, 7],
            "CENS": [1, 0, 0, 0, 1, 1, 1, 1, 0],
            "LLOQ": [5] * 9,
            "DVID": ["IL6"] * 8 + ["IFNG"],
        }
    )


def test_cytokine_peaks_blq_as_zero_by_hand():
    out = cytokine_peaks(_obs()).set_index(["ID", "DVID"])
    il6 = out.loc[("1", "IL6")]
    # trapezoids with BLQ = 0: (0+10)/2*1 + (10+40)/2*2 + (40+20)/2*4 + (20+0)/2*7
    # = 5 + 50 + 120 + 70 = 245
    assert (il6["CMAX"], il6["TMAX"], il6["AUC"]) == (40.0, 3.0, 245.0)
    assert (il6["AUC_START"], il6["AUC_END"], il6["N_OBS"], il6["N_BLQ"]) == (0.0, 14.0, 5, 2)
    blq = out.loc[("2", "IL6")]
    assert math.isnan(blq["CMAX"]) and math.isnan(blq["TMAX"]) and blq["AUC"] == 0.0
    assert "all values below the LLOQ" in blq["REASON"]
    ifng = out.loc[("1", "IFNG")]
    assert ifng["CMAX"] == 7.0 and math.isnan(ifng["AUC"]) and "2 needed" in ifng["REASON"]


def test_cytokine_peaks_half_lloq_and_exclude():
    half = cytokine_peaks(_obs(), dvids=["IL6"], blq="half_lloq").set_index("ID")
    # BLQ = 2.5: (2.5+10)/2 + 50 + 120 + (20+2.5)/2*7 = 6.25 + 170 + 78.75 = 255
    assert half.loc["1", "AUC"] == pytest.approx(255.0)
    excl = cytokine_peaks(_obs(), dvids=["IL6"], blq="exclude").set_index("ID")
    # times 1, 3, 7 only: 50 + 120 = 170; subject 2 has nothing left
    assert excl.loc["1", "AUC"] == 170.0 and excl.loc["1", "AUC_START"] == 1.0
    assert math.isnan(excl.loc["2", "AUC"])


def test_cytokine_peaks_warns_for_absent_cytokine_and_validates():
    with pytest.warns(CartpkWarning, match="TNFA") as rec:
        out = cytokine_peaks(_obs(), dvids=["IL6", "TNFA"])
    assert rec[0].message.code == "dvid_absent"
    assert set(out["DVID"]) == {"IL6"}
    bad = _obs().astype({"DV": object})
    bad.loc[2, "DV"] = "4O"
    with pytest.raises(DatasetError) as exc:
        cytokine_peaks(bad)
    (v,) = exc.value.violations
    assert (v.code, v.id, v.rows) == ("dv_not_numeric", "1", (3,))
    with pytest.raises(ValueError, match="blq"):
        cytokine_peaks(_obs(), blq="m3")  # type: ignore[arg-type]


def test_astct_grade_from_components_lee_2019_table():
    """Lee DW et al. 2019 (ASTCT consensus): the worse of hypotension and hypoxia sets the grade."""
    rec = pd.DataFrame(
        {
            "ID": ["1"] * 7,
            "TIME": [1, 2, 3, 4, 5, 6, 7],
            "FEVER": [0, 1, 1, 1, 1, 1, 1],
            "HYPOTENSION": [
                "NO_VASOPRESSOR",
                "NONE",
                "NO_VASOPRESSOR",
                "NONE",
                "VASOPRESSOR",
                "MULTIPLE_VASOPRESSORS",
                "NONE",
            ],
            "HYPOXIA": [
                "NONE",
                "NONE",
                "NONE",
                "HIGH_FLOW",
                "LOW_FLOW",
                "NONE",
                "POSITIVE_PRESSURE",
            ],
            "DEATH": [0, 0, 0, 0, 0, 0, 1],
        }
    )
    out = astct_grade(rec)
    # no fever -> 0; fever only -> 1; no vasopressor -> 2; high-flow -> 3;
    # one vasopressor beats low-flow -> 3; multiple vasopressors -> 4; death -> 5
    assert out["GRADE"].tolist() == [0, 1, 2, 3, 3, 4, 5]
    assert out["RULE"].iloc[0].startswith("no fever")
    summary = crs_summary(out, scale="ASTCT 2019")
    assert summary.loc[0, "MAX_GRADE"] == 5 and summary.loc[0, "ONSET"] == 2.0


def test_astct_grade_invalid_codes_raise_with_rows():
    rec = pd.DataFrame(
        {
            "ID": ["1", "2"],
            "TIME": [1, 2],
            "FEVER": [1, 2],
            "HYPOTENSION": ["NONE", "PRESSORS"],
            "HYPOXIA": ["NONE", "NONE"],
        }
    )
    with pytest.raises(DatasetError) as exc:
        astct_grade(rec)
    got = {(v.code, v.column): v for v in exc.value.violations}
    assert got[("code_invalid", "FEVER")].rows == (2,) and got[("code_invalid", "FEVER")].id == "2"
    assert "MULTIPLE_VASOPRESSORS" in got[("code_invalid", "HYPOTENSION")].expected
