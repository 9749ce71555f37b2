"""Model-based exposure (`cartpk.model_exposure`) against oracles written here.

Oracles: the closed-form AUC of the Stein model (models.md section 1.2, from the supplement
of Stein et al. 2019), hand-solved LLOQ crossings of log-linear phases, quantiles of a
known distribution, and observed NCA on dense noise-free sampling.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cartpk as ck
from cartpk.errors import CartpkWarning, SpecError
from cartpk.exposure import ExposureGrid

STEIN = ck.load_model("stein2019")


def stein_auc_oracle(t: float, *, foldx, tmax, cmax, alpha, fb, beta) -> float:
    """AUC(0, t) of the Stein 2019 closed form, written from models.md section 1.2.

    AUC(0, Tmax) = (Cmax - R0) / rho, AUC(Tmax, t) = Cmax [(1 - FB)(1 - e^{-alpha tau}) / alpha
    + FB (1 - e^{-beta tau}) / beta], tau = t - Tmax, rho = ln(foldx) / Tmax,
    R0 = Cmax / foldx; before Tmax, AUC(0, t) = (R0 e^{rho t} - R0) / rho.
    """
    rho = math.log(foldx) / tmax
    r0 = cmax / foldx
    if t <= tmax:
        return (r0 * math.exp(rho * t) - r0) / rho
    tau = t - tmax
    return (cmax - r0) / rho + cmax * (
        (1 - fb) * (1 - math.exp(-alpha * tau)) / alpha + fb * (1 - math.exp(-beta * tau)) / beta
    )


def population(n: int, seed: int) -> pd.DataFrame:
    """Subjects drawn around Stein 2019 Table 1 with the model's declared IIV (seeded)."""
    rng = np.random.default_rng(seed)
    typ = STEIN.typical()
    sd = {
        r["name"].removeprefix("omega_"): r["initial"]
        for _, r in STEIN.parameters.iterrows()
        if r["role"] == "iiv"
    }
    h = STEIN.to_transformed(typ)
    draws = {k: h[k] + sd[k] * rng.standard_normal(n) for k in typ}
    out = pd.DataFrame({"ID": [f"S{i}" for i in range(n)]})
    for k, v in STEIN.from_transformed(draws).items():
        out[k] = v
    return out


# ------------------------------------------------------------------------- typical values


@pytest.mark.parametrize("auc_method", ["auto", "numerical"])
def test_model_exposure_stein_typical_matches_closed_form_oracle(auc_method):
    """Stein et al. 2019 Table 1 typical values; derived values of models.md section 1.3:
    Cmax 24,000 copies/ug at Tmax 9.3 d, AUC0-28d 1.72e5 copies*d/ug, AUC0-inf 2.35e5."""
    typ = STEIN.typical()
    params = pd.DataFrame([{"ID": "typical", **typ}])
    res = ck.model_exposure(STEIN, params, interval_ends=(28, 90, 100_000), auc_method=auc_method)
    row = res.wide.iloc[0]
    for end in (28, 90, 100_000):
        name = ck.exposure.interval_name(end)
        assert row[name] == pytest.approx(stein_auc_oracle(end, **typ), rel=1e-6)
    assert row["cmax"] == pytest.approx(24_000, rel=1e-9)
    assert row["tmax"] == pytest.approx(9.3, abs=1e-8)
    # published-derived values, to their printed precision (models.md 1.3)
    assert row["auc_0_28d"] == pytest.approx(1.72e5, rel=0.005)
    assert row["auc_0_100000d"] == pytest.approx(2.35e5, rel=0.005)
    expected_method = "closed_form" if auc_method == "auto" else "numerical"
    assert res.options["auc_method"] == expected_method
    auc_rows = res.long[res.long["metric"].str.startswith("auc_")]
    assert set(auc_rows["method"]) == {expected_method}


