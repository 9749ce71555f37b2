"""Posterior-predictive checks of data censored above an upper limit (``CENS=-1``).

A point-mass "posterior" at the simulating parameters (no sampling): replicates are
censored above the ULOQ where the data were, and the NPDs of a correct model, censored
records included, are standard normal.
"""

from __future__ import annotations

import arviz as az
import numpy as np

import cartpk as ck
from cartpk.diagnostics import predictions
from cartpk.fit.population import PopulationFit

TRUTH = dict(foldx=2000.0, tmax=8.0, cmax=3000.0, alpha=0.25, fb=0.02, beta=0.01)
IIV = {"tmax": 0.3, "cmax": 0.8, "alpha": 0.5}
N, SEED, ULOQ = 60, 11, 2000.0


def _model():
    return ck.load_model("stein2019_smooth").with_iiv(drop=["foldx", "fb", "beta"])


def test_simulations_and_npd_honour_an_upper_limit():
    sim_model = _model().with_ini(**TRUTH).with_iiv(sd=IIV)
    table = ck.simulate(sim_model, n=N, seed=SEED)
    above = (table["EVID"] == 0) & (table["DV"] > ULOQ)
    table.loc[above, "DV"] = ULOQ
    table.loc[above, "CENS"] = -1
    data = ck.read_dataset(table)
    ind = ck.simulate_parameters(sim_model, n=N, seed=SEED)
    model, n_draws = _model(), 100
    post = {}
    for name, value in TRUTH.items():
        post[f"mu_{name}"] = np.full((1, n_draws), float(model.to_transformed({name: value})[name]))
        post[name] = np.full((1, n_draws), value)
    for name, sd in IIV.items():
        eta = np.log(ind[name].to_numpy()) - np.log(TRUTH[name])
        post[f"eta_{name}"] = np.broadcast_to(eta, (1, n_draws, eta.size)).copy()
        post[f"omega_{name}"] = np.full((1, n_draws), sd)
    post["sigma"] = np.full((1, n_draws), 0.56)
    idata = az.from_dict(
        posterior=post,
        coords={"subject": data.subjects},
        dims={f"eta_{n}": ["subject"] for n in IIV},
    )
    fit = PopulationFit.from_idata(model, data, idata)
    obs = fit.observations
    right = obs["CENS"].to_numpy() == -1
    assert right.sum() >= 20
    sim, cens = fit.simulate(200, seed=3, new_subjects=False)
    # replicates are censored above the ULOQ exactly where the data could be, at the limit
    assert np.all(sim[:, right] <= ULOQ) and np.all(sim[cens == -1] == ULOQ)
    assert not np.any(cens[:, ~right] == -1)
    # own random effects: the censored-above fraction at those records is well above 0
    assert (cens[:, right] == -1).mean() > 0.5
    npd = predictions(fit, n=200, seed=4, simulations=(sim, cens))["NPD"].to_numpy()
    assert np.all(np.isfinite(npd))
    assert abs(float(np.mean(npd[right]))) < 1.0  # inside (P(y < ULOQ), 1): not all low
    assert float(np.mean(npd[right])) > 0.0  # a censored-above record is a high value
