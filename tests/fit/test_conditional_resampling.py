"""The conditional random-effect kernel of population fits (issue 17; cartpk.fit._conditional)
against the truth: the conditional posterior of one subject's random effects given the
population-level values, computed independently on a fine grid.

Subject 121 of the held-out trial (seed 2026, trial design days 7-90, LLOQ 50) has two
modes at the declared population values (a high peak falling fast, a low peak falling
slowly); every draw starts in the first mode, as stuck NUTS chains do, and the kernel must
put the right mass into the second. A second subject with one mode checks the ordinary case.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
import xarray as xr
from scipy.special import logsumexp

import cartpk as ck
from cartpk.fit import loglik
from cartpk.fit._conditional import STEPS, SubjectResampler
from cartpk.fit._convergence import ConvergenceThresholds, check_convergence
from cartpk.fit._population_graph import _constant_values, _design
from cartpk.fit._sampling import SamplingPlan, resample_unmixed

DAYS = (7.0, 14.0, 21.0, 28.0, 60.0, 90.0)
CHAINS, DRAWS = 4, 2000
SHORT = 500  # draws of the tests that only check which subjects are resampled


@pytest.fixture(scope="module")
def trial():
    model = ck.load_model("stein2019_smooth").with_iiv(drop=["foldx", "tmax", "fb", "beta"])
    data = ck.read_dataset(ck.simulate(model, n=150, seed=2026, lloq=50.0, days=DAYS))
    return model, _design(model, data, None, "m3")


def _posterior(
    model, design, start: dict[str, float], subject: int, draws: int = DRAWS
) -> xr.Dataset:
    """Every draw at the declared population values; ``subject``'s etas at ``start``."""
    init = model.initial_values()
    n_subj = len(design.subjects)
    scalar = {f"mu_{n}": np.log(v) for n, v in model.typical().items() if n != "fb"}
    scalar["mu_fb"] = float(np.log(init["fb"] / (1 - init["fb"])))
    scalar |= {f"omega_{n}": init[f"omega_{n}"] for n in model.iiv.names}
    scalar["sigma"] = init["sigma"]
    data = {k: (("chain", "draw"), np.full((CHAINS, draws), v)) for k, v in scalar.items()}
    for n in model.iiv.names:
        eta = np.zeros((CHAINS, draws, n_subj))
        eta[..., subject] = start[n]
        data[f"eta_{n}"] = (("chain", "draw", "subject"), eta)
    return xr.Dataset(data, coords={"subject": design.subjects})


def _grid_truth(model, design, subject: int, half_width: float = 5.0, n: int = 401):
    """log p(y_i | eta) + log N(eta; 0, omega) on a grid, written out from the declaration."""
    init = model.initial_values()
    om = np.array([init["omega_cmax"], init["omega_alpha"]])
    ec, ea = np.meshgrid(*(np.linspace(-half_width * o, half_width * o, n) for o in om))
    rows = design.obs[design.obs["SUBJ"] == subject]
    params = dict(model.typical())
    params["cmax"] = params["cmax"] * np.exp(ec.reshape(-1, 1))
    params["alpha"] = params["alpha"] * np.exp(ea.reshape(-1, 1))
    pred = model.evaluate(np, rows["TIME"].to_numpy()[None, :], params)["QPCR"]
    ll = loglik(
        np,
        rows["DV"].to_numpy()[None, :],
        pred,
        rows["CENS"].to_numpy()[None, :],
        model.error["QPCR"],
        {"sigma": init["sigma"]},
    ).sum(axis=1)
    logp = ll - 0.5 * ((ec.reshape(-1) / om[0]) ** 2 + (ea.reshape(-1) / om[1]) ** 2)
    w = np.exp(logp - logsumexp(logp))
    return ec.reshape(-1), ea.reshape(-1), w


def _run(model, design, subject: int, start: dict[str, float]):
    post = _posterior(model, design, start, subject)
    kernel = SubjectResampler(model, design, _constant_values(model), seed=7)
    rates = kernel(post, [subject])
    got = {n: post[f"eta_{n}"].values[..., subject].reshape(-1) for n in model.iiv.names}
    return got, rates[design.subjects[subject]], post, kernel


def test_bimodal_subject_gets_both_modes_in_their_true_proportions(trial):
    model, design = trial
    i = design.subjects.index("121")
    ec, ea, w = _grid_truth(model, design, i)
    second = ea < np.log(0.09 / 0.16)  # the slow-decay mode: alpha below 0.09 /day
    p_true = float(w[second].sum())
    assert 0.03 < p_true < 0.5, p_true  # the grid does show a real second mode
    start = {"cmax": float(ec[np.argmax(w)]), "alpha": float(ea[np.argmax(w)])}
    assert start["alpha"] > np.log(0.09 / 0.16)  # every draw starts in the first mode
    got, rate, _, _ = _run(model, design, i, start)
    n = CHAINS * DRAWS
    p_got = float(np.mean(got["alpha"] < np.log(0.09 / 0.16)))
    se = np.sqrt(p_true * (1 - p_true) / n)
    assert abs(p_got - p_true) < 5 * se + 0.01, (p_got, p_true, rate)
    for name, grid in (("cmax", ec), ("alpha", ea)):
        mean, sd = float(w @ grid), float(np.sqrt(w @ (grid - w @ grid) ** 2))
        assert abs(got[name].mean() - mean) < 0.05 * sd + 5 * sd / np.sqrt(n), name
        assert got[name].std() == pytest.approx(sd, rel=0.06), name
    assert 0.02 < rate < 1.0