def test_model_exposure_numerical_auc_agrees_with_closed_form_on_population():
    """The quadrature path reproduces the model's closed form on 300 drawn subjects."""
    params = population(300, seed=7)
    closed = ck.model_exposure(STEIN, params)
    numeric = ck.model_exposure(STEIN, params, auc_method="numerical")
    for col in ("auc_0_28d", "auc_0_90d"):
        rel = np.abs(numeric.wide[col] / closed.wide[col] - 1.0)
        assert rel.max() < 1e-7
    assert numeric.options["auc_max_rel_error"] <= ExposureGrid().rtol
    # oracle per subject
    for _, r in params.head(20).iterrows():
        kw = {k: r[k] for k in STEIN.thetas}
        got = closed.wide.loc[closed.wide["ID"] == r["ID"], "auc_0_28d"].item()
        assert got == pytest.approx(stein_auc_oracle(28.0, **kw), rel=1e-6)


def test_model_exposure_peak_of_stein_is_its_parameters():
    """The Stein profile peaks at (tmax, cmax) by construction; the search finds it."""
    params = population(200, seed=11)
    inside = params["tmax"] < 90
    res = ck.model_exposure(STEIN, params)
    np.testing.assert_allclose(res.wide.loc[inside, "tmax"], params.loc[inside, "tmax"], atol=1e-8)
    np.testing.assert_allclose(res.wide.loc[inside, "cmax"], params.loc[inside, "cmax"], rtol=1e-9)


# ------------------------------------------------------------------------- time above LLOQ


def test_time_above_lloq_matches_hand_solved_crossings():
    """Log-linear phases invert in closed form: expansion C = Cmax foldx^(t/Tmax - 1), so
    C = L at t = Tmax (1 + ln(L/Cmax)/ln(foldx)); a single-exponential decline
    C = A e^{-k tau} reaches L at tau = ln(A/L)/k."""
    lloq, horizon = 150.0, 180.0
    base = {"foldx": 3900.0, "tmax": 9.3, "cmax": 24_000.0, "beta": 0.0032}
    rows = [
        # A: fb negligible -> decline cmax e^{-alpha tau}
        {"ID": "A", **base, "alpha": 0.16, "fb": 1e-15},
        # B: alpha huge -> after the first day only fb cmax e^{-beta tau} is left
        {"ID": "B", **base, "alpha": 60.0, "fb": 0.0079},
        # C: never above the limit
        {"ID": "C", **base, "cmax": 100.0, "alpha": 0.16, "fb": 0.0079},
        # D: above from time 0 (R0 = 12,000) to the horizon
        {"ID": "D", **base, "foldx": 2.0, "alpha": 0.001, "fb": 0.0079},
        # E: narrow spike above the limit between two grid points (0.2 d apart)
        {
            "ID": "E",
            "foldx": 1e12,
            "tmax": 9.31,
            "cmax": 160.0,
            "alpha": 50.0,
            "fb": 1e-15,
            "beta": 0.0032,
        },
    ]
    params = pd.DataFrame(rows)
    res = ck.model_exposure(STEIN, params, lloq=lloq, horizon=horizon)
    got = dict(zip(res.wide["ID"], res.wide["time_above_lloq"], strict=True))

    def t_up(p):
        return p["tmax"] * (1 + math.log(lloq / p["cmax"]) / math.log(p["foldx"]))

    a, b, e = rows[0], rows[1], rows[4]
    expect_a = a["tmax"] + math.log(a["cmax"] / lloq) / a["alpha"] - t_up(a)
    expect_b = b["tmax"] + math.log(b["fb"] * b["cmax"] / lloq) / b["beta"] - t_up(b)
    expect_e = e["tmax"] + math.log(e["cmax"] / lloq) / e["alpha"] - t_up(e)
    assert got["A"] == pytest.approx(expect_a, abs=1e-8)
    assert got["B"] == pytest.approx(expect_b, abs=1e-8)
    assert got["C"] == 0.0
    assert got["D"] == pytest.approx(horizon, abs=1e-12)
    assert got["E"] == pytest.approx(expect_e, abs=1e-8)
    # the spike really lies between two search-grid points: only the refined peak sees it
    grid = ck.exposure._numerics.common_grid(horizon, ExposureGrid())
    assert not np.any((grid > t_up(e)) & (grid < e["tmax"] + 0.01))


