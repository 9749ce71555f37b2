"""read_adam on small hand-built ADaM folders with known answers (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from conversion_checks import log_row, raised, study_fixture, trial_rows

from cartpk.cdisc import read_adam, read_domains
from cartpk.cdisc._sdtm import read_sdtm
from cartpk.data import read_dataset
from cartpk.response import recist

ADSL = [
    {"USUBJID": "S1", "AGE": "63", "SEX": "F", "RACE": "WHITE", "ETHNIC": "NOT HISPANIC",
     "ACTARMCD": "CART", "COUNTRY": "USA", "WEIGHTBL": "70.5", "TRTSDT": "2024-01-10",
     "TRTSDTM": "2024-01-10T10:00:00", "DTHFL": "Y", "DTHDT": "2024-03-01"},
    {"USUBJID": "S2", "AGE": "55", "SEX": "M", "RACE": "ASIAN", "ETHNIC": "NOT HISPANIC",
     "ACTARMCD": "CART", "COUNTRY": "JPN", "WEIGHTBL": "82", "TRTSDT": "2024-02-01",
     "TRTSDTM": "2024-02-01T08:00:00", "DTHFL": "", "DTHDT": ""},
    {"USUBJID": "S3", "AGE": "70", "SEX": "M", "RACE": "WHITE", "ETHNIC": "HISPANIC",
     "ACTARMCD": "SCRNFAIL", "COUNTRY": "USA", "WEIGHTBL": "", "TRTSDT": "", "TRTSDTM": "",
     "DTHFL": "", "DTHDT": ""},
]  # fmt: skip
_EX = {"PARCAT1": "INDIVIDUAL", "EXTRT": "TISACEL", "EXDOSU": "10^6 cells",
       "EXDOSFRQ": "ONCE", "AVALU": "10^6 cells", "ASTDY": "1"}  # fmt: skip
ADEX = [
    {**_EX, "USUBJID": "S1", "ASEQ": "1", "PARAMCD": "DOSE", "EXDOSE": "200", "AVAL": "200",
     "ASTDTM": "2024-01-10T10:00:00", "ASTDT": "2024-01-10"},
    {**_EX, "USUBJID": "S1", "ASEQ": "2", "PARAMCD": "TDOSE", "PARCAT1": "OVERALL",
     "EXDOSE": "", "AVAL": "200", "ASTDTM": "2024-01-10T10:00:00", "ASTDT": "2024-01-10"},
    {**_EX, "USUBJID": "S2", "ASEQ": "1", "PARAMCD": "DOSE", "EXDOSE": "150", "AVAL": "150",
     "ASTDTM": "2024-02-01T08:00:00", "ASTDT": "2024-02-01"},
]  # fmt: skip


def _pc(sid: str, seq: int, src: int, afrlt: str, aval: str, **kw: str) -> dict[str, str]:
    row = {"USUBJID": sid, "ASEQ": str(seq), "PARAMCD": "CARQPCR", "PCSPEC": "BLOOD",
           "AVAL": aval, "AVALU": "copies/ug", "PCSTRESC": aval, "ALLOQ": "20",
           "AFRLT": afrlt, "FRLTU": "HOURS", "ADTM": "", "DTYPE": "", "ANL01FL": "Y",
           "BASETYPE": "DAY 1", "SRCDOM": "PC", "SRCSEQ": str(src)}  # fmt: skip
    return {**row, **kw}


ADPC = [
    _pc("S1", 1, 1, "-2", "0", PCSTRESC="<BLQ"),  # pre-dose: not used
    _pc("S1", 2, 2, "24", "500"),
    _pc("S1", 3, 2, "24", "500", BASETYPE="DAY 2"),  # the same sample again
    _pc("S1", 4, 3, "168", "", PCSTRESC="<BLQ"),  # BLQ -> CENS=1 at ALLOQ
    _pc("S1", 5, 3, "168", "10", PCSTRESC="<BLQ", DTYPE="HALFLLOQ"),  # derived
    _pc("S1", 6, 4, "336", "42", ANL01FL="N"),  # left out by the producer
    _pc("S1", 7, 5, "", "42", ADTM="2024-01-24T10:00:00"),  # no AFRLT: time from ADTM
    _pc("S2", 8, 1, "7", "1200", FRLTU="DAYS"),
    _pc("S2", 9, 2, "336", "300"),
    _pc("S2", 10, 3, "0", "150", PARAMCD="DOSE", AVALU="10^6 cells", SRCDOM="EX"),
    _pc("S3", 11, 1, "24", "100"),  # no dose: not used
]
_LB = {"LBSPEC": "SERUM", "AVALU": "pg/mL", "ALLOQ": "2", "ADY": ""}
ADLB = [
    {**_LB, "USUBJID": "S1", "ASEQ": "1", "PARAMCD": "IL6", "AVAL": "35", "AVALC": "35",
     "ADTM": "2024-01-11T10:00:00"},
    {**_LB, "USUBJID": "S1", "ASEQ": "2", "PARAMCD": "ALT", "AVAL": "30", "AVALC": "30",
     "AVALU": "U/L", "ADTM": "2024-01-11T10:00:00"},
    {**_LB, "USUBJID": "S1", "ASEQ": "3", "PARAMCD": "IL6", "AVAL": "", "AVALC": "<2",
     "ADTM": "2024-01-17T10:00:00"},
    {**_LB, "USUBJID": "S2", "ASEQ": "1", "PARAMCD": "IL6", "AVAL": "9", "AVALC": "9",
     "ADTM": "", "ADY": "4"},
]  # fmt: skip
_AE = {"ASTDT": "", "ASTDY": "", "AESEV": "", "ATOXGR": ""}
ADAE = [
    {**_AE, "USUBJID": "S1", "AESEQ": "1", "AEDECOD": "Cytokine release syndrome",
     "ATOXGR": "2", "ASTDT": "2024-01-12"},
    {**_AE, "USUBJID": "S1", "AESEQ": "2", "AEDECOD": "Cytokine release syndrome",
     "ATOXGR": "1", "ASTDT": "2024-01-12"},
    {**_AE, "USUBJID": "S2", "AESEQ": "1",
     "AEDECOD": "Immune effector cell-associated neurotoxicity syndrome",
     "ATOXGR": "Grade 3", "ASTDT": "2024-02-05"},
    {**_AE, "USUBJID": "S2", "AESEQ": "2", "AEDECOD": "Headache", "AESEV": "MILD",
     "ASTDT": "2024-02-02"},
    {**_AE, "USUBJID": "S2", "AESEQ": "3", "AEDECOD": "Neutropenia", "ATOXGR": "4",
     "ASTDY": "8"},
]  # fmt: skip
OTHERS = {
    "adrs": [{"USUBJID": "S1", "ASEQ": "1", "PARAMCD": "OVR", "AVALC": "PR"}],
    "adtte": [{"USUBJID": "S1", "ASEQ": "1", "PARAMCD": "OS", "AVAL": "51", "CNSR": "0"}],
    "advs": [{"USUBJID": "S1", "ASEQ": "1", "PARAMCD": "WEIGHT", "AVAL": "70.5"}],
}


def write_adam(folder: Path, **replace: list[dict[str, str]] | None) -> Path:
    """The study as CSV files; ``replace`` swaps (or, with ``None``, drops) a dataset."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"adsl": ADSL, "adex": ADEX, "adpc": ADPC, "adlb": ADLB, "adae": ADAE, **OTHERS}
    tables.update(replace)
    for name, rows in tables.items():
        if rows is not None:
            pd.DataFrame(rows).to_csv(folder / f"{name}.csv", index=False)
    return folder