def test_unimodal_subject_matches_the_grid(trial):
    model, design = trial
    i = design.subjects.index("1")
    ec, ea, w = _grid_truth(model, design, i)
    got, rate, _, _ = _run(model, design, i, {"cmax": 0.0, "alpha": 0.0})
    n = CHAINS * DRAWS
    for name, grid in (("cmax", ec), ("alpha", ea)):
        mean, sd = float(w @ grid), float(np.sqrt(w @ (grid - w @ grid) ** 2))
        assert abs(got[name].mean() - mean) < 0.05 * sd + 5 * sd / np.sqrt(n), name
        assert got[name].std() == pytest.approx(sd, rel=0.06), name
    assert rate > 0.05


def test_only_the_listed_subject_and_its_random_effects_change(trial):
    model, design = trial
    i = design.subjects.index("121")
    before = _posterior(model, design, {"cmax": 0.3, "alpha": 0.3}, i)
    _, _, after, _ = _run(model, design, i, {"cmax": 0.3, "alpha": 0.3})
    for name in before.data_vars:
        a, b = after[name].values, before[name].values
        if name.startswith("eta_"):
            others = np.delete(np.arange(a.shape[-1]), i)
            np.testing.assert_array_equal(a[..., others], b[..., others])
            assert not np.array_equal(a[..., i], b[..., i])
        else:
            np.testing.assert_array_equal(a, b)


def test_unmixed_finds_the_subject_whose_chains_disagree(trial):
    model, design = trial
    i = design.subjects.index("121")
    post = _posterior(model, design, {"cmax": 0.0, "alpha": 0.0}, i, draws=SHORT)
    rng = np.random.default_rng(3)
    for n in model.iiv.names:
        eta = rng.normal(size=(CHAINS, SHORT, len(design.subjects)))
        eta[1, :, i] += 2.0  # one chain in another mode
        post[f"eta_{n}"] = (("chain", "draw", "subject"), eta)
    kernel = SubjectResampler(model, design, _constant_values(model), seed=7)
    assert kernel.unmixed(post, ConvergenceThresholds()) == [i]
    assert STEPS >= 20


def _mixed_posterior(model, design, subject: int, displaced: str) -> az.InferenceData:
    """Well-mixed draws everywhere except one chain of ``displaced`` (an eta of ``subject``
    or a population-level variable), which sits 2 SDs away."""
    post = _posterior(model, design, {"cmax": 0.0, "alpha": 0.0}, subject, draws=SHORT)
    rng = np.random.default_rng(5)
    for name in post.data_vars:
        v = post[name].values
        post[name] = (
            post[name].dims,
            v + rng.normal(scale=0.01 if v.ndim == 2 else 0.3, size=v.shape),
        )
    if displaced.startswith("eta_"):
        post[displaced].values[1, :, subject] += 1.0
    else:
        post[displaced].values[1] += 0.02
    return az.InferenceData(posterior=post)


@pytest.mark.parametrize(
    "displaced", [pytest.param("eta_alpha", marks=pytest.mark.slow), "mu_cmax"]
)
def test_only_unmixed_random_effects_with_a_converged_population_are_resampled(trial, displaced):
    model, design = trial
    i = design.subjects.index("121")
    idata = _mixed_posterior(model, design, i, displaced)
    th = ConvergenceThresholds()
    plan = SamplingPlan(
        sampler="nutpie",
        keep=list(idata.posterior.data_vars),
        draws=SHORT,
        tune=0,
        chains=CHAINS,
        cores=1,
        seed=1,
        target_accept=0.9,
        progress=False,
        resampler=SubjectResampler(model, design, _constant_values(model), seed=1),
    )
    table, _ = check_convergence(idata, thresholds=th, warn=False)
    assert set(table.loc[~table["passed"].astype(bool), "parameter"]) == {displaced}
    resampled: dict = {}
    done = resample_unmixed(idata, plan, 0, table, resampled)
    if displaced == "mu_cmax":  # the population level first: more chains, not the kernel
        assert not done and resampled == {}
        return
    assert done and list(resampled) == ["121"], resampled
    _, summary = check_convergence(idata, thresholds=th, warn=False)
    assert summary["converged"], summary["failed"]
