"""`cartpk.fit._likelihood.loglik` against scipy.stats (and mpmath in the far tail).

PyMC `check_logp` style: every error model x censoring state x method on an edge grid of
predictions, observations and SDs, evaluated with NumPy and with PyTensor.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from cartpk.errors import SpecError
from cartpk.fit import log_ndtr, loglik
from cartpk.model import additive, combined, log_additive, proportional

PREDS = [1e-3, 0.7, 1.0, 50.0, 2.4e4]
RATIOS = [1e-4, 0.3, 1.0, 2.5, 1e3]  # observation / prediction
SIGMAS = [0.05, 0.56, 3.0]

ERRORS = {
    "log_additive": lambda s: (log_additive(sigma=s), {"sigma": s}),
    "additive": lambda s: (additive(sigma=s), {"sigma": s}),
    "proportional": lambda s: (proportional(sigma=s), {"sigma": s}),
    "combined": lambda s: (
        combined(sigma_add=s, sigma_prop=0.2),
        {"sigma_add": s, "sigma_prop": 0.2},
    ),
}


def _sd(kind: str, f: float, s: float) -> float:
    return {
        "log_additive": s,
        "additive": s,
        "proportional": s * f,
        "combined": math.sqrt(s**2 + (0.2 * f) ** 2),
    }[kind]


def _reference(kind: str, blq: str, y: float, f: float, s: float, cens: int) -> float:
    """The same quantity from scipy.stats distributions (independent of the implementation)."""
    sd = _sd(kind, f, s)
    if blq == "m1" and cens != 0:
        return 0.0
    if kind == "log_additive":  # M4 == M3: a log-normal y is positive
        dist = stats.lognorm(s=s, scale=f)
    elif blq == "m4":
        dist = stats.truncnorm(a=(0.0 - f) / sd, b=np.inf, loc=f, scale=sd)
    else:
        dist = stats.norm(loc=f, scale=sd)
    if cens == 0:
        return float(dist.logpdf(y))
    if cens == 1:
        return float(dist.logcdf(y))
    return float(dist.logsf(y))


def _grid(kind: str):
    for f, ratio, s, cens in itertools.product(PREDS, RATIOS, SIGMAS, (0, 1, -1)):
        yield f * ratio, f, s, cens


def _pytensor_loglik(kind, blq, y, f, cens, s):
    pt = pytest.importorskip("pytensor.tensor")
    import pytensor

    err, sig = ERRORS[kind](s)
    fv = pt.dvector("f")
    sig_t = {k: pt.constant(v) for k, v in sig.items()}
    out = loglik(pt, y, fv, cens, err, sig_t, blq=blq)
    fn = pytensor.function([fv], [out, pytensor.grad(out.sum(), fv)])
    return fn(f)


@pytest.mark.parametrize("blq", ["m3", "m4", "m1"])
@pytest.mark.parametrize("kind", list(ERRORS))
def test_loglik_matches_scipy_on_edge_grid(kind, blq):
    rows = list(_grid(kind))
    y = np.array([r[0] for r in rows])
    f = np.array([r[1] for r in rows])
    cens = np.array([r[3] for r in rows])
    for s in SIGMAS:
        m = np.array([r[2] == s for r in rows])
        err, sig = ERRORS[kind](s)
        got = loglik(np, y[m], f[m], cens[m], err, sig, blq=blq)
        want = np.array(
            [
                _reference(kind, blq, yy, ff, s, c)
                for yy, ff, c in zip(y[m], f[m], cens[m], strict=True)
            ]
        )
        finite = np.isfinite(want)
        # scipy's truncnorm loses accuracy where its own cdf underflows; compare where it is finite
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-7, atol=1e-9)
        assert np.all(np.isfinite(got)), f"non-finite log-likelihood for {kind}, {blq}"


@pytest.mark.parametrize("blq", ["m3", "m4", "m1"])
@pytest.mark.parametrize("kind", list(ERRORS))
def test_loglik_pytensor_equals_numpy_with_finite_gradient(kind, blq):
    rows = [r for r in _grid(kind) if r[2] == 0.56]
    y = np.array([r[0] for r in rows])
    f = np.array([r[1] for r in rows])
    cens = np.array([r[3] for r in rows])
    err, sig = ERRORS[kind](0.56)
    want = loglik(np, y, f, cens, err, sig, blq=blq)
    got, grad = _pytensor_loglik(kind, blq, y, f, cens, 0.56)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("z", [-38.0, -30.0, -10.0, -1.0, 0.0, 5.0, 30.0])
def test_log_ndtr_far_tail_numpy_and_pytensor(z):
    import mpmath  # a test dependency (pyproject `test` extra)

    mpmath.mp.dps = 50
    # log1p(-Phi(-z)) keeps the upper tail's tiny negative value (log(1 - 5e-198))
    exact = float(mpmath.log1p(-mpmath.ncdf(-z)) if z > 0 else mpmath.log(mpmath.ncdf(z)))
    assert float(log_ndtr(np, np.float64(z))) == pytest.approx(exact, rel=1e-12, abs=1e-300)
    pt = pytest.importorskip("pytensor.tensor")
    import pytensor

    zt = pt.dscalar("z")
    val, grad = pytensor.function([zt], [log_ndtr(pt, zt), pytensor.grad(log_ndtr(pt, zt), zt)])(z)
    assert float(val) == pytest.approx(exact, rel=1e-12, abs=1e-300)
    # d/dz log Phi(z) = phi(z) / Phi(z) (the inverse Mills ratio)
    exact_grad = float(mpmath.npdf(z) / mpmath.ncdf(z))
    assert float(grad) == pytest.approx(exact_grad, rel=1e-9, abs=1e-300)


def test_m3_censored_term_far_below_limit_is_finite():
    """z = -30: a prediction 30 SD above the limit still gives a finite, exact penalty."""
    import mpmath  # a test dependency (pyproject `test` extra)

    mpmath.mp.dps = 50
    s = 0.5
    f = 50.0 * math.exp(30 * s)  # log-scale z = (log 50 - log f) / s = -30
    got = loglik(
        np, np.array([50.0]), np.array([f]), np.array([1]), log_additive(sigma=s), {"sigma": s}
    )
    assert got[0] == pytest.approx(float(mpmath.log(mpmath.ncdf(-30))), rel=1e-10)


def test_m4_left_censored_additive_against_mpmath_in_tail():
    """log[(Phi(z) - Phi(-f/SD)) / Phi(f/SD)] with both CDFs far in the tail."""
    import mpmath  # a test dependency (pyproject `test` extra)

    mpmath.mp.dps = 60
    f, sd, lim = 40.0, 1.0, 5.0  # z = -35, z0 = -40
    got = loglik(np, np.array([lim]), np.array([f]), np.array([1]), additive(sigma=sd), blq="m4")
    exact = mpmath.log((mpmath.ncdf(lim - f) - mpmath.ncdf(-f)) / mpmath.ncdf(f))
    assert got[0] == pytest.approx(float(exact), rel=1e-10)


def test_log_additive_m4_is_m3():
    err = log_additive(sigma=0.7)
    y, f, c = np.array([3.0, 50.0, 80.0]), np.array([10.0, 200.0, 20.0]), np.array([0, 1, -1])
    np.testing.assert_array_equal(
        loglik(np, y, f, c, err, blq="m4"), loglik(np, y, f, c, err, blq="m3")
    )


def test_lloq_argument_overrides_dv_for_censored_records_only():
    err = log_additive(sigma=0.5)
    f = np.array([100.0, 100.0])
    c = np.array([0, 1])
    a = loglik(np, np.array([80.0, 0.0]), f, c, err, lloq=np.array([np.nan, 50.0]))
    b = loglik(np, np.array([80.0, 50.0]), f, c, err)
    np.testing.assert_allclose(a, b)


def test_declared_sigma_used_when_sigmas_omitted():
    err = additive(sigma=2.0)
    got = loglik(np, np.array([1.0]), np.array([0.0]), np.array([0]), err)
    assert got[0] == pytest.approx(stats.norm(0, 2).logpdf(1.0))


def test_unknown_blq_method_raises_spec_error():
    with pytest.raises(SpecError) as exc:
        loglik(np, [1.0], [1.0], [0], additive(sigma=1.0), blq="m5")
    assert exc.value.code == "blq_method"
    assert "'m3'" in str(exc.value)
