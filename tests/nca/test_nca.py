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
from cartpk.noncompartmental import PARAMETERS, BLQRules


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


def test_blq_defaults_zero_before_drop_between_zero_after_recorded_per_row():
    # PKNCA's default conc.blq = list(first="keep", middle="drop", last="keep"); the
    # trailing BLQ samples were dropped before issue 22 and are now kept as 0
    res = ck.nca(BLQ_TABLE, interval=(0, 4))
    # (0,0) (1,100) (3,80) (4,60): 50 + 2*(100+80)/2 + (80+60)/2
    assert _value(res, "AUCLST").PPORRES == pytest.approx(300.0)
    assert _value(res, "AUCINT").PPORRES == pytest.approx(300.0)
    assert _value(res, "AUCINT").PPANMETH == "interpolated"
    rules = res.rules.set_index("ROW")
    assert rules.loc[1, "RULE"] == "blq_before_first"
    assert rules.loc[3, "RULE"] == "blq_between"
    assert "dropped" in rules.loc[3, "DETAIL"]
    assert rules.loc[6, "RULE"] == "blq_after_last" and rules.loc[7, "RULE"] == "blq_after_last"
    assert "set to 0" in rules.loc[6, "DETAIL"] and "set to 0" in rules.loc[7, "DETAIL"]
    assert ck.nca(BLQ_TABLE).options["blq"] == BLQRules("zero", "drop", "zero")


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
    # with the trailing BLQ samples dropped (no longer the default, which is PKNCA's
    # last="keep") the profile ends at Tlast and the interval needs lambda_z
    res = ck.nca(BLQ_TABLE, interval=(0, 6), blq={"after": "drop"})
    row = _value(res, "AUCINT")
    assert math.isnan(row.PPORRES) and pd.isna(row.PPANMETH)
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


def test_all_blq_subject_has_auc_zero_and_every_other_parameter_missing_with_a_reason():
    # PKNCA gives AUC 0 for an all-zero profile (pk.calc.auxcint: `all(data$conc %in% 0)`
    # returns 0); before issue 22 AUCINT was missing here too
    df = pd.concat(
        [
            BLQ_TABLE,
            pd.DataFrame({"ID": "2", "TIME": [1.0, 2.0], "DV": 50.0, "CENS": 1, "LLOQ": 50.0}),
        ]
    )
    res = ck.nca(df)
    sub = res.long[res.long.ID == "2"].set_index("PPTESTCD")
    assert len(sub) == len(PARAMETERS)
    auc = sub.loc["AUCINT"]
    assert auc.PPORRES == 0.0 and auc.PPANMETH == "all_blq" and pd.isna(auc.REASON)
    rest = sub.drop(index="AUCINT")
    assert rest.PPORRES.isna().all() and rest.PPANMETH.isna().all()
    assert rest.REASON.str.startswith("[no_quantifiable]").all()
    rule = res.rules[(res.rules.ID == "2") & (res.rules.RULE == "aucint_all_blq")]
    assert len(rule) == 1 and "every sample is BLQ" in rule.DETAIL.iloc[0]
    # dropping BLQ before the first quantifiable sample leaves no profile: missing
    dropped = ck.nca(df, blq={"before": "drop"})
    row = _value(dropped, "AUCINT", "2")
    assert math.isnan(row.PPORRES) and row.REASON.startswith("[no_quantifiable]")


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
    is_auc = res.long.PPTESTCD == "AUCINT"
    # an interval AUC says how it was obtained exactly when it is present
    assert (res.long.PPANMETH.notna() == (is_auc & ~missing)).all()
    assert set(res.long.PPANMETH.dropna()) <= {
        "interpolated",
        "blq_zero",
        "extrapolated_lambda_z",
        "all_blq",
    }
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
        ({"blq": {"after": "keep"}}, "blq_rule_invalid"),
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
    present_auc = res.long.PPORRES.notna() & (res.long.PPTESTCD == "AUCINT")
    assert (res.long.PPANMETH.notna() == present_auc).all()


