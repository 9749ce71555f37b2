"""Peer check on the committed pharmaverse extracts: cartpk against admiral/admiralonco.

Runs ``benchmarks/pharmaverse_peer.py`` (the full-data comparison) on
``tests/cdisc/data/pharmaverse`` and checks the agreement counts for those subjects and that
every disagreement is of a class ``docs/cdisc_peer_check.md`` explains.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from cartpk.cdisc import read_domains

ROOT = Path(__file__).resolve().parents[2]
EXTRACTS = Path(__file__).parent / "data" / "pharmaverse"


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "pharmaverse_peer", ROOT / "benchmarks" / "pharmaverse_peer.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


pv = _load_benchmark()


@pytest.fixture(scope="module")
def peer() -> object:
    """The whole comparison on the extracts, run once for the module."""
    return pv.run(EXTRACTS)


def _counts(frame: pd.DataFrame, *keys: str) -> dict[tuple, int]:
    return {k: int(n) for k, n in frame.groupby(list(keys), sort=False).size().items()}


def test_per_visit_agreement(peer) -> None:
    got = _counts(peer.visits, "SET", "READER", "CLASS")
    inv, rad = "INVESTIGATOR", "RADIOLOGIST 1"
    recist_set = {"agree": 21, "partial_date": 1}  # the RECIST set, in three comparisons
    want = {
        (pv.RS_RECIST, inv): recist_set,
        (pv.ADRS_SDTM, inv): recist_set,
        (pv.RS_RECIST, rad): recist_set,
        (pv.ADRS_ADTR, inv): {"agree": 19, "adtr_targets_only": 3},
        (pv.RS_ONCO, inv): {
            "agree": 12,
            "sum_differs": 1,
            "nadir": 1,
            "missing_target": 2,
            "duplicate_visit": 1,
        },
    }
    assert got == {(*key, c): n for key, classes in want.items() for c, n in classes.items()}


def test_each_disagreement_is_the_documented_case(peer) -> None:
    v = peer.visits.set_index(["SET", "READER", "ID", "CLASS"]).sort_index()
    inv = "INVESTIGATOR"
    # the RECIST set: week 6 of 01-701-1015 is dated 2014-02 (no day): no cartpk assessment
    partial = v.loc[[(pv.ADRS_SDTM, inv, "01-701-1015", "partial_date")]]
    assert partial[["VISIT_P", "DAY_P", "PEER"]].values.tolist() == [["WEEK 6", 57.0, "NE"]]
    assert partial["CARTPK"].isna().all()
    # the ADaM route: same visit, ADTR dates it 2014-02-01 (ADTF D), ADRS 2014-02-28
    week6 = peer.visits[(peer.visits["SET"] == pv.ADRS_ADTR) & (peer.visits["VISIT_P"] == "WEEK 6")]
    w = week6[week6["ID"] == "01-701-1015"].iloc[0]
    assert (w["DAY_C"], w["DAY_P"], w["CARTPK"], w["PEER"], w["CLASS"]) == (
        30.0, 57.0, "NE", "NE", "agree"
    )  # fmt: skip
    # the random set: one example of each class
    cases = {
        "sum_differs": ("01-701-1015", 167.0, "PD", "SD"),
        "nadir": ("01-701-1097", 126.0, "PD", "PR"),
        "duplicate_visit": ("01-711-1143", 80.0, "PR", "CHECK"),
    }
    for cls, (sid, day, cart, ref) in cases.items():
        row = v.loc[[(pv.RS_ONCO, inv, sid, cls)]]
        assert row[["DAY_C", "CARTPK", "PEER"]].values.tolist() == [[day, cart, ref]]
    missing = v.loc[(pv.RS_ONCO, inv)].xs("missing_target", level="CLASS")
    assert sorted(missing.index) == ["01-705-1431", "01-711-1143"]
    assert set(missing["TRGRESP_RULE_C"]) == {"trg.ne"}
    nadir = v.loc[[(pv.RS_ONCO, inv, "01-701-1097", "nadir")]]
    assert float(nadir["PCHG_BASE_C"].iloc[0]) == pytest.approx(-33.3333333)  # PR by baseline


def test_best_overall_response(peer) -> None:
    got = _counts(peer.bor, "SET", "PARAMCD", "CLASS")
    sdtm, adtr = "SDTM TU/TR (onco_recist) -> cartpk vs ADRS", "ADaM ADTR -> cartpk vs ADRS"
    assert got == {
        (sdtm, "BOR", "agree"): 8,
        (sdtm, "CBOR", "agree"): 8,
        (adtr, "BOR", "agree"): 6,
        (adtr, "BOR", "adtr_targets_only"): 2,
        (adtr, "CBOR", "agree"): 6,
        (adtr, "CBOR", "adtr_targets_only"): 2,
    }
    cbor = peer.bor[(peer.bor["SET"] == sdtm) & (peer.bor["PARAMCD"] == "CBOR")]
    assert dict(zip(cbor["ID"], cbor["PEER"], strict=True)) == {
        "01-701-1015": "SD",  # CR at week 9 not confirmed
        "01-701-1028": "PD",
        "01-701-1034": "NON-CR/NON-PD",
        "01-701-1097": "NE",  # NON-CR/NON-PD at week 3 only: before day 42
        "01-701-1115": "SD",  # PR day 42, CR day 63: 21 days apart, not 28
        "01-701-1118": "PR",  # PR, NE, PR: confirmed across one NE
        "01-701-1130": "SD",
        "01-701-1133": "SD",
    }


def test_nca_against_pp(peer) -> None:
    actual = _counts(peer.nca["actual"], "PPTESTCD", "CLASS")
    assert actual == {
        ("AUCALL", "aucall_is_aucinf+nominal_time+lambda_z_points"): 2,
        ("AUCLST", "nominal_time"): 2,
        ("CLST", "agree"): 2,
        ("CMAX", "agree"): 2,
        ("LAMZ", "lambda_z_points"): 2,
        ("LAMZHL", "lambda_z_points+ln2_0693"): 2,
        ("LAMZNPT", "lambda_z_points"): 2,
        ("TMAX", "agree"): 2,
    }
    # on PP's terms (nominal times, PP's lambda_z points) everything is reproduced; the
    # half-life differs by 0.693 / ln 2 exactly
    nominal = _counts(peer.nca["nominal"], "PPTESTCD", "CLASS")
    assert nominal == {(t, "agree"): 2 for t in pv.PP_TESTS if t != "LAMZHL"} | {
        ("LAMZHL", "ln2_0693"): 2
    }
    assert peer.nca["nominal"]["REL_DIFF"].max() <= pv.REL_TOL
    differ = peer.nca["actual"]
    assert differ.loc[differ["PPTESTCD"] == "AUCLST", "REL_DIFF"].max() < 1e-4
    adpp = peer.nca["adpp"]
    assert len(adpp) == 16 and (adpp["ADPP"] == adpp["PP"]).all()
    pc = peer.nca["pc_log"]
    placebo = pc[pc["USUBJID"] == "01-701-1015"]
    assert (placebo["USED"] == "N").all()  # EXDOSE 0: no dose, every sample BLQ


def test_every_class_is_explained(peer) -> None:
    classes = set(peer.visits["CLASS"]) | set(peer.bor["CLASS"])
    for k in ("actual", "nominal"):
        classes |= {c for cls in peer.nca[k]["CLASS"] for c in cls.split("+")}
    assert classes <= set(pv.CLASSES)
    doc = (ROOT / "docs" / "cdisc_peer_check.md").read_text()
    assert [c for c in pv.CLASSES if f"`{c}`" not in doc] == []


def test_every_tumour_record_is_in_the_conversion_record(peer) -> None:
    sdtm = read_domains(EXTRACTS / "sdtm")
    onco = read_domains(EXTRACTS / "sdtm_onco")
    adam = read_domains(EXTRACTS / "adam")
    expect = {
        "recist INVESTIGATOR": {k: len(sdtm[k].frame) for k in ("TU", "TR", "RS")},
        "onco INVESTIGATOR": {k: len(onco[k].frame) for k in ("TU", "TR", "RS")},
        "adtr": {k: len(adam[k].frame) for k in ("ADTR", "ADRS")},
    }
    for key, sizes in expect.items():
        conv = peer.conversions[key]
        assert conv.groupby("DOMAIN").size().to_dict() == sizes
        assert not conv.duplicated(["DOMAIN", "SOURCE_ROW"]).any()
    # the partial-date scan of 01-701-1015 is logged, not dropped
    tr = peer.conversions["recist INVESTIGATOR"]
    tr = tr[(tr["DOMAIN"] == "TR") & tr["REASON"].str.contains("no full date")]
    assert len(tr) == 4 and set(tr["USUBJID"]) == {"01-701-1015"}
