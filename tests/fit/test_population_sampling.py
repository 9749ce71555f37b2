"""Sampling tests of the population fit: fast smoke and small-recovery tests, slow
recovery/reproducibility tests (the trial-design recovery is `test_population_trial_design.py`).

The smoke test samples a few draws only to check the structure of the result; it does not
judge convergence (it is expected to miss the thresholds, and says so with a warning).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cartpk as ck
from cartpk.diagnostics import ConvergenceThresholds
from cartpk.errors import CartpkWarning

# Known truth of the recovery test: solid-tumour-like expansion, far below the catalogue's
# B-ALL values (Stein 2019: cmax 24,000, alpha 0.16, fb 0.0079, beta 0.0032).
TRUTH = dict(foldx=2000.0, tmax=8.0, cmax=6000.0, alpha=0.25, fb=0.02, beta=0.01)
# The weak priors are centred on the fitted declaration's values: here an analyst's guess
# 1.5-fold off every truth (0.27 prior SDs on the log scale). Centred on Stein's B-ALL values
# instead, the data cannot pull the weakly identified fb and beta (late, often BLQ) all the
# way: their 90 % intervals then sit below the truth (fb [0.011, 0.017], beta
# [0.0003, 0.007]), as a Bayesian interval should when the truth is in the prior's tail.
GUESS = {k: v * 1.5 for k, v in TRUTH.items()}
IIV = {"cmax": 0.8, "alpha": 0.5}
DAYS = (2.0, 4.0, 7.0, 10.0, 14.0, 21.0, 28.0, 60.0, 90.0)


def _model():
    # Random effects on the parameters the design identifies per subject. A random effect on
    # tmax makes each subject's likelihood multimodal in tmax (the 0.25-day gate switches
    # between sampling days), and 4 chains of 500 draws then disagree (R-hat 1.04-1.4).
    return ck.load_model("stein2019_smooth").with_iiv(drop=["foldx", "tmax", "fb", "beta"])


def _recovery_fit(n, data_seed, **sampling):
    """A trial of ``n`` subjects simulated at ``TRUTH`` with ``IIV`` (data seed ``data_seed``,
    LLOQ 50, ``DAYS``), fitted (seed 1) from the declaration at ``GUESS``: data and fit."""
    sim_model = _model().with_ini(**TRUTH).with_iiv(sd=IIV)
    data = ck.read_dataset(ck.simulate(sim_model, n=n, seed=data_seed, lloq=50, days=DAYS))
    return data, ck.fit_population(_model().with_ini(**GUESS), data, seed=1, **sampling)


def test_smoke_sampling_output_structure(tmp_path):
    model = ck.load_model("stein2019_smooth").with_iiv(drop=["foldx", "tmax", "fb", "beta"])
    data = ck.read_dataset(ck.simulate(model, n=6, seed=3, lloq=50))
    with pytest.warns(CartpkWarning, match="not_converged"):
        fit = ck.fit_population(model, data, draws=20, tune=20, chains=2, seed=5)
    post = fit.idata.posterior
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 20
    assert post["eta_cmax"].dims == ("chain", "draw", "subject")
    assert list(post["subject"].values) == data.subjects
    assert {"cmax", "mu_cmax", "omega_cmax", "sigma", "eta_alpha"} <= set(post.data_vars)
    assert not any(v.startswith("z_") or v.endswith("__") for v in post.data_vars)
    assert {"observed_data", "constant_data", "sample_stats"} <= set(fit.idata.groups())
    assert list(fit.parameters.columns[:9]) == [
        "parameter",
        "estimate",
        "lower",
        "upper",
        "unit",
        "se",
        "rse_pct",
        "cv_pct",
        "shrinkage_pct",
    ]
    assert fit.parameters.parameter.tolist() == model.parameter_names()
    assert len(fit.individual) == 6 and "eta_cmax" in fit.individual
    assert set(fit.diagnostics.check) == {
        "rhat",
        "ess_bulk",
        "ess_tail",
        "divergences",
        "bfmi",
        "shrinkage",
    }
    s = fit.summary
    assert s["converged"] is False and s["failed"]
    assert s["blq"] == "m3" and s["sampler"] == "nutpie" and s["observations"] == 36
    assert s["mass_matrix"] == "diag" and s["centered"] == []
    # a centred random effect is sampled itself and reported under the same name
    with pytest.warns(CartpkWarning, match="not_converged"):
        cfit = ck.fit_population(
            model, data, draws=20, tune=20, chains=2, seed=5, centered=["cmax"], init="declared"
        )
    assert cfit.idata.posterior["eta_cmax"].dims == ("chain", "draw", "subject")
    assert cfit.summary["centered"] == ["cmax"] and "eta_cmax" in cfit.individual
    fit.idata.to_netcdf(str(tmp_path / "posterior.nc"))
    assert (tmp_path / "posterior.nc").stat().st_size > 0


def test_small_recovery_in_the_default_run():
    """One small trial (30 subjects, the rich design, ~23 % BLQ), few draws: a quick check
    that sampling recovers the best-identified typical values (runs in about 10 s).

    Thresholds are scaled to 2 chains x 300 draws (R-hat <= 1.05, ESS >= 100); every one must
    be met, with no divergence. cmax and alpha medians lie within 25 % of the truth and their
    95 % intervals cover it (data seeds 1-5 all pass; seed 1 is the one used). The slow tests
    (`test_recovery_converges_and_covers_truth`, `test_population_trial_design.py`) judge
    coverage over replicates.
    """
    from cartpk.diagnostics import ConvergenceThresholds

    _, fit = _recovery_fit(
        n=30,
        data_seed=1,
        draws=300,
        tune=500,
        chains=2,
        thresholds=ConvergenceThresholds(rhat_max=1.05, ess_bulk_min=100.0, ess_tail_min=100.0),
    )
    s = fit.summary
    assert s["converged"], s["failed"]
    assert s["divergences"] == 0
    table = fit.parameters.set_index("parameter")
    for name in ("cmax", "alpha"):
        row = table.loc[name]
        assert abs(row["estimate"] / TRUTH[name] - 1) <= 0.25, (name, row["estimate"])
        assert row["lower"] <= TRUTH[name] <= row["upper"], (name, row["lower"], row["upper"])


REPLICATES = (11, 12, 13)  # data seeds: consecutive, not picked


@pytest.fixture(scope="module")
def recovery():
    return [
        _recovery_fit(n=40, data_seed=seed, draws=1000, tune=1000, chains=4, target_accept=0.95)
        for seed in REPLICATES
    ]


@pytest.mark.slow
def test_recovery_converges_and_covers_truth(recovery):
    """3 simulated trials of 40 subjects, 9 samples each, ~20 % BLQ, weak priors centred on
    a 1.5-fold wrong guess.

    Every fit converges (R-hat <= 1.01, bulk/tail ESS >= 400, no divergences; the default
    extension may add rounds of chains). Calibration of the 3 x 6 typical values: with
    ``z = (posterior mean - truth) / posterior SD`` on the log scale, a calibrated posterior
    gives ``sum z^2`` about chi^2(18): it must stay below the 99.9 % quantile (42.3), and
    no ``|z|`` may exceed 3.5 (P = 0.8 % over 18). A count of 90 % intervals covering the
    truth was used before: these trials have two or three truths within a few per cent of
    an interval end (foldx of data seed 11: [1,084, 1,984] or [1,090, 2,001] vs 2,000,
    depending on the sampler's path), so the count flipped between 12 and 14 of 18 with the
    Monte-Carlo error; the z statistic moves continuously. A bias of 1.5 posterior SDs on
    every typical value gives ``sum z^2`` about 58 and fails. 5 of the 6 IIV SDs' 90 %
    intervals must cover theirs.
    """
    from scipy.stats import chi2

    zs, omega_cover = {}, 0
    for data, fit in recovery:
        obs = data.observations("QPCR")
        assert 0.1 < obs.CENS.mean() < 0.35
        s = fit.summary
        assert s["converged"], s["failed"]
        assert s["rhat_max"] <= 1.01 and s["ess_bulk_min"] >= 400 and s["divergences"] == 0
        post = fit.idata.posterior
        for name, value in TRUTH.items():
            draws = np.log(post[name].values.ravel())
            zs[f"{name} (trial {len(zs) // 6 + 1})"] = (draws.mean() - np.log(value)) / draws.std()
        for name, sd in IIV.items():
            lo, hi = np.quantile(post[f"omega_{name}"].values, [0.05, 0.95])
            omega_cover += int(lo <= sd <= hi)
    z = np.array(list(zs.values()))
    assert len(z) == 18
    shown = {k: round(float(v), 2) for k, v in zs.items()}
    assert float(np.sum(z**2)) <= chi2.ppf(0.999, 18), shown
    assert float(np.max(np.abs(z))) <= 3.5, shown
    assert omega_cover >= 5


@pytest.mark.slow
def test_same_seed_same_draws():
    model = ck.load_model("stein2019_smooth").with_iiv(drop=["foldx", "tmax", "fb", "beta"])
    data = ck.read_dataset(ck.simulate(model, n=6, seed=3, lloq=50))
    draws = []
    for _ in range(2):
        with pytest.warns(CartpkWarning, match="not_converged"):
            fit = ck.fit_population(model, data, draws=30, tune=30, chains=2, seed=9)
        draws.append(fit.idata.posterior["cmax"].values)
    np.testing.assert_array_equal(draws[0], draws[1])


@pytest.mark.slow
def test_stein_ode_form_gives_the_closed_form_posterior():
    """Issue 7: the Stein ODE (``stein2019_ode``, integrated by the JAX engine at every
    gradient) and its closed form (``stein2019``) fitted to the same data give the same
    posterior: every typical value's median within 4 Monte-Carlo SEs of the other's and 95 %
    intervals that overlap (both converge). Same seed and starts; the samplers' paths differ
    by the ODE's integration error, so the draws are close but not identical: with
    2 x 1,000 draws the Monte Carlo error of a median difference is about 1.5 % for the
    weakest (beta), which failed a fixed 5 % bound once on a loaded machine.

    The ODE is integrated at rtol 1e-8 (the catalogue's 1e-11 serves the 1e-8 agreement
    tests of the engine; a sampler needs far less than the residual error of 0.3)."""
    pytest.importorskip("diffrax")
    from cartpk.model._catalogue import _model_class

    class SteinOde(_model_class("stein2019_ode")):
        name = "stein2019_ode_rtol8"
        solver = {"method": "DOP853", "rtol": 1e-8, "atol": 1e-10}

    sim_model = _model().with_ini(**TRUTH).with_iiv(sd=IIV)
    data = ck.read_dataset(ck.simulate(sim_model, n=20, seed=4, lloq=50, days=DAYS))
    drop = ["foldx", "tmax", "fb", "beta"]
    fits = {}
    for name, base in (("stein2019", ck.load_model("stein2019")), ("stein2019_ode", SteinOde())):
        model = base.with_iiv(drop=drop).with_ini(**GUESS)
        with warnings.catch_warnings():
            # the closed form's hard gate: the smooth sibling is suggested, not needed here
            warnings.filterwarnings("ignore", message=".*hard gate", category=CartpkWarning)
            fits[name] = ck.fit_population(
                model,
                data,
                draws=1000,
                tune=500,
                chains=2,
                seed=3,
                target_accept=0.9,
                init="declared",
                thresholds=ConvergenceThresholds(
                    rhat_max=1.02, ess_bulk_min=150.0, ess_tail_min=150.0
                ),
            )
    assert fits["stein2019_ode"].summary["ode_engine"] == "jax"
    for fit in fits.values():
        assert fit.summary["converged"], fit.summary["failed"]
    cf = fits["stein2019"].parameters.set_index("parameter")
    ode = fits["stein2019_ode"].parameters.set_index("parameter")
    import arviz as az

    for name in TRUTH:
        # tolerance from the Monte-Carlo SE of each median (4 SE of the difference, as if
        # the two runs were independent; they share seed and starts, so it is generous)
        mcse = [
            float(az.mcse(f.idata.posterior[name], method="quantile", prob=0.5).to_array().max())
            for f in (fits["stein2019"], fits["stein2019_ode"])
        ]
        tol = 4 * float(np.hypot(*mcse)) / abs(cf.loc[name, "estimate"])
        assert tol < 0.15, (name, tol)  # the check stays able to fail
        assert abs(ode.loc[name, "estimate"] / cf.loc[name, "estimate"] - 1) <= tol, name
        assert ode.loc[name, "lower"] <= cf.loc[name, "upper"], name
        assert cf.loc[name, "lower"] <= ode.loc[name, "upper"], name
