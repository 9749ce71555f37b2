"""E-R chain SSE (`kind = "er_chain"`): spec checks, outcome generator, summary, runs.

The default run checks what needs no sampling: the specification's errors, the outcome
generator (slopes recovered from the true exposure of 4,000 subjects), the summary's
formulae by hand and the study's settings checks. A population fit takes about 20 s of
numba compilation per replicate, so the runs themselves are ``slow``: a tiny study through
the command line (2 replicates x 30 subjects, 2 chains x 100 + 100) that is resumed and
grown (about 3 minutes on 2 cores), and 6 replicates of the trial design (150 subjects,
the spec's sampler settings; about 5 minutes).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _spec_file import write_spec

import cartpk as ck
from cartpk.batch import (
    ChainFit,
    EROutcomes,
    er_chain_from_spec,
    er_chain_sse,
    load_spec,
    summarise_er_chain,
)
from cartpk.batch._er_chain import ESTIMATE_COLUMNS, SUMMARY_COLUMNS, _exposure_link
from cartpk.cli import main
from cartpk.errors import SpecError

SPEC = Path(__file__).resolve().parents[2] / "fits" / "long" / "er_chain_sse.toml"

MINIMAL = """
kind = "er_chain"
model = "stein2019_smooth"
days = [7, 14, 21, 28, 60, 90]
n_subjects = 30
n_replicates = 2
seed = 7
lloq = 120.0

[truth]
foldx = 3900.0
tmax = 9.3
cmax = 24000.0
alpha = 0.25
fb = 0.02
beta = 0.02
iiv_sd = { cmax = 0.81, alpha = 0.5 }

