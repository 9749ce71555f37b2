"""Recovery on the seed trial design (issue 6): qPCR on days 7-90 only, 150 subjects, ~17 % BLQ.

The data are simulated from ``stein2019_smooth`` with a known truth, three seeded replicate
trials (data seeds ``0, 1, 2``: ``range(3)``, not picked), and each is fitted by
:func:`cartpk.fit_population` (nutpie, 4 chains x 1,500 draws) with the declaration a user would start
from: the catalogue model with Stein 2019's published IIV SDs and residual error, its typical
values replaced by a guess 1.5-fold off every truth, ``priors="literature"`` (typical values
Normal(log guess, 0.5): the truth sits 0.81 prior SDs low).

What the design can and cannot inform, and the choices that follow
-------------------------------------------------------------------
* **IIV on cmax and alpha only** (as ``fits/stein2019_bayes.toml``), simulated and fitted:
  the six samples of a subject carry one point before the peak (day 7), so individual foldx
  and tmax are not identified, and a random effect on tmax makes each subject's likelihood
  multimodal between sampling days.
* **Truth.** Stein 2019's expansion (foldx 3,900, tmax 9.3 d, cmax 24,000 copies/ug, IIV SD
  of cmax 0.81) with a faster contraction and persistence, ``alpha = 0.25/d, fb = 0.02,
  beta = 0.02/d`` and IIV SD 0.5 on alpha. With Stein's B-ALL values (``alpha 0.16,
  fb 0.0079, beta 0.0032``, alpha IIV 0.95) days 60-90 see a 10 % decline of the persistence
  phase against a residual SD of 0.56: measured on this design, beta's 95 % interval is
  [0.0005, 0.011] (the data cannot place it within 25 %), and subjects with a flat profile
  are bimodal between "slow alpha" and "high cmax, fast alpha, then persistence" (R-hat 1.8 on
  their random effects) - no sampler setting fixes either; they are properties of the design.
* **tmax is identified, foldx is not.** Without IIV on tmax, the early decline of subjects
  with different alpha (days 14-28) pins tmax to about +-4 %; foldx rests on day 7 alone
  and its posterior is its prior (``prior_width_ratio`` about 1): the data did not narrow it.
* **Chains start at the declared values** (``init="declared"``: only the random-effect
  innovations are jittered). The likelihood has a local mode of tmax between each pair of
  sampling days (7-14, 14-21, 21-28, 28-60); the samplers' default U(-1, 1) jitter of
  ``log(tmax)`` starts chains in different ones, where they stay: with ``init="jitter"``
  these three data sets give R-hat 2.41, 2.42 and 1.53 (chains' tmax from 2 to 18 days).
  The declared guess (13.95 days) lies in the truth's interval, as a literature value would.
* **LLOQ 120 copies/ug** gives 15-20 % BLQ records (asserted per replicate; 15.1-19.6 % over
  data seeds 0-9), mostly on days 60 and 90, fitted with the M3 likelihood.

Runtime: about 50 s per replicate on 2 cores (compilation about 8 s, 4 chains x 2,000
iterations), about 3 minutes in all. With 1,000 draws per chain one of 300 random effects'
tail ESS came out at 372-387 (< 400) on one replicate: 1,500 draws keep every ESS above
400 with margin. ``pytest -m slow -s`` prints the measured table.
"""

from __future__ import annotations

import numpy as np
import pytest
from _recovery_sampling import RECOVERY_SAMPLING
from _warned_fit import fit_population_warned
from scipy import stats

import cartpk as ck

pytestmark = pytest.mark.slow

TRUTH = dict(foldx=3900.0, tmax=9.3, cmax=24000.0, alpha=0.25, fb=0.02, beta=0.02)
IIV = {"cmax": 0.81, "alpha": 0.5}  # SDs on the log scale
GUESS = {k: 1.5 * v for k, v in TRUTH.items()}  # the fitted declaration's typical values
DAYS = (7.0, 14.0, 21.0, 28.0, 60.0, 90.0)  # the seed trial's qPCR days (SEED_DESIGN)
SUBJECTS, LLOQ = 150, 120.0
REPLICATES = range(3)  # data seeds: all of them must pass
IDENTIFIED = ("cmax", "alpha", "fb", "beta")  # medians within 25 % of the truth
CI = 0.95
# 6 typical values x 3 replicates = 18 intervals at 95 %: the number that miss is about
# binomial(18, 0.05) (mean 0.9); P(more than 3 miss) = 1.1 %, so at most 3 may miss.
MAX_MISSES = 3


def _declarations():
    drop = ["foldx", "tmax", "fb", "beta"]
    base = ck.load_model("stein2019_smooth")
    truth = base.with_iiv(drop=drop, sd=IIV).with_ini(**TRUTH)
    fitted = base.with_iiv(drop=drop).with_ini(**GUESS)  # Stein's IIV SDs as declared
    return truth, fitted