# ----------------------------------------------------------------------------- issue 22:
# AUC0-28d for every subject with a profile; PPANMETH says how each AUCINT was obtained


def _profile(times, dv, cens, sid="1"):
    return pd.DataFrame({"ID": sid, "TIME": times, "DV": dv, "CENS": cens, "LLOQ": 50.0})


# a poor expander: quantifiable on days 7 and 14 only, BLQ (< 50 copies/ug) from day 21
POOR = _profile(
    [7.0, 14, 21, 28, 60, 90],
    [120.0, 300, 50, 50, 50, 50],
    [0, 0, 1, 1, 1, 1],
)


@pytest.mark.parametrize("method", ["linear", "linuplogdown"])
def test_poor_expander_auc_0_28_runs_down_to_the_first_blq_zero(method):
    res = ck.nca(POOR, auc_method=method)
    # C(0) = 0 imputed; (0,0) (7,120) (14,300) (21,0) (28,0) ...; both rising segments are
    # linear under either method and log interpolation to 0 is impossible, so the
    # segment to the BLQ zero is linear too
    expected = 7 * (0 + 120) / 2 + 7 * (120 + 300) / 2 + 7 * (300 + 0) / 2 + 7 * (0 + 0) / 2
    assert expected == 2940.0
    row = _value(res, "AUCINT")
    assert row.PPORRES == pytest.approx(expected, rel=1e-14)
    assert row.PPANMETH == "blq_zero" and pd.isna(row.REASON)
    assert res.wide.loc[0, "auc_0_28d"] == pytest.approx(expected, rel=1e-14)
    # lambda_z is missing (Tmax = Tlast, no point after it): the AUC does not need it
    assert _value(res, "LAMZ").REASON.startswith("[lambda_z_too_few_points]")
    assert _value(res, "TLST").PPORRES == 14.0
    rule = res.rules[res.rules.RULE == "aucint_blq_zero"].iloc[0]
    assert "Tlast 14 day" in rule.DETAIL and "at 21 day, 0 after it" in rule.DETAIL


@pytest.mark.parametrize("method", ["linear", "linuplogdown"])
def test_interval_ending_between_tlast_and_the_blq_zero_interpolates_linearly(method):
    res = ck.nca(POOR, auc_method=method, interval=(0, 17.5))
    # C(17.5) on the line from (14, 300) to (21, 0): 300 * (1 - 3.5/7) = 150
    expected = 7 * 120 / 2 + 7 * (120 + 300) / 2 + 3.5 * (300 + 150) / 2
    row = _value(res, "AUCINT")
    assert row.PPORRES == pytest.approx(expected, rel=1e-14)
    assert row.PPANMETH == "blq_zero"
    # an interval that starts after the zero is 0
    late = _value(ck.nca(POOR, interval=(28, 90)), "AUCINT")
    assert late.PPORRES == 0.0 and late.PPANMETH == "blq_zero"


def test_subject_ending_quantifiable_before_day_28_without_lambda_z_is_missing_with_reason():
    df = _profile([7.0, 14, 21], [100.0, 400, 200], [0, 0, 0])
    res = ck.nca(df)
    row = _value(res, "AUCINT")
    assert math.isnan(row.PPORRES) and pd.isna(row.PPANMETH)
    assert row.REASON.startswith("[interval_needs_lambda_z]")
    assert "no BLQ sample kept as 0 follows it" in row.REASON
    assert math.isnan(res.wide.loc[0, "auc_0_28d"])


# C = 1000 exp(-0.2 (t - 4)) from Tmax = 4 on: lambda_z = 0.2 from days 7, 10, 14
_LZ_T = [2.0, 4, 7, 10, 14]
_LZ_C = [300.0] + [1000.0 * math.exp(-0.2 * (t - 4)) for t in _LZ_T[1:]]


def _auc_to_14(c):
    """Linear trapezoid from the imputed (0, 0) to day 14 over _LZ_T."""
    t = [0.0, *_LZ_T]
    y = [0.0, *c]
    return sum((t[i + 1] - t[i]) * (y[i] + y[i + 1]) / 2 for i in range(len(t) - 1))


