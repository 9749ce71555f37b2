"""Catalogue models against their publications or a named independent transcription.

One block per model (issue 23): ``claret_tgi``, ``ogasawara2021_lag``, ``cartmath_illustration``. Each
number carries its source beside it; where a paper could not be read in full, the test
names the transcription it compares with instead, and the model's ``provenance`` says so.
(``stein2019*`` and ``hardiansyah2019`` are in test_stein2019.py and test_mechanistic.py.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import cartpk as ck

LN2 = math.log(2.0)

# -- claret_tgi: Claret et al. 2009, J Clin Oncol 27:4103 -------------------------------


def _jmpost_claret_bruno(t, b, g, p, c):
    """Claret-Bruno SLD with constant exposure, as Genentech/jmpost codes it
    (``inst/stan/lm-claret-bruno/functions.stan`` at 2fe8b76d, function ``sld``, for t >= 0):
    ``b exp(g t - (p / c) (1 - exp(-c t)))``."""
    return b * np.exp(g * t - (p / c) * (1.0 - np.exp(-c * t)))


@pytest.mark.parametrize("lam_scale", [1.0, 0.2, 5.0])
def test_claret_form_reproduces_jmpost_transcription(lam_scale):
    """Hold the CAR-T driver at a constant C = cmax (foldx 1, no decline): the ODE is then
    Claret's dy/dt = KL y - KD E exp(-lambda t) y with constant E, whose solution jmpost
    codes (g = kl, p = kd C, c = lam). Agreement to 1e-6, several resistance rates."""
    m = ck.load_model("claret_tgi")
    p = m.typical() | {"foldx": 1.0, "alpha": 1e-15, "beta": 1e-15}
    p["lam"] *= lam_scale
    t = np.array([0.0, 7.0, 28.0, 56.0, 84.0, 180.0, 365.0])
    sod = m.evaluate(np, t, p)["SOD"]
    ref = _jmpost_claret_bruno(t, p["sod0"], p["kl"], p["kd"] * p["cmax"], p["lam"])
    np.testing.assert_allclose(sod, ref, rtol=1e-6)
    # the resistance term matters: without exp(-lam t) the tumour would shrink for ever
    no_resistance = p["sod0"] * np.exp((p["kl"] - p["kd"] * p["cmax"]) * t)
    assert sod[-1] > 10.0 * no_resistance[-1]


def test_claret_assumed_values_are_the_documented_ones():
    """models/claret_tgi.py docstring: untreated doubling ~230 days, kill 0.05/day at the
    typical Cmax of 24,000 copies/ug (Stein 2019 Table 1), resistance half-life 35 days."""
    p = ck.load_model("claret_tgi").typical()
    assert p["cmax"] == 24000.0  # Stein 2019 Table 1, the driver's typical Cmax
    assert LN2 / p["kl"] == pytest.approx(230.0, rel=0.01)
    assert p["kd"] * p["cmax"] == pytest.approx(0.05)
    assert LN2 / p["lam"] == pytest.approx(35.0)


def test_claret_provenance_separates_transcribed_form_from_car_t_adaptation():
    prov = ck.load_model("claret_tgi").provenance.as_dict()
    levels = {e["covers"]: e["level"] for e in prov["structure"]["entries"]}
    assert levels["growth kl, exposure-driven kill kd, resistance exp(-lam t)"] == "transcribed"
    assert levels["exposure C(t)"] == "assumed"
    assert "jmpost" in prov["structure"]["entries"][0]["source"]
    assert prov["typical"]["level"] == "assumed"  # sod0, kl, kd, lam: no published values


# -- ogasawara2021_lag: Ogasawara et al. 2021, Clin Pharmacokinet, PMC8613160 -----------

#: Ogasawara 2021 abstract (PMC8613160): population means and 95 % confidence intervals, days
OGASAWARA_ABSTRACT = {
    "lag": (3.27, 2.71, 3.97),
    "doubling": (0.755, 0.667, 0.821),
    "tmax": (9.29, 8.81, 9.70),
    "initial_half_life": (5.00, 4.15, 5.90),
    "terminal_half_life": (352.0, 241.0, 647.0),
}


def _phases_of_typical_profile():
    """The five abstract quantities measured on the simulated typical curve (not read off
    the parameters): end of the flat lag, doubling time of the growth, time of the peak,
    half-life just after the peak and half-life of the terminal slope."""
    m = ck.load_model("ogasawara2021_lag")
    p = m.typical()
    t = np.arange(0.0, 20.0, 1e-4)
    c = m.evaluate(np, t, p)["QPCR"]
    lag = float(t[np.flatnonzero(c > c[0] * (1.0 + 1e-9))[0]])
    grow = (t > 4.0) & (t < 9.0)
    slope_up = np.polyfit(t[grow], np.log(c[grow]), 1)[0]
    tmax = float(t[np.argmax(c)])
    after = np.array([tmax, tmax + 1e-3])
    c_after = m.evaluate(np, after, p)["QPCR"]
    slope_down = (math.log(c_after[1]) - math.log(c_after[0])) / 1e-3
    late = np.array([1500.0, 2500.0])
    c_late = m.evaluate(np, late, p)["QPCR"]
    slope_late = (math.log(c_late[1]) - math.log(c_late[0])) / 1000.0
    return {
        "lag": lag,
        "doubling": LN2 / slope_up,
        "tmax": tmax,
        "initial_half_life": -LN2 / slope_down,
        "terminal_half_life": -LN2 / slope_late,
    }


@pytest.fixture(scope="module")
def ogasawara_phases():
    return _phases_of_typical_profile()


@pytest.mark.parametrize(
    ("quantity", "rel"),
    [
        ("lag", 1e-3),  # abstract: lag phase 3.27 d
        ("doubling", 1e-3),  # abstract: doubling time 0.755 d
        ("tmax", 1e-3),  # abstract: time to maximum 9.29 d
        # abstract: initial decline half-life 5.00 d; the curve's half-life just after the
        # peak mixes in the persisting fraction fb (placeholder 0.0079): 5.04 d, so 1 %
        ("initial_half_life", 0.01),
        # abstract: terminal half-life 352 d; by day 1,500 the fast phase is gone
        ("terminal_half_life", 1e-3),
    ],
)
def test_ogasawara_typical_profile_reproduces_abstract(ogasawara_phases, quantity, rel):
    mean, low, high = OGASAWARA_ABSTRACT[quantity]
    assert ogasawara_phases[quantity] == pytest.approx(mean, rel=rel)
    assert low <= ogasawara_phases[quantity] <= high  # inside the abstract's 95 % CI


def test_ogasawara_unpublished_blocks_stay_placeholders():
    """Cmax, FB, IIV and residual error are not in the abstract: Stein 2019 B-ALL values,
    declared assumed (models/ogasawara2021_lag.py)."""
    m = ck.load_model("ogasawara2021_lag")
    p = m.typical()
    assert p["cmax"] == 24000.0 and p["fb"] == 0.0079  # Stein 2019 Table 1 (B-ALL)
    lv = m.provenance.levels
    assert lv["typical"] == "assumed" and lv["iiv"] == "assumed" and lv["error"] == "assumed"


# -- cartmath_illustration: the CARTmath core (Barros 2021) and the unverified compartments ---------

#: tmglncc/CARTmath server.R at commit 4688e802fda4c1b5c86224513251d6cbda6b8f3f, lines
#: 1974-2064: the defaults of every data set but ex4-ex6/ex8 (HDLM-2 + CAR-T123, Barros
#: 2021 Table 2); the same numbers in erkara/cancer_immunology cartMath/fig4_abc.m
CARTMATH_HDLM2 = {
    "r": 5.650026e-2,  # determiningrvalue
    "gamma": 3.715843e-6,  # determininggammavalue
    "b": 1.404029e-12,  # determiningbvalue
    "phi": 0.265,  # determiningphivalue
    "rho": 0.35,  # determiningrhovalue
    "alpha": 4.5e-8,  # determiningalphavalue
    "eps": 0.15,  # determiningepsilonvalue
    "mu": 5.0e-3,  # determiningmivalue
    "theta": 6.0e-6,  # determiningthetavalue
}


def _cartmath_deriv(ct, cm, tum, *, phi, rho, theta, alpha, eps, mu, r, b, gamma):
    """CARTmath rk4.R ``deriv`` (same commit), Y = (C_T, C_M, T)."""
    d_ct = (phi - rho) * ct + theta * tum * cm - alpha * tum * ct
    d_cm = eps * ct - theta * tum * cm - mu * cm
    d_t = r * tum * (1.0 - b * tum) - gamma * tum * ct
    return d_ct, d_cm, d_t


@pytest.fixture(scope="module")
def paixao():
    return ck.load_model("cartmath_illustration")


def test_paixao_core_values_are_the_cartmath_defaults(paixao):
    p = paixao.typical()
    for name, value in CARTMATH_HDLM2.items():
        assert p[name] == value, name


def test_paixao_core_equations_are_cartmath_deriv(paixao):
    """With no distributed or exhausted cells and no exhaustion (lam = 0) the right-hand
    side is CARTmath's, at states spanning the preclinical scale."""
    p = paixao.typical() | {"lam": 0.0}
    rates = {k: p[k] for k in (*CARTMATH_HDLM2, "eta", "lam", "mu_n")}
    rng = np.random.default_rng(2021)
    for _ in range(20):
        ct, cm, tum = 10.0 ** rng.uniform(2.0, 9.0, size=3)
        y = {"cd": 0.0, "ct": ct, "cm": cm, "cn": 0.0, "tumour": tum}
        got = type(paixao).rhs(np, 0.0, y, **rates)
        want = _cartmath_deriv(ct, cm, tum, **CARTMATH_HDLM2)
        np.testing.assert_allclose([got["ct"], got["cm"], got["tumour"]], want, rtol=1e-12)
        assert got["cd"] == 0.0 and got["cn"] == 0.0


