"""The sampler settings of the slow recovery fits on the seed trial's design
(test_population_trial_design.py, test_population_solid_tumour_recovery.py): chains start
at the declared values, 4 chains x (500 warm-up + 1,500 draws), one sampler seed."""

from __future__ import annotations

RECOVERY_SAMPLING = dict(init="declared", draws=1500, tune=500, chains=4, seed=1, target_accept=0.9)