conv = study_fixture(write_adam, read_adam)


def _log(conv, domain: str, row: int) -> pd.Series:
    return log_row(conv.conversion, domain, SOURCE_ROW=row)


def test_known_trial_table(conv) -> None:
    t = conv.trial
    assert trial_rows(t) == [
        ("S1", 0.0, 1, "", None, 0),
        ("S1", 1.0, 0, "CARQPCR", 500.0, 0),  # AFRLT 24 h
        ("S1", 1.0, 0, "IL6", 35.0, 0),  # ADTM one day after the dose
        ("S1", 1.5833, 0, "CRS", 2.0, 0),  # ASTDT read as 00:00; grade 2 kept over 1
        ("S1", 7.0, 0, "CARQPCR", 20.0, 1),  # <BLQ -> CENS=1 at ALLOQ 20
        ("S1", 7.0, 0, "IL6", 2.0, 1),  # AVALC "<2" -> CENS=1 at ALLOQ 2
        ("S1", 14.0, 0, "CARQPCR", 42.0, 0),  # no AFRLT: ADTM minus the dose
        ("S2", 0.0, 1, "", None, 0),
        ("S2", 3.0, 0, "IL6", 9.0, 0),  # ADY 4 -> 3 days (no day 0)
        ("S2", 3.6667, 0, "ICANS", 3.0, 0),
        ("S2", 7.0, 0, "AE_NEUTROPENIA", 4.0, 0),  # ASTDY 8
        ("S2", 7.0, 0, "CARQPCR", 1200.0, 0),  # AFRLT 7 DAYS
        ("S2", 14.0, 0, "CARQPCR", 300.0, 0),
    ]
    assert t.loc[t["EVID"] == 1, "AMT"].tolist() == [200.0, 150.0]  # EXDOSE
    assert t.loc[t["CENS"] == 1, "LLOQ"].tolist() == [20.0, 2.0]
    assert list(t.columns) == [
        "ID", "TIME", "DV", "EVID", "AMT", "MDV", "CENS", "LLOQ", "DVID",
        "AGE", "SEX", "RACE", "ETHNIC", "ARM", "COUNTRY", "WT",
    ]  # fmt: skip
    assert t.groupby("ID")["WT"].first().tolist() == [70.5, 82.0]
    assert t["AGE"].dtype == float
    ds = read_dataset(t)
    assert ds.subjects == ["S1", "S2"] and ds.conversions.empty


