"""A population fit says whether only some subjects' random effects missed a threshold."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cartpk as ck
from cartpk.errors import CartpkWarning
from cartpk.fit._convergence import convergence_table
from cartpk.fit._population_result import _levels_failed
from cartpk.fit.population import _warn_if_not_converged

az = pytest.importorskip("arviz")


def _posterior(stuck_subject: bool, stuck_mu: bool):
    """4 chains x 1,000 draws: mu_x, eta_x over subjects a, b, c; one element stuck."""
    rng = np.random.default_rng(3)
    mu = rng.normal(size=(4, 1000))
    eta = rng.normal(size=(4, 1000, 3))
    if stuck_subject:  # subject b: one chain in another mode
        eta[3, :, 1] += 4.0
    if stuck_mu:
        mu[0] += 3.0
    idata = az.from_dict(
        posterior={"mu_x": mu, "eta_x": eta},
        coords={"subject": ["a", "b", "c"]},
        dims={"eta_x": ["subject"]},
    )
    return idata


@pytest.mark.parametrize(
    ("stuck_subject", "stuck_mu", "population", "subjects"),
    [
        (True, False, True, ["b"]),
        (True, True, False, ["b"]),
        (False, True, False, []),
        (False, False, True, []),
    ],
)
def test_failed_checks_are_split_by_level(stuck_subject, stuck_mu, population, subjects):
    idata = _posterior(stuck_subject, stuck_mu)
    conv = convergence_table(idata)
    got = _levels_failed(conv, idata.posterior)
    assert got == {"population_converged": population, "subjects_not_mixed": subjects}


def test_warning_names_the_subjects_when_only_they_failed():
    model = ck.load_model("stein2019_smooth")
    summary = {
        "converged": False,
        "failed": ["rhat of eta_cmax [121] = 1.08 > 1.01"],
        "chains": 4,
        "rounds": [{}],
        "population_converged": True,
        "subjects_not_mixed": ["121"],
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CartpkWarning)
        _warn_if_not_converged(
            model, summary, "R-hat 1.08 > 1.05: chains in different regions", 1000
        )
    (w,) = [x.message for x in caught if isinstance(x.message, CartpkWarning)]
    assert w.code == "not_converged"
    assert "population-level variables" in str(w) and "subject(s) 121" in str(w)
    assert w.details["subjects_not_mixed"] == ["121"]
    summary.update(population_converged=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CartpkWarning)
        _warn_if_not_converged(model, summary, "budget spent", 1000)
    (w,) = [x.message for x in caught if isinstance(x.message, CartpkWarning)]
    assert "population-level variables" not in str(w)