def test_paixao_is_declared_a_cartmath_derived_illustration(paixao):
    """The compartments of Paixão 2022 were not reachable: the declaration says so."""
    assert paixao.reference.startswith("CARTmath-derived illustration, not a reproduction")
    assert "doi:10.3390/cancers13122941" in paixao.reference  # Barros 2021, the core
    prov = paixao.provenance.as_dict()
    by_cover = {e["covers"]: e["level"] for e in prov["structure"]["entries"]}
    assert by_cover["CARTmath core: effector, memory, tumour"] == "verified"
    assert (
        by_cover["distributed cd and exhausted cn compartments (eta, lam, mu_n terms)"] == "assumed"
    )
    typical = {e["covers"]: e["level"] for e in prov["typical"]["entries"]}
    assert typical["eta, lam, mu_n"] == "assumed"
    assert prov["baseline"]["level"] == "assumed"


def test_paixao_baseline_tumour_is_below_recist_measurability(paixao):
    """The docstring's warning: 1e7 cells at 1e9 cells/mL is a 2.7-mm sphere, under the
    10-mm minimum of a measurable lesion (RECIST 1.1, cartpk.response MEASURABLE_MM)."""
    from cartpk.response._lesions import MEASURABLE_MM

    sod0 = paixao.evaluate(np, np.array([0.0]), paixao.typical(), dose=0.0)["SOD"][0]
    assert sod0 == pytest.approx(2.67, abs=0.01)
    assert sod0 < MEASURABLE_MM == 10.0