def test_time_above_lloq_absent_without_limit():
    res = ck.model_exposure(STEIN, pd.DataFrame([{"ID": "1", **STEIN.typical()}]))
    assert "time_above_lloq" not in res.wide.columns
    assert res.metrics == ["cmax", "tmax", "auc_0_28d", "auc_0_90d"]


# ------------------------------------------------------------------------- posterior draws


def test_summary_of_draws_recovers_known_lognormal_quantiles():
    """cmax ~ LogNormal(ln 24000, 0.5) over 4,001 draws (normal scores, so the sample
    quantiles sit on the distribution's); the Stein peak equals cmax and AUC scales with it."""
    k = 4001
    z = stats.norm.ppf((np.arange(k) + 0.5) / k)
    mu, sigma = math.log(24_000), 0.5
    typ = STEIN.typical()
    params = pd.DataFrame(
        {"ID": "P1", "draw": np.arange(k), **{n: typ[n] for n in typ if n != "cmax"}}
    )
    params["cmax"] = np.exp(mu + sigma * z)
    res = ck.model_exposure(STEIN, params)
    assert res.has_draws
    s = res.summary(0.95).set_index("metric")
    q = stats.norm.ppf(0.975)
    assert s.loc["cmax", "median"] == pytest.approx(math.exp(mu), rel=1e-3)
    assert s.loc["cmax", "lower"] == pytest.approx(math.exp(mu - q * sigma), rel=2e-3)
    assert s.loc["cmax", "upper"] == pytest.approx(math.exp(mu + q * sigma), rel=2e-3)
    auc_per_cmax = stein_auc_oracle(28.0, **{**typ, "cmax": 1.0})
    assert s.loc["auc_0_28d", "median"] == pytest.approx(math.exp(mu) * auc_per_cmax, rel=1e-3)
    assert s.loc["cmax", "n_draws"] == k and s.loc["cmax", "n_missing"] == 0
    assert s.loc["auc_0_28d", "unit"] == "day*copies/ug"
    wide = res.summary_wide()
    assert list(wide.columns[:4]) == ["ID", "DVID", "cmax", "tmax"]
    assert wide.loc[0, "cmax_lower"] == s.loc["cmax", "lower"]


def test_summary_without_draws_is_the_value():
    res = ck.model_exposure(STEIN, pd.DataFrame([{"ID": "1", **STEIN.typical()}]))
    s = res.summary()
    assert (s["median"] == s["lower"]).all() and (s["median"] == s["upper"]).all()
    with pytest.raises(SpecError) as err:
        res.summary(1.5)
    assert err.value.code == "ci_invalid"


# ------------------------------------------------------------------------- NCA agreement


def test_model_exposure_agrees_with_nca_on_dense_noise_free_sampling():
    """Observed NCA (lin-up/log-down) on profiles sampled every 0.005 day converges to the
    model's exposure: trapezoid error ~ h^2 (rho^2 or alpha^2)/12 relative."""
    params = population(5, seed=3).assign(tmax=lambda d: d["tmax"].clip(2, 20))
    times = np.round(np.arange(0, 28.0 + 1e-9, 0.005), 6)
    pred = STEIN.evaluate(
        np, times[None, :], {k: params[k].to_numpy()[:, None] for k in STEIN.thetas}
    )
    obs = pd.DataFrame(
        {
            "ID": np.repeat(params["ID"].to_numpy(), times.size),
            "TIME": np.tile(times, len(params)),
            "DV": pred["QPCR"].ravel(),
        }
    )
    nca = ck.nca(obs, interval=(0, 28), auc_method="linuplogdown", impute_c0=False)
    res = ck.model_exposure(STEIN, params, interval_ends=(28,))
    merged = res.wide.merge(nca.wide, on="ID", suffixes=("_model", "_nca"))
    np.testing.assert_allclose(merged["auc_0_28d_model"], merged["auc_0_28d_nca"], rtol=1e-4)
    np.testing.assert_allclose(merged["cmax_model"], merged["cmax_nca"], rtol=0.02)
    np.testing.assert_allclose(merged["tmax_model"], merged["tmax_nca"], atol=0.005)


