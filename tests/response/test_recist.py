"""RECIST 1.1 engine: hand-derived cases, one per rule (Eisenhauer et al. 2009).

The cases are the tables of ``recist_cases.toml``: every expected value there was derived
by hand from the lesion diameters in the case; the arithmetic is in the case's comment.
SOD = sum of target diameters (mm).
"""

from __future__ import annotations

import io
import math
import textwrap
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from cartpk.errors import CartpkWarning, SpecError
from cartpk.response import RULES, recist

HEADER = "ID,DAY,LESION,KIND,NODAL,DIAM_MM,STATUS\n"


def table(body: str) -> pd.DataFrame:
    """Lesion table from CSV lines (header added), every cell kept as text."""
    text = HEADER + textwrap.dedent(body).strip() + "\n"
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


# {name: {"lesions": rows, "timepoints": {day: responses}, "bor": [...]}}, derived by hand
CASES = tomllib.loads(Path(__file__).with_name("recist_cases.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", list(CASES))
def test_recist_hand_derived_case(name):
    case = CASES[name]
    points = {int(day): tuple(v or None for v in r) for day, r in case["timepoints"].items()}
    res = recist(table(case["lesions"]))
    tp = res.timepoints
    post = tp[tp["DAY"] > 0].set_index("DAY")
    assert sorted(post.index) == sorted(points)
    for day, (trg, ntrg, newl, ovr) in points.items():
        row = post.loc[day]
        got = tuple(None if pd.isna(row[c]) else row[c] for c in tp.columns[5:9])
        assert got == (trg, ntrg, newl, ovr), f"day {day}"
    b = res.bor.iloc[0]
    assert [b["BOR_UNCONFIRMED"], b["BOR_CONFIRMED"]] == case["bor"]


def test_recist_sod_and_percent_changes_by_hand():
    # baseline 45.5 + 24.5 = 70; day 56: 49 -> -30 % (nadir 70: -30 %);
    # day 84: 21 + 14 = 35 -> -50 % from baseline, -28.571... % from the nadir 49
    res = recist(
        table(
            """
            1,-5,T1,TARGET,0,45.5,
            1,-5,T2,TARGET,0,24.5,
            1,56,T1,TARGET,0,31.85,
            1,56,T2,TARGET,0,17.15,
            1,84,T1,TARGET,0,21,
            1,84,T2,TARGET,0,14,
            """
        )
    )
    tp = res.timepoints.set_index("DAY")
    assert tp.loc[-5, "SOD"] == pytest.approx(70.0)
    assert tp.loc[56, "PCHG_BASE"] == -30.0
    assert tp.loc[84, "SOD"] == pytest.approx(35.0)
    assert tp.loc[84, "PCHG_BASE"] == pytest.approx(-50.0)
    assert tp.loc[84, "PCHG_NADIR"] == pytest.approx(100 * (35 - 49) / 49)
    assert res.bor.loc[0, "BEST_PCHG_BASE"] == pytest.approx(-50.0)


def test_recist_every_derived_value_names_its_rule():
    res = recist(
        table(
            """
            1,-5,T1,TARGET,0,50,
            1,-5,NT1,NONTARGET,0,,PRESENT
            1,56,T1,TARGET,0,30,
            1,56,NT1,NONTARGET,0,,PRESENT
            1,56,N1,NEW,,,EQUIVOCAL
            """
        )
    )
    tp = res.timepoints
    rule_cols = [c for c in tp.columns if c.endswith("_RULE")]
    assert rule_cols == [f"{c}_RULE" for c in tp.columns[2:9]]
    assert tp[rule_cols].notna().all().all()
    assert set(res.rules["RULE"]) <= set(RULES)
    day56 = tp[tp["DAY"] == 56].iloc[0]
    assert day56[rule_cols].tolist() == [
        "sod.sum",
        "pchg.base",
        "pchg.nadir",
        "trg.pr",
        "ntrg.noncr_nonpd",
        "new.equivocal",
        "ovr.pr",
    ]
    detail = res.rules.set_index(["DAY", "VARIABLE"]).loc[(56, "NEWLPROG"), "DETAIL"]
    assert "N1" in detail
    bor = res.rules[res.rules["VARIABLE"] == "BOR_CONFIRMED"].iloc[0]
    assert bor["RULE"] == "bor.sd" and "not confirmed: PR on day 56" in bor["DETAIL"]


def test_recist_pd_after_equivocal_new_lesion_notes_first_scan():
    res = recist(
        table(
            """
            1,-5,T1,TARGET,0,50,
            1,56,T1,TARGET,0,50,
            1,56,N1,NEW,,,EQUIVOCAL
            1,84,T1,TARGET,0,50,
            1,84,N1,NEW,,,UNEQUIVOCAL
            """
        )
    )
    r = res.rules.set_index(["DAY", "VARIABLE"])
    assert r.loc[(84, "NEWLPROG"), "RULE"] == "new.unequivocal"
    assert "first seen equivocal on day 56" in r.loc[(84, "NEWLPROG"), "DETAIL"]


def test_recist_bor_ignores_assessments_after_first_pd():
    res = recist(
        table(
            """
            1,-5,T1,TARGET,0,50,
            1,56,T1,TARGET,0,62,
            1,84,T1,TARGET,0,30,
            """
        )
    )
    b = res.rules[res.rules["VARIABLE"] == "BOR_UNCONFIRMED"].iloc[0]
    assert b["RULE"] == "bor.pd" and b["DAY"] == 56
    assert "1 assessment(s) after PD on day 56 ignored" in b["DETAIL"]
    # the waterfall uses changes up to the first PD only: +24 %, not -40 %
    assert res.bor.loc[0, "BEST_PCHG_BASE"] == pytest.approx(24.0)


def test_recist_nontarget_only_subject_uses_table_2():
    t = table(
        """
        1,-5,NT1,NONTARGET,0,,PRESENT
        1,56,NT1,NONTARGET,0,,PRESENT
        2,-5,NT1,NONTARGET,0,,PRESENT
        2,56,NT1,NONTARGET,0,,ABSENT
        2,90,NT1,NONTARGET,0,,ABSENT
        """
    )
    with pytest.warns(CartpkWarning) as rec:
        res = recist(t)
    assert [w.message.code for w in rec] == ["no_target_lesions"]
    tp = res.timepoints[res.timepoints["DAY"] > 0]
    assert tp["OVRLRESP"].tolist() == ["NON-CR/NON-PD", "CR", "CR"]
    assert tp["TRGRESP"].isna().all() and tp["SOD"].isna().all()
    assert res.bor["BOR_CONFIRMED"].tolist() == ["NON-CR/NON-PD", "CR"]


def test_recist_min_sd_and_confirm_days_are_options():
    t = table(
        """
        1,-5,T1,TARGET,0,50,
        1,28,T1,TARGET,0,30,
        1,49,T1,TARGET,0,30,
        """
    )
    assert recist(t).bor.loc[0, "BOR_CONFIRMED"] == "SD"  # 21 d apart: not confirmed
    res = recist(t, confirm_days=21)
    assert res.bor.loc[0, "BOR_CONFIRMED"] == "PR"
    early = table(
        """
        1,-5,T1,TARGET,0,50,
        1,28,T1,TARGET,0,45,
        """
    )
    assert recist(early, min_sd_days=28).bor.loc[0, "BOR_CONFIRMED"] == "SD"
    with pytest.raises(SpecError, match="min_sd_days"):
        recist(early, min_sd_days=-1)
    with pytest.raises(SpecError, match="confirm_days"):
        recist(early, confirm_days=math.nan)


def test_recist_subjects_are_independent_of_order():
    body = """
        2,-5,T1,TARGET,0,50,
        1,-5,T1,TARGET,0,100,
        1,56,T1,TARGET,0,70,
        2,56,T1,TARGET,0,62,
        """
    a = recist(table(body))
    lines = textwrap.dedent(body).strip().splitlines()
    b = recist(table("\n".join(reversed(lines))))
    key = ["ID", "DAY"]
    pd.testing.assert_frame_equal(
        a.timepoints.sort_values(key).reset_index(drop=True),
        b.timepoints.sort_values(key).reset_index(drop=True),
    )
    assert dict(zip(a.bor["ID"], a.bor["BOR_UNCONFIRMED"], strict=True)) == {"1": "PR", "2": "PD"}


def test_recist_absent_target_counts_zero_mm():
    res = recist(
        table(
            """
            1,-5,T1,TARGET,0,30,
            1,-5,T2,TARGET,0,20,
            1,56,T1,TARGET,0,,ABSENT
            1,56,T2,TARGET,0,0,
            """
        )
    )
    day = res.timepoints[res.timepoints["DAY"] == 56].iloc[0]
    assert day["SOD"] == 0.0 and day["TRGRESP"] == "CR"