def test_every_record_logged_once_with_its_row(conv, tmp_path: Path) -> None:
    log = conv.conversion
    sizes = {"ADSL": 3, "ADEX": 3, "ADPC": 11, "ADLB": 4, "ADAE": 5, "ADRS": 1, "ADTTE": 1,
             "ADVS": 1}  # fmt: skip
    assert log.groupby("DOMAIN").size().to_dict() == sizes
    assert not log.duplicated(["DOMAIN", "SOURCE_ROW"]).any()
    rows = log[log["TABLE_ROW"] != ""]
    assert len(rows) == len(conv.trial)  # every trial row comes from one source record
    for r in rows.itertuples():
        assert conv.trial.loc[int(r.TABLE_ROW) - 1, "ID"] == r.USUBJID
    assert sorted(rows["TABLE_ROW"].astype(int)) == list(range(1, len(conv.trial) + 1))
    assert (log.loc[log["USED"] == "N", "REASON"] != "").all()


def test_adpc_copies_and_flags_say_which_record_was_used(conv) -> None:
    assert _log(conv, "ADPC", 1)["REASON"].startswith("before the first dose (TIME -0.0833333")
    assert _log(conv, "ADPC", 3)["REASON"] == (
        "the same sample as record 2 under BASETYPE 'DAY 2', which is used: kept once"
    )
    assert _log(conv, "ADPC", 5)["REASON"] == (
        "derived record (DTYPE HALFLLOQ), not data: record 4 is this sample's observed record"
    )
    assert _log(conv, "ADPC", 6)["REASON"].startswith("ANL01FL N, on every record of this sample")
    assert _log(conv, "ADPC", 10)["REASON"].endswith("the doses are read from ADEX")
    assert _log(conv, "ADPC", 11)["REASON"] == "subject has no dose: not in trial.csv"
    blq = _log(conv, "ADPC", 4)
    assert blq["USED"] == "Y" and "BLQ text '<BLQ' -> CENS=1 at ALLOQ 20" in blq["REASON"]
    assert "TIME from AFRLT 168 HOURS" in blq["REASON"]
    assert "TIME from date-time (ADTM, ADT or ADY)" in _log(conv, "ADPC", 7)["REASON"]
    assert conv.warnings == []


def test_other_records_say_why(conv) -> None:
    assert _log(conv, "ADEX", 2)["REASON"].startswith("exposure parameter PARAMCD TDOSE")
    assert "is not in the analyte map" in _log(conv, "ADLB", 2)["REASON"]
    assert "the highest grade is kept" in _log(conv, "ADAE", 2)["REASON"]
    assert "AESEV MILD is a severity" in _log(conv, "ADAE", 4)["REASON"]
    assert "derived responses" in _log(conv, "ADRS", 1)["REASON"]
    assert _log(conv, "ADTTE", 1)["REASON"].startswith("derived time-to-event parameter")
    assert _log(conv, "ADVS", 1)["REASON"].startswith("dataset ADVS is not converted")
    assert _log(conv, "ADSL", 3)["REASON"] == "subject has no dose: not in trial.csv"
    assert conv.lesions.empty


