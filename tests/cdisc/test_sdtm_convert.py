"""read_sdtm on small SDTM folders with known answers (issue 19)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conversion_checks import log_row, raised, study_fixture, trial_rows
from sdtm_fixtures import study, write_study

from cartpk.cdisc import read_domains
from cartpk.cdisc._sdtm import read_sdtm
from cartpk.cdisc._sdtm_find import is_blq
from cartpk.data import read_dataset

conv = study_fixture(write_study, read_sdtm)


def _codes(*args: Any, **kwargs: Any) -> list[str]:
    """The codes of the violations ``read_sdtm(*args, **kwargs)`` raises."""
    return [v.code for v in raised(read_sdtm, *args, **kwargs)]


def _reason(conv, domain: str, seq: int | str, subject: str) -> pd.Series:
    return log_row(conv.conversion, domain, SEQ=str(seq), USUBJID=subject)


def test_known_trial_table(conv) -> None:
    t = conv.trial
    assert trial_rows(t) == [
        ("S1", 0.0, 1, "", None, 0),
        ("S1", 1.0, 0, "CARQPCR", 500.0, 0),
        ("S1", 1.0, 0, "IL6", 35.0, 0),
        ("S1", 1.5833, 0, "CRS", 2.0, 0),  # date-only onset read as 00:00 of 2024-01-12
        ("S1", 7.0, 0, "CARQPCR", 20.0, 1),  # <BLQ with PCSTRESN 0 -> censored at PCLLOQ
        ("S1", 7.0, 0, "IL6", 2.0, 1),  # "< 2" -> censored at LBLLOQ
        ("S2", 0.0, 1, "", None, 0),
        ("S2", 3.0, 0, "IL6", 9.0, 0),  # LBDY 4 -> 3 days (no day 0)
        ("S2", 4.0, 0, "ICANS", 3.0, 0),
        ("S2", 7.0, 0, "CARQPCR", 1200.0, 0),  # PCDY 8 -> 7 days
        ("S2", 14.0, 0, "CARQPCR", 300.0, 0),
    ]
    assert t["AMT"].tolist()[:1] == [1e8] and t.loc[6, "AMT"] == 2e8
    assert list(t.columns) == [
        "ID", "TIME", "DV", "EVID", "AMT", "MDV", "CENS", "LLOQ", "DVID",
        "AGE", "SEX", "RACE", "ETHNIC", "ARM", "COUNTRY",
    ]  # fmt: skip
    assert t.loc[t["ID"] == "S2", "COUNTRY"].unique().tolist() == ["JPN"]
    assert t.loc[1, "LLOQ"] == 20.0 and math.isnan(t.loc[0, "LLOQ"])


def test_the_converted_table_validates(conv) -> None:
    ds = read_dataset(conv.trial)
    assert ds.subjects == ["S1", "S2"]
    assert sorted(ds.dvids) == ["CARQPCR", "IL6"]
    assert sorted(ds.events["EVENT"]) == ["CRS", "ICANS"]
    assert ds.observations("CARQPCR")["CENS"].tolist() == [0, 1, 0, 0]


def test_every_source_record_has_exactly_one_row(conv, tmp_path: Path) -> None:
    domains = read_domains(write_study(tmp_path / "sdtm"))  # the study of conv
    log = conv.conversion
    for name, d in domains.items():
        rows = log.loc[log["DOMAIN"] == name, "SOURCE_ROW"].tolist()
        assert sorted(rows) == list(range(1, len(d.frame) + 1)), name
    assert len(log) == sum(len(d.frame) for d in domains.values())
    assert (log["REASON"] != "").all()


def test_table_row_points_at_the_row_the_record_became(conv) -> None:
    log = conv.conversion
    used = log[(log["USED"] == "Y") & (log["TABLE"] == "trial.csv") & (log["TABLE_ROW"] != "")]
    assert len(used) == len(conv.trial)  # DM records: covariates, no row of their own
    for r in used.itertuples():
        row = conv.trial.iloc[int(r.TABLE_ROW) - 1]
        assert row["ID"] == r.USUBJID
    blq = _reason(conv, "PC", 3, "S1")
    assert conv.trial.iloc[int(blq["TABLE_ROW"]) - 1]["CENS"] == 1
    assert "BLQ text '<BLQ' -> CENS=1 at PCLLOQ 20" in blq["REASON"]


def test_what_is_not_used_says_why(conv) -> None:
    assert "EXDOSE 0" in _reason(conv, "EX", 1, "S3")["REASON"]
    assert _reason(conv, "EX", 1, "S3")["USED"] == "N"
    assert "before the first dose" in _reason(conv, "PC", 1, "S1")["REASON"]
    assert "before the first dose" in _reason(conv, "PC", 1, "S2")["REASON"]
    assert "NOT DONE" in _reason(conv, "PC", 4, "S1")["REASON"]
    assert "no dose" in _reason(conv, "PC", 1, "S3")["REASON"]
    alt = _reason(conv, "LB", 3, "S1")["REASON"]
    assert "ALT" in alt and "--map" in alt
    assert "AESEV is" not in _reason(conv, "AE", 2, "S1")["REASON"]
    assert "AETOXGR blank" in _reason(conv, "AE", 2, "S1")["REASON"]
    assert "not converted" in _reason(conv, "SV", "", "S1")["REASON"]
    assert "COMPLETED" in _reason(conv, "DS", 1, "S1")["REASON"]
    assert _reason(conv, "DM", "", "S3")["USED"] == "N"


def test_time_how_is_recorded(conv) -> None:
    assert "TIME from date-time" in _reason(conv, "PC", 2, "S1")["REASON"]
    assert "TIME from study day" in _reason(conv, "PC", 2, "S2")["REASON"]
    assert "date (00:00)" in _reason(conv, "AE", 1, "S1")["REASON"]


def test_deaths_from_ds_and_dm(tmp_path: Path) -> None:
    from cartpk.cdisc._log import ConversionLog
    from cartpk.cdisc._sdtm_events import death_days
    from cartpk.cdisc._time import FirstDose

    domains = read_domains(write_study(tmp_path / "sdtm"))
    ex = domains["EX"].frame.iloc[:2]
    first = FirstDose.from_records(ex["USUBJID"], ex["EXSTDTC"], ex["EXSTDY"].astype(float))
    log = ConversionLog()
    days = death_days(domains, first, log)
    assert days.to_dict() == {"S2": 29.0}
    assert log.missing([domains["DS"]]) == []
    assert "death on day 29" in log.frame().loc[1, "REASON"]


def test_xpt_and_dataset_json_files_give_the_same_table(tmp_path: Path, conv) -> None:
    folder = write_study(tmp_path / "mixed", formats={"DM": "xpt", "PC": "xpt", "LB": "json"})
    assert {"dm.xpt", "pc.xpt", "lb.json", "ex.csv"} <= {p.name for p in folder.iterdir()}
    other = read_sdtm(folder)
    pd.testing.assert_frame_equal(other.trial, conv.trial, check_dtype=False)


def test_blq_texts() -> None:
    yes = ["<BLQ", "BLQ", "<LLOQ", "< 0.01", "NQ", "below LLOQ", "Not detected", "< LOQ"]
    no = ["0.01", "ALQ", "> 5", "", "positive", "NEGATIVE"]
    assert all(is_blq(t) for t in yes)
    assert not any(is_blq(t) for t in no)


def test_blq_without_lloq_is_a_violation(tmp_path: Path) -> None:
    d = study()
    d["PC"].loc[2, "PCLLOQ"] = np.nan
    (v,) = raised(read_sdtm, write_study(tmp_path / "x", d))
    assert v.code == "cdisc_blq_without_lloq" and v.rows == (3,) and v.column == "PCLLOQ"


def test_mixed_units_are_a_violation_listing_the_records(tmp_path: Path) -> None:
    d = study()
    d["PC"].loc[5, "PCSTRESU"] = "copies/mL"
    (v,) = raised(read_sdtm, write_study(tmp_path / "x", d))
    assert v.code == "cdisc_mixed_units"
    assert "CARQPCR" in v.message
    assert "copies/mL (1): PC row 6" in v.value and "copies/ug" in v.value


def test_map_gives_the_dvid_and_its_unit_is_checked(tmp_path: Path) -> None:
    folder = write_study(tmp_path / "sdtm")
    good = tmp_path / "map.csv"
    good.write_text("DOMAIN,TESTCD,SPEC,DVID,UNIT\nPC,CARQPCR,,QPCR,copies/µg\n")
    conv = read_sdtm(folder, map=good)
    assert "QPCR" in set(conv.trial["DVID"]) and "CARQPCR" not in set(conv.trial["DVID"])
    ep = conv.endpoints.set_index("DVID")
    assert ep.loc["QPCR", "UNIT"] == "copies/ug" and ep.loc["QPCR", "SCALE"] == "log"
    assert ep.loc["", "SCALE"] == "dose" and ep.loc["CRS", "SCALE"] == "grade"
    bad = tmp_path / "bad.csv"
    bad.write_text("DOMAIN,TESTCD,SPEC,DVID,UNIT\nPC,CARQPCR,,QPCR,copies/mL\nLB,IL6,,IL6,ng/L\n")
    assert _codes(folder, map=bad) == ["cdisc_unit_mismatch", "cdisc_unit_mismatch"]
    # the map can make an LB test the converter does not know into an endpoint
    alt = tmp_path / "alt.csv"
    alt.write_text("DOMAIN,TESTCD,SPEC,DVID,UNIT\nLB,ALT,,ALT,U/L\n")
    conv = read_sdtm(folder, map=alt)
    assert conv.trial.loc[conv.trial["DVID"] == "ALT", "DV"].tolist() == [30.0]


def test_one_test_code_in_two_specimens_gets_two_dvids(tmp_path: Path) -> None:
    d = study()
    d["PC"].loc[6, "PCSPEC"] = "BONE MARROW"
    conv = read_sdtm(write_study(tmp_path / "x", d))
    s2 = conv.trial[(conv.trial["ID"] == "S2") & (conv.trial["EVID"] == 0)]
    assert s2["DVID"].tolist() == ["IL6", "ICANS", "CARQPCR_BLOOD", "CARQPCR_BONE_MARROW"]
    m = tmp_path / "map.csv"
    m.write_text("DOMAIN,TESTCD,SPEC,DVID,UNIT\nPC,CARQPCR,,QPCR,\n")
    conv = read_sdtm(tmp_path / "x", map=m)  # a row without SPEC: still one DVID per specimen
    assert {"QPCR_BLOOD", "QPCR_BONE_MARROW"} <= set(conv.trial["DVID"])
    m.write_text(
        "DOMAIN,TESTCD,SPEC,DVID,UNIT\nPC,CARQPCR,BLOOD,QPCR,\nPC,CARQPCR,BONE MARROW,QPCR,\n"
    )
    conv = read_sdtm(tmp_path / "x", map=m)  # rows naming both specimens: kept together
    s2 = conv.trial[(conv.trial["ID"] == "S2") & (conv.trial["EVID"] == 0)]
    assert s2["DVID"].tolist() == ["IL6", "ICANS", "QPCR", "QPCR"]


def test_several_treatments_need_treatment(tmp_path: Path) -> None:
    d = study()
    lymphodepletion = (
        d["EX"]
        .iloc[[0]]
        .assign(
            EXSEQ=2,
            EXTRT="FLUDARABINE",
            EXDOSE=30.0,
            EXDOSU="mg/m2",
            EXSTDTC="2024-01-05",
            EXSTDY=-5,
        )
    )
    d["EX"] = pd.concat([d["EX"], lymphodepletion], ignore_index=True)
    folder = write_study(tmp_path / "x", d)
    assert set(_codes(folder)) == {"cdisc_several_treatments", "cdisc_mixed_dose_units"}
    conv = read_sdtm(folder, treatment=["cart-19"])
    assert "FLUDARABINE" in _reason(conv, "EX", 2, "S1")["REASON"]
    assert conv.trial.loc[0, "TIME"] == 0.0 and conv.trial.loc[0, "AMT"] == 1e8


def test_later_doses_are_not_used_with_a_warning(tmp_path: Path) -> None:
    d = study()
    again = d["EX"].iloc[[1]].assign(EXSEQ=2, EXSTDTC="2024-02-15", EXSTDY=15, EXDOSFRQ="QD")
    d["EX"] = pd.concat([d["EX"], again], ignore_index=True)
    conv = read_sdtm(write_study(tmp_path / "x", d))
    assert "dose after the first" in _reason(conv, "EX", 2, "S2")["REASON"]
    assert [w.code for w in conv.warnings] == ["cdisc_later_doses_not_used"]
    assert (conv.trial["EVID"] == 1).sum() == 2


def test_ae_without_grades_and_invalid_grades(tmp_path: Path) -> None:
    d = study()
    d["AE"] = d["AE"].drop(columns="AETOXGR")
    conv = read_sdtm(write_study(tmp_path / "a", d))
    log = conv.conversion
    assert (log.loc[log["DOMAIN"] == "AE", "USED"] == "N").all()
    assert "AESEV is a severity, not a grade" in _reason(conv, "AE", 1, "S1")["REASON"]
    d = study()
    d["AE"].loc[0, "AETOXGR"] = "SEVERE"
    assert _codes(write_study(tmp_path / "b", d)) == ["cdisc_grade_invalid"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    d = study()
    d["PC"].loc[2, "PCLLOQ"] = np.nan
    d["LB"].loc[0, "LBSTRESU"] = "ng/L"
    d["AE"].loc[0, "AETOXGR"] = "7"
    assert sorted(_codes(write_study(tmp_path / "x", d))) == [
        "cdisc_blq_without_lloq",
        "cdisc_grade_invalid",
        "cdisc_mixed_units",
        "cdisc_unit_mismatch",
    ]


def test_no_ex_means_no_time_axis(tmp_path: Path) -> None:
    d = study()
    del d["EX"]
    assert _codes(write_study(tmp_path / "x", d)) == ["cdisc_no_doses"]


def test_a_covariate_missing_for_a_subject_is_left_out_with_a_warning(tmp_path: Path) -> None:
    d = study()
    d["DM"].loc[1, "ETHNIC"] = np.nan
    conv = read_sdtm(write_study(tmp_path / "x", d))
    assert "ETHNIC" not in conv.trial.columns and "RACE" in conv.trial.columns
    assert [w.code for w in conv.warnings] == ["cdisc_covariate_incomplete"]


PHARMAVERSE = Path(__file__).parent / "data" / "pharmaverse" / "sdtm"


def test_pharmaverse_cdisc_pilot_extract(tmp_path: Path, capsys) -> None:
    """The CDISC pilot's DM, EX, PC, AE, DS (+ PP, TU, TR, RS) as pharmaversesdtm ships
    them, for a few subjects: converted, every record accounted for, and valid."""
    from cartpk.cli import main

    out = tmp_path / "out"
    assert main(["convert", "sdtm", str(PHARMAVERSE), "--out", str(out)]) == 0
    capsys.readouterr()
    log = pd.read_csv(out / "conversion.csv", dtype=str, keep_default_na=False)
    src = {f.stem: pd.read_csv(f, dtype=str) for f in sorted(PHARMAVERSE.glob("*.csv"))}
    for stem, frame in src.items():
        rows = log.loc[log["DOMAIN"] == stem.upper(), "SOURCE_ROW"].astype(int)
        assert sorted(rows) == list(range(1, len(frame) + 1)), stem
    ds = read_dataset(out / "trial.csv")
    ex = src["ex"].assign(EXDOSE=pd.to_numeric(src["ex"]["EXDOSE"]))
    dosed = set(ex.loc[ex["EXDOSE"] > 0, "USUBJID"])  # xanomeline, not placebo
    pc = src["pc"]
    mine = pc["USUBJID"].isin(dosed) & (pc["PCTPT"] != "Pre-dose")
    subjects = sorted(set(pc.loc[mine, "USUBJID"]))  # dosed, with a sample after the dose
    assert ds.subjects == subjects and len(subjects) >= 2
    assert ds.doses["TIME"].eq(0).all() and ds.doses["ID"].tolist() == subjects
    assert (log["REASON"].str.startswith("EXDOSE 0")).sum() == (ex["EXDOSE"] == 0).sum()
    no_pc = log["REASON"].str.startswith("subject has no result used")
    assert set(log.loc[no_pc, "USUBJID"]) == dosed - set(subjects)
    obs = ds.observations()
    assert sorted(obs["DVID"].unique()) == ["XAN_PLASMA", "XAN_URINE"]
    assert len(obs) == mine.sum()
    assert obs["CENS"].sum() == (mine & (pc["PCSTRESC"] == "<BLQ")).sum()
    assert set(obs.loc[obs["CENS"] == 1, "DV"]) == {0.01}  # PCLLOQ
    first = obs[(obs["ID"] == "01-701-1028") & (obs["DVID"] == "XAN_PLASMA")].iloc[0]
    assert first["TIME"] == pytest.approx(5 / 1440)  # 5 min after the patch of 2013-07-19
    assert first["DV"] == pytest.approx(0.101566224882241)
    used_pc = log[(log["DOMAIN"] == "PC") & (log["USED"] == "N")]
    assert used_pc["REASON"].str.contains("no dose|before the first").all()
    assert log.loc[log["DOMAIN"] == "AE", "REASON"].str.contains("no AETOXGR").all()
    assert (log.loc[log["DOMAIN"] == "PP", "USED"] == "N").all()
