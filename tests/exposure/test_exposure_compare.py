"""`cartpk.compare_exposure`: statistics against scipy, pairs with reasons, the plot."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cartpk as ck
from cartpk.errors import SpecError


def _tables(rng: np.random.Generator, n: int = 40) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [str(i) for i in range(n)]
    nca_cmax = rng.lognormal(math.log(20_000), 0.8, n)
    nca_auc = rng.lognormal(math.log(1.5e5), 0.7, n)
    model = pd.DataFrame(
        {
            "ID": ids,
            "DVID": "QPCR",
            "cmax": 1.3 * nca_cmax * rng.lognormal(0, 0.3, n),
            "auc_0_28d": nca_auc * rng.lognormal(0, 0.1, n),
        }
    )
    nca = pd.DataFrame({"ID": ids, "DVID": "QPCR", "cmax": nca_cmax, "auc_0_28d": nca_auc})
    return model, nca


def test_compare_exposure_statistics_match_scipy(rng):
    """R^2 on the log scale = linregress r^2; GMR CI = exp of the one-sample t interval."""
    model, nca = _tables(rng)
    cmp = ck.compare_exposure(model, nca)
    table = cmp.table.set_index("metric")
    for metric in ("cmax", "auc_0_28d"):
        lx, ly = np.log(nca[metric]), np.log(model[metric])
        fit = stats.linregress(lx, ly)
        ci = stats.ttest_1samp(ly - lx, 0.0).confidence_interval(0.95)
        row = table.loc[metric]
        assert row["n"] == 40 and row["n_excluded"] == 0 and row["reason"] == ""
        assert row["r2_log"] == pytest.approx(fit.rvalue**2, rel=1e-12)
        assert row["slope_log"] == pytest.approx(fit.slope, rel=1e-12)
        assert row["intercept_log"] == pytest.approx(fit.intercept, rel=1e-10)
        assert row["gmr"] == pytest.approx(math.exp(np.mean(ly - lx)), rel=1e-12)
        assert row["gmr_lower"] == pytest.approx(math.exp(ci.low), rel=1e-10)
        assert row["gmr_upper"] == pytest.approx(math.exp(ci.high), rel=1e-10)
    # the simulated truth: model Cmax 1.3x NCA, AUC unbiased
    assert table.loc["cmax", "gmr_lower"] < 1.3 < table.loc["cmax", "gmr_upper"]
    assert table.loc["auc_0_28d", "gmr_lower"] < 1.0 < table.loc["auc_0_28d", "gmr_upper"]
    assert table.loc["auc_0_28d", "r2_log"] > table.loc["cmax", "r2_log"]


def test_compare_exposure_keeps_unusable_pairs_with_reasons():
    model = pd.DataFrame({"ID": ["1", "2", "3", "4", "5"], "cmax": [10.0, 20.0, 40.0, np.nan, 7.0]})
    nca = pd.DataFrame({"ID": [1, 2, 3, 4, 6], "cmax": [5.0, 10.0, 20.0, 8.0, 0.0]})
    cmp = ck.compare_exposure(model, nca, metrics=["cmax"])
    row = cmp.table.iloc[0]
    assert row["n"] == 3 and row["n_excluded"] == 3
    assert row["gmr"] == pytest.approx(2.0) and row["r2_log"] == pytest.approx(1.0)
    assert row["gmr_lower"] == pytest.approx(2.0) and row["gmr_upper"] == pytest.approx(2.0)
    why = cmp.pairs.set_index("ID")["reason"]
    assert why["4"].startswith("[missing_model]")
    assert why["5"].startswith("[missing_nca]")
    assert why["6"].startswith("[missing_model]")
    assert set(cmp.pairs.loc[cmp.pairs["used"], "ID"]) == {"1", "2", "3"}


def test_compare_exposure_too_few_pairs_says_so():
    m = pd.DataFrame({"ID": ["1", "2"], "cmax": [1.0, 2.0]})
    cmp = ck.compare_exposure(m, m, metrics=["cmax"])
    assert math.isnan(cmp.table.loc[0, "r2_log"])
    assert cmp.table.loc[0, "reason"].startswith("[too_few_pairs]")


def test_compare_exposure_refuses_draws_and_missing_columns():
    draws = pd.DataFrame({"ID": ["1", "1"], "draw": [0, 1], "cmax": [1.0, 2.0]})
    nca = pd.DataFrame({"ID": ["1"], "cmax": [1.0]})
    with pytest.raises(SpecError) as err:
        ck.compare_exposure(draws, nca)
    codes = {v.code for v in err.value.violations}
    assert codes == {"draws_not_summarised", "missing_column"}
    assert {v.column for v in err.value.violations if v.code == "missing_column"} == {"auc_0_28d"}


def test_compare_exposure_accepts_results_and_plots(tmp_path):
    """An ExposureResult with draws is summarised to medians; an NCAResult gives `.wide`."""
    model = ck.load_model("stein2019")
    typ = model.typical()
    params = pd.DataFrame(
        [
            {"ID": i, "draw": d, **{**typ, "cmax": typ["cmax"] * f * (1 + 0.01 * d)}}
            for i, f in (("1", 1.0), ("2", 2.0), ("3", 0.5), ("4", 3.0))
            for d in range(3)
        ]
    )
    res = ck.model_exposure(model, params)
    times = np.array([0.0, 1, 4, 7, 9.3, 14, 21, 28])
    rows = []
    for i, f in (("1", 1.0), ("2", 2.0), ("3", 0.5), ("4", 3.0)):
        conc = model.evaluate(np, times, {**typ, "cmax": typ["cmax"] * f * 1.01})["QPCR"]
        rows += [{"ID": i, "TIME": t, "DV": c} for t, c in zip(times, conc, strict=True)]
    nca = ck.nca(pd.DataFrame(rows), interval=(0, 28))
    cmp = ck.compare_exposure(res, nca)
    assert cmp.table.set_index("metric").loc["cmax", "gmr"] == pytest.approx(1.0, rel=1e-9)
    assert cmp.table.set_index("metric").loc["cmax", "r2_log"] == pytest.approx(1.0)
    out = cmp.plot(tmp_path / "cmp.png")
    assert out.exists() and out.stat().st_size > 1000