def test_subject_ending_quantifiable_uses_lambda_z_extrapolation():
    res = ck.nca(_profile(_LZ_T, _LZ_C, 0))
    assert _value(res, "LAMZ").PPORRES == pytest.approx(0.2, rel=1e-12)
    c14 = _LZ_C[-1]
    expected = _auc_to_14(_LZ_C) + c14 / 0.2 * (1 - math.exp(-0.2 * (28 - 14)))
    row = _value(res, "AUCINT")
    assert row.PPORRES == pytest.approx(expected, rel=1e-12)
    assert row.PPANMETH == "extrapolated_lambda_z"


def test_trailing_blq_zero_takes_precedence_over_lambda_z():
    # the same profile with a BLQ sample on day 21: the observation ends the curve
    df = _profile([*_LZ_T, 21.0], [*_LZ_C, 50.0], [0, 0, 0, 0, 0, 1])
    res = ck.nca(df)
    assert _value(res, "LAMZ").PPORRES == pytest.approx(0.2, rel=1e-12)
    expected = _auc_to_14(_LZ_C) + 7 * (_LZ_C[-1] + 0.0) / 2  # triangle to day 21, then 0
    row = _value(res, "AUCINT")
    assert row.PPORRES == pytest.approx(expected, rel=1e-12)
    assert row.PPANMETH == "blq_zero"
    # the pre-issue-22 rule (trailing BLQ dropped) extrapolates with lambda_z instead
    old = _value(ck.nca(df, blq={"after": "drop"}), "AUCINT")
    assert old.PPANMETH == "extrapolated_lambda_z"
    assert old.PPORRES == pytest.approx(
        _auc_to_14(_LZ_C) + _LZ_C[-1] / 0.2 * (1 - math.exp(-0.2 * 14)), rel=1e-12
    )


def test_middle_blq_is_dropped_by_default():
    df = _profile([7.0, 14, 21, 28], [100.0, 400, 50, 200], [0, 0, 1, 0])
    res = ck.nca(df)
    # (0,0) (7,100) (14,400) (28,200): the day-21 BLQ is dropped, not set to 0
    expected = 7 * 100 / 2 + 7 * (100 + 400) / 2 + 14 * (400 + 200) / 2
    row = _value(res, "AUCINT")
    assert row.PPORRES == pytest.approx(expected, rel=1e-14)
    assert row.PPANMETH == "interpolated"
    assert res.rules.set_index("ROW").loc[3, "RULE"] == "blq_between"


def test_first_zero_keeps_only_the_first_trailing_blq():
    res = ck.nca(POOR, blq={"after": "first_zero"})
    row = _value(res, "AUCINT")
    assert row.PPORRES == pytest.approx(2940.0) and row.PPANMETH == "blq_zero"
    detail = res.rules.set_index("ROW")["DETAIL"]
    assert "set to 0" in detail.loc[3] and "dropped" in detail.loc[4]


def test_example_trial_every_subject_with_a_quantifiable_qpcr_value_has_auc_0_28d():
    """Issue 22: 9 of the 32 subjects of the bundled trial had a missing AUC0-28d."""
    ds = ck.examples.load_trial()
    obs = ds.observations("QPCR")
    quantifiable = obs[(obs.CENS == 0) & (obs.DV > 0)]
    ids = set(quantifiable.ID.astype(str))
    assert len(ids) == 32
    res = ck.nca(ds, dvid="QPCR")
    wide = res.wide.set_index("ID")
    assert ids <= set(wide.index)
    auc = wide.loc[sorted(ids), "auc_0_28d"]
    assert np.isfinite(auc).all() and (auc > 0).all(), auc[~np.isfinite(auc)]
    meth = res.long[res.long.PPTESTCD == "AUCINT"].set_index("ID").PPANMETH
    assert set(meth) <= {"interpolated", "blq_zero", "extrapolated_lambda_z"}
    # a subject whose samples after Tlast are BLQ: its AUC ran down to the zero
    tlast = wide.loc[sorted(ids), "tlast"]
    assert (meth[tlast.index[tlast < 28]] == "blq_zero").all()
