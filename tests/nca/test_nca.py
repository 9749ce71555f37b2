"""The table API: BLQ rules by position, reasons for missing values, manual lambda_z,
CDISC output and input checks (cartpk.noncompartmental._nca)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cartpk as ck
from cartpk.errors import DatasetError, SpecError
from cartpk.noncompartmental import PARAMETERS


def _value(res, testcd, sid="1"):
    row = res.long[(res.long.ID == sid) & (res.long.PPTESTCD == testcd)]
    assert len(row) == 1
    return row.iloc[0]


# positions: t0 BLQ before first, t2 BLQ between, t5 and t6 BLQ after the last quantifiable
BLQ_TABLE = pd.DataFrame(
    {
        "ID": "1",
        "TIME": [0.0, 1, 2, 3, 4, 5, 6],
        "DV": [50.0, 100, 50, 80, 60, 50, 50],
        "CENS": [1, 0, 1, 0, 0, 1, 1],
        "LLOQ": 50.0,
    }
)


def test_blq_defaults_zero_before_drop_between_exclude_after_recorded_per_row():
    res = ck.nca(BLQ_TABLE, interval=(0, 4))
    # (0,0) (1,100) (3,80) (4,60): 50 + 2*(100+80)/2 + (80+60)/2
    assert _value(res, "AUCLST").PPORRES == pytest.approx(300.0)
    assert _value(res, "AUCINT").PPORRES == pytest.approx(300.0)
    rules = res.rules.set_index("ROW")["RULE"]
    assert rules.loc[1] == "blq_before_first"
    assert rules.loc[3] == "blq_between"
    assert rules.loc[6] == "blq_after_last" and rules.loc[7] == "blq_after_last"
    assert "dropped" in res.rules.set_index("ROW").loc[3, "DETAIL"]


@pytest.mark.parametrize(
    ("between", "auclast"),
    [
        ("zero", 50 + 50 + 40 + 70),  # (2, 0) kept
        ("half_lloq", 50 + 62.5 + 52.5 + 70),  # (2, 25)
        ("lloq", 50 + 75 + 65 + 70),  # (2, 50)
    ],
)
def test_blq_between_options(between, auclast):
    res = ck.nca(BLQ_TABLE, blq={"between": between}, interval=None)
    assert _value(res, "AUCLST").PPORRES == pytest.approx(auclast)


def test_blq_after_zero_keeps_zeros_and_interval_needs_no_lambda_z():
    zero = ck.nca(BLQ_TABLE, blq={"after": "zero"}, interval=(0, 6))
    # 300 + (4->5: (60+0)/2) + (5->6: 0)
    assert _value(zero, "AUCINT").PPORRES == pytest.approx(330.0)
    assert _value(zero, "TLST").PPORRES == 4.0
    first = ck.nca(BLQ_TABLE, blq={"after": "first_zero"}, interval=(0, 6))
    assert _value(first, "AUCINT").PPORRES == pytest.approx(330.0)
    assert (first.rules.RULE == "blq_after_last").sum() == 2


def test_interval_after_tlast_without_lambda_z_is_missing_with_reason():
    res = ck.nca(BLQ_TABLE, interval=(0, 6))
    row = _value(res, "AUCINT")
    assert math.isnan(row.PPORRES)
    assert row.REASON.startswith("[interval_needs_lambda_z]")
    assert "lambda_z_too_few_points" not in row.REASON  # message, not the code, is nested
    assert _value(res, "LAMZ").REASON.startswith("[lambda_z_too_few_points]")


def test_extrapolation_can_be_switched_off():
    t = np.arange(0.0, 8.0)
    df = pd.DataFrame({"ID": "1", "TIME": t, "DV": np.r_[0.0, 100 * np.exp(-0.3 * t[1:])]})
    on = ck.nca(df, interval=(0, 10))
    assert _value(on, "AUCINT").PPORRES > _value(on, "AUCLST").PPORRES
    assert "aucint_extrapolated" in set(on.rules.RULE)
    off = ck.nca(df, interval=(0, 10), extrapolate=False)
    assert _value(off, "AUCINT").REASON.startswith("[interval_after_tlast]")


def test_c0_imputed_at_infusion_and_recorded_or_interval_missing_without_it():
    df = pd.DataFrame({"ID": "1", "TIME": [7.0, 14, 21, 28], "DV": [3000.0, 11000, 3800, 1400]})
    res = ck.nca(df)
    # (0,0) (7,3000) (14,11000) (21,3800) (28,1400), linear
    expected = 7 * 3000 / 2 + 7 * 14000 / 2 + 7 * 14800 / 2 + 7 * 5200 / 2
    assert _value(res, "AUCINT").PPORRES == pytest.approx(expected)
    assert "c0_imputed" in set(res.rules.RULE)
    no_c0 = ck.nca(df, impute_c0=False)
    assert _value(no_c0, "AUCINT").REASON.startswith("[interval_before_first_sample]")


def test_all_blq_subject_has_every_parameter_missing_with_a_reason():
    df = pd.concat(
        [
            BLQ_TABLE,
            pd.DataFrame({"ID": "2", "TIME": [1.0, 2.0], "DV": 50.0, "CENS": 1, "LLOQ": 50.0}),
        ]
    )
    res = ck.nca(df)
    sub = res.long[res.long.ID == "2"]
    assert len(sub) == len(PARAMETERS)
    assert sub.PPORRES.isna().all()
    assert sub.REASON.str.startswith("[no_quantifiable]").all()


def test_missing_values_always_carry_a_reason_and_present_values_never_do():
    rng = np.random.default_rng(3)
    rows = []
    for i in range(40):
        n = int(rng.integers(1, 8))
        t = np.sort(rng.choice(np.arange(0, 60), n, replace=False)).astype(float)
        dv = rng.lognormal(5, 2, n)
        cens = (rng.random(n) < 0.3).astype(int)
        rows.append(pd.DataFrame({"ID": str(i), "TIME": t, "DV": np.where(cens, 50, dv)}))
        rows[-1]["CENS"] = cens
    res = ck.nca(pd.concat(rows), auc_method="linuplogdown", interval=[(0, 28), (0, 90)])
    missing = res.long.PPORRES.isna()
    assert (missing == res.long.REASON.notna()).all()
    assert len(res.long) == 40 * (len(PARAMETERS) + 1)
    assert {"auc_0_28d", "auc_0_90d"} <= set(res.wide.columns)


def test_cdisc_units_and_interval_durations():
    df = pd.DataFrame({"ID": "1", "TIME": [0.0, 1, 2, 4, 8], "DV": [0, 8, 6, 3, 1.5]})
    res = ck.nca(df, conc_unit="copies/ug")
    units = res.long.set_index("PPTESTCD")["PPORRESU"]
    assert units["CMAX"] == "copies/ug" and units["TMAX"] == "day"
    assert units["AUCLST"] == "day*copies/ug" and units["LAMZ"] == "1/day"
    assert units["AUCPEO"] == "%"
    auc = _value(res, "AUCINT")
    assert (auc.PPSTINT, auc.PPENINT) == ("P0D", "P28D")
    assert list(res.long.columns[:6]) == ["ID", "DVID", "PPTESTCD", "PPTEST", "PPORRES", "PPORRESU"]


def test_manual_lambda_z_exclude_and_include_record_the_reason():
    t = [0.0, 1, 2, 3, 4, 5]
    c = [0.0, 100, 50, 25, 30, 6.25]  # t=4 is an outlier
    df = pd.DataFrame({"ID": "1", "TIME": t, "DV": c})
    manual = pd.DataFrame(
        {"ID": ["1"], "TIME": [4.0], "ACTION": ["exclude"], "REASON": ["haemolysed"]}
    )
    res = ck.nca(df, lambda_z={"manual": manual})
    assert _value(res, "LAMZ").PPORRES == pytest.approx(math.log(2.0), rel=1e-12)
    assert _value(res, "LAMZNPT").PPORRES == 3
    rule = res.rules[res.rules.RULE == "lambda_z_manual_exclude"].iloc[0]
    assert rule.DETAIL == "haemolysed" and rule.ROW == 5
    inc = pd.DataFrame(
        {"ID": "1", "TIME": [1.0, 2.0, 3.0], "ACTION": "include", "REASON": "protocol: 1-3 d"}
    )
    res = ck.nca(df, lambda_z={"manual": inc})
    assert _value(res, "LAMZLL").PPORRES == 1.0 and _value(res, "LAMZUL").PPORRES == 3.0
    assert _value(res, "LAMZ").PPORRES == pytest.approx(math.log(2.0), rel=1e-12)


def test_manual_lambda_z_problems_raise_one_spec_error():
    df = pd.DataFrame({"ID": "1", "TIME": [0.0, 1, 2, 3, 4], "DV": [0, 8, 4, 2, 1.0]})
    bad = pd.DataFrame(
        {"ID": ["1", "1"], "TIME": [2.0, 3.0], "ACTION": ["include", "exclude"], "REASON": "x"}
    )
    with pytest.raises(SpecError) as err:
        ck.nca(df, lambda_z={"manual": bad})
    assert err.value.code == "lambda_z_manual_mixed"
    no_reason = pd.DataFrame({"ID": ["1"], "TIME": [2.0], "ACTION": ["exclude"], "REASON": [""]})
    with pytest.raises(SpecError, match="lambda_z_manual_reason"):
        ck.nca(df, lambda_z={"manual": no_reason})
    nowhere = pd.DataFrame({"ID": ["1"], "TIME": [2.5], "ACTION": ["exclude"], "REASON": ["x"]})
    with pytest.raises(SpecError) as err:
        ck.nca(df, lambda_z={"manual": nowhere})
    assert err.value.code == "lambda_z_manual_unmatched" and err.value.violations[0].id == "1"


def test_bad_table_raises_one_dataset_error_naming_subject_and_rows():
    df = pd.DataFrame({"ID": ["1", "1", "2"], "TIME": [1.0, 1.0, 2.0], "DV": ["5", "6", "1,250"]})
    with pytest.raises(DatasetError) as err:
        ck.nca(df)
    codes = {v.code: v for v in err.value.violations}
    assert set(codes) == {"dv_not_numeric", "duplicate_time"}
    assert codes["duplicate_time"].id == "1" and codes["duplicate_time"].rows == (1, 2)
    assert codes["dv_not_numeric"].id == "2" and codes["dv_not_numeric"].rows == (3,)
    with pytest.raises(DatasetError, match="missing_column"):
        ck.nca(pd.DataFrame({"ID": ["1"], "DV": [1.0]}))


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"auc_method": "log"}, "auc_method_invalid"),
        ({"interval": (28, 0)}, "interval_invalid"),
        ({"time_unit": "fortnight"}, "time_unit_invalid"),
        ({"blq": {"between": "keep"}}, "blq_rule_invalid"),
        ({"blq": {"middle": "drop"}}, "blq_option_unknown"),
        ({"lambda_z": {"min_points": 2}}, "lambda_z_min_points"),
    ],
)
def test_bad_options_raise_spec_error_with_code(kwargs, code):
    df = pd.DataFrame({"ID": "1", "TIME": [0.0, 1, 2], "DV": [0, 8, 4.0]})
    with pytest.raises(SpecError) as err:
        ck.nca(df, **kwargs)
    assert err.value.code == code


def test_dataset_input_matches_the_plain_table():
    df = pd.DataFrame(
        {
            "ID": ["101"] * 6 + ["102"] * 6,
            "TIME": [7.0, 14, 21, 28, 60, 90] * 2,
            "DV": [3105.0, 11412, 3845, 1374, 168, 50, 900, 4000, 2000, 700, 50, 50],
            "CENS": [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1],
            "LLOQ": 50.0,
            "DVID": "QPCR",
        }
    )
    ds = ck.read_dataset(df)
    from_ds = ck.nca(ds, dvid="QPCR", auc_method="linuplogdown")
    from_df = ck.nca(df, dvid="QPCR", auc_method="linuplogdown", conc_unit="copies/ug")
    pd.testing.assert_frame_equal(from_ds.long, from_df.long)
    assert _value(from_ds, "CMAX", "101").PPORRESU == "copies/ug"


def test_result_does_not_depend_on_row_or_subject_order():
    rng = np.random.default_rng(5)
    frames = []
    for i in range(15):
        t = np.array([1.0, 4, 7, 11, 14, 21, 28, 60])
        dv = rng.lognormal(np.log(1000), 0.5) * np.exp(-rng.uniform(0.02, 0.2) * np.abs(t - 9))
        frames.append(pd.DataFrame({"ID": f"S{i}", "TIME": t, "DV": dv}))
    df = pd.concat(frames, ignore_index=True)
    a = ck.nca(df, auc_method="linuplogdown").wide.sort_values("ID").reset_index(drop=True)
    shuffled = df.sample(frac=1.0, random_state=2)
    b = ck.nca(shuffled, auc_method="linuplogdown").wide.sort_values("ID").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


_cell = st.one_of(
    st.floats(min_value=-5, max_value=1e6),
    st.just(float("nan")),
    st.sampled_from(["", "BLQ", "1,250", "<50", "x"]),
    st.integers(min_value=-3, max_value=100),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["1", "2", "3"]), _cell, _cell, st.sampled_from([0, 1])),
        min_size=1,
        max_size=12,
    )
)
def test_any_small_table_gives_a_result_or_a_dataset_error(rows):
    df = pd.DataFrame(rows, columns=["ID", "TIME", "DV", "CENS"])
    try:
        res = ck.nca(df, auc_method="linuplogdown")
    except DatasetError:
        return
    assert (res.long.PPORRES.isna() == res.long.REASON.notna()).all()
