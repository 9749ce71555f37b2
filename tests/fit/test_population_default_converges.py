"""Converged by default (issue 17 item 1): ``fit_population(model, data)`` with nothing set.

A held-out simulated trial on the originating trial's design (qPCR on days 7, 14, 21, 28,
60, 90; LLOQ 50 copies/ug), 150 subjects simulated from ``stein2019_smooth`` at its declared
values with the random effects the design identifies per subject (cmax and alpha, the
declaration's SDs; as ``fits/stein2019_bayes.toml``), fitted with every default: weak priors,
nutpie, 4 chains x (1,000 warm-up + 1,000 draws), ``init="ebe"``. Data seed 2026 was not
used while choosing the default (``docs/population_convergence.md`` was measured on seed 0).

Seed 2026 has one subject (121) whose random effects have a bimodal posterior (a high peak
falling fast or a low one falling slowly fit its samples; 11 % of the mass in the second
mode, tests/fit/test_conditional_resampling.py): NUTS crosses between the modes rarely
(R-hat 1.015-1.11 and bulk ESS 24-316 for that subject, depending on the sampler's path),
and rounds of extra chains (``extend``) cannot mix it. The default ``resample=True``
resamples that subject's random effects from their conditional posterior given each draw:
measured, converged in the first round (R-hat max 1.008, bulk ESS min 434, tail ESS min
790, 0 divergences; 216 s of sampling on 2 cores shared with other work).

Asserted: R-hat <= 1.01 on every variable (each subject's random effects included), bulk
and tail ESS >= 400, no divergences (the fit's own checks, no warning) and every 95 %
interval of a typical value covering the truth. With the former default (``init="jitter"``)
the same kind of data gave R-hat 1.3-2.5 (chains in different local modes of the peak time).
``pytest -m slow -s`` prints the measured numbers; about 2 minutes on 2 cores.
"""

from __future__ import annotations

import pytest
from _warned_fit import fit_population_warned

import cartpk as ck

pytestmark = pytest.mark.slow

DAYS = (7.0, 14.0, 21.0, 28.0, 60.0, 90.0)
SUBJECTS, LLOQ, DATA_SEED = 150, 50.0, 2026
DROP = ["foldx", "tmax", "fb", "beta"]


def _assert_clean_convergence(s, warned) -> None:
    """No warning, and the fit's own thresholds met: R-hat, divergences, bulk and tail ESS."""
    assert not warned, warned
    assert s["rhat_max"] <= 1.01 and s["divergences"] == 0, s
    assert s["ess_bulk_min"] >= 400 and s["ess_tail_min"] >= 400, s


def _assert_intervals_cover_truth(model, result) -> None:
    """Every estimated typical value's interval covers the declared (true) value."""
    p = result.parameters.set_index("parameter")
    missed = {
        name: (p.loc[name, "lower"], p.loc[name, "upper"], value)
        for name, value in model.typical().items()
        if not model.thetas[name].fixed
        and not p.loc[name, "lower"] <= value <= p.loc[name, "upper"]
    }
    assert not missed, missed


@pytest.fixture(scope="module")
def fit():
    model = ck.load_model("stein2019_smooth").with_iiv(drop=DROP)
    data = ck.read_dataset(ck.simulate(model, n=SUBJECTS, seed=DATA_SEED, lloq=LLOQ, days=DAYS))
    result, warned = fit_population_warned(model, data)
    s = result.summary
    print(
        f"\nheld-out seed {DATA_SEED}: R-hat max {s['rhat_max']:.4f}, ESS bulk min "
        f"{s['ess_bulk_min']:.0f}, tail min {s['ess_tail_min']:.0f}, divergences "
        f"{s['divergences']}, compile {s['compile_s']} s, sampling {s['sample_s']} s, "
        f"EBE {s['init_ebe']['seconds']} s, resampled {s['resampled']}"
    )
    return model, result, warned


def test_default_fit_converges_without_tuning(fit):
    _, result, warned = fit
    s = result.summary
    assert s["init"] == "ebe" and s["init_ebe"]["subjects"] == SUBJECTS
    assert s["converged"], s["failed"]
    _assert_clean_convergence(s, warned)


def test_default_fit_intervals_cover_the_truth(fit):
    model, result, _ = fit
    _assert_intervals_cover_truth(model, result)


@pytest.mark.parametrize(
    ("subjects", "data_seed"),
    [(60, 2027), (300, 2028)],
    ids=["60-subjects", "300-subjects"],
)
def test_default_fit_converges_on_trials_of_60_and_300_subjects(subjects, data_seed):
    """Issue 17's range of trial sizes at the originating trial's censoring: LLOQ 150
    copies/ug gives 12-20 % BLQ on this design. Held-out data seeds (measured once after the
    defaults were fixed, not tuned): 60 subjects converged in the first round (R-hat 1.0087,
    bulk ESS 772, 28 s), 300 subjects too (R-hat 1.0043, bulk ESS 1,699, 276 s on 2 cores).
    Every default: the fit's own thresholds, no warning, every 95 % interval of a typical
    value covering the truth."""
    model = ck.load_model("stein2019_smooth").with_iiv(drop=DROP)
    table = ck.simulate(model, n=subjects, seed=data_seed, lloq=150.0, days=DAYS)
    data = ck.read_dataset(table)
    blq = data.observations("QPCR")["CENS"].mean()
    assert 0.12 <= blq <= 0.20, blq
    result, warned = fit_population_warned(model, data)
    s = result.summary
    assert s["converged"], (s["failed"], s["sampling_stopped"])
    _assert_clean_convergence(s, warned)
    _assert_intervals_cover_truth(model, result)
