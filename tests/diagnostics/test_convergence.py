"""Convergence diagnostics on synthetic traces with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from cartpk.diagnostics import (
    ConvergenceThresholds,
    check_convergence,
    convergence_summary,
    convergence_table,
    eta_shrinkage,
)
from cartpk.errors import CartpkWarning


def _ar1(rng: np.random.Generator, rho: float, shape: tuple[int, int]) -> np.ndarray:
    """Stationary AR(1) chains with unit marginal variance."""
    x = np.empty(shape)
    x[:, 0] = rng.standard_normal(shape[0])
    e = rng.standard_normal(shape) * np.sqrt(1 - rho**2)
    for t in range(1, shape[1]):
        x[:, t] = rho * x[:, t - 1] + e[:, t]
    return x


def _row(table, check, parameter):
    sel = table[(table.check == check) & (table.parameter == parameter)]
    assert len(sel) == 1
    return sel.iloc[0]


def test_iid_chains_pass_rhat_and_ess(rng):
    t = convergence_table({"x": rng.standard_normal((4, 1000))})
    assert _row(t, "rhat", "x").value < 1.01
    # 4000 independent draws: ESS close to 4000
    assert 3000 < _row(t, "ess_bulk", "x").value < 5000
    assert t.passed.all()


def test_non_mixed_chain_fails_rhat(rng):
    x = rng.standard_normal((4, 1000))
    x[3] += 2.0  # one chain explores another region
    t = convergence_table({"theta": x})
    row = _row(t, "rhat", "theta")
    assert row.value > 1.1
    assert not row.passed
    s = convergence_summary(t)
    assert not s["converged"]
    assert any(f.startswith("rhat of theta") for f in s["failed"])


def test_autocorrelated_chain_has_ess_near_theory(rng):
    """AR(1) with rho = 0.9: ESS = N (1 - rho) / (1 + rho) = 4000 / 19 = 211."""
    t = convergence_table({"x": _ar1(rng, 0.9, (4, 1000))})
    ess = _row(t, "ess_bulk", "x").value
    assert 120 < ess < 350
    assert not _row(t, "ess_bulk", "x").passed


def test_vector_variable_reports_worst_element(rng):
    import arviz as az

    x = rng.standard_normal((4, 500, 3))
    x[0, :, 2] += 3.0
    idata = az.from_dict(
        posterior={"eta_cmax": x},
        coords={"subject": ["a", "b", "c"]},
        dims={"eta_cmax": ["subject"]},
    )
    t = convergence_table(idata)
    row = _row(t, "rhat", "eta_cmax")
    assert row.element == "c"
    assert not row.passed


def test_divergences_and_bfmi_from_sample_stats(rng):
    import arviz as az

    n_chain, n_draw = 2, 1000
    diverging = np.zeros((n_chain, n_draw), dtype=bool)
    diverging[1, [10, 20, 30]] = True
    # chain 0: independent energies (E-BFMI ~ 2); chain 1: a random walk (E-BFMI ~ 0)
    energy = np.stack([rng.standard_normal(n_draw), np.cumsum(rng.standard_normal(n_draw))])
    idata = az.from_dict(
        posterior={"x": rng.standard_normal((n_chain, n_draw))},
        sample_stats={"diverging": diverging, "energy": energy},
    )
    t = convergence_table(idata)
    assert _row(t, "divergences", "").value == 3
    bfmi = t[t.check == "bfmi"].set_index("element")["value"]
    assert bfmi["chain 0"] == pytest.approx(2.0, abs=0.3)
    assert bfmi["chain 1"] < 0.3
    s = convergence_summary(t)
    assert s["divergences"] == 3
    assert s["bfmi_min"] < 0.3
    assert "divergences = 3 > 0" in s["failed"]


def test_thresholds_are_configurable(rng):
    x = _ar1(rng, 0.9, (4, 1000))
    assert not convergence_summary(convergence_table({"x": x}))["converged"]
    lenient = ConvergenceThresholds(ess_bulk_min=100, ess_tail_min=100)
    assert convergence_summary(convergence_table({"x": x}, thresholds=lenient))["converged"]


def test_check_convergence_warns_with_code(rng):
    x = rng.standard_normal((4, 1000))
    x[0] += 5
    with pytest.warns(CartpkWarning) as rec:
        _, summary = check_convergence({"x": x})
    assert rec[0].message.code == "not_converged"
    assert rec[0].message.details["failed"] == summary["failed"]


def test_check_convergence_silent_when_converged(rng):
    _, summary = check_convergence({"x": rng.standard_normal((4, 1000))})
    assert summary["converged"]
    assert summary["failed"] == []


def test_eta_shrinkage_formula():
    """1 - SD(posterior-mean eta) / omega (Savic & Karlsson 2009), SD with ddof=1."""
    assert eta_shrinkage([-0.5, 0.0, 0.5], omega=1.0) == pytest.approx(0.5)
    eta = np.array([-1.2, 0.3, 0.9, -0.1, 0.4])
    assert eta_shrinkage(eta, omega=float(np.std(eta, ddof=1))) == pytest.approx(0.0)
    assert eta_shrinkage(np.zeros(10), omega=0.8) == pytest.approx(1.0)
    assert np.isnan(eta_shrinkage([0.3], omega=1.0))
    assert np.isnan(eta_shrinkage([0.3, 0.1], omega=0.0))
