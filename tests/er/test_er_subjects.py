"""The data route: per-subject exposure and endpoints from the bundled trial and lesions."""

from __future__ import annotations

import math

import pandas as pd

import cartpk as ck
from cartpk.er._subjects import _survival


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
