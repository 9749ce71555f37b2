"""RECIST 1.1 engine: hand-derived cases, one per rule (Eisenhauer et al. 2009).

Every expected value below was derived by hand from the lesion diameters in the case;
the arithmetic is in the case's comment. SOD = sum of target diameters (mm).
"""

from __future__ import annotations

import io
import math
import textwrap

import pandas as pd
import pytest

from cartpk.errors import CartpkWarning, SpecError
from cartpk.response import RULES, recist

HEADER = "ID,DAY,LESION,KIND,NODAL,DIAM_MM,STATUS\n"


def table(body: str) -> pd.DataFrame:
    """Lesion table from CSV lines (header added), every cell kept as text."""
    text = HEADER + textwrap.dedent(body).strip() + "\n"
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


# name, lesion rows, {day: (TRGRESP, NTRGRESP, NEWLPROG, OVRLRESP)}, (BOR unconf, BOR conf)
CASES = [
    (
        # 45.5 + 24.5 = 70 at baseline; 31.85 + 17.15 = 49 = 0.7 * 70 -> exactly -30 % is PR
        # (in floating point 31.85 + 17.15 is not exactly 49); day 84 the same -> confirmed
        "pr_at_exactly_minus_30",
        """
        1,-5,T1,TARGET,0,45.5,
        1,-5,T2,TARGET,0,24.5,
        1,56,T1,TARGET,0,31.85,
        1,56,T2,TARGET,0,17.15,
        1,84,T1,TARGET,0,31.85,
        1,84,T2,TARGET,0,17.15,
        """,
        {56: ("PR", None, "N", "PR"), 84: ("PR", None, "N", "PR")},
        ("PR", "PR"),
    ),
    (
        # 70.1 / 100 -> -29.9 % is not PR: SD at day 56 (>= 42 d) -> BOR SD
        "minus_29_9_is_sd",
        """
        1,-5,T1,TARGET,0,100,
        1,56,T1,TARGET,0,70.1,
        """,
        {56: ("SD", None, "N", "SD")},
        ("SD", "SD"),
    ),
    (
        # nadir 20 (baseline); day 56: 24 = +20 % but +4 mm -> not PD (SD);
        # day 84: 25 = +25 % and +5 mm over the nadir 20 -> PD; SD at day 56 qualifies
        "plus_20pct_with_4mm_is_not_pd",
        """
        1,-5,T1,TARGET,0,20,
        1,56,T1,TARGET,0,24,
        1,84,T1,TARGET,0,25,
        """,
        {56: ("SD", None, "N", "SD"), 84: ("PD", None, "N", "PD")},
        ("SD", "SD"),
    ),
    (
        # 25 -> 30: +20 % and +5 mm exactly -> PD; nothing qualifying before it
        "pd_at_exactly_20pct_and_5mm",
        """
        1,-5,T1,TARGET,0,25,
        1,56,T1,TARGET,0,30,
        """,
        {56: ("PD", None, "N", "PD")},
        ("PD", "PD"),
    ),
    (
        # baseline 100, day 42: 50 (-50 %, PR), day 84: 60 = -40 % from baseline but +20 %
        # and +10 mm over the nadir 50 -> PD. PR at day 42 unconfirmed (next is PD), but it
        # is >= 42 d after infusion, so confirmed BOR is SD
        "pd_from_nadir_below_baseline",
        """
        1,-5,T1,TARGET,0,100,
        1,42,T1,TARGET,0,50,
        1,84,T1,TARGET,0,60,
        """,
        {42: ("PR", None, "N", "PR"), 84: ("PD", None, "N", "PD")},
        ("PR", "SD"),
    ),
    (
        # non-nodal 30 -> 0, node 20 -> 8 then 9 (< 10 mm): CR although SOD = 8, 9;
        # CR at day 56 confirmed by CR at day 90 (34 d)
        "nodal_cr_with_nonzero_sod",
        """
        1,-5,T1,TARGET,0,30,
        1,-5,N1,TARGET,1,20,
        1,56,T1,TARGET,0,0,
        1,56,N1,TARGET,1,8,
        1,90,T1,TARGET,0,0,
        1,90,N1,TARGET,1,9,
        """,
        {56: ("CR", None, "N", "CR"), 90: ("CR", None, "N", "CR")},
        ("CR", "CR"),
    ),
    (
        # nodes 20 + 16 = 36 -> 2 + 2 = 4 (CR) -> 9 + 9 = 18: +350 %, +14 mm over the nadir,
        # yet every node < 10 mm is normal: CR is checked before PD
        "nodes_under_10mm_stay_cr",
        """
        1,-5,N1,TARGET,1,20,
        1,-5,N2,TARGET,1,16,
        1,42,N1,TARGET,1,2,
        1,42,N2,TARGET,1,2,
        1,84,N1,TARGET,1,9,
        1,84,N2,TARGET,1,9,
        """,
        {42: ("CR", None, "N", "CR"), 84: ("CR", None, "N", "CR")},
        ("CR", "CR"),
    ),
    (
        # 50 -> 40 (-20 %, SD) with an equivocal new lesion: not progression;
        # day 84 the new lesion is unequivocal -> PD. SD at day 56 qualifies
        "equivocal_new_lesion_is_not_pd",
        """
        1,-5,T1,TARGET,0,50,
        1,56,T1,TARGET,0,40,
        1,56,N1,NEW,,,EQUIVOCAL
        1,84,T1,TARGET,0,40,
        1,84,N1,NEW,,,UNEQUIVOCAL
        """,
        {56: ("SD", None, "N", "SD"), 84: ("SD", None, "Y", "PD")},
        ("SD", "SD"),
    ),
    (
        # 100 -> 60 (PR) at day 28 -> 65 (-35 %, PR; +5 mm but +8.3 % over nadir 60) at day
        # 49: only 21 d apart -> PR not confirmed; PR at day 49 >= 42 d counts as SD
        "unconfirmed_pr_counts_as_sd",
        """
        1,-5,T1,TARGET,0,100,
        1,28,T1,TARGET,0,60,
        1,49,T1,TARGET,0,65,
        """,
        {28: ("PR", None, "N", "PR"), 49: ("PR", None, "N", "PR")},
        ("PR", "SD"),
    ),
    (
        # PR at day 28 (before the 42-day SD minimum), then a new lesion at day 56 -> PD:
        # unconfirmed BOR PR, confirmed BOR PD (RECIST 1.1 Table 3: PR then PD)
        "unconfirmed_early_pr_then_pd",
        """
        1,-5,T1,TARGET,0,100,
        1,28,T1,TARGET,0,60,
        1,56,T1,TARGET,0,60,
        1,56,N1,NEW,,,UNEQUIVOCAL
        """,
        {28: ("PR", None, "N", "PR"), 56: ("PR", None, "Y", "PD")},
        ("PR", "PD"),
    ),
    (
        # 50 -> 45 (-10 %, SD) at day 28 only: before 42 d -> NE
        "early_sd_is_ne",
        """
        1,-5,T1,TARGET,0,50,
        1,28,T1,TARGET,0,45,
        """,
        {28: ("SD", None, "N", "SD")},
        ("NE", "NE"),
    ),
    (
        # early SD (day 28) then PD at day 56 (50 -> 62: +24 %, +12 mm) -> BOR PD
        "early_sd_then_pd_is_pd",
        """
        1,-5,T1,TARGET,0,50,
        1,28,T1,TARGET,0,45,
        1,56,T1,TARGET,0,62,
        """,
        {28: ("SD", None, "N", "SD"), 56: ("PD", None, "N", "PD")},
        ("PD", "PD"),
    ),
    (
        # PD at day 56 (50 -> 62), then shrinkage to 30 (-40 %, PR) at day 84 and 120:
        # the time points are still assessed, but nothing after the first PD counts
        "pd_followed_by_shrinkage",
        """
        1,-5,T1,TARGET,0,50,
        1,56,T1,TARGET,0,62,
        1,84,T1,TARGET,0,30,
        1,120,T1,TARGET,0,30,
        """,
        {56: ("PD", None, "N", "PD"), 84: ("PR", None, "N", "PR"), 120: ("PR", None, "N", "PR")},
        ("PD", "PD"),
    ),
    (
        # T2 not measured at day 56 (blank) and not reported at day 84 -> target NE both times
        "target_not_evaluated_is_ne",
        """
        1,-5,T1,TARGET,0,30,
        1,-5,T2,TARGET,0,20,
        1,56,T1,TARGET,0,25,
        1,56,T2,TARGET,0,,
        1,84,T1,TARGET,0,25,
        """,
        {56: ("NE", None, "N", "NE"), 84: ("NE", None, "N", "NE")},
        ("NE", "NE"),
    ),
    (
        # T2 not evaluated, but T1 alone is 70 = +40 %, +20 mm over the nadir 50 -> PD
        "partial_sum_already_pd",
        """
        1,-5,T1,TARGET,0,30,
        1,-5,T2,TARGET,0,20,
        1,56,T1,TARGET,0,70,
        1,56,T2,TARGET,0,,
        """,
        {56: ("PD", None, "N", "PD")},
        ("PD", "PD"),
    ),
    (
        # targets shrink 50 -> 30 (-40 %, PR) but a non-target progresses unequivocally
        "nontarget_unequivocal_pd",
        """
        1,-5,T1,TARGET,0,50,
        1,-5,NT1,NONTARGET,0,,PRESENT
        1,56,T1,TARGET,0,30,
        1,56,NT1,NONTARGET,0,,UNEQUIVOCAL_PD
        """,
        {56: ("PR", "PD", "N", "PD")},
        ("PD", "PD"),
    ),
    (
        # CR at day 42 and day 70: exactly 28 d apart -> confirmed CR
        "cr_confirmed_at_28_days",
        """
        1,-5,T1,TARGET,0,40,
        1,-5,NT1,NONTARGET,0,,PRESENT
        1,42,T1,TARGET,0,0,
        1,42,NT1,NONTARGET,0,,ABSENT
        1,70,T1,TARGET,0,0,
        1,70,NT1,NONTARGET,0,,ABSENT
        """,
        {42: ("CR", "CR", "N", "CR"), 70: ("CR", "CR", "N", "CR")},
        ("CR", "CR"),
    ),
    (
        # CR at day 42 and day 69: 27 d apart -> not confirmed; CR at day 42 >= 42 d -> SD
        "cr_27_days_apart_not_confirmed",
        """
        1,-5,T1,TARGET,0,40,
        1,42,T1,TARGET,0,0,
        1,69,T1,TARGET,0,0,
        """,
        {42: ("CR", None, "N", "CR"), 69: ("CR", None, "N", "CR")},
        ("CR", "SD"),
    ),
    (
        # PR (-50 %) at day 42 confirmed by CR at day 84 -> confirmed PR (CR unconfirmed)
        "pr_confirmed_by_cr",
        """
        1,-5,T1,TARGET,0,40,
        1,42,T1,TARGET,0,20,
        1,84,T1,TARGET,0,0,
        """,
        {42: ("PR", None, "N", "PR"), 84: ("CR", None, "N", "CR")},
        ("CR", "PR"),
    ),
    (
        # 50 -> 34 (-32 %, PR) at day 42 -> 36 (-28 %, +2 mm over the nadir: SD) at day 84
        # -> 34 (PR) at day 112: the SD in between breaks the confirmation -> confirmed SD
        "pr_confirmation_broken_by_sd",
        """
        1,-5,T1,TARGET,0,50,
        1,42,T1,TARGET,0,34,
        1,84,T1,TARGET,0,36,
        1,112,T1,TARGET,0,34,
        """,
        {42: ("PR", None, "N", "PR"), 84: ("SD", None, "N", "SD"), 112: ("PR", None, "N", "PR")},
        ("PR", "SD"),
    ),
    (
        # target CR with a persisting non-target lesion -> PR (Table 1); with the non-target
        # not evaluated -> PR as well; PR at 56 confirmed by PR at 84
        "target_cr_nontarget_present_or_ne_is_pr",
        """
        1,-5,T1,TARGET,0,40,
        1,-5,NT1,NONTARGET,0,,PRESENT
        1,56,T1,TARGET,0,0,
        1,56,NT1,NONTARGET,0,,PRESENT
        1,84,T1,TARGET,0,0,
        1,84,NT1,NONTARGET,0,,NE
        """,
        {56: ("CR", "NON-CR/NON-PD", "N", "PR"), 84: ("CR", "NE", "N", "PR")},
        ("PR", "PR"),
    ),
    (
        # PR of targets (-40 %) with the non-target lesion not reported -> NE non-target, PR
        "nontarget_not_reported_is_ne",
        """
        1,-5,T1,TARGET,0,50,
        1,-5,NT1,NONTARGET,1,,PRESENT
        1,56,T1,TARGET,0,30,
        """,
        {56: ("PR", "NE", "N", "PR")},
        ("PR", "SD"),
    ),
    (
        # only baseline: nothing to assess
        "no_follow_up_is_ne",
        """
        1,-5,T1,TARGET,0,50,
        """,
        {},
        ("NE", "NE"),
    ),
]


@pytest.mark.parametrize(("name", "body", "points", "bor"), CASES, ids=[c[0] for c in CASES])
def test_recist_hand_derived_case(name, body, points, bor):
    res = recist(table(body))
    tp = res.timepoints
    post = tp[tp["DAY"] > 0].set_index("DAY")
    assert sorted(post.index) == sorted(points)
    for day, (trg, ntrg, newl, ovr) in points.items():
        row = post.loc[day]
        got = tuple(None if pd.isna(row[c]) else row[c] for c in tp.columns[5:9])
        assert got == (trg, ntrg, newl, ovr), f"day {day}"
    b = res.bor.iloc[0]
    assert (b["BOR_UNCONFIRMED"], b["BOR_CONFIRMED"]) == bor


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