def test_death_day_from_adsl(conv) -> None:
    s1 = _log(conv, "ADSL", 1)
    assert s1["USED"] == "Y" and s1["TABLE"] == "trial.csv"
    # DTHDT 2024-03-01 (00:00) minus the dose 2024-01-10T10:00
    assert "death on day 50.5833 (DTHDT, date (00:00)) -> DEATH_DAY of lesions.csv" in s1["REASON"]
    assert "death" not in _log(conv, "ADSL", 2)["REASON"]


def test_endpoints(conv) -> None:
    e = conv.endpoints.set_index("DVID")
    assert e.loc["", "UNIT"] == "10^6 cells" and e.loc["", "SCALE"] == "dose"
    assert e.loc["CARQPCR", "UNIT"] == "copies/ug" and e.loc["CARQPCR", "SCALE"] == "log"
    assert e.loc["IL6", "SOURCE"] == "ADLB PARAMCD IL6, LBSPEC SERUM"
    assert e.loc["CRS", "SCALE"] == "grade"


def test_dataset_json_gives_the_same_table(conv, tmp_path: Path) -> None:
    folder = write_adam(tmp_path / "json", adpc=None)
    names = list(ADPC[0])
    numeric = {"ASEQ", "AVAL", "ALLOQ", "AFRLT", "SRCSEQ"}

    def cell(k: str, v: str) -> object:
        return (float(v) if v else None) if k in numeric else (v or None)

    doc = {
        "datasetJSONVersion": "1.1",
        "name": "ADPC",
        "records": len(ADPC),
        "columns": [
            {
                "itemOID": f"IT.ADPC.{k}",
                "name": k,
                "label": k,
                "dataType": "double" if k in numeric else "string",
            }
            for k in names
        ],  # fmt: skip
        "rows": [[cell(k, r[k]) for k in names] for r in ADPC],
    }
    (folder / "adpc.json").write_text(json.dumps(doc), encoding="utf-8")
    pd.testing.assert_frame_equal(read_adam(folder).trial, conv.trial)


def test_xpt_with_sas_dates_gives_the_same_table(conv, tmp_path: Path) -> None:
    """SAS transport files hold dates as numbers: days (``*DT``) or seconds (``*DTM``) since
    1960-01-01."""
    import pyreadstat

    epoch = pd.Timestamp("1960-01-01")
    numeric = {"AVAL", "ALLOQ", "AFRLT", "ASEQ", "EXDOSE", "AGE", "WEIGHTBL", "ADY", "ASTDY"}
    folder = tmp_path / "xpt"
    folder.mkdir()
    for p in write_adam(tmp_path / "csv").glob("*.csv"):
        f = pd.read_csv(p, dtype=str, keep_default_na=False)
        for c in f.columns:
            if c.endswith("DTM"):
                f[c] = [(pd.Timestamp(v) - epoch).total_seconds() if v else None for v in f[c]]
            elif c.endswith("DT"):
                f[c] = [(pd.Timestamp(v) - epoch).days if v else None for v in f[c]]
            elif c in numeric:
                f[c] = pd.to_numeric(f[c])
        pyreadstat.write_xport(f, str(folder / f"{p.stem}.xpt"), table_name=p.stem.upper(),
                               file_format_version=5)  # fmt: skip
    stored = pd.read_sas(folder / "adex.xpt", format="xport", encoding="latin-1")
    assert isinstance(stored["ASTDTM"][0], float)
    pd.testing.assert_frame_equal(read_adam(folder).trial, conv.trial)


def test_analyte_map_names_the_dvid(tmp_path: Path) -> None:
    amap = tmp_path / "map.csv"
    amap.write_text("DOMAIN,TESTCD,SPEC,DVID,UNIT\nADPC,CARQPCR,,QPCR,copies/ug\n")
    conv = read_adam(write_adam(tmp_path / "adam"), map=amap)
    assert sorted(set(conv.trial["DVID"])) == ["", "AE_NEUTROPENIA", "CRS", "ICANS", "IL6", "QPCR"]
    assert "via" not in conv.endpoints.set_index("DVID").loc["QPCR", "SOURCE"]


