"""Sampling until the convergence thresholds are met (issue 17 item 1): rounds of chains
pooled by ``fit_population(extend=...)``, and the rule that decides whether another round
can help (``cartpk.fit._sampling.why_stop``)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import cartpk as ck
from cartpk.diagnostics import ConvergenceThresholds
from cartpk.errors import CartpkWarning, SpecError
from cartpk.fit._sampling import RHAT_EXTENDABLE, SamplingPlan, why_stop


def _table(*rows):
    cols = ["check", "parameter", "element", "value", "threshold", "passed"]
    base = [("rhat", "mu_cmax", "", 1.001, 1.01, True)]
    return pd.DataFrame([*base, *rows], columns=cols)


def test_converged_and_spent_budget_stop():
    assert why_stop(_table(), chains=4, per_round=4, rounds_left=2) == "converged"
    short = ("ess_bulk", "mu_foldx", "", 390.0, 400.0, False)
    assert why_stop(_table(short), chains=4, per_round=4, rounds_left=0) == "budget spent"


def test_a_reachable_ess_shortfall_or_small_rhat_gets_another_round():
    assert why_stop(_table(("ess_tail", "eta", "5", 143.6, 150.0, False)), **_more(2)) is None
    assert why_stop(_table(("rhat", "mu_tmax", "", 1.018, 1.01, False)), **_more(2)) is None
    # 4 chains reached 30 % of the ESS: 2 more rounds (12 chains) would reach 90 % only
    reason = why_stop(_table(("ess_bulk", "mu_foldx", "", 120.0, 400.0, False)), **_more(2))
    assert reason is not None and reason.startswith("ESS at 30 %")
    # ... while 3 more rounds (16 chains) would reach 120 %
    assert why_stop(_table(("ess_bulk", "mu_foldx", "", 120.0, 400.0, False)), **_more(3)) is None


def _more(rounds_left):
    return dict(chains=4, per_round=4, rounds_left=rounds_left)


def test_no_round_where_more_chains_cannot_help():
    div = ("divergences", "", "", 3.0, 0.0, False)
    assert why_stop(_table(div), **_more(2)).startswith("divergent transitions")
    bfmi = ("bfmi", "", "1", 0.2, 0.3, False)
    assert why_stop(_table(bfmi), **_more(2)).startswith("low E-BFMI")
    modes = ("rhat", "sigma", "", RHAT_EXTENDABLE + 0.2, 1.01, False)
    assert why_stop(_table(modes), **_more(2)).startswith("R-hat 1.250 > 1.05")
    nan = ("ess_bulk", "eta_cmax", "3", np.nan, 400.0, False)
    assert why_stop(_table(nan), **_more(2)).startswith("ESS at nan %")


def test_round_seeds_are_distinct_and_reproducible():
    plan = SamplingPlan(
        sampler="nutpie",
        keep=[],
        draws=10,
        tune=10,
        chains=2,
        cores=1,
        seed=7,
        target_accept=0.9,
        progress=False,
        extend=3,
    )
    seeds = [plan.round_seed(k) for k in range(4)]
    assert seeds[0] == 7 and len(set(seeds)) == 4
    assert seeds == [plan.round_seed(k) for k in range(4)]


def test_extend_is_validated():
    model = ck.load_model("stein2019_smooth")
    data = ck.read_dataset(ck.simulate(model, n=3, seed=1, lloq=50))
    for bad in (-1, 1.5, True):
        with pytest.raises(SpecError, match="Invalid sampling options") as err:
            ck.fit_population(model, data, extend=bad)
        assert err.value.violations[0].code == "sampling_option"
        assert "`extend` must be an integer >= 0" in str(err.value)


def test_missed_thresholds_add_rounds_of_chains_and_say_so():
    """A small fit whose ESS threshold 2 chains x 150 draws cannot meet: extra rounds of
    2 chains (up to 3, so that a first-round ESS of a third of the threshold is within
    reach whatever the sampler's path) are pooled (chains renumbered), each round recorded with its own seed, and the
    summary says why sampling stopped."""
    model = ck.load_model("stein2019_smooth").with_iiv(drop=["foldx", "tmax", "fb", "beta"])
    data = ck.read_dataset(ck.simulate(model, n=8, seed=3, lloq=50))
    thresholds = ConvergenceThresholds(rhat_max=1.05, ess_bulk_min=250.0, ess_tail_min=150.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CartpkWarning)
        fit = ck.fit_population(
            model,
            data,
            draws=150,
            tune=300,
            chains=2,
            seed=5,
            thresholds=thresholds,
            extend=3,
            resample=False,  # the rounds themselves, without the random-effect kernel
        )
    s = fit.summary
    rounds = s["rounds"]
    assert len(rounds) >= 2, rounds
    assert rounds[0]["failed"], "the first round was meant to miss the ESS threshold"
    assert [r["chains"] for r in rounds] == [2 * (k + 1) for k in range(len(rounds))]
    assert len({r["seed"] for r in rounds}) == len(rounds) and rounds[0]["seed"] == 5
    post = fit.idata.posterior
    assert s["chains"] == post.sizes["chain"] == 2 * len(rounds)
    assert list(post["chain"].values) == list(range(s["chains"]))
    assert fit.idata.sample_stats.sizes["chain"] == s["chains"]
    assert s["chains_per_round"] == 2 and s["extend"] == 3
    if s["converged"]:
        assert s["sampling_stopped"] == "converged" and not rounds[-1]["failed"]
    else:
        assert s["sampling_stopped"] != "converged"
    # the pooled draws differ between rounds (new seeds, not copies of round 1)
    first, second = post["cmax"].values[:2], post["cmax"].values[2:4]
    assert not np.array_equal(first, second)


def test_extend_zero_samples_one_round():
    model = ck.load_model("stein2019_smooth").with_iiv(drop=["foldx", "tmax", "fb", "beta"])
    data = ck.read_dataset(ck.simulate(model, n=6, seed=3, lloq=50))
    with pytest.warns(CartpkWarning, match="not extended"):
        fit = ck.fit_population(model, data, draws=20, tune=20, chains=2, seed=5, extend=0)
    assert fit.summary["chains"] == 2 and len(fit.summary["rounds"]) == 1
    assert fit.summary["sampling_stopped"] == "not extended (extend = 0)"
