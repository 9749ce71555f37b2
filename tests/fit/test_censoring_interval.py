"""Right- and interval-censored records (nlmixr2/Monolix ``CENS``/``LIMIT``) in every engine.

* the log-likelihood terms against scipy.stats (left, right, interval; log-normal and
  linear-scale error; M3 and M4), in NumPy, PyTensor (with finite gradients) and JAX;
* a per-patient fit on data censored above an upper limit of quantification recovers
  ``cmax`` when ``CENS=-1`` is honoured, and is biased when the limit is taken as a value;
* the population model's log-density with ``CENS=-1`` and interval-censored records
  equals the scipy value (a compile and evaluate check, no sampling).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cartpk as ck
from cartpk.fit import censoring_interval, loglik
from cartpk.fit.population import population_model
from cartpk.model import additive, combined, load_model, log_additive, proportional
from cartpk.simulation import simulate_parameters

ERRORS = {
    "log_additive": (log_additive(sigma=0.5), lambda f: 0.5),
    "additive": (additive(sigma=20.0), lambda f: 20.0),
    "proportional": (proportional(sigma=0.3), lambda f: 0.3 * f),
    "combined": (combined(sigma_add=5.0, sigma_prop=0.2), lambda f: math.hypot(5.0, 0.2 * f)),
}
PREDS = [10.0, 60.0, 100.0, 400.0]
LIMITS = [50.0, 100.0, 150.0]  # DV of a censored record
OTHER = {1: [np.nan, 0.0, 5.0, 30.0, -np.inf], -1: [np.nan, 200.0, 1000.0, np.inf]}


def _dist(kind: str, blq: str, f: float):
    sd = ERRORS[kind][1](f)
    if kind == "log_additive":
        return stats.lognorm(s=0.5, scale=f)
    if blq == "m4":  # conditioned on y > 0 (Beal's M4)
        return stats.truncnorm(a=-f / sd, b=np.inf, loc=f, scale=sd)
    return stats.norm(loc=f, scale=sd)


def _reference(kind: str, blq: str, dv: float, f: float, cens: int, other: float) -> float:
    """log P(y in the record's interval) from scipy.stats, independent of the implementation."""
    d = _dist(kind, blq, f)
    lo, hi = (other, dv) if cens == 1 else (dv, other)
    lo = -np.inf if np.isnan(lo) else lo
    hi = np.inf if np.isnan(hi) else hi
    if lo == -np.inf:
        return float(d.logcdf(hi))
    if hi == np.inf:
        return float(d.logsf(lo))
    if lo >= d.median():  # upper tail: log(sf(lo) - sf(hi)), accurate there
        a, b = d.logsf(lo), d.logsf(hi)
    else:  # log(cdf(hi) - cdf(lo))
        a, b = d.logcdf(hi), d.logcdf(lo)
    return float(a + np.log1p(-np.exp(b - a)))


def _grid(cens: int):
    rows = list(itertools.product(PREDS, LIMITS, OTHER[cens]))
    f = np.array([r[0] for r in rows])
    dv = np.array([r[1] for r in rows])
    other = np.array([r[2] for r in rows])
    return dv, f, np.full(len(rows), cens), other


@pytest.mark.parametrize("blq", ["m3", "m4"])
@pytest.mark.parametrize("cens", [1, -1])
@pytest.mark.parametrize("kind", list(ERRORS))
def test_censored_terms_match_scipy(kind, cens, blq):
    dv, f, c, other = _grid(cens)
    got = loglik(np, dv, f, c, ERRORS[kind][0], blq=blq, limit=other)
    want = np.array([_reference(kind, blq, *args) for args in zip(dv, f, c, other, strict=True)])
    assert np.all(np.isfinite(want)), "grid chosen where every probability is representable"
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    # an interval is no more likely than its open-ended side, and without a finite other
    # bound (blank or an infinity on the open side) the term is the open-ended one
    open_ = loglik(np, dv, f, c, ERRORS[kind][0], blq=blq)
    lo, hi = censoring_interval(dv, c, other)
    bounded = np.isfinite(lo) & np.isfinite(hi)
    assert np.all(got[bounded] <= open_[bounded] + 1e-12)
    assert np.any(got[bounded] < open_[bounded] - 1e-3)
    np.testing.assert_array_equal(got[~bounded], open_[~bounded])


def test_interval_terms_stay_finite_far_in_the_tails():
    # the whole interval 20+ SDs from the prediction, on either side
    err = log_additive(sigma=0.1)
    dv = np.array([50.0, 1e6])
    f = np.array([1e6, 50.0])
    got = loglik(np, dv, f, np.array([1, -1]), err, limit=np.array([10.0, 2e6]))
    z = (np.log([50.0, 2e6]) - np.log([1e6, 50.0])) / 0.1
    assert np.all(np.isfinite(got))
    # log(Phi(b) - Phi(a)) ~ log Phi(b) when a is far below b (left), log Phi(-a) (right)
    assert got[0] == pytest.approx(stats.norm.logcdf(z[0]), rel=1e-6)
    want_right = stats.norm.logsf((math.log(1e6) - math.log(50.0)) / 0.1)
    assert got[1] == pytest.approx(want_right, rel=1e-6)


def test_censoring_interval_bounds_follow_nlmixr2_and_monolix():
    lo, hi = censoring_interval(
        [80.0, 50.0, 50.0, 50.0, 900.0, 900.0, 900.0],
        [0, 1, 1, 1, -1, -1, -1],
        [7.0, np.nan, 0.0, -np.inf, np.nan, 5000.0, np.inf],
    )
    np.testing.assert_array_equal(lo, [80.0, -np.inf, 0.0, -np.inf, 900.0, 900.0, 900.0])
    np.testing.assert_array_equal(hi, [80.0, 50.0, 50.0, 50.0, np.inf, 5000.0, np.inf])


@pytest.mark.slow  # 77 s on one core over its 8 cases (PyTensor and JAX compiles); CI: -m slow
@pytest.mark.parametrize("blq", ["m3", "m4"])
@pytest.mark.parametrize("kind", list(ERRORS))
def test_pytensor_and_jax_equal_numpy_with_finite_gradients(kind, blq):
    import pytensor
    import pytensor.tensor as pt

    parts = [_grid(1), _grid(-1)]
    dv, f, c, other = (np.concatenate([p[i] for p in parts]) for i in range(4))
    err = ERRORS[kind][0]
    want = loglik(np, dv, f, c, err, blq=blq, limit=other)
    x = pt.dvector("f")
    ll = loglik(pt, dv, x, c, err, blq=blq, limit=other)
    fn = pytensor.function([x], [ll, pt.grad(ll.sum(), x)])
    got, grad = fn(f)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert np.all(np.isfinite(grad))
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def total(ff):
        return loglik(jnp, jnp.asarray(dv), ff, jnp.asarray(c), err, blq=blq, limit=other).sum()

    jgrad = np.asarray(jax.grad(total)(jnp.asarray(f)))
    np.testing.assert_allclose(jgrad, grad, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------------------
# per-patient fit: an upper limit of quantification


def test_individual_fit_recovers_cmax_under_an_upper_limit_and_ignoring_it_is_biased():
    """A quarter of the samples (the peaks) lie above an ULOQ and are reported at it.

    Expansion (foldx, tmax) is fixed at the generating values so the comparison is about
    the censored peak. Honouring ``CENS=-1`` (log P(y > ULOQ)) keeps the information that
    the peak was higher; taking the ULOQ as the measured value clips the peak. Measured
    with this seed: median log(cmax_hat / cmax) = +0.001 handled, -0.48 ignored.
    """
    model = load_model("stein2019")
    m = model.fix("foldx", "tmax").with_iiv(drop=["foldx", "tmax"]).with_ini(sigma=0.3)
    days = [3, 5, 7, 10, 14, 21, 28, 42, 60, 90, 180, 365]
    n, seed = 16, 7
    sim = ck.simulate(m, n=n, seed=seed, days=days)
    truth = simulate_parameters(m, n=n, seed=seed).set_index("ID")
    obs = sim["EVID"] == 0
    uloq = float(np.quantile(sim.loc[obs, "DV"], 0.75))
    above = obs & (sim["DV"] > uloq)
    assert sim.loc[above, "ID"].nunique() >= 12  # most subjects have a censored peak
    handled = sim.copy()
    handled.loc[above, "DV"] = uloq
    handled.loc[above, "CENS"] = -1
    ignored = handled.copy()
    ignored.loc[above, "CENS"] = 0
    err = {}
    for name, table in (("handled", handled), ("ignored", ignored)):
        fit = ck.fit_individual(m, table, workers=1, seed=2, n_starts=3)
        tb = fit.table().set_index("ID")
        err[name] = np.log(tb["cmax"] / truth["cmax"])
    handled_bias = float(np.median(err["handled"]))
    ignored_bias = float(np.median(err["ignored"]))
    assert abs(handled_bias) < 0.1, handled_bias
    assert ignored_bias < -0.3, ignored_bias
    assert float(np.median(np.abs(err["handled"]))) < 0.5 * float(np.median(np.abs(err["ignored"])))


def test_individual_residuals_of_censored_records_fall_in_their_interval():
    model = load_model("stein2019").with_ini(sigma=0.4)
    rows = [dict(ID="1", TIME=0.0, DV=".", EVID=1, AMT=1e8, CENS=0, LIMIT=".")]
    days = [7, 10, 14, 21, 28, 60, 90]
    f = model.evaluate(np, np.array(days, dtype=float), model.typical())["QPCR"]
    dv = list(f)
    cens = [0] * len(days)
    limit: list[object] = ["."] * len(days)
    dv[1], cens[1], limit[1] = float(f[1] * 0.5), -1, float(f[1] * 0.8)  # above, bounded
    dv[6], cens[6], limit[6] = float(f[6] * 2.0), 1, float(f[6] * 1.5)  # below, bounded
    rows += [
        dict(ID="1", TIME=float(t), DV=y, EVID=0, AMT=0.0, CENS=c, LIMIT=lim)
        for t, y, c, lim in zip(days, dv, cens, limit, strict=True)
    ]
    fit = ck.fit_individual(model, pd.DataFrame(rows), workers=1, n_starts=2)
    pr = fit.predictions.set_index("TIME")
    s = 0.4  # fixed (the declared value)
    for t, lo, hi in ((10.0, 0.5, 0.8), (90.0, 1.5, 2.0)):
        z = float(pr.loc[t, "IWRES_SIM"])
        ip = float(pr.loc[t, "IPRED"])
        f_t = float(f[days.index(int(t))])
        z_lo = (math.log(f_t * lo) - math.log(ip)) / s
        z_hi = (math.log(f_t * hi) - math.log(ip)) / s
        assert z_lo <= z <= z_hi, (t, z_lo, z, z_hi)


# ---------------------------------------------------------------------------------------
# population model: log-density with CENS=-1 and interval-censored records


def _censored_records() -> ck.Dataset:
    table = pd.DataFrame(
        {
            "ID": ["1"] * 5,
            "TIME": [0.0, 10.0, 14.0, 60.0, 90.0],
            "DV": [np.nan, 2000.0, 2000.0, 50.0, 5000.0],
            "EVID": [1, 0, 0, 0, 0],
            "AMT": [1e8, 0.0, 0.0, 0.0, 0.0],
            "CENS": [0, -1, -1, 1, 0],
            "LIMIT": [np.nan, np.nan, 1e5, 5.0, np.nan],
            "DVID": ["", "QPCR", "QPCR", "QPCR", "QPCR"],
        }
    )
    return ck.read_dataset(table)


def test_population_log_density_with_right_and_interval_censoring_matches_scipy():
    model = load_model("stein2019_smooth")
    data = _censored_records()
    obs = data.observations()
    assert obs["CENS"].tolist() == [-1, -1, 1, 0]
    pmm = population_model(model, data)
    typ = model.typical()
    values = {
        f"mu_{k}": float(model.to_transformed({k: v})[k]) for k, v in typ.items() if k != "gate"
    }
    values.update({"z_cmax": 0.7, "omega_cmax_log__": math.log(0.5), "sigma_log__": math.log(0.56)})
    term = pmm.logp(vars=[pmm["loglik_QPCR"]])
    fn = pmm.compile_fn(term, inputs=pmm.value_vars, on_unused_input="ignore")
    point = pmm.initial_point()
    for k, v in values.items():
        point[k] = np.asarray(v, dtype=point[k].dtype).reshape(np.shape(point[k]))
    got = float(fn(point))

    params = dict(typ, cmax=typ["cmax"] * math.exp(0.5 * 0.7))
    f = model.evaluate(np, np.array([10.0, 14.0, 60.0, 90.0]), params)["QPCR"]
    d = [stats.lognorm(s=0.56, scale=v) for v in f]
    expected = (
        d[0].logsf(2000.0)  # above the ULOQ, no upper bound
        + math.log(d[1].cdf(1e5) - d[1].cdf(2000.0))  # in (ULOQ, LIMIT)
        + math.log(d[2].cdf(50.0) - d[2].cdf(5.0))  # in (LIMIT, LLOQ)
        + d[3].logpdf(5000.0)
    )
    assert got == pytest.approx(expected, rel=1e-9)