[fit]
chains = 2
tune = 100
draws = 100
"""


# ------------------------------------------------------------------------ specification


def test_shipped_spec_builds_truth_and_fitted_declarations():
    spec = load_spec(SPEC, kind="sse")
    assert spec.kind == "er_chain" and spec.estimator == {}
    args = er_chain_from_spec(spec)
    truth, fitted = args["truth"].initial_values(), args["fitted"].initial_values()
    assert truth["omega_cmax"] == 0.81 and truth["omega_alpha"] == 0.5
    assert truth["alpha"] == 0.25 and truth["fb"] == 0.02
    assert not {"omega_foldx", "omega_tmax", "omega_fb", "omega_beta"} & set(truth)
    # fitted: the catalogue's typical values and IIV SDs, random effects on cmax and alpha
    assert {k for k in fitted if k.startswith("omega_")} == {"omega_cmax", "omega_alpha"}
    assert fitted["alpha"] == ck.load_model("stein2019_smooth").initial_values()["alpha"]
    assert args["n_subjects"] == 150 and args["n_replicates"] == 100
    assert args["fit"] == ChainFit(chains=2, tune=300, draws=300, target_accept=0.95, cores=1)
    assert args["outcomes"].truth == {
        "crs_grade": 1.0,
        "orr": 0.8,
        "il6_cmax": 0.8,
        "pfs_time": -0.5,
    }


def test_parameter_sse_specs_still_load_with_or_without_kind(tmp_path):
    day4 = load_spec(SPEC.parent / "stein2019_sse_day4.toml", kind="sse")
    assert day4.kind == "sse" and day4.estimator["kind"] == "individual_fits"
    text = (SPEC.parent / "stein2019_sse_day4.toml").read_text()
    explicit = load_spec(write_spec(tmp_path, 'kind = "parameters"\n' + text), kind="sse")
    assert explicit.kind == "sse" and explicit.values["kind"] == "parameters"


def test_unknown_sse_kind_names_the_choices(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(tmp_path, MINIMAL.replace('"er_chain"', '"er"')), kind="sse")
    v = err.value.violations[0]
    assert v.code == "spec_value" and "er_chain, parameters" in v.expected
    assert "line 1" in v.value


def test_every_er_chain_problem_reported_at_once_with_its_line(tmp_path):
    text = MINIMAL.replace("cmax = 24000.0", "cmaxx = 24000.0").replace(
        "alpha = 0.5 }", "alpha = -0.5 }"
    ).replace("chains = 2", 'chains = 0\nchain = 2\niiv = ["cmax", "gate"]').replace(
        "seed = 7", 'seed = 7\nlevel = 1.5\n\n[estimator]\nkind = "individual_fits"'
    ) + textwrap.dedent(
        """
            [outcomes]
            exposure = "auc"
            crs_cutpoints = [1.0, 0.5]
            il6_sd = -1.0
            pfs_slope = "steep"
            """
    )
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(tmp_path, text), kind="sse")
    found = {(v.code, v.column or "") for v in err.value.violations}
    assert {
        ("spec_value", "level"),
        ("fit_option", "chain"),
        ("fit_option", "chains"),
        ("fit_option", "iiv"),  # gate has no random effect to keep
        ("outcomes_option", "exposure"),
        ("outcomes_option", "crs_cutpoints"),
        ("outcomes_option", "il6_sd"),
        ("outcomes_option", "pfs_slope"),
        ("truth_option", "cmaxx"),
        ("truth_option", "iiv_sd"),
    } <= found
    assert "spec_unknown_key" in {v.code for v in err.value.violations}  # [estimator]
    by = {(v.code, v.column): v for v in err.value.violations}
    # each problem points at its line in the file and says what was expected
    lines = write_spec(tmp_path, text).read_text().splitlines()
    v = by[("outcomes_option", "il6_sd")]
    assert f"line {lines.index('il6_sd = -1.0') + 1}" in v.value and "positive" in v.expected
    v = by[("fit_option", "chain")]
    assert f"line {lines.index('chain = 2') + 1}" in v.value and "chains" in v.expected
    assert "iiv_sd" in by[("truth_option", "cmaxx")].expected
    assert f"{len(err.value.violations)} problems" in str(err.value)


def test_option_objects_check_every_field():
    with pytest.raises(SpecError) as err:
        ChainFit(chains=0, target_accept=1.0, init="random")
    assert [v.column for v in err.value.violations] == ["chains", "target_accept", "init"]
    with pytest.raises(SpecError) as err:
        EROutcomes(reference=0.0, crs_cutpoints=(), pfs_hazard=math.nan)
    assert {v.column for v in err.value.violations} == {
        "reference",
        "crs_cutpoints",
        "pfs_hazard",
    }
    assert all(v.code == "outcomes_option" for v in err.value.violations)


def test_study_settings_listed_at_once_before_anything_runs(tmp_path):
    m = ck.load_model("stein2019_smooth")
    with pytest.raises(SpecError) as err:
        er_chain_sse(
            m,
            "m",
            [7, 14],
            0,
            seed=-1,
            n_subjects=0,
            out=tmp_path / "s",
            level=1.0,
            fit={"chains": 2},
        )
    assert {v.code for v in err.value.violations} == {
        "n_replicates_invalid",
        "n_subjects_invalid",
        "seed_invalid",
        "level_invalid",
        "model_invalid",
        "fit_invalid",
    }
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------------------ the generator


def test_outcomes_carry_the_declared_slopes():
    """On the true exposure of 4,000 subjects each E-R fit finds its generating slope."""
    from cartpk.er import fit_er

    rng = np.random.default_rng(3)
    gen = EROutcomes()
    cmax = 24000.0 * np.exp(0.81 * rng.standard_normal(4000))
    table = gen.generate(cmax, np.random.default_rng(4)).assign(
        ID=[str(i) for i in range(4000)], cmax=cmax
    )
    assert np.allclose(table["x"], np.log(cmax / 24000.0))
    assert set(table["crs_grade"]) <= {0, 1, 2, 3, 4} and table["crs_grade"].nunique() == 5
    # censoring: follow-up ends at 365 days; dropout U(0, 1825) removes ~20 % within it
    assert table["pfs_time"].max() <= 365.0
    assert 0.5 < table["pfs_event"].mean() < 0.85
    models = {"crs_grade": "ordinal", "orr": "logistic", "il6_cmax": "loglinear"}
    for endpoint, truth in gen.truth.items():
        model = models.get(endpoint, "cox")
        event = "pfs_event" if model == "cox" else None
        row = fit_er(table, endpoint, exposure="cmax", model=model, event=event).slope
        assert row["status"] == "ok"
        # the interval's half-width is about 2 SE: the truth lies within 2 half-widths
        half = (row["upper"] - row["lower"]) / 2
        assert abs(row["estimate"] - truth) < 2 * half, endpoint


def test_outcome_streams_do_not_depend_on_other_endpoints_settings():
    x = 24000.0 * np.exp(np.linspace(-1, 1, 50))
    a = EROutcomes().generate(x, np.random.default_rng(1))
    b = EROutcomes(il6_sd=0.1, orr_slope=2.0).generate(x, np.random.default_rng(1))
    pd.testing.assert_series_equal(a["crs_grade"], b["crs_grade"])
    pd.testing.assert_series_equal(a["pfs_time"], b["pfs_time"])
    assert not np.allclose(a["il6_cmax"], b["il6_cmax"])


def test_exposure_link_is_the_attenuation_factor():
    rng = np.random.default_rng(0)
    true = np.exp(rng.standard_normal(20000))
    noisy = true * np.exp(rng.standard_normal(20000))  # classical error, equal variance
    lam, r = _exposure_link(noisy, true)
    assert lam == pytest.approx(0.5, abs=0.02) and r == pytest.approx(math.sqrt(0.5), abs=0.02)
    assert _exposure_link(true, true) == pytest.approx((1.0, 1.0))


# ------------------------------------------------------------------------ the summary


def test_summarise_er_chain_hand_computed():
    est = pd.DataFrame(
        {
            "replicate": [0, 1, 2, 3, 0, 1, 2, 3],
            "route": ["nca"] * 4 + ["model"] * 4,
            "endpoint": "il6_cmax",
            "model": "loglinear",
            "exposure": "cmax",
            "truth": 0.8,
            "estimate": [0.4, 0.6, 0.5, np.nan, 0.7, 0.8, 0.9, 1.2],
            "lower": [0.3, 0.5, 0.3, np.nan, 0.6, 0.7, 0.7, np.nan],
            "upper": [0.5, 0.9, 0.8, np.nan, 0.8, 0.9, 1.1, np.nan],
            "status": ["ok", "ok", "ok", "failed", "ok", "ok", "ok", "separation_firth"],
            "exposure_lambda": [0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 1.1, 0.9],
        }
    )
    s = summarise_er_chain(est, n_replicates=5)
    assert list(s.columns) == SUMMARY_COLUMNS and list(s["route"]) == ["model", "nca"]
    model, nca = s.iloc[0], s.iloc[1]
    # model: estimates 0.7, 0.8, 0.9, 1.2 (Firth counts); relative errors -1/8, 0, 1/8, 1/2
    assert model["n_replicates_ok"] == 4 and model["n_replicates"] == 5
    assert model["median_estimate"] == pytest.approx(0.85)
    assert model["median_rel_bias_pct"] == pytest.approx(100 * 0.0625)
    assert model["mean_rel_bias_pct"] == pytest.approx(100 * 0.5 / 4)
    rel = np.array([-0.125, 0.0, 0.125, 0.5])
    assert model["mean_rel_bias_mcse_pct"] == pytest.approx(100 * rel.std(ddof=1) / 2)
    assert model["rmse"] == pytest.approx(math.sqrt((0.01 + 0 + 0.01 + 0.16) / 4))
    # three finite intervals, all hold 0.8 ([0.6, 0.8] at its edge)
    assert model["n_ci"] == 3 and model["coverage_pct"] == 100.0
    assert model["coverage_mcse_pct"] == 0.0
    assert model["mean_width"] == pytest.approx((0.2 + 0.2 + 0.4) / 3)
    assert model["mean_exposure_lambda"] == pytest.approx(1.0)
    # nca: the failed fit is left out; [0.5, 0.9] and [0.3, 0.8] hold 0.8, [0.3, 0.5] not
    assert nca["n_replicates_ok"] == 3 and nca["n_ci"] == 3
    assert nca["coverage_pct"] == pytest.approx(200 / 3)
    assert nca["coverage_mcse_pct"] == pytest.approx(100 * math.sqrt((2 / 3) * (1 / 3) / 3))
    assert nca["median_rel_bias_pct"] == pytest.approx(100 * (0.5 - 0.8) / 0.8)
    assert nca["mean_exposure_lambda"] == pytest.approx(0.7)


def test_zero_true_slope_has_coverage_but_no_relative_bias():
    est = pd.DataFrame(
        {
            "route": "true",
            "endpoint": "orr",
            "model": "logistic",
            "exposure": "cmax",
            "truth": 0.0,
            "estimate": [0.1, -0.2],
            "lower": [-0.3, 0.1],
            "upper": [0.5, 0.4],
            "status": "ok",
            "exposure_lambda": 1.0,
        }
    )
    s = summarise_er_chain(est, n_replicates=2).iloc[0]
    assert math.isnan(s["median_rel_bias_pct"]) and s["coverage_pct"] == 50.0


# ------------------------------------------------------------------------ runs (sampling)


@pytest.mark.slow
def test_tiny_study_runs_from_the_cli_resumes_and_grows(tmp_path, client, capsys):
    """2 replicates x 30 subjects through `cartpk sse`, rerun (nothing recomputed), grown to 3."""
    spec = write_spec(tmp_path, MINIMAL)
    out = tmp_path / "study"
    rc = main(["sse", str(spec), "--out", str(out), "--workers", "2", "--quiet", "--format", "csv"])
    assert rc == 0
    printed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(printed.columns) == SUMMARY_COLUMNS and len(printed) == 12
    for name in ("er_sse_summary.csv", "er_sse_estimates.csv", "er_sse_replicates.csv"):
        assert (out / name).is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "er_chain" and manifest["status"] == "ok"
    assert manifest["tasks"] == {"total": 2, "ok": 2, "failed": 0}
    est = pd.read_csv(out / "er_sse_estimates.csv")
    assert list(est.columns) == ESTIMATE_COLUMNS and len(est) == 2 * 3 * 4
    reps = pd.read_csv(out / "er_sse_replicates.csv")
    assert (reps["status"] == "ok").all() and reps["blq_fraction"].between(0.05, 0.35).all()
    assert (reps["rhat_max"] > 1.0).all() and (reps["divergences"] >= 0).all()
    # the true route's exposure is the truth itself
    assert np.allclose(est.loc[est["route"] == "true", "exposure_lambda"], 1.0)

    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "tasks").iterdir()}
    args = er_chain_from_spec(load_spec(spec, kind="sse"))
    again = er_chain_sse(**args, out=out, client=client, quiet=True)
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (out / "tasks").iterdir()}
    pd.testing.assert_frame_equal(again.summary, printed, check_dtype=False, rtol=1e-9)

    grown = er_chain_sse(**{**args, "n_replicates": 3}, out=out, client=client, quiet=True)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "tasks").iterdir()}
    assert {k: after[k] for k in stamps} == stamps and len(after) == 3
    assert set(grown.estimates["replicate"]) == {0, 1, 2}
    assert (grown.summary["n_replicates"] == 3).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spec"]["n_replicates"] == 3
    # the threads of a fit do not change the draws: a study resumes with another `cores`
    faster = ChainFit(**{**dataclasses.asdict(args["fit"]), "cores": 2})
    er_chain_sse(**{**args, "n_replicates": 3, "fit": faster}, out=out, client=client, quiet=True)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "tasks").iterdir()} == after
    # another truth into the same folder is refused
    with pytest.raises(SpecError) as err:
        er_chain_sse(
            **{**args, "outcomes": EROutcomes(crs_slope=2.0)}, out=out, client=client, quiet=True
        )
    assert err.value.code == "study_mismatch" and "crs_slope" in str(err.value)


@pytest.mark.slow
def test_trial_design_model_route_recovers_slopes_nca_attenuates(tmp_path, client):
    """6 replicates x 150 subjects with the shipped spec's settings (about 5 minutes on 2 cores).

    Six replicates cannot pin a slope's bias to 15 % by themselves: the CRS slope's SD
    between replicates is about 23 % of the truth (60 replicates on the true exposure), so
    the median of six has a Monte-Carlo SE of about 12 %, and these six (seed 20261201)
    give -27 % on the *true* exposure. The chain is therefore judged against the true route
    on the same replicates (paired: the same subjects and outcomes): the model route's
    median relative difference from it stays within 15 % for the CRS grade and the IL-6
    peak, and the IL-6 slope (SD 8 % of the truth) is within 15 % of the truth. NCA Cmax, a
    noisy measurement of the true peak (classical error), attenuates the IL-6 slope by its
    reliability (the slope of ln true on ln NCA Cmax, about 0.6 here), so its median
    estimate stays below 0.75 x the truth.
    """
    args = er_chain_from_spec(load_spec(SPEC, kind="sse"))
    res = er_chain_sse(**{**args, "n_replicates": 6}, out=tmp_path / "s", client=client, quiet=True)
    print("\n" + res.summary.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    assert res.status == "ok"
    s = res.summary.set_index(["route", "endpoint"])
    est = res.estimates.pivot_table(
        index=["endpoint", "replicate"], columns="route", values="estimate"
    )
    for endpoint in ("crs_grade", "il6_cmax"):
        e = est.loc[endpoint]
        paired = ((e["model"] - e["true"]) / s.loc[("true", endpoint), "truth"]).median()
        assert abs(paired) < 0.15, endpoint
    assert abs(s.loc[("model", "il6_cmax"), "median_rel_bias_pct"]) < 15.0
    nca_il6 = s.loc[("nca", "il6_cmax")]
    assert nca_il6["median_estimate"] < 0.75 * nca_il6["truth"]
    assert nca_il6["mean_exposure_lambda"] < 0.85
    assert s.loc[("model", "il6_cmax"), "mean_exposure_lambda"] == pytest.approx(1.0, abs=0.1)