@pytest.fixture(scope="module")
def replicates():
    truth, fitted = _declarations()
    out = []
    for seed in REPLICATES:
        data = ck.read_dataset(ck.simulate(truth, n=SUBJECTS, seed=seed, lloq=LLOQ, days=DAYS))
        # a `not_converged` warning is asserted on below, with the failed checks
        fit, warned = fit_population_warned(
            fitted, data, priors="literature", **RECOVERY_SAMPLING, level=CI
        )
        out.append((seed, data, fit, warned))
    _print_table(out)
    return out


def _print_table(out) -> None:
    """The measured numbers (shown with ``pytest -s``)."""
    for seed, data, fit, _ in out:
        s = fit.summary
        p = fit.parameters.set_index("parameter")
        blq = data.observations("QPCR")["CENS"].mean()
        print(
            f"\nseed {seed}: BLQ {100 * blq:.1f} %, R-hat max {s['rhat_max']:.4f}, "
            f"bulk ESS min {s['ess_bulk_min']:.0f}, divergences {s['divergences']}, "
            f"compile {s['compile_s']} s, sampling {s['sample_s']} s"
        )
        for name, value in TRUTH.items():
            r = p.loc[name]
            print(
                f"  {name:6s} truth {value:<8g} median {r['estimate']:<10.4g} "
                f"[{r['lower']:.4g}, {r['upper']:.4g}] error {100 * (r['estimate'] / value - 1):+.1f} % "
                f"prior_width_ratio {r['prior_width_ratio']:.2f}"
            )


def test_simulated_trials_have_15_to_20_percent_blq(replicates):
    for seed, data, _, _ in replicates:
        obs = data.observations("QPCR")
        assert len(obs) == SUBJECTS * len(DAYS)
        assert 0.15 <= obs["CENS"].mean() <= 0.20, (seed, obs["CENS"].mean())


def test_every_replicate_converges(replicates):
    """R-hat <= 1.01 on every parameter (each subject's random effect included), no
    divergences, bulk and tail ESS >= 400: the fit's own checks, all met."""
    for seed, _, fit, warned in replicates:
        s = fit.summary
        assert s["converged"], (seed, s["failed"])
        assert not warned, (seed, warned)
        rhat = fit.diagnostics.loc[fit.diagnostics["check"] == "rhat", "value"]
        assert len(rhat) == len(fit.idata.posterior.data_vars)  # every variable checked
        assert s["rhat_max"] <= 1.01 and s["divergences"] == 0, (seed, s)
        assert s["ess_bulk_min"] >= 400, (seed, s)


def test_identified_medians_within_25_percent(replicates):
    errors = {
        (seed, name): fit.parameters.set_index("parameter").loc[name, "estimate"] / TRUTH[name] - 1
        for seed, _, fit, _ in replicates
        for name in IDENTIFIED
    }
    assert all(abs(e) <= 0.25 for e in errors.values()), {k: round(v, 3) for k, v in errors.items()}


def test_typical_value_intervals_cover_at_nominal_rate(replicates):
    """At most 3 of the 18 95 % intervals miss the truth (binomial bound above)."""
    missed = []
    for seed, _, fit, _ in replicates:
        p = fit.parameters.set_index("parameter")
        for name, value in TRUTH.items():
            lo, hi = p.loc[name, "lower"], p.loc[name, "upper"]
            if not lo <= value <= hi:
                missed.append(f"seed {seed}: {name} [{lo:.4g}, {hi:.4g}] vs {value}")
    n = len(REPLICATES) * len(TRUTH)
    assert stats.binom.sf(MAX_MISSES, n, 1 - CI) < 0.02  # the bound's false-alarm rate
    assert len(missed) <= MAX_MISSES, missed


def test_how_much_of_the_foldx_and_tmax_intervals_is_prior(replicates):
    """foldx's interval is its prior's (the data did not narrow it: ratio > 0.8, listed as
    prior-dominated); tmax's is the data's (ratio < 0.2): with IIV on alpha and none on
    tmax, subjects' different early declines fix the common peak time."""
    for seed, _, fit, _ in replicates:
        ratio = fit.parameters.set_index("parameter")["prior_width_ratio"]
        assert ratio["foldx"] > 0.8, (seed, ratio["foldx"])
        assert "foldx" in fit.summary["prior_dominated"]
        assert ratio["tmax"] < 0.2, (seed, ratio["tmax"])
        assert all(ratio[name] < 0.5 for name in IDENTIFIED), (seed, ratio.to_dict())
        # median of foldx: the prior's centre, the 1.5-fold guess, more than the truth
        foldx = fit.parameters.set_index("parameter").loc["foldx", "estimate"]
        assert np.log(foldx / TRUTH["foldx"]) > 0.5 * np.log(1.5), (seed, foldx)