# ------------------------------------------------------------------------- the hook rule


class _Doubled(type(STEIN)):
    """Stein with doubled levels: its inherited `auc` is stale and must not be used."""

    name = "stein2019_doubled_test"

    @staticmethod
    def predict(xp, time, *, foldx, tmax, cmax, alpha, fb, beta):
        up = xp.minimum(time, tmax)
        down = xp.maximum(time - tmax, 0.0)
        expansion = 2 * cmax * xp.exp(xp.log(foldx) * (up / tmax - 1.0))
        decline = 2 * cmax * ((1.0 - fb) * xp.exp(-alpha * down) + fb * xp.exp(-beta * down))
        return {"QPCR": xp.where(time < tmax, expansion, decline)}


def test_inherited_auc_hook_is_not_used_when_predict_changes():
    model = _Doubled()
    typ = model.typical()
    res = ck.model_exposure(model, pd.DataFrame([{"ID": "1", **typ}]))
    assert res.options["auc_method"] == "numerical"
    assert res.wide.loc[0, "auc_0_28d"] == pytest.approx(
        2 * stein_auc_oracle(28.0, **typ), rel=1e-7
    )
    with pytest.raises(SpecError) as err:
        ck.model_exposure(model, pd.DataFrame([{"ID": "1", **typ}]), auc_method="closed_form")
    assert err.value.code == "no_closed_form"


def test_fixed_parameter_may_be_omitted_and_is_used():
    model = STEIN.fix(fb=0.0079)
    typ = STEIN.typical()
    params = pd.DataFrame([{"ID": "1", **{k: v for k, v in typ.items() if k != "fb"}}])
    res = ck.model_exposure(model, params)
    assert res.options["auc_method"] == "closed_form"
    assert res.wide.loc[0, "auc_0_90d"] == pytest.approx(stein_auc_oracle(90.0, **typ), rel=1e-9)


# ------------------------------------------------------------------------- input checks


def test_model_exposure_reports_every_problem_once():
    bad = pd.DataFrame({"subject": ["1"], "tmax": [9.3]})
    with pytest.raises(SpecError) as err:
        ck.model_exposure(STEIN, bad, interval_ends=(-1,), lloq=0, dvid="IL6")
    codes = {v.code for v in err.value.violations}
    assert {
        "missing_column",
        "parameter_missing",
        "interval_ends_invalid",
        "lloq_invalid",
        "dvid_unknown",
    } <= codes
    missing = {v.column for v in err.value.violations if v.code == "parameter_missing"}
    assert missing == {"foldx", "cmax", "alpha", "fb", "beta"}
    assert all(v.fix for v in err.value.violations)


def test_duplicate_subject_rows_raise():
    typ = STEIN.typical()
    params = pd.DataFrame([{"ID": "1", **typ}, {"ID": "1", **typ}])
    with pytest.raises(SpecError) as err:
        ck.model_exposure(STEIN, params)
    assert err.value.code == "duplicate_subject"
    assert err.value.violations[0].rows == (1, 2)


