"""Input checks of model_exposure and compare_exposure: codes, messages and their order."""

from __future__ import annotations

import pandas as pd
import pytest

import cartpk as ck
from cartpk.errors import SpecError

STEIN = ck.load_model("stein2019")


def _one(**kwargs) -> pd.DataFrame:
    return pd.DataFrame([{"ID": "1", **STEIN.typical(), **kwargs}])


@pytest.mark.parametrize(
    ("kwargs", "code", "title"),
    [
        ({"grid": "fine"}, "grid_invalid", "invalid numerical settings"),
        ({"auc_method": "exact"}, "auc_method_invalid", "invalid `auc_method`"),
    ],
)
def test_model_exposure_single_problem_options(kwargs, code, title):
    with pytest.raises(SpecError) as err:
        ck.model_exposure(STEIN, _one(), **kwargs)
    (v,) = err.value.violations
    assert v.code == code and v.fix and v.expected
    assert str(err.value).startswith(title)


def test_model_exposure_problems_come_in_argument_order():
    params = pd.concat([_one(), _one()]).drop(columns=["alpha"])
    with pytest.raises(SpecError) as err:
        ck.model_exposure(STEIN, params, interval_ends=(28, 90), horizon=50, lloq=-1, dvid="IL6")
    codes = [v.code for v in err.value.violations]
    assert codes == [
        "dvid_unknown",
        "horizon_invalid",
        "lloq_invalid",
        "parameter_missing",
        "duplicate_subject",
    ]
    assert str(err.value).startswith("cannot compute model-based exposure: 5 problems")


def test_model_exposure_params_not_a_table_keeps_earlier_problems():
    with pytest.raises(SpecError) as err:
        ck.model_exposure(STEIN, "params.csv", interval_ends="abc")
    assert [v.code for v in err.value.violations] == ["interval_ends_invalid", "params_type"]


def test_compare_exposure_single_problem_inputs():
    m = pd.DataFrame({"ID": ["1", "2", "3"], "cmax": [1.0, 2.0, 3.0]})
    with pytest.raises(SpecError) as err:
        ck.compare_exposure(m, m, metrics=["cmax"], ci=1.0)
    assert [v.code for v in err.value.violations] == ["ci_invalid"]
    assert "`ci` must be strictly between 0 and 1" in str(err.value)
    with pytest.raises(SpecError) as err:
        ck.compare_exposure(m, [1, 2], metrics=["cmax"])
    assert [v.code for v in err.value.violations] == ["table_type"]
    assert "`nca_wide` is not an exposure table" in str(err.value)


def test_compare_exposure_without_spread_keeps_the_ratio():
    m = pd.DataFrame({"ID": ["1", "2", "3"], "cmax": [4.0, 4.0, 4.0]})
    o = pd.DataFrame({"ID": ["1", "2", "3"], "cmax": [1.0, 2.0, 4.0]})
    row = ck.compare_exposure(m, o, metrics=["cmax"]).table.iloc[0]
    assert row["reason"].startswith("[no_spread]")
    assert pd.isna(row["r2_log"]) and pd.isna(row["slope_log"])
    assert row["gmr"] == pytest.approx(2.0)
    assert row["gmr_lower"] < row["gmr"] < row["gmr_upper"]
