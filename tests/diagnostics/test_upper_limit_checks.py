"""Posterior-predictive checks of data censored above an upper limit (``CENS=-1``).

A point-mass "posterior" at the simulating parameters (no sampling): replicates are
censored above the ULOQ where the data were, and the NPDs of a correct model, censored
records included, are standard normal.
"""

from __future__ import annotations

import numpy as np

import cartpk as ck
from cartpk.diagnostics import predictions
from tests.diagnostics.test_predictive import IIV, TRUTH, _model, _point_mass_fit
from tests.diagnostics.test_predictive import N_SUBJECTS as N

SEED, ULOQ = 11, 2000.0


def test_simulations_and_npd_honour_an_upper_limit():
    sim_model = _model().with_ini(**TRUTH).with_iiv(sd=IIV)
    table = ck.simulate(sim_model, n=N, seed=SEED)
    above = (table["EVID"] == 0) & (table["DV"] > ULOQ)
    table.loc[above, "DV"] = ULOQ
    table.loc[above, "CENS"] = -1
    data = ck.read_dataset(table)
    fit = _point_mass_fit(_model(), data, TRUTH, seed=SEED)
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
