"""The mechanistic joint model (``cartmath_illustration``: effector/memory/exhausted CAR-T
and tumour) fitted as a population on qPCR (M3) and tumour size together, against the known truth of the
bundled simulated example (``cartpk/examples/_make.py``: ``MECH_TRUTH``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cartpk as ck
from cartpk.cli import main
from cartpk.cli._fit import load_spec
from cartpk.diagnostics import ConvergenceThresholds
from cartpk.examples import _make
from cartpk.fit.population import population_model

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "fits" / "long" / "cartmath_joint.toml"
ESTIMATED = ("rho", "eps", "mu", "gamma", "tumour0")


def test_joint_spec_is_valid_and_fixes_what_the_data_cannot_inform():
    spec = load_spec(SPEC)
    assert spec.model == "cartmath_illustration" and spec.method == "bayes"
    assert spec.options["dvid"] == ["QPCR", "SOD"] and spec.options["blq"] == "m3"
    assert spec.options["ode_method"] == "Tsit5"  # explicit at the example's clinical scale
    assert set(spec.fix) == set(_make.MECH_FIXED)
    # fixed parameters sit at the truth; estimated ones start away from it
    for name in _make.MECH_FIXED:
        assert spec.ini[name] == pytest.approx(_make.MECH_TRUTH[name])
    for name in ESTIMATED:
        assert not 0.75 < spec.ini[name] / _make.MECH_TRUTH[name] < 1.3, name


@pytest.mark.slow  # > 20 s on one core (compiles); CI runs it with -m slow
def test_joint_population_model_has_both_endpoints_and_only_free_inputs():
    spec = load_spec(SPEC)
    model = (
        ck.load_model("cartmath_illustration")
        .with_ini(**spec.ini)
        .fix(*spec.fix)
        .with_iiv(drop=["theta"])
    )
    data = ck.read_dataset(_make.make_mechanistic(seed=5).query("ID in ['1', '2', '3']"))
    pmm = population_model(model, data, dvid=["QPCR", "SOD"], ode_method="Tsit5")
    names = {v.name for v in pmm.free_RVs}
    assert {f"mu_{p}" for p in ESTIMATED} <= names
    assert not {f"mu_{p}" for p in _make.MECH_FIXED} & names
    assert {"sigma_qpcr", "sigma_sod", "z_gamma", "z_tumour0", "z_eps"} <= names
    assert {"loglik_QPCR", "loglik_SOD"} <= {p.name for p in pmm.potentials}
    point = pmm.initial_point()
    assert np.isfinite(pmm.compile_logp()(point))
    assert np.isfinite(pmm.compile_dlogp()(point)).all()
    # the spec's explicit JAX solver gives the log-density and gradient of SciPy's BDF
    ref = population_model(model, data, dvid=["QPCR", "SOD"], ode_engine="scipy")
    rng = np.random.default_rng(1)
    for _ in range(2):
        x = {k: v + 0.05 * rng.standard_normal(np.shape(v)) for k, v in point.items()}
        assert pmm.compile_logp()(x) == pytest.approx(ref.compile_logp()(x), rel=1e-6)
        np.testing.assert_allclose(
            pmm.compile_dlogp()(x), ref.compile_dlogp()(x), rtol=1e-3, atol=1e-3
        )


@pytest.mark.slow
def test_joint_spec_runs_end_to_end_and_reports_its_checks(tmp_path):
    """The shipped spec through ``cartpk fit`` on a reduced problem (8 subjects, 2 chains x
    (60 + 30), 20 VPC replicates; the shipped one samples for ~15 minutes on 2 cores): every file
    is written for both endpoints, and the exit code says what the diagnostics say (1 with
    the failed checks listed when a threshold is missed, never a silent 0).

    The full spec converges (measured: R-hat <= 1.004, bulk ESS >= 680, exit 0; its header
    and docs/ode_engine.md); recovery on a reduced budget is asserted by
    ``test_joint_population_fit_recovers_the_truth``."""
    text = SPEC.read_text()
    for key, value in (("chains", 2), ("tune", 60), ("draws", 30), ("vpc_replicates", 20)):
        text, n = re.subn(rf"(?m)^{key} = \d+$", f"{key} = {value}", text)
        assert n == 1, key
    # 8 of the example's 40 subjects (both dose levels): the spec's data line is the one
    # thing changed besides the budget (early warm-up trees are deep; 40 subjects take
    # minutes there)
    example = _make.make_mechanistic()
    keep = example["ID"].astype(str).drop_duplicates().head(8)
    example[example["ID"].astype(str).isin(keep)].to_csv(tmp_path / "mech8.csv", index=False)
    text, n = re.subn(r"(?m)^data = .*$", 'data = "mech8.csv"', text)
    assert n == 1
    spec = tmp_path / "cartmath_joint_small.toml"
    spec.write_text(text)
    out = tmp_path / "run"
    code = main(["fit", str(spec), "--out", str(out), "--quiet"])
    diag = json.loads((out / "diagnostics.json").read_text())
    assert code in (0, 1)
    assert (code == 0) == bool(diag["converged"]), diag["failed"]
    assert code == 0 or diag["failed"]
    assert diag["ode_engine"] == "jax" and diag["ode_method"] == "Tsit5"
    pop = pd.read_csv(out / "population.csv").set_index("parameter")
    for name in (*ESTIMATED, "omega_gamma", "omega_tumour0", "sigma_qpcr", "sigma_sod"):
        assert np.isfinite(pop.loc[name, "estimate"]), name
    for name in _make.MECH_FIXED:  # fixed parameters are reported at their value
        assert pop.loc[name, "estimate"] == pytest.approx(_make.MECH_TRUTH[name])
    pred = pd.read_csv(out / "predictions.csv")
    assert set(pred["DVID"]) == {"QPCR", "SOD"}
    for name in ("posterior.nc", "vpc.png", "gof.png", "individual_fits.png", "manifest.json"):
        assert (out / name).stat().st_size > 0, name


def test_spec_samples_gamma_centred_with_a_low_rank_mass_matrix():
    spec = load_spec(SPEC)
    assert spec.options["centered"] == ["gamma"]
    assert spec.options["mass_matrix"] == "low_rank"


@pytest.mark.slow
def test_joint_population_fit_recovers_the_truth():
    """Parameter recovery of the mechanistic joint model (issue 7): the shipped spec's model,
    values, fixed parameters and sampler settings (gamma centred, low-rank mass matrix) on
    the first 16 subjects of the bundled example, 2 chains x (500 + 500) draws, about 5
    minutes on 2 cores.

    Convergence thresholds are scaled to 2 x 500 draws (R-hat <= 1.02, bulk and tail ESS >=
    100, no divergence; the spec's full run uses 1.01 and 400). Measured: R-hat 1.012, the
    smallest ESS 143 (omega_tumour0, whose interval [0.04, 0.51] shows the design barely
    informs it), ESS 745-1,386 for the typical values. The 95 % intervals of the 5 typical
    values, 3 IIV SDs and 2 residual SDs cover the truth (all 10 here; at most one may miss,
    so that a different floating-point path on another machine cannot fail a correct fit).
    Without the centred gamma and the low-rank matrix the same run took 2.7x longer for a
    bulk ESS of 86 and R-hat 1.05 (docs/ode_engine.md)."""
    spec = load_spec(SPEC)
    o = spec.options
    model = (
        ck.load_model(spec.model).with_ini(**spec.ini).fix(*spec.fix).with_iiv(drop=o["drop_iiv"])
    )
    example = _make.make_mechanistic()
    keep = [str(i) for i in range(1, 17)]
    data = ck.read_dataset(example[example["ID"].astype(str).isin(keep)])
    as_shipped = ("dvid", "blq", "priors", "sampler", "ode_method", "centered", "mass_matrix")
    fit = ck.fit_population(
        model,
        data,
        **{k: o[k] for k in as_shipped},
        init="declared",
        chains=2,
        tune=500,
        draws=500,
        seed=3,
        target_accept=o["target_accept"],
        thresholds=ConvergenceThresholds(rhat_max=1.02, ess_bulk_min=100.0, ess_tail_min=100.0),
    )
    s = fit.summary
    assert s["converged"], s["failed"]
    assert s["divergences"] == 0
    table = fit.parameters.set_index("parameter")
    truth = {
        **_make.MECH_TRUTH,
        **_make.MECH_SIGMA,
        **{f"omega_{k}": v for k, v in _make.MECH_IIV.items()},
    }
    names = [*ESTIMATED, *(f"omega_{k}" for k in _make.MECH_IIV), *_make.MECH_SIGMA]
    missed = [n for n in names if not table.loc[n, "lower"] <= truth[n] <= table.loc[n, "upper"]]
    assert len(missed) <= 1, table.loc[names, ["estimate", "lower", "upper"]]
