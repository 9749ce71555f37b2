"""The solid-tumour default recovers solid-tumour truth where the B-ALL-centred prior pulls it.

Issue 23 item 4. Data: the originating trial's design (qPCR on days 7, 14, 21, 28, 60, 90
only), 60 subjects simulated from ``stein2019_covariates`` (covariate effects removed) at a
solid-tumour truth - ``cmax`` 600 copies/ug and ``foldx`` 300 (the bundled example trial's
assumed solid-tumour values, ``cartpk/examples/_make.py``), ``tmax`` 9.3 d, and a contraction
and persistence the design can place (``alpha`` 0.25/d, ``fb`` 0.05, ``beta`` 0.02/d, as
``test_population_trial_design.py`` argues) - with IIV SD 0.81 on ``cmax`` and 0.5 on
``alpha``, LLOQ 10 copies/ug (the low end of the 10-50 range of data_conventions.md):
18-24 % BLQ over data seeds 0-2, near the trial's ~16 %. Both fits start at the declared
(B-ALL) values, ``init="declared"``, and differ only in ``priors``.

Measured (data seed 0, nutpie 4 x 1,500 draws; both fits about 2 minutes on 2 cores):

=========== ======= =============================== ================================
typical     truth   default ``solid_tumour``        ``priors="weak"`` (B-ALL centre)
=========== ======= =============================== ================================
foldx       300     67 [7, 2,132], ratio 0.69       3,000 [149, 62,540], ratio 1.03
cmax        600     576 [344, 920]                  841 [559, 1,227]
fb          0.05    0.040 [0.025, 0.071]            0.028 [0.020, 0.042] (misses)
=========== ======= =============================== ================================

``foldx`` is ``prior_dominated`` under both sets (the design has one sample before the
peak): the set decides it, and the B-ALL set puts it at B-ALL level, 10 times the truth;
through the expansion phase that drags ``cmax`` up 40 % and ``fb`` out of its interval.
``pytest -m slow -s`` prints the table.
"""

from __future__ import annotations

import pytest
from _recovery_sampling import RECOVERY_SAMPLING
from _warned_fit import fit_population_warned

import cartpk as ck

pytestmark = pytest.mark.slow

TRUTH = dict(foldx=300.0, tmax=9.3, cmax=600.0, alpha=0.25, fb=0.05, beta=0.02)
IIV = {"cmax": 0.81, "alpha": 0.5}
DROP = ["foldx", "tmax", "fb", "beta"]
DAYS = (7.0, 14.0, 21.0, 28.0, 60.0, 90.0)
SUBJECTS, LLOQ, DATA_SEED = 60, 10.0, 0


@pytest.fixture(scope="module")
def fits():
    base = ck.load_model("stein2019_covariates").with_covariates(replace_all=True)
    truth = base.with_iiv(drop=DROP, sd=IIV).with_ini(**TRUTH)
    fitted = base.with_iiv(drop=DROP)  # declared (B-ALL) values, Stein's IIV
    data = ck.read_dataset(ck.simulate(truth, n=SUBJECTS, seed=DATA_SEED, lloq=LLOQ, days=DAYS))
    out = {"data": data}
    for priors in (None, "weak"):
        fit, warned = fit_population_warned(fitted, data, priors=priors, **RECOVERY_SAMPLING)
        out[fit.summary["priors"]] = (fit, warned)
        p = fit.parameters.set_index("parameter")
        print(f"\n{fit.summary['priors']}: prior_dominated {fit.summary['prior_dominated']}")
        for k, v in TRUTH.items():
            r = p.loc[k]
            print(
                f"  {k:6s} truth {v:<8g} median {r['estimate']:<10.4g} "
                f"[{r['lower']:.4g}, {r['upper']:.4g}] ratio {r['prior_width_ratio']:.2f}"
            )
    return out


def test_trial_design_data_are_solid_tumour_like(fits):
    obs = fits["data"].observations("QPCR")
    assert len(obs) == SUBJECTS * len(DAYS)
    assert 0.12 <= obs["CENS"].mean() <= 0.30


@pytest.mark.parametrize("priors", ["solid_tumour", "weak"])
def test_both_fits_converge(fits, priors):
    fit, warned = fits[priors]
    s = fit.summary
    assert s["converged"], s["failed"]
    assert not warned, warned
    assert s["rhat_max"] <= 1.01 and s["divergences"] == 0
    assert s["ess_bulk_min"] >= 400 and s["ess_tail_min"] >= 400


def test_solid_tumour_default_recovers_the_truth(fits):
    fit, _ = fits["solid_tumour"]
    p = fit.parameters.set_index("parameter")
    for k, v in TRUTH.items():
        assert p.loc[k, "lower"] <= v <= p.loc[k, "upper"], (k, v, p.loc[k].to_dict())
    assert p.loc["cmax", "estimate"] == pytest.approx(TRUTH["cmax"], rel=0.25)
    # the data decide everything but foldx (one sample before the peak)
    assert fit.summary["prior_dominated"] == ["foldx"]


def test_b_all_prior_pulls_expansion_toward_b_all(fits):
    solid, _ = fits["solid_tumour"]
    weak, _ = fits["weak"]
    s, w = (f.parameters.set_index("parameter") for f in (solid, weak))
    # foldx is the prior's under both sets; the B-ALL one puts it near Stein's 3,900
    assert "foldx" in weak.summary["prior_dominated"]
    assert w.loc["foldx", "prior_width_ratio"] > 0.9
    assert w.loc["foldx", "estimate"] > 5 * TRUTH["foldx"]
    # ... and drags cmax up and fb down: both further from the truth than the default's
    err = {n: abs(x.loc["cmax", "estimate"] / TRUTH["cmax"] - 1) for n, x in (("s", s), ("w", w))}
    assert err["w"] > err["s"] + 0.15
    assert abs(w.loc["fb", "estimate"] - TRUTH["fb"]) > abs(s.loc["fb", "estimate"] - TRUTH["fb"])
