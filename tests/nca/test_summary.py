"""Label-style summary statistics (cartpk.noncompartmental._summary)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import cartpk as ck
from cartpk.errors import SpecError


def _result():
    # Cmax 100, 1000, 10000 (responders) and 400 (non-responder); one profile per subject
    rows = []
    for sid, peak, group in [
        ("1", 100.0, "R"),
        ("2", 1000.0, "R"),
        ("3", 10000.0, "R"),
        ("4", 400.0, "NR"),
    ]:
        rows.append(
            pd.DataFrame(
                {
                    "ID": sid,
                    "TIME": [7.0, 14.0, 28.0],
                    "DV": [peak / 10, peak, peak / 4],
                    "RESP": group,
                }
            )
        )
    return ck.nca(pd.concat(rows))


def test_geometric_mean_and_cv_by_hand():
    out = ck.noncompartmental.nca_summary(_result(), by="RESP", parameters=["CMAX"]).set_index(
        "RESP"
    )
    r = out.loc["R"]
    assert r.n == 3 and r.n_missing == 0
    assert r.geo_mean == pytest.approx(1000.0)  # (100 * 1000 * 10000)^(1/3)
    s = math.log(10.0)  # SD of ln(100), ln(1000), ln(10000)
    assert r.geo_cv_pct == pytest.approx(100 * math.sqrt(math.exp(s * s) - 1))
    assert r["mean"] == pytest.approx(3700.0) and r["median"] == 1000.0
    assert (r["min"], r["max"]) == (100.0, 10000.0)
    nr = out.loc["NR"]
    assert nr.n == 1 and nr.geo_mean == pytest.approx(400.0) and math.isnan(nr.geo_cv_pct)


def test_overall_summary_counts_missing_values():
    out = ck.noncompartmental.nca_summary(_result()).set_index("PPTESTCD")
    # three samples, Tmax at 14 d: only 1 point after Tmax, so lambda_z is missing for all
    assert out.loc["LAMZ"].n == 0 and out.loc["LAMZ"].n_missing == 4
    assert out.loc["CMAX"].n == 4


def test_unknown_group_column_raises():
    with pytest.raises(SpecError) as err:
        ck.noncompartmental.nca_summary(_result(), by="ARM")
    assert err.value.code == "summary_by_unknown"
