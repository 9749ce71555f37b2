"""The bundled example trial is what the seeded generator writes, in the documented shape."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartpk.examples import _make


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("examples")
    assert _make.main(["--out", str(out)]) == 0
    return pd.read_csv(out / "trial.csv"), pd.read_csv(out / "lesions.csv"), out / "mechanistic.csv"


def _make_path(made):
    return made[2]


def test_bundled_files_equal_generator_output(made):
    from cartpk.examples import path

    trial, lesions, _ = made
    pd.testing.assert_frame_equal(pd.read_csv(path("trial.csv")), trial)
    pd.testing.assert_frame_equal(pd.read_csv(path("lesions.csv")), lesions)
    made_mech = pd.read_csv(made[2])
    pd.testing.assert_frame_equal(pd.read_csv(path("mechanistic.csv")), made_mech)


def test_mechanistic_example_shape(made):
    mech = pd.read_csv(made[2])
    assert mech["ID"].nunique() == _make.MECH_N
    q = mech[mech["DVID"] == "QPCR"]
    s = mech[mech["DVID"] == "SOD"]
    assert sorted(q["TIME"].unique()) == list(_make.MECH_QPCR_DAYS)
    assert sorted(s["TIME"].unique()) == list(_make.MECH_SOD_DAYS)
    assert 0.05 < q["CENS"].mean() < 0.3  # BLQ records late on, kept censored
    assert (q.loc[q["CENS"] == 1, "DV"] == _make.MECH_QPCR_LLOQ).all()
    # the tumour shrinks under therapy (typical subject: about half its diameter by day 84)
    assert (
        s.groupby("TIME")["DV"].median().loc[84.0] < 0.7 * s.groupby("TIME")["DV"].median().loc[0.0]
    )
    ds = __import__("cartpk").read_dataset(_make_path(made))
    assert ds.exclusions.empty and set(ds.endpoints) >= {"QPCR", "SOD"}


def test_trial_shape(made):
    trial, _, _ = made
    assert list(trial.columns) == _make.COLUMNS
    assert trial["ID"].nunique() == 32
    per = trial.groupby("ID")[["TARGET", "DOSE"]].first()
    assert sorted(per["TARGET"].unique()) == ["GD2", "MSLN", "MUC1", "PSMA"]
    assert per["DOSE"].nunique() == 3
    q = trial[trial["DVID"] == "QPCR"]
    assert sorted(q["TIME"].unique()) == [7, 14, 21, 28, 60, 90]
    assert (q.loc[q["CENS"] == 1, "DV"] == 20.0).all()
    late = q[q["TIME"] >= 60]
    assert late["CENS"].mean() > 0.4  # many BLQ in the persistence phase
    assert q["DV"].median() < 24000 / 10  # far below B-ALL expansion
    for dvid in ("IL6", "IFNG"):
        c = trial[trial["DVID"] == dvid]
        assert sorted(c["TIME"].unique()) == [1, 3, 5, 7, 10, 14, 21, 28]
    crs = trial[trial["DVID"] == "CRS"]
    assert crs["ID"].nunique() == 32 and crs.groupby("ID").size().max() == 1
    assert set(crs["DV"].unique()) <= {0, 1, 2, 3, 4}
    ae = trial[trial["DVID"].str.startswith("AE_")]
    assert ae.groupby(["ID", "DVID"]).size().max() == 1 and len(ae) > 0
    assert (trial.loc[trial["EVID"] == 1, "TIME"] == 0).all()


def test_lesions_shape(made):
    _, lesions, _ = made
    assert list(lesions.columns) == [
        "ID", "DAY", "LESION", "KIND", "NODAL", "DIAM_MM", "STATUS", "ORGAN",
    ]  # fmt: skip
    assert set(lesions["DAY"].unique()) <= {-7, 28, 56, 84, 168, 252, 364}
    assert set(lesions["KIND"]) <= {"TARGET", "NONTARGET", "NEW"}
    base = lesions[(lesions["DAY"] == -7) & (lesions["KIND"] == "TARGET")]
    assert base.groupby("ID").size().max() <= 5
    assert np.all(base.groupby(["ID", "ORGAN"]).size() <= 2)


def test_bundled_trial_reads_back():
    from cartpk.examples import load_trial

    ds = load_trial()
    assert len(ds.subjects) == 32
    assert ds.exclusions.empty
    assert set(ds.events["EVENT"]) >= {"CRS", "AE_NEUTROPENIA"}
