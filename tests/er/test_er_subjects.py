"""The data route: per-subject exposure and endpoints from the bundled trial and lesions."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import cartpk as ck
from cartpk.er._subjects import _survival
from cartpk.errors import SpecError


def test_survival_pfs_and_duration_of_response_by_hand():
    tp = pd.DataFrame(
        {
            "ID": ["1"] * 4 + ["2"] * 3 + ["3"] * 3,
            "DAY": [-7, 28, 56, 84, -7, 28, 56, -7, 28, 56],
            "OVRLRESP": ["", "PR", "PR", "PD", "", "SD", "SD", "", "CR", "CR"],
        }
    )
    bor = pd.DataFrame({"ID": ["1", "2", "3"], "BOR_CONFIRMED": ["PR", "SD", "CR"]})
    s = _survival(tp, bor).set_index("ID")
    # 1: PD at day 84 -> PFS event at 84; response from day 28 -> DOR 56 days, event
    assert s.loc["1", ["pfs_time", "pfs_event", "dor_time", "dor_event"]].tolist() == [
        84.0, 1, 56.0, 1,
    ]  # fmt: skip
    # 2: no PD -> censored at the last assessment; not a responder -> no DOR
    assert s.loc["2", ["pfs_time", "pfs_event"]].tolist() == [56.0, 0]
    assert math.isnan(s.loc["2", "dor_time"])
    # 3: CR from day 28, censored at 56 -> DOR 28 days, censored
    assert s.loc["3", ["dor_time", "dor_event"]].tolist() == [28.0, 0]


def test_er_subjects_on_the_bundled_trial():
    s = ck.er_subjects(ck.examples.path("trial.csv"), ck.examples.path("lesions.csv"))
    assert s["ID"].is_unique and len(s) == 32
    for col in ("DOSE", "SLD0", "cmax", "auc_0_28d", "crs_grade", "crs_grade3plus", "ae_grade",
                "il6_cmax", "ifng_cmax", "bor", "orr", "pfs_time", "pfs_event"):  # fmt: skip
        assert col in s.columns, col
    assert set(s["orr"].dropna()) <= {0.0, 1.0}
    assert (s["orr"] == s["bor"].isin(["CR", "PR"]).astype(float)).all()
    assert (s["crs_grade3plus"] == (s["crs_grade"] >= 3)).all()
    # responders, and only they, have a duration of response
    assert (s["dor_time"].notna() == (s["orr"] == 1)).all()


def test_lesion_subjects_not_in_the_trial_are_said_and_none_in_common_raises():
    from cartpk.errors import CartpkWarning, DatasetError

    trial = ck.examples.path("trial.csv")
    lesions = pd.read_csv(ck.examples.path("lesions.csv"))
    extra = pd.concat([lesions, lesions[lesions["ID"] == 101].assign(ID=999)])
    with pytest.warns(CartpkWarning, match="999") as rec:
        s = ck.er_subjects(trial, extra)
    assert rec[0].message.code == "lesions_subject_not_in_data"
    assert "999" not in set(s["ID"]) and len(s) == 32
    renamed = lesions.assign(ID=lesions["ID"].astype(str) + "x")
    with pytest.raises(DatasetError) as info:
        ck.er_subjects(trial, renamed)
    v = info.value.violations[0]
    assert v.code == "lesions_no_common_subject" and "101x" in v.value and "101" in v.value


# --- time to event from hand-made lesion tables ----------------------------------------
# Every subject has one non-nodal target lesion, 50 mm at baseline (day -7), so each scan
# is read by hand: <= 35 mm is PR (-30 % from baseline), >= 20 % and >= 5 mm over the
# smallest earlier sum is PD, anything else SD.
SUBJECTS = {
    # id: ({day: diameter in mm}, DEATH_DAY or None)
    "prog": ({28: 40, 56: 50}, None),  # 28 SD (-20 %); 56 PD (+10 mm = +25 % over 40)
    "prog_death": ({28: 40, 56: 50}, 90),  # PD on 56, then death on 90
    "death_first": ({28: 45}, 40),  # 28 SD; dies on day 40 before any PD
    "death_no_scan": ({}, 10),  # baseline only, dies on day 10
    "death_late": ({28: 45, 56: 44}, 200),  # SD, SD; dies long after the last scan
    "resp_death": ({28: 30, 56: 30, 84: 28}, 100),  # PR 28 (-40 %), confirmed 56; dies 100
    "cens": ({28: 45, 56: 44}, None),  # SD, SD, alive
    "cens_early": ({14: 45}, None),  # one scan (SD) on day 14, alive
    "pd_at_28": ({28: 70}, None),  # +20 mm = +40 % over baseline: PD on day 28
    "nothing": ({}, None),  # baseline only, alive
}


def _lesions(subjects: dict = SUBJECTS) -> pd.DataFrame:
    rows = []
    for sid, (scans, death) in subjects.items():
        dd = "" if death is None else str(death)
        rows.append((sid, -7, "T1", "TARGET", 0, 50, "", dd))
        for day, diam in scans.items():
            rows.append((sid, day, "T1", "TARGET", 0, diam, "", dd))
    cols = ["ID", "DAY", "LESION", "KIND", "NODAL", "DIAM_MM", "STATUS", "DEATH_DAY"]
    return pd.DataFrame(rows, columns=cols)


def _tte(**kw) -> pd.DataFrame:
    res = ck.recist(_lesions())
    return _survival(res.timepoints, res.bor, res.deaths, **kw).set_index("ID")


def _row(s: pd.DataFrame, sid: str, cols: list[str]) -> list:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in s.loc[sid, cols]]


PFS = ["pfs_time", "pfs_event"]
DOR = ["dor_time", "dor_event"]
OS = ["os_time", "os_event"]


def test_recist_reads_the_hand_made_responses():
    res = ck.recist(_lesions())
    tp = res.timepoints.set_index(["ID", "DAY"])["OVRLRESP"]
    assert tp[("prog", 28.0)] == "SD" and tp[("prog", 56.0)] == "PD"
    assert tp[("pd_at_28", 28.0)] == "PD"
    assert tp[("resp_death", 28.0)] == "PR"
    bor = res.bor.set_index("ID")["BOR_CONFIRMED"]
    assert bor["resp_death"] == "PR" and bor["death_no_scan"] == "NE"


def test_pfs_progression_only():
    s = _tte()
    assert _row(s, "prog", PFS) == [56.0, 1.0]  # PD on day 56
    assert _row(s, "prog", OS) == [56.0, 0.0]  # alive at the last scan
    assert _row(s, "prog", ["death_day"]) == [None]


def test_pfs_progression_then_death_counts_the_progression():
    s = _tte()
    assert _row(s, "prog_death", PFS) == [56.0, 1.0]  # PD on 56 comes before death on 90
    assert _row(s, "prog_death", OS) == [90.0, 1.0]
    assert _row(s, "prog_death", ["death_day"]) == [90.0]


def test_pfs_death_before_progression_is_an_event():
    s = _tte()
    assert _row(s, "death_first", PFS) == [40.0, 1.0]  # SD on 28, dies on 40: event on 40
    assert _row(s, "death_first", DOR) == [None, None]  # not a responder


def test_pfs_death_without_assessment_after_baseline_is_an_event():
    s = _tte()
    assert _row(s, "death_no_scan", PFS) == [10.0, 1.0]
    assert _row(s, "death_no_scan", OS) == [10.0, 1.0]


def test_pfs_death_after_the_last_assessment_is_an_event():
    # FDA 2018 convention: no censoring for missed visits (last scan 56, death 200)
    s = _tte()
    assert _row(s, "death_late", PFS) == [200.0, 1.0]


def test_dor_of_a_responder_ends_by_death():
    s = _tte()
    # first PR on day 28, no PD, dies on day 100: DOR 100 - 28 = 72 days, event
    assert _row(s, "resp_death", DOR) == [72.0, 1.0]
    assert _row(s, "resp_death", PFS) == [100.0, 1.0]


def test_pfs_censored_at_the_last_assessment_and_os_at_last_day_known_alive():
    s = _tte(last_alive={"cens": 120.0, "prog": 30.0})
    assert _row(s, "cens", PFS) == [56.0, 0.0]  # last scan on day 56
    assert _row(s, "cens", OS) == [120.0, 0.0]  # a sample on day 120: alive then
    assert _row(s, "prog", OS) == [56.0, 0.0]  # the scan on 56 is later than the sample
    assert _row(s, "nothing", PFS + OS) == [None] * 4  # nothing after baseline
    assert "pfs_exclusion" not in s.columns  # no landmark


def test_pfs_landmark_excludes_with_reason_and_shifts_time():
    s = _tte(landmark=28)
    expected = {
        # id: (pfs_time from day 28, pfs_event, pfs_exclusion)
        "prog": (56 - 28, 1, ""),
        "prog_death": (56 - 28, 1, ""),
        "death_first": (40 - 28, 1, ""),
        "death_late": (200 - 28, 1, ""),
        "resp_death": (100 - 28, 1, ""),
        "cens": (56 - 28, 0, ""),
        "death_no_scan": (
            None,
            None,
            "PFS event (death) on day 10, before the landmark on day 28",
        ),
        "cens_early": (
            None,
            None,
            "censored on day 14 (last assessment), before the landmark on day 28",
        ),
        "pd_at_28": (None, None, "PFS event (progression) on day 28, at the landmark (day 28)"),
        "nothing": (None, None, "no assessment after baseline and no death: PFS unknown"),
    }
    assert sorted(s.index) == sorted(expected)  # no subject dropped
    for sid, (t, ev, why) in expected.items():
        assert _row(s, sid, [*PFS, "pfs_exclusion"]) == [t, ev, why], sid
    # DOR and OS are not landmarked
    assert _row(s, "resp_death", DOR) == [72.0, 1.0]
    assert _row(s, "death_no_scan", OS) == [10.0, 1.0]


def test_er_subjects_death_and_landmark_on_the_bundled_trial():
    # subject 101's last QPCR sample is on day 90 (trial.csv); 103.. are not in the table
    lesions = _lesions({"101": ({28: 45, 56: 44}, None), "102": ({28: 45}, 40)})
    s = ck.er_subjects(ck.examples.path("trial.csv"), lesions, landmark=28).set_index("ID")
    assert len(s) == 32
    assert _row(s, "101", [*PFS, "pfs_exclusion", *OS]) == [28.0, 0.0, "", 90.0, 0.0]
    assert _row(s, "102", [*PFS, "pfs_exclusion", "death_day", *OS]) == [
        12.0, 1.0, "", 40.0, 40.0, 1.0,
    ]  # fmt: skip
    assert _row(s, "103", [*PFS, "pfs_exclusion"]) == [None, None, "not in the lesion table"]


def test_er_subjects_landmark_needs_lesions_and_days():
    with pytest.raises(SpecError) as exc:
        ck.er_subjects(ck.examples.path("trial.csv"), landmark=28)
    assert exc.value.violations[0].code == "landmark_without_lesions"
    for bad in (-1, math.nan, "28", True):
        with pytest.raises(SpecError) as exc:
            ck.er_subjects(ck.examples.path("trial.csv"), _lesions(), landmark=bad)
        assert exc.value.violations[0].code == "option_invalid"
        assert "landmark=28" in exc.value.violations[0].fix