def test_missing_parameter_value_gives_missing_metric_with_reason():
    typ = STEIN.typical()
    params = pd.DataFrame([{"ID": "1", **typ}, {"ID": "2", **{**typ, "alpha": np.nan}}])
    res = ck.model_exposure(STEIN, params, lloq=50)
    assert res.wide.loc[0, "cmax"] == pytest.approx(24_000)
    assert res.wide.iloc[1][res.metrics].isna().all()
    reasons = res.long.loc[res.long["ID"] == "2", "reason"]
    assert (
        reasons.str.startswith("[parameters_missing]").all()
        and reasons.str.contains("`alpha`").all()
    )
    assert (res.long.loc[res.long["ID"] == "1", "reason"] == "").all()
    assert list(res.long["ID"].unique()) == ["1", "2"]  # input order kept


def test_grid_settings_are_validated():
    with pytest.raises(SpecError) as err:
        ExposureGrid(panels=3, rtol=-1.0)
    assert {v.column for v in err.value.violations} == {"panels", "rtol"}


def test_quadrature_short_of_tolerance_warns_and_keeps_values():
    typ = STEIN.typical()
    grid = ExposureGrid(panels=2, max_panels=2, rtol=1e-12)
    with pytest.warns(CartpkWarning) as rec:
        res = ck.model_exposure(
            STEIN, pd.DataFrame([{"ID": "1", **typ}]), auc_method="numerical", grid=grid
        )
    assert rec[0].message.code == "auc_tolerance_not_met"
    assert res.options["auc_tolerance_not_met"] == ["1"]
    assert res.wide.loc[0, "auc_0_28d"] == pytest.approx(stein_auc_oracle(28.0, **typ), rel=0.05)


def test_closed_form_undefined_at_a_subject_falls_back_to_quadrature():
    """At tmax = 0 the Stein closed form is 0/0 (rho = ln(foldx)/0) though the profile is a
    plain bi-exponential from time 0: AUC(0, t) = cmax [(1-fb)(1-e^{-alpha t})/alpha
    + fb (1-e^{-beta t})/beta] (models.md 1.2 with Tmax = 0)."""
    typ = STEIN.typical()
    params = pd.DataFrame([{"ID": "1", **typ}, {"ID": "2", **{**typ, "tmax": 0.0}}])
    res = ck.model_exposure(STEIN, params)
    c, a, fb, b = typ["cmax"], typ["alpha"], typ["fb"], typ["beta"]
    oracle = c * ((1 - fb) * (1 - math.exp(-a * 28)) / a + fb * (1 - math.exp(-b * 28)) / b)
    assert res.wide.loc[1, "auc_0_28d"] == pytest.approx(oracle, rel=1e-8)
    methods = res.long.set_index(["ID", "metric"])["method"]
    assert methods[("1", "auc_0_28d")] == "closed_form"
    assert methods[("2", "auc_0_28d")] == "numerical"
    assert res.options["auc_numerical_fallback"] == ["2"]
    assert (res.long["reason"] == "").all()


def test_exposure_invariants_on_a_drawn_population():
    """Orderings that hold for any profile: a higher limit is exceeded for less time, AUC
    grows with the interval, Cmax bounds the profile, and subject order does not matter."""
    params = population(150, seed=5)
    low = ck.model_exposure(STEIN, params, lloq=50)
    high = ck.model_exposure(STEIN, params, lloq=500)
    assert (high.wide["time_above_lloq"] <= low.wide["time_above_lloq"] + 1e-9).all()
    assert ((low.wide["time_above_lloq"] >= 0) & (low.wide["time_above_lloq"] <= 90)).all()
    assert (low.wide["auc_0_28d"] < low.wide["auc_0_90d"]).all()
    t = np.linspace(0, 90, 3001)
    conc = STEIN.evaluate(np, t[None, :], {k: params[k].to_numpy()[:, None] for k in STEIN.thetas})
    assert (conc["QPCR"].max(axis=1) <= low.wide["cmax"].to_numpy() * (1 + 1e-12)).all()
    shuffled = ck.model_exposure(STEIN, params.iloc[::-1], lloq=50)
    pd.testing.assert_frame_equal(
        shuffled.wide.iloc[::-1].reset_index(drop=True), low.wide, check_exact=False, rtol=1e-12
    )
