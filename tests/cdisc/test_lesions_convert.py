"""lesions.csv from hand-built SDTM TU/TR/RS and ADaM ADTR/ADRS (cartpk.cdisc._lesions)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from conversion_checks import log_row, raised

from cartpk.cdisc import ConversionLog, Domain, adam_lesions, read_domains, sdtm_lesions
from cartpk.cdisc._result import LESION_COLUMNS
from cartpk.cdisc._time import FirstDose
from cartpk.response import recist
from cartpk.response._lesions import validate_lesions

DOSE = "2024-03-10"
FIRST = FirstDose.from_records(
    pd.Series(["S1", "S2"]),
    pd.Series([DOSE, DOSE]),
    pd.Series([1.0, 1.0]),  # EXSTDY 1
)
NO_DEATHS = pd.Series(dtype=float)

TU_COLS = ["USUBJID", "TUSEQ", "TULNKID", "TUTESTCD", "TUSTRESC", "TULOC", "TUEVAL", "TUDTC"]
TR_COLS = [
    "USUBJID", "TRSEQ", "TRGRPID", "TRLNKID", "TRTESTCD", "TRORRES", "TRSTRESC", "TRSTRESN",
    "TRSTRESU", "TRSTAT", "TRREASND", "TREVAL", "VISITNUM", "TRDTC",
]  # fmt: skip


def _tu(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=TU_COLS)


def _id(
    seq: int, lnk: str, kind: str, loc: str, dtc: str = "2024-03-07", ev: str = "INVESTIGATOR"
) -> tuple:
    """A TU record of S1 identifying lesion ``lnk`` (``TUTESTCD`` ``TUMIDENT``); ``dtc``
    defaults to the baseline scan."""
    return ("S1", seq, lnk, "TUMIDENT", kind, loc, ev, dtc)


def _tr(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=TR_COLS)


def _m(
    sid, seq, grp, lnk, test, value, unit, visit, dtc, stat="", why="", ev="INVESTIGATOR"
) -> tuple:
    """A TR record: ``value`` a number (a diameter) or a text (a state)."""
    num = value if isinstance(value, int | float) else ""
    text = "" if value is None else str(value)
    return (sid, seq, grp, lnk, test, text, text, num, unit, stat, why, ev, visit, dtc)


def _domains(tmp_path: Path, **frames: pd.DataFrame) -> dict[str, Domain]:
    """Write each frame as <name>.csv and read the folder as cartpk reads it."""
    for name, frame in frames.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    return read_domains(tmp_path)


def _convert(domains: dict[str, Domain], **kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    log = ConversionLog()
    table = sdtm_lesions(domains, FIRST, kw.pop("deaths", NO_DEATHS), log, **kw)
    assert log.missing(domains.values()) == []  # every record has its row
    return table, log.frame()


def _reason(conv: pd.DataFrame, domain: str, seq: int) -> str:
    return str(log_row(conv, domain, SEQ=str(seq))["REASON"])


# --- one subject, the usual records -------------------------------------------------------
def _study() -> dict[str, pd.DataFrame]:
    tu = _tu(
        _id(1, "T01", "TARGET", "LIVER"),
        _id(2, "T02", "TARGET", "LYMPH NODE, AXILLARY"),
        _id(3, "NT01", "NON-TARGET", "BONE"),
        _id(4, "NEW01", "NEW", "LUNG", "2024-05-05"),
    )
    tr = _tr(
        _m("S1", 1, "TARGET", "T01", "LDIAM", 40, "mm", 1, "2024-03-07"),
        _m("S1", 2, "TARGET", "T01", "LPERP", 30, "mm", 1, "2024-03-07"),
        _m("S1", 3, "TARGET", "T02", "LDIAM", 25, "mm", 1, "2024-03-07"),
        _m("S1", 4, "TARGET", "T02", "LPERP", 18, "mm", 1, "2024-03-07"),
        _m("S1", 5, "TARGET", "", "SUMDIAM", 58, "mm", 1, "2024-03-07"),
        _m("S1", 6, "NON-TARGET", "NT01", "TUMSTATE", "PRESENT", "", 1, "2024-03-07"),
        _m("S1", 7, "TARGET", "T01", "LDIAM", 2.0, "cm", 2, "2024-05-05"),
        _m("S1", 8, "TARGET", "T02", "LPERP", None, "", 2, "2024-05-05", "NOT DONE", "OBSCURED"),
        _m("S1", 9, "NON-TARGET", "NT01", "TUMSTATE", "UNEQUIVOCAL", "", 2, "2024-05-05"),
        _m("S1", 10, "NEW", "NEW01", "TUMSTATE", "UNEQUIVOCAL", "", 2, "2024-05-05"),
    )
    rs = pd.DataFrame(
        {"USUBJID": ["S1"], "RSSEQ": [1], "RSTESTCD": ["OVRLRESP"], "RSSTRESC": ["PD"]}
    )
    return {"tu": tu, "tr": tr, "rs": rs}


def test_the_rows_of_one_subject(tmp_path: Path) -> None:
    table, conv = _convert(_domains(tmp_path, **_study()))
    assert list(table.columns) == list(LESION_COLUMNS)
    got = table.assign(NODAL=table["NODAL"].astype(str)).fillna({"DIAM_MM": -1})
    expected = pd.DataFrame(
        [
            ("S1", -3.0, "T01", "TARGET", "0", 40.0, "", "LIVER"),
            ("S1", -3.0, "T02", "TARGET", "1", 18.0, "", "LYMPH NODE, AXILLARY"),
            ("S1", -3.0, "NT01", "NONTARGET", "0", -1.0, "PRESENT", "BONE"),
            ("S1", 56.0, "T01", "TARGET", "0", 20.0, "", "LIVER"),
            ("S1", 56.0, "T02", "TARGET", "1", -1.0, "NE", "LYMPH NODE, AXILLARY"),
            ("S1", 56.0, "NT01", "NONTARGET", "0", -1.0, "UNEQUIVOCAL_PD", "BONE"),
            ("S1", 56.0, "NEW01", "NEW", "0", -1.0, "UNEQUIVOCAL", "LUNG"),
        ],
        columns=["ID", "DAY", "LESION", "KIND", "NODAL", "DIAM_MM", "STATUS", "ORGAN"],
    )
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False)
    assert table["DEATH_DAY"].isna().all()
    # what each record became
    assert "LPERP of target lesion T01" in _reason(conv, "TR", 2)
    assert "LDIAM is used" in _reason(conv, "TR", 2)
    assert "LDIAM of target lesion T02" in _reason(conv, "TR", 3)
    assert "LPERP is used" in _reason(conv, "TR", 3)
    assert "not the assessment of one lesion" in _reason(conv, "TR", 5)
    assert "2 cm -> 20 mm" in _reason(conv, "TR", 7)
    assert "not done (OBSCURED) -> STATUS NE" in _reason(conv, "TR", 8)
    assert _reason(conv, "RS", 1).startswith("assessor responses; cartpk recist derives")
    assert "identifies lesion T02: KIND TARGET" in _reason(conv, "TU", 2)
    tr = conv[conv["DOMAIN"] == "TR"].set_index("SEQ")
    assert tr.loc["1", "USED"] == "Y" and int(tr.loc["1", "TABLE_ROW"]) == 1
    assert int(tr.loc["10", "TABLE_ROW"]) == 7
    assert tr.loc["5", "USED"] == "N" and tr.loc["5", "TABLE_ROW"] == ""
    tu = conv[conv["DOMAIN"] == "TU"].set_index("SEQ")
    assert [int(tu.loc[s, "TABLE_ROW"]) for s in "1234"] == [1, 2, 3, 7]


def test_the_table_is_what_cartpk_recist_reads(tmp_path: Path) -> None:
    table, _ = _convert(_domains(tmp_path, **_study()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the node is small (a warning, not a problem)
        result = recist(table)
    post = result.timepoints[result.timepoints["DAY"] > 0]
    assert post[["TRGRESP", "NTRGRESP", "NEWLPROG", "OVRLRESP"]].iloc[0].tolist() == [
        "NE",
        "PD",
        "Y",
        "PD",
    ]


def test_deaths_fill_the_subject_rows(tmp_path: Path) -> None:
    deaths = pd.Series([90.0], index=["S1"])
    table, _ = _convert(_domains(tmp_path, **_study()), deaths=deaths)
    assert (table["DEATH_DAY"] == 90.0).all()


# --- evaluators -------------------------------------------------------------------------------
def _two_readers() -> dict[str, pd.DataFrame]:
    tu = _tu(
        _id(1, "T01", "TARGET", "LIVER"),
        _id(2, "T01", "TARGET", "LIVER", ev="INDEPENDENT ASSESSOR"),
    )
    tr = _tr(
        _m("S1", 1, "TARGET", "T01", "LDIAM", 40, "mm", 1, "2024-03-07"),
        _m("S1", 2, "TARGET", "T01", "LDIAM", 44, "mm", 1, "2024-03-07", ev="INDEPENDENT ASSESSOR"),
    )
    return {"tu": tu, "tr": tr}


def test_the_investigator_by_default_another_on_request(tmp_path: Path) -> None:
    domains = _domains(tmp_path, **_two_readers())
    table, conv = _convert(domains)
    assert table["DIAM_MM"].tolist() == [40.0]
    assert _reason(conv, "TR", 2).startswith("evaluator INDEPENDENT ASSESSOR: lesions.csv holds")
    table, conv = _convert(domains, evaluator="independent assessor")
    assert table["DIAM_MM"].tolist() == [44.0]
    assert _reason(conv, "TU", 1).startswith("evaluator INVESTIGATOR")
    found = raised(_convert, domains, evaluator="RADIOLOGIST 9")
    assert [v.code for v in found] == ["cdisc_evaluator_unknown"]
    assert "INDEPENDENT ASSESSOR, INVESTIGATOR" in str(found[0].value)


# --- every problem at once ----------------------------------------------------------------------
def test_every_problem_is_reported_together(tmp_path: Path) -> None:
    tu = _tu(
        _id(1, "T01", "TARGET", "LIVER"),
        _id(2, "T02", "TARGET", "LUNG"),
        _id(3, "X01", "SPLIT", "LUNG"),
        _id(4, "T01", "NON-TARGET", "LIVER"),
        _id(5, "NT01", "NON-TARGET", "BONE"),
    )
    tr = _tr(
        _m("S1", 1, "TARGET", "T01", "LDIAM", 3.0, "in", 1, "2024-03-07"),
        _m("S1", 2, "TARGET", "T02", "LDIAM", 20, "", 1, "2024-03-07"),
        _m("S1", 3, "TARGET", "T02", "LDIAM", "TOO SMALL TO MEASURE", "", 2, "2024-05-05"),
        _m("S1", 4, "NON-TARGET", "NT01", "TUMSTATE", "SHRINKING", "", 2, "2024-05-05"),
        _m("S1", 5, "", "Q01", "LDIAM", 12, "mm", 2, "2024-05-05"),
    )
    found = raised(_convert, _domains(tmp_path, tu=tu, tr=tr))
    by_code = {v.code: v for v in found}
    assert set(by_code) == {
        "cdisc_lesion_kind_unknown",
        "cdisc_lesion_kind_conflict",
        "cdisc_lesion_unit",
        "cdisc_lesion_unit_missing",
        "cdisc_lesion_result_unknown",
        "cdisc_lesion_unidentified",
    }
    assert by_code["cdisc_lesion_unit"].rows == (1,)
    assert by_code["cdisc_lesion_unit"].value == "TRSTRESU=in"
    assert by_code["cdisc_lesion_kind_unknown"].rows == (3,)
    assert by_code["cdisc_lesion_unidentified"].value == "TRLNKID=Q01, TRGRPID=(blank)"
    results = [v for v in found if v.code == "cdisc_lesion_result_unknown"]
    assert sorted(r for v in results for r in v.rows) == [3, 4]


# --- dates, duplicates and visits ---------------------------------------------------------------
def test_a_partial_date_falls_back_to_the_study_day_or_is_not_used(tmp_path: Path) -> None:
    tu = _tu(_id(1, "T01", "TARGET", "LIVER", "2024-03"))
    tr = _tr(
        _m("S1", 1, "TARGET", "T01", "LDIAM", 40, "mm", 1, "2024-03"),
        _m("S1", 2, "TARGET", "T01", "LDIAM", 30, "mm", 2, "2024-05"),
    ).assign(TRDY=[-2, np.nan])
    table, conv = _convert(_domains(tmp_path, tu=tu, tr=tr))
    assert table["DAY"].tolist() == [-2.0]  # study day -2 is 2 days before day 1
    assert "DAY from the study day (no full date)" in _reason(conv, "TR", 1)
    assert _reason(conv, "TR", 2) == "no time since first dose: no full date or study day"


def test_exact_duplicates_are_not_used_twice(tmp_path: Path) -> None:
    tu = _tu(_id(1, "NT01", "NON-TARGET", "BONE"))
    tr = _tr(
        _m("S1", 1, "NON-TARGET", "NT01", "TUMSTATE", "PRESENT", "", 1, "2024-03-07"),
        _m("S1", 2, "NON-TARGET", "NT01", "TUMSTATE", "PRESENT", "", 1, "2024-03-07"),
        _m("S1", 3, "NON-TARGET", "NT01", "TUMSTATE", "ABSENT", "", 1, "2024-03-07"),
    )
    table, conv = _convert(_domains(tmp_path, tu=tu, tr=tr))
    assert table["STATUS"].tolist() == ["PRESENT", "ABSENT"]
    assert _reason(conv, "TR", 2).startswith("exact duplicate of record 1")
    found = raised(validate_lesions, table)  # the two different results stay a problem
    assert [v.code for v in found] == ["duplicate_assessment"]


def test_scans_of_one_visit_share_its_first_day(tmp_path: Path) -> None:
    tu = _tu(
        _id(1, "T01", "TARGET", "LIVER"),
        _id(2, "NT01", "NON-TARGET", "BRAIN"),
    )
    tr = _tr(
        _m("S1", 1, "TARGET", "T01", "LDIAM", 40, "mm", 1, "2024-03-07"),
        _m("S1", 2, "NON-TARGET", "NT01", "TUMSTATE", "PRESENT", "", 1, "2024-03-07"),
        _m("S1", 3, "TARGET", "T01", "LDIAM", 30, "mm", 2, "2024-05-05"),
        _m("S1", 4, "NON-TARGET", "NT01", "TUMSTATE", "PRESENT", "", 2, "2024-05-07"),
        _m("S1", 5, "TARGET", "T01", "LDIAM", 20, "mm", 3, "2024-06-05"),
        _m("S1", 6, "TARGET", "T01", "LDIAM", 10, "mm", 3, "2024-09-05"),
    )
    table, conv = _convert(_domains(tmp_path, tu=tu, tr=tr))
    assert table["DAY"].tolist() == [-3.0, -3.0, 56.0, 56.0, 87.0, 179.0]
    assert _reason(conv, "TR", 4).endswith(
        "DAY 58 -> 56, the first scan day of visit 2 (one DAY per assessment)"
    )
    assert "first scan day" not in _reason(conv, "TR", 6)  # T01 twice: two assessments


# --- lesion kinds and states ------------------------------------------------------------------
def test_states_of_non_target_and_new_lesions(tmp_path: Path) -> None:
    tu = _tu(
        _id(1, "NT01", "NON-TARGET", ""),
        _id(2, "NEW01", "NEW", "LIVER", "2024-05-05"),
        _id(3, "NEW02", "NEW", "LUNG", "2024-05-05"),
        _id(4, "NEW03", "NEW", "SKIN", "2024-05-05"),
    )
    tr = _tr(
        _m("S1", 1, "NON-TARGET", "NT01", "TUMSTATE", "PRESENT", "", 1, "2024-03-07"),
        _m("S1", 2, "NON-TARGET", "NT01", "TUMSTATE", "EQUIVOCAL", "", 2, "2024-05-05"),
        _m("S1", 3, "NON-TARGET", "NT01", "LDIAM", 12, "mm", 2, "2024-05-05"),
        _m("S1", 4, "NEW", "NEW01", "TUMSTATE", "PRESENT", "", 2, "2024-05-05"),
        _m("S1", 5, "NEW", "NEW02", "TUMSTATE", "ABSENT", "", 2, "2024-05-05"),
        _m("S1", 6, "NON-TARGET", "NT01", "TUMSTATE", None, "", 3, "2024-07-05", "NOT DONE"),
    )
    table, conv = _convert(_domains(tmp_path, tu=tu, tr=tr))
    rows = list(zip(table["DAY"], table["LESION"], table["STATUS"], table["NODAL"], strict=True))
    assert rows == [
        (-3.0, "NT01", "PRESENT", ""),
        (56.0, "NT01", "PRESENT", ""),
        (56.0, "NEW01", "UNEQUIVOCAL", 0),
        (56.0, "NEW03", "UNEQUIVOCAL", 0),
        (117.0, "NT01", "NE", ""),
    ]
    assert "EQUIVOCAL progression of a non-target lesion is not PD" in _reason(conv, "TR", 2)
    assert "non-target lesions are assessed by their state" in _reason(conv, "TR", 3)
    assert "PRESENT -> UNEQUIVOCAL (a new lesion is progression" in _reason(conv, "TR", 4)
    assert _reason(conv, "TR", 5) == "new lesion NEW02 recorded ABSENT"
    assert _reason(conv, "TU", 3) == "lesion NEW02 (NEW) has no usable TR assessment"
    assert "identified in TU without a TR assessment" in _reason(conv, "TU", 4)


def test_nodal_from_the_short_axis_when_no_location(tmp_path: Path) -> None:
    tr = _tr(
        _m("S1", 1, "TARGET", "T01", "SAXIS", 16, "mm", 1, "2024-03-07"),
        _m("S1", 2, "TARGET", "T01", "LDIAM", 25, "mm", 1, "2024-03-07"),
        _m("S1", 3, "TARGET", "T02", "LDIAM", 30, "mm", 1, "2024-03-07"),
    )
    table, conv = _convert(_domains(tmp_path, tr=tr))
    assert table["DIAM_MM"].tolist() == [16.0, 30.0]
    assert "no location: a lymph node (short axis given)" in _reason(conv, "TR", 1)
    assert "kind from TRGRPID TARGET (no identification record)" in _reason(conv, "TR", 1)
    assert "no location: taken as not a lymph node" in _reason(conv, "TR", 3)


def test_no_tumour_datasets_no_rows(tmp_path: Path) -> None:
    rs = pd.DataFrame({"USUBJID": ["S1"], "RSSEQ": [1], "RSTESTCD": ["OVRLRESP"]})
    table, conv = _convert(_domains(tmp_path, rs=rs))
    assert table.empty and list(table.columns) == list(LESION_COLUMNS)
    assert conv["USED"].tolist() == ["N"]


# --- ADaM ------------------------------------------------------------------------------------------
def _adtr() -> pd.DataFrame:
    rows = [
        # ASEQ, PARAMCD, TRLNKID, TRTESTCD, TRGRPID, AVAL, ADT, ADY, ADTF, AVISIT, TULOC, TULOCGR1, DTYPE
        (1, "LDIAM1", "T01", "LDIAM", "TARGET", 30.0, "2024-03-07", -3, "", "BASELINE", "LIVER", "NON-NODAL", ""),
        (2, "NLDIAM1", "T01", "LPERP", "TARGET", 25.0, "2024-03-07", -3, "", "BASELINE", "LIVER", "NON-NODAL", ""),
        (3, "LDIAM2", "T02", "LDIAM", "TARGET", 22.0, "2024-03-07", -3, "", "BASELINE", "LN", "NODAL", ""),
        (4, "NLDIAM2", "T02", "LPERP", "TARGET", 17.0, "2024-03-07", -3, "", "BASELINE", "LN", "NODAL", ""),
        (5, "SDIAM", "", "", "", 47.0, "2024-03-07", -3, "", "BASELINE", "", "", ""),
        (6, "LDIAM1", "T01", "LDIAM", "TARGET", 20.0, "2024-05-01", 53, "D", "WEEK 8", "LIVER", "NON-NODAL", ""),
        (7, "NLDIAM2", "T02", "LPERP", "TARGET", 9.0, "2024-05-01", 53, "D", "WEEK 8", "LN", "NODAL", ""),
        (8, "LDIAM1", "T01", "LDIAM", "TARGET", 20.0, "2024-07-01", 114, "", "WEEK 16", "LIVER", "NON-NODAL", "LOCF"),
    ]  # fmt: skip
    cols = ["ASEQ", "PARAMCD", "TRLNKID", "TRTESTCD", "TRGRPID", "AVAL", "ADT", "ADY", "ADTF",
            "AVISIT", "TULOC", "TULOCGR1", "DTYPE"]  # fmt: skip
    f = pd.DataFrame(rows, columns=cols)
    return f.assign(USUBJID="S1", PARAM=f["PARAMCD"] + " label", TRSTRESU="mm", TREVAL="")


def test_adtr_rows_and_what_is_not_used(tmp_path: Path) -> None:
    adrs = pd.DataFrame({"USUBJID": ["S1", "S1"], "ASEQ": [1, 2], "PARAMCD": ["OVR", "BOR"]})
    domains = _domains(tmp_path, adtr=_adtr(), adrs=adrs)
    log = ConversionLog()
    table = adam_lesions(domains, FIRST, NO_DEATHS, log)
    assert log.missing(domains.values()) == []
    assert list(
        zip(table["DAY"], table["LESION"], table["NODAL"], table["DIAM_MM"], strict=True)
    ) == [
        (-3.0, "T01", 0, 30.0),
        (-3.0, "T02", 1, 17.0),
        (52.0, "T01", 0, 20.0),
        (52.0, "T02", 1, 9.0),
    ]
    conv = log.frame().set_index(["DOMAIN", "SEQ"])
    reason = conv["REASON"]
    assert reason[("ADTR", "2")].startswith("LPERP of target lesion T01")
    assert reason[("ADTR", "5")].startswith("derived parameter SDIAM (SDIAM label)")
    assert reason[("ADTR", "6")].endswith("ADT imputed by the ADaM (ADTF D)")
    assert reason[("ADTR", "8")] == "derived record (DTYPE LOCF): not a measurement"
    assert reason[("ADRS", "1")].startswith("derived responses; cartpk recist derives")
    validate_lesions(table)  # no problem


def test_adtr_without_lesion_columns(tmp_path: Path) -> None:
    domains = _domains(tmp_path, adtr=_adtr().drop(columns=["TRLNKID", "TRTESTCD"]))
    found = raised(adam_lesions, domains, FIRST, NO_DEATHS, ConversionLog())
    assert [v.column for v in found] == ["TRLNKID", "TRTESTCD"]
    assert {v.code for v in found} == {"cdisc_adtr_columns"}