def test_a_sample_flagged_through_its_imputed_copy_is_used(tmp_path: Path) -> None:
    """Some producers flag the imputed record (HALFLLOQ) for the analysis, not the BLQ record
    it was imputed from: the sample is in the analysis, and its observed record is used."""
    rows = [
        *ADPC[:2],
        _pc("S1", 3, 3, "168", "", PCSTRESC="<BLQ", ANL01FL=""),
        _pc("S1", 4, 3, "168", "10", PCSTRESC="<BLQ", DTYPE="HALFLLOQ"),
        _pc("S1", 5, 4, "336", "42", ANL01FL=""),  # no record of this sample flagged
    ]
    conv = read_adam(write_adam(tmp_path / "adam", adpc=rows))
    blq = _log(conv, "ADPC", 3)
    assert blq["USED"] == "Y" and "CENS=1 at ALLOQ 20" in blq["REASON"]
    assert _log(conv, "ADPC", 4)["REASON"].startswith("derived record (DTYPE HALFLLOQ)")
    assert _log(conv, "ADPC", 5)["REASON"].startswith("ANL01FL blank, on every record")


def test_afrlt_is_preferred_to_the_date(tmp_path: Path) -> None:
    rows = [*ADPC[:2], _pc("S1", 12, 9, "30", "80", ADTM="2024-01-12T10:00:00")]
    conv = read_adam(write_adam(tmp_path / "adam", adpc=rows))
    t = conv.trial
    assert t.loc[(t["DVID"] == "CARQPCR") & (t["DV"] == 80), "TIME"].tolist() == [1.25]
    assert [w.code for w in conv.warnings] == ["cdisc_time_disagree"]


def test_doses_from_adsl_without_adex(tmp_path: Path) -> None:
    adsl = [{**r, "DOSE01A": a, "DOSE01U": "10^6 cells"} for r, a in zip(ADSL, "12 ", strict=True)]
    adpc = [r for r in ADPC if r["PARAMCD"] != "DOSE"]
    conv = read_adam(write_adam(tmp_path / "adam", adsl=adsl, adex=None, adpc=adpc))
    t = conv.trial
    assert t.loc[t["EVID"] == 1, ["ID", "TIME", "AMT"]].values.tolist() == [
        ["S1", 0.0, 1.0],
        ["S2", 0.0, 2.0],
    ]
    s1 = _log(conv, "ADSL", 1)
    assert s1["TABLE_ROW"] == 1 and s1["REASON"].startswith("dose DOSE01A 1 10^6 cells")
    assert "covariates AGE, SEX" in s1["REASON"]
    assert _log(conv, "ADSL", 3)["REASON"].startswith("subject has no dose (")
    read_dataset(t)


def test_later_doses_and_other_treatments(tmp_path: Path) -> None:
    later = {**ADEX[0], "ASEQ": "3", "ASTDTM": "2024-01-24T10:00:00", "ASTDT": "2024-01-24"}
    flu = {**ADEX[0], "ASEQ": "4", "EXTRT": "FLUDARABINE", "EXDOSE": "30", "EXDOSU": "mg/m2",
           "ASTDTM": "2024-01-05T10:00:00", "ASTDT": "2024-01-05"}  # fmt: skip
    folder = write_adam(tmp_path / "adam", adex=[*ADEX, later, flu])
    assert {v.code for v in raised(read_adam, folder)} == {
        "cdisc_several_treatments",
        "cdisc_mixed_dose_units",
    }
    conv = read_adam(folder, treatment=["tisacel"])
    assert _log(conv, "ADEX", 4)["REASON"].startswith("dose after the first (TIME > 0)")
    assert "'FLUDARABINE' is not the treatment converted" in _log(conv, "ADEX", 5)["REASON"]
    assert [w.code for w in conv.warnings] == ["cdisc_later_doses_not_used"]
    assert (conv.trial["EVID"] == 1).sum() == 2


