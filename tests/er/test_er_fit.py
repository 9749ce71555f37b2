"""cartpk.er.fit_er: recovery from simulated truth, ratio arithmetic, statuses, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from er_helpers import (
    BETA_BINARY,
    BETA_ORDINAL,
    EMAX_TRUE,
    GAMMA_SLD0,
    HR_PER_2FOLD,
    simulate_emax,
    simulate_subjects,
)

import cartpk as ck
from cartpk.er import ESTIMATE_COLUMNS, ERStatus, fit_er, is_separated

FIRST = ["endpoint", "exposure", "model", "term", "estimate", "lower", "upper",
         "or_per_2fold", "or_per_10fold"]  # fmt: skip


@pytest.fixture
def subjects(rng: np.random.Generator) -> pd.DataFrame:
    return simulate_subjects(rng, n=300)


def test_estimate_columns_start_with_the_contract():
    assert ESTIMATE_COLUMNS[:9] == FIRST


def test_fit_er_logistic_recovers_slope(subjects):
    fit = fit_er(subjects, "orr", exposure="cmax", model="logistic", covariates=["SLD0"])
    assert fit.status is ERStatus.ok
    s = fit.slope
    assert s["term"] == "log(cmax)"
    assert s["lower"] < BETA_BINARY < s["upper"]
    assert abs(s["estimate"] - BETA_BINARY) < 3 * s["se"]
    cov = fit.estimates.set_index("term").loc["SLD0"]
    assert cov["lower"] < GAMMA_SLD0 < cov["upper"]
    assert list(fit.estimates.columns) == ESTIMATE_COLUMNS


def test_or_per_fold_is_exp_beta_log_fold_natural_log(subjects):
    s = fit_er(subjects, "orr", exposure="cmax", model="logistic").slope
    assert s["or_per_2fold"] == pytest.approx(math.exp(s["estimate"] * math.log(2)), rel=1e-12)
    assert s["or_per_10fold"] == pytest.approx(math.exp(s["estimate"] * math.log(10)), rel=1e-12)
    assert s["or_per_2fold_lower"] == pytest.approx(math.exp(s["lower"] * math.log(2)))
    assert s["or_per_10fold_upper"] == pytest.approx(math.exp(s["upper"] * math.log(10)))
    assert s["ratio"] == "OR"


def test_log10_exposure_gives_the_same_fold_ratios(subjects):
    ln = fit_er(subjects, "orr", exposure="cmax", model="logistic").slope
    l10 = fit_er(subjects, "orr", exposure="cmax", model="logistic", log="log10").slope
    assert l10["term"] == "log10(cmax)"
    # b10 = b_ln * ln(10): per-10-fold OR is exp(b10); the fold ratios do not depend on the base
    assert l10["estimate"] == pytest.approx(ln["estimate"] * math.log(10), rel=1e-5)
    assert l10["or_per_10fold"] == pytest.approx(math.exp(l10["estimate"]), rel=1e-12)
    for col in ("or_per_2fold", "or_per_10fold", "or_per_2fold_lower", "or_per_2fold_upper"):
        assert l10[col] == pytest.approx(ln[col], rel=1e-5)


def test_fit_er_ordinal_recovers_slope_and_thresholds(subjects):
    fit = fit_er(subjects, "crs_grade", exposure="cmax", model="ordinal", covariates=["SLD0"])
    assert fit.status is ERStatus.ok
    s = fit.slope
    assert s["lower"] < BETA_ORDINAL < s["upper"]
    terms = list(fit.estimates["term"])
    assert terms == ["log(cmax)", "SLD0", "threshold 0|1", "threshold 1|2", "threshold 2|3"]
    th = fit.estimates.set_index("term")["estimate"]
    assert th["threshold 0|1"] < th["threshold 1|2"] < th["threshold 2|3"]
    # thresholds are on the uncentred scale: theta_g + beta * 6 + gamma * 80
    want = -0.5 + BETA_ORDINAL * 6 + GAMMA_SLD0 * 80
    row = fit.estimates.set_index("term").loc["threshold 0|1"]
    assert row["lower"] < want < row["upper"]


def test_ordinal_prediction_is_monotone_in_exposure_and_grade(subjects):
    fit = fit_er(subjects, "crs_grade", exposure="cmax", model="ordinal")
    p = fit.predict([50.0, 400.0, 3000.0])
    assert p.shape == (3, 3)
    assert np.all(np.diff(p, axis=0) > 0)  # higher exposure, higher P(grade >= g)
    assert np.all(np.diff(p, axis=1) < 0)  # P(grade >= 1) > P(grade >= 2) > P(grade >= 3)


def test_fit_er_cox_recovers_hazard_ratio_per_2fold(subjects):
    fit = fit_er(subjects, "pfs_time", exposure="cmax", model="cox", event="pfs_event",
                 covariates=["SLD0"])  # fmt: skip
    assert fit.status is ERStatus.ok
    s = fit.slope
    assert s["ratio"] == "HR"
    assert s["or_per_2fold_lower"] < HR_PER_2FOLD < s["or_per_2fold_upper"]
    surv = fit.predict([100.0, 10000.0], times=[0.0, 50.0, 200.0])
    assert surv[:, 0] == pytest.approx([1.0, 1.0])
    assert np.all(surv[1, 1:] > surv[0, 1:])  # HR < 1: higher exposure survives longer


def test_fit_er_emax_recovers_parameters(rng):
    df = simulate_emax(rng)
    fit = fit_er(df, "peak", exposure="auc", model="emax")
    assert fit.status is ERStatus.ok
    est = fit.estimates.set_index("term")
    for name, true in EMAX_TRUE.items():
        assert est.loc[name, "lower"] < true < est.loc[name, "upper"], name
        assert est.loc[name, "estimate"] == pytest.approx(true, rel=0.2), name
    assert np.isnan(est["or_per_2fold"]).all()


def test_fit_er_emax_is_fitted_on_the_log_scale_by_default(rng):
    df = simulate_emax(rng, cv=0.8)
    log = fit_er(df, "peak", exposure="auc", model="emax")
    nat = fit_er(df, "peak", exposure="auc", model="emax", residual="natural")
    assert log.residual == "log" and nat.residual == "natural"
    assert list(log.estimates.columns) == ESTIMATE_COLUMNS
    assert log.estimates["scale"].str.startswith("log (ln of the endpoint").all()
    assert nat.estimates["scale"].str.startswith("natural (endpoint units").all()
    assert "log-normal residuals" in log.message and "additive residuals" in nat.message
    # the log-scale curve is the median: log-normal CV 80 % puts the mean 28 % above it
    est = log.estimates.set_index("term")["estimate"]
    assert est["Emax"] == pytest.approx(EMAX_TRUE["Emax"], rel=0.3)
    assert est["EC50"] == pytest.approx(EMAX_TRUE["EC50"], rel=0.6)
    assert log.predict([1e6])[0] == pytest.approx(est["E0"] + est["Emax"], rel=1e-3)
    assert fit_er(df, "peak", exposure="auc", model="loglinear").residual is None


def test_fit_er_emax_log_scale_leaves_out_non_positive_endpoints(rng):
    df = simulate_emax(rng, cv=0.8)
    df.loc[:2, "peak"] = [0.0, -1.0, np.nan]
    log = fit_er(df, "peak", exposure="auc", model="emax")
    codes = log.exclusions.set_index("ID")["code"].to_dict()
    assert codes == {"0": "endpoint_not_positive", "1": "endpoint_not_positive",
                     "2": "endpoint_missing"}  # fmt: skip
    assert log.estimates["n"].iloc[0] == len(df) - 3
    nat = fit_er(df, "peak", exposure="auc", model="emax", residual="natural")
    assert "endpoint_not_positive" not in set(nat.exclusions["code"])
    assert nat.estimates["n"].iloc[0] == len(df) - 1


def test_fit_er_emax_unknown_residual_is_a_spec_error(rng):
    with pytest.raises(ck.SpecError) as info:
        fit_er(simulate_emax(rng), "peak", exposure="auc", model="emax", residual="additive")
    assert [v.code for v in info.value.violations] == ["residual_unknown"]


def test_fit_er_emax_flags_data_below_the_plateau(rng):
    df = simulate_emax(rng, top=20.0)  # highest exposure 20 << EC50 = 50
    fit = fit_er(df, "peak", exposure="auc", model="emax")
    assert fit.status is ERStatus.no_plateau
    assert "Emax" in fit.status.remedy
    assert (fit.estimates["status"] == "no_plateau").all()


def test_fit_er_loglinear_ratio_is_geometric_mean_ratio(rng):
    c = np.exp(rng.normal(5, 1, 200))
    peak = np.exp(1.0 + 0.5 * np.log(c) + rng.normal(0, 0.3, 200))
    df = pd.DataFrame({"ID": range(200), "cmax": c, "il6": peak})
    s = fit_er(df, "il6", exposure="cmax", model="loglinear").slope
    assert s["lower"] < 0.5 < s["upper"]
    assert s["or_per_2fold"] == pytest.approx(2 ** s["estimate"])
    assert s["ratio"] == "GMR"


def test_logistic_separation_falls_back_to_firth(rng):
    c = np.exp(rng.normal(6, 1, 40))
    df = pd.DataFrame({"ID": range(40), "cmax": c, "orr": (c > np.median(c)).astype(int)})
    fit = fit_er(df, "orr", exposure="cmax", model="logistic")
    assert fit.status is ERStatus.separation_firth
    s = fit.slope
    assert np.isfinite([s["estimate"], s["lower"], s["upper"]]).all()
    assert s["lower"] > 0 and s["lower"] < s["estimate"] < s["upper"]
    assert "separation" in s["message"]


def test_ordinal_separation_is_a_status_without_estimates(rng):
    c = np.sort(np.exp(rng.normal(6, 1, 30)))
    df = pd.DataFrame({"ID": range(30), "cmax": c, "g": np.repeat([0, 1, 2], 10)})
    fit = fit_er(df, "g", exposure="cmax", model="ordinal")
    assert fit.status is ERStatus.separation
    assert fit.estimates["estimate"].isna().all()
    assert (fit.estimates["status"] == "separation").all()


def test_cox_monotone_likelihood_is_a_status_without_estimates():
    c = np.exp(np.linspace(3, 9, 30))
    # every event happens to the lowest exposure still at risk: the partial likelihood
    # increases without bound as the coefficient grows
    df = pd.DataFrame({"ID": range(30), "cmax": c, "t": np.arange(1, 31.0), "e": 1})
    fit = fit_er(df, "t", exposure="cmax", model="cox", event="e")
    assert fit.status is ERStatus.separation
    assert fit.estimates["estimate"].isna().all()


def test_is_separated_detects_quasi_complete_separation():
    x = np.array([[1.0], [2.0], [3.0], [3.0], [4.0], [5.0]])
    assert is_separated(x, np.array([0, 0, 0, 1, 1, 1]))  # tie at the boundary: quasi
    assert not is_separated(x, np.array([0, 1, 0, 1, 0, 1]))
    # ordinal: one overlapping cut is enough to make the MLE exist
    assert not is_separated(x, np.array([0, 1, 0, 2, 2, 2]))


def test_fit_er_records_exclusions_with_reasons(subjects):
    df = subjects.copy()
    df.loc[0, "cmax"] = np.nan
    df.loc[1, "cmax"] = 0.0
    df.loc[2, "SLD0"] = np.nan
    fit = fit_er(df, "orr", exposure="cmax", model="logistic", covariates=["SLD0"])
    ex = fit.exclusions.set_index("ID")["code"]
    assert ex.to_dict() == {"S000": "exposure_missing", "S001": "exposure_not_positive",
                            "S002": "covariate_missing"}  # fmt: skip
    assert fit.slope["n"] == len(df) - 3


def test_fit_er_unknown_column_names_valid_choices(subjects):
    with pytest.raises(ck.SpecError) as info:
        fit_er(subjects, "orr", exposure="cmaxx", model="logistic")
    err = info.value
    assert err.code == "column_unknown"
    assert "cmaxx" in str(err) and "cmax" in err.violations[0].expected


def test_fit_er_unknown_model_lists_models(subjects):
    with pytest.raises(ck.SpecError) as info:
        fit_er(subjects, "orr", exposure="cmax", model="probit")  # type: ignore[arg-type]
    assert info.value.code == "model_unknown"
    assert "ordinal" in info.value.violations[0].expected


def test_fit_er_non_binary_endpoint_suggests_threshold(subjects):
    with pytest.raises(ck.DatasetError) as info:
        fit_er(subjects, "crs_grade", exposure="cmax", model="logistic")
    assert info.value.code == "endpoint_not_binary"
    assert "threshold" in info.value.violations[0].fix
    fit = fit_er(subjects, "crs_grade", exposure="cmax", model="logistic", threshold=3)
    assert fit.status is ERStatus.ok
    assert fit.slope["n_events"] == int((subjects["crs_grade"] >= 3).sum())


def test_fit_er_text_endpoint_is_an_error_naming_rows(subjects):
    df = subjects.assign(bor=np.where(subjects["orr"] == 1, "PR", "SD"))
    with pytest.raises(ck.DatasetError) as info:
        fit_er(df, "bor", exposure="cmax", model="logistic")
    v = info.value.violations[0]
    assert v.code == "endpoint_not_numeric" and v.value == "PR, SD"
    assert v.rows[0] == 1 and "orr" in v.fix


def test_fit_er_too_few_events_is_a_status(subjects):
    df = subjects.assign(orr=0)
    fit = fit_er(df, "orr", exposure="cmax", model="logistic")
    assert fit.status is ERStatus.too_few
    assert fit.estimates["estimate"].isna().all()


def test_er_plot_writes_a_png_per_model(tmp_path, subjects, rng):
    cases = [
        fit_er(subjects, "orr", exposure="cmax", model="logistic"),
        fit_er(subjects, "crs_grade", exposure="cmax", model="ordinal"),
        fit_er(subjects, "pfs_time", exposure="cmax", model="cox", event="pfs_event"),
        fit_er(simulate_emax(rng), "peak", exposure="auc", model="emax"),
    ]
    for i, fit in enumerate(cases):
        table = ck.er.er_plot(fit, tmp_path / f"p{i}.png")
        assert (tmp_path / f"p{i}.png").stat().st_size > 1000
        assert len(table) >= 4
    binned = ck.er.er_plot(cases[0], tmp_path / "again.png")
    assert binned["n"].sum() == len(subjects)
    assert (binned["lower"] <= binned["rate"]).all() and (binned["rate"] <= binned["upper"]).all()


def test_er_plot_axes_carry_units(tmp_path, subjects, rng, monkeypatch):
    import matplotlib.figure

    labels: list[str] = []
    real = matplotlib.figure.Figure.savefig

    def keep(fig, *args, **kwargs):
        labels.extend(lab for ax in fig.axes for lab in (ax.get_xlabel(), ax.get_ylabel()))
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    units = {"cmax": "copies/ug", "auc": "copies/ug*day", "peak": "pg/mL"}
    for fit in (
        fit_er(subjects, "orr", exposure="cmax", model="logistic"),
        fit_er(subjects, "crs_grade", exposure="cmax", model="ordinal"),
        fit_er(subjects, "pfs_time", exposure="cmax", model="cox", event="pfs_event"),
        fit_er(simulate_emax(rng), "peak", exposure="auc", model="emax"),
        fit_er(simulate_emax(rng), "peak", exposure="auc", model="emax", residual="natural"),
    ):
        ck.er.er_plot(fit, tmp_path / "p.png", units=units)
    assert labels and all("(" in lab for lab in labels if lab), labels
    assert "cmax (copies/µg, log axis)" in labels
    # Emax on the log scale (default) is drawn on a log endpoint axis, natural on a linear one
    assert "peak (pg/mL, log axis)" in labels and "peak (pg/mL)" in labels


def test_er_subjects_record_column_units():
    from cartpk.data import DEFAULT_ENDPOINTS
    from cartpk.er._subjects import column_units

    got = column_units(
        ["cmax", "cmax_nca", "auc_0_28d_lower", "tmax", "il6_cmax", "ifng_auc", "pfs_time"],
        DEFAULT_ENDPOINTS,
    )
    assert got == {
        "cmax": "copies/ug",
        "cmax_nca": "copies/ug",
        "auc_0_28d_lower": "day*copies/ug",
        "tmax": "day",
        "il6_cmax": "pg/mL",
        "ifng_auc": "day*pg/mL",
        "pfs_time": "day",
    }


def test_emax_status_message_quotes_exposures_with_their_unit():
    from cartpk.er._emax import fit_emax

    rng = np.random.default_rng(3)
    conc = np.exp(rng.uniform(np.log(10.0), np.log(500.0), 60))
    y = 5.0 + 100.0 * conc / (2000.0 + conc) * np.exp(rng.normal(0.0, 0.1, 60))
    res = fit_emax(conc, y, level=0.95, unit="copies/ug")
    assert res.status == ERStatus.no_plateau  # EC50 far above the highest exposure
    assert f"highest exposure {conc.max():.4g} copies/ug" in res.message
    assert "EC50 upper bound" in res.message and res.message.count("copies/ug") == 2
