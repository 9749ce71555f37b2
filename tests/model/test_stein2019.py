"""Stein 2019 catalogue models against known truth (paper values, ODE form, integration)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

import cartpk as ck

SEED_DESIGN = np.array([7.0, 14.0, 21.0, 28.0, 60.0, 90.0])

# typical (Stein 2019 Table 1) and extreme but plausible parameter sets, one per subject
EXTREMES = {
    "foldx": [3900.0, 50.0, 1e5, 3900.0, 200.0],
    "tmax": [9.3, 3.0, 30.0, 9.3, 14.0],
    "cmax": [24000.0, 100.0, 1e6, 500.0, 24000.0],
    "alpha": [0.16, 1.5, 0.02, 0.5, 0.16],
    "fb": [0.0079, 0.5, 0.001, 0.0079, 0.2],
    "beta": [0.0032, 0.05, 1e-4, 0.0032, 1e-4],
}


@pytest.fixture(scope="module")
def stein():
    return ck.load_model("stein2019")


def test_typical_doubling_time(stein):
    """Stein et al. 2019, abstract: expansion doubling time 0.78 d."""
    p = stein.typical()
    assert math.log(2) * p["tmax"] / math.log(p["foldx"]) == pytest.approx(0.78, abs=0.005)


def test_typical_half_lives(stein):
    """Stein et al. 2019, abstract: initial decline t1/2 4.3 d, terminal t1/2 ~220 d
    (217 d from the Table 1 beta of 0.0032/day)."""
    p = stein.typical()
    assert math.log(2) / p["alpha"] == pytest.approx(4.3, abs=0.05)
    assert 215.0 <= math.log(2) / p["beta"] <= 221.0


def test_typical_profile_matches_reference(stein):
    """models.md §1.3: typical profile d7 3,105; d14 11,412; d21 3,845; d28 1,374;
    d60 168; d90 147 copies/ug (hand-computed from Table 1)."""
    out = stein.evaluate(np, SEED_DESIGN, stein.typical())["QPCR"]
    np.testing.assert_allclose(out, [3105, 11412, 3845, 1374, 168, 147], rtol=0, atol=0.5)
    # the peak is cmax at tmax, the start R0 = cmax / foldx
    at = stein.evaluate(np, np.array([0.0, 9.3]), stein.typical())["QPCR"]
    np.testing.assert_allclose(at, [24000 / 3900, 24000], rtol=1e-12)


def test_closed_form_auc_equals_numerical_integration(stein):
    p = stein.typical()
    f = type(stein).auc
    closed = f(np, 28.0, **p)
    numeric = sum(
        quad(lambda t: float(stein.evaluate(np, np.array(t), p)["QPCR"]), a, b, epsabs=0,
             epsrel=1e-12, limit=200)[0]
        for a, b in ((0.0, p["tmax"]), (p["tmax"], 28.0))
    )  # fmt: skip
    assert closed == pytest.approx(numeric, rel=1e-9)
    assert closed == pytest.approx(1.72e5, rel=0.005)  # models.md §1.3: AUC0-28d 1.72e5
    # before tmax, and for extreme parameter sets (vectorised)
    assert f(np, 5.0, **p) == pytest.approx(
        quad(lambda t: float(stein.evaluate(np, np.array(t), p)["QPCR"]), 0, 5)[0], rel=1e-9
    )
    px = {k: np.array(v) for k, v in EXTREMES.items()}
    grid = np.linspace(0, 60, 600001)
    vals = stein.evaluate(np, grid, {k: v[:, None] for k, v in px.items()})["QPCR"]
    np.testing.assert_allclose(f(np, 60.0, **px), np.trapezoid(vals, grid, axis=1), rtol=1e-6)


def test_ode_form_agrees_with_closed_form(stein):
    """Closed form vs ODE (effector + memory), typical and extreme parameters, seed design and
    a dense grid, one batched integration. Relative agreement 1e-6 wherever the level is
    >= 1e-3 copies/ug (four decades below any qPCR LLOQ); below that the solver's absolute
    tolerance governs, checked as an absolute bound."""
    ode = ck.load_model("stein2019_ode")
    params = {k: np.array(v)[:, None] for k, v in EXTREMES.items()}
    grid = np.unique(np.concatenate([np.linspace(0, 365, 731), SEED_DESIGN, [9.3, 3.0, 30.0]]))
    a = ode.evaluate(np, grid, params)["QPCR"]
    b = stein.evaluate(np, grid, params)["QPCR"]
    big = b >= 1e-3
    assert big.mean() > 0.9
    np.testing.assert_allclose(a[big], b[big], rtol=1e-6)
    assert np.max(np.abs(a - b)[~big], initial=0.0) < 1e-6
    # exactly on the seed design, typical values
    t = ode.evaluate(np, SEED_DESIGN, ode.typical())["QPCR"]
    np.testing.assert_allclose(t, stein.evaluate(np, SEED_DESIGN, stein.typical())["QPCR"],
                               rtol=1e-8)  # fmt: skip


def test_ode_rejects_negative_time_and_other_namespaces():
    ode = ck.load_model("stein2019_ode")
    with pytest.raises(ck.ModelError) as err:
        ode.evaluate(np, np.array([-1.0, 7.0]), ode.typical())
    assert err.value.code == "ode_time"
    import types

    with pytest.raises(ck.ModelError) as err:
        ode.evaluate(types.SimpleNamespace(__name__="fake"), np.array([7.0]), ode.typical())
    assert err.value.code == "ode_engine"


def test_smooth_variant_close_to_hard_switch_away_from_tmax(stein):
    smooth = ck.load_model("stein2019_smooth")
    assert smooth.thetas["gate"].fixed
    p = stein.typical()
    a = smooth.evaluate(np, SEED_DESIGN, p)["QPCR"]
    b = stein.evaluate(np, SEED_DESIGN, p)["QPCR"]
    np.testing.assert_allclose(a, b, rtol=1e-3)
    # passes through cmax at tmax (its peak is later and higher: test_catalogue_traps.py),
    # and the curve is continuous and finite for extreme times
    assert smooth.evaluate(np, np.array(9.3), p)["QPCR"] == pytest.approx(24000.0)
    far = smooth.evaluate(np, np.array([0.0, 1e4]), {**p, "alpha": 5.0})["QPCR"]
    assert np.all(np.isfinite(far))


def test_lag_variant_reproduces_ogasawara_abstract():
    """Ogasawara 2021 abstract: lag 3.27 d, doubling time 0.755 d, Tmax 9.29 d,
    initial decline t1/2 5.00 d, terminal t1/2 352 d."""
    m = ck.load_model("ogasawara2021_lag")
    p = m.typical()
    t = np.array([0.0, 2.0, 3.27, 5.0, 5.755, 9.29])
    c = m.evaluate(np, t, p)["QPCR"]
    r0 = p["cmax"] / p["foldx"]
    assert c[0] == pytest.approx(r0) and c[1] == pytest.approx(r0)  # flat during the lag
    assert c[4] / c[3] == pytest.approx(2.0, rel=1e-9)  # one doubling time later
    assert c[5] == pytest.approx(p["cmax"])
    assert math.log(2) / p["alpha"] == pytest.approx(5.00)
    assert math.log(2) / p["beta"] == pytest.approx(352.0)


@pytest.mark.parametrize(
    "name", ["stein2019", "stein2019_ode", "stein2019_smooth", "stein2019_covariates"]
)
def test_every_stein_variant_shows_the_published_phases_in_its_curve(name):
    """Each Stein-family catalogue model, simulated at its typical values, shows Stein et al.
    2019's published kinetics in the curve itself (not only in its parameters): expansion
    doubling time 0.78 d, initial decline t1/2 4.3 d, terminal t1/2 about 220 d (abstract;
    217 d from Table 1's beta). Slopes are measured between simulated points."""
    m = ck.load_model(name)
    p = m.typical()

    def log_slope(t0: float, t1: float) -> float:
        q = m.evaluate(np, np.array([t0, t1]), p)["QPCR"]
        return float(np.log(q[1] / q[0]) / (t1 - t0))

    assert math.log(2) / log_slope(2.0, 6.0) == pytest.approx(0.78, rel=0.02)
    # 5-6 days after the peak the first phase still dominates (fb = 0.8 %): measured 4.41 d
    assert -math.log(2) / log_slope(14.3, 15.3) == pytest.approx(4.3, rel=0.05)
    assert 212.0 <= -math.log(2) / log_slope(300.0, 365.0) <= 222.0