def test_every_problem_in_one_error(tmp_path: Path) -> None:
    adpc = [
        *ADPC[:2],
        _pc("S1", 12, 7, "48", "80", AVALU="copies/mL"),  # a second unit
        _pc("S1", 13, 8, "72", "", PCSTRESC="<BLQ", ALLOQ=""),  # BLQ without ALLOQ
        _pc("S1", 14, 9, "", "90"),  # no time at all
        _pc("S1", 15, 10, "5", "90", FRLTU="FORTNIGHTS"),
        _pc("S2", 16, 4, "96", "70"),
        _pc("S2", 17, 4, "96", "71", BASETYPE="DAY 2"),  # one sample, two values
    ]
    adlb = [{**ADLB[0], "AVALU": "ng/mL"}]  # the map wants pg/mL
    adae = [{**ADAE[0], "ATOXGR": "7"}]
    adex = [*ADEX, {**ADEX[2], "ASEQ": "2", "EXDOSE": "50"}]  # two records at S2's infusion
    folder = write_adam(tmp_path / "adam", adpc=adpc, adlb=adlb, adae=adae, adex=adex)
    got = {v.code: v for v in raised(read_adam, folder)}
    assert set(got) == {
        "cdisc_mixed_units",
        "cdisc_blq_without_lloq",
        "cdisc_no_time",
        "cdisc_time_unit_unknown",
        "cdisc_duplicate_sample",
        "cdisc_unit_mismatch",
        "cdisc_grade_invalid",
        "cdisc_first_dose_repeated",
    }
    assert got["cdisc_first_dose_repeated"].rows == (3, 4)
    assert got["cdisc_blq_without_lloq"].rows == (4,)
    assert got["cdisc_no_time"].rows == (5,)
    assert got["cdisc_duplicate_sample"].rows == (7, 8)


def test_no_dose_given(tmp_path: Path) -> None:
    placebo = [{**r, "EXDOSE": "0"} for r in ADEX]
    folder = write_adam(tmp_path / "adam", adex=placebo)
    assert [v.code for v in raised(read_adam, folder)] == ["cdisc_no_doses"]


def test_not_an_adam_folder(tmp_path: Path) -> None:
    folder = tmp_path / "sdtm"
    folder.mkdir()
    pd.DataFrame({"USUBJID": ["S1"], "DOMAIN": ["DM"]}).to_csv(folder / "dm.csv", index=False)
    assert [v.code for v in raised(read_adam, folder)] == ["cdisc_no_adam"]


PHARMAVERSE = Path(__file__).parent / "data" / "pharmaverse"


def test_pharmaverse_adam_extract_matches_its_sdtm() -> None:
    """The pharmaverse ADaM extract (ADSL, ADPC, ADRS, ADTR, ADPP): a valid trial table whose
    concentrations are those read_sdtm gives from the SDTM extract's PC."""
    conv = read_adam(PHARMAVERSE / "adam")
    log = conv.conversion
    sizes = {n.upper(): len(pd.read_csv(p)) for n, p in
             ((p.stem, p) for p in (PHARMAVERSE / "adam").glob("*.csv"))}  # fmt: skip
    assert log.groupby("DOMAIN").size().to_dict() == sizes
    assert not log.duplicated(["DOMAIN", "SOURCE_ROW"]).any()
    pc = log[log["DOMAIN"] == "ADPC"]
    why = pc["REASON"].str.extract(r"^(derived record \(DTYPE [A-Z/]+\)|dose after the first|"
                                   r"before the first dose)")[0]  # fmt: skip
    assert why.value_counts().to_dict() == {
        "derived record (DTYPE HALFLLOQ)": 6,
        "derived record (DTYPE COPY)": 4,
        "dose after the first": 4,
        "before the first dose": 2,
        "derived record (DTYPE COPY/HALFLLOQ)": 2,
    }
    assert (pc["USED"] == "Y").sum() == 36 and (log["DOMAIN"].isin(["ADRS", "ADPP"])
                                                 & (log["USED"] == "Y")).sum() == 0  # fmt: skip
    ds = read_dataset(conv.trial)
    assert ds.subjects == ["01-701-1028", "01-701-1034"]
    sdtm = read_domains(PHARMAVERSE / "sdtm")
    ref = read_sdtm({k: sdtm[k] for k in ("DM", "EX", "PC")}).trial
    cols = ["ID", "TIME", "DV", "EVID", "AMT", "CENS", "LLOQ", "DVID"]
    pd.testing.assert_frame_equal(conv.trial[cols].round(9), ref[cols].round(9))
    assert (conv.trial["EVID"] == 0).sum() == 34
    assert conv.lesions["ID"].nunique() == 6 and len(conv.lesions) == 78
    recist(conv.lesions)  # the lesion table cartpk recist reads
