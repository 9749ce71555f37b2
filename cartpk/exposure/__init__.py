"""Model-based exposure: Cmax, Tmax, AUC0-28d, AUC0-90d and time above LLOQ of model
profiles, per subject or per posterior draw, and their comparison with NCA.

:func:`cartpk.model_exposure`, :func:`cartpk.calibrated_exposure` and
:func:`cartpk.compare_exposure` are re-exported at the top level; the parameter-table
sources (``exposure_from_individual``, ``exposure_from_posterior``) are used from here.
Layout: ``_numerics`` (vectorised peak search, quadrature and crossing search over many
profiles; knows no equations), ``_exposure`` (the table API
over a model declaration), ``_sources`` (parameter tables from individual and population
fits), ``_compare`` (model-based vs NCA).

Closed-form hook
----------------
A model may declare, next to ``predict``, a static ``auc(xp, time, *, <thetas>)`` returning
AUC(0, ``time``) of its single output (``models/stein2019.py`` does, from the supplement of
Stein 2019). :func:`model_exposure` uses it for the AUCs when the class declaring it also
declares (or inherits into it) the ``predict`` in use; otherwise AUCs are integrated
numerically from ``predict``. Cmax, Tmax and the time above LLOQ are always found
numerically from the model's own ``evaluate``, so no equation is repeated here.
"""

from cartpk.exposure._calibrated import CALIBRATION_METHOD, calibrated_exposure, calibration_sd
from cartpk.exposure._compare import ExposureComparison, compare_exposure
from cartpk.exposure._exposure import ExposureResult, interval_name, model_exposure
from cartpk.exposure._numerics import ExposureGrid
from cartpk.exposure._sources import (
    exposure_from_individual,
    exposure_from_posterior,
    posterior_parameters,
)

__all__ = [
    "CALIBRATION_METHOD",
    "ExposureComparison",
    "ExposureGrid",
    "ExposureResult",
    "calibrated_exposure",
    "calibration_sd",
    "compare_exposure",
    "exposure_from_individual",
    "exposure_from_posterior",
    "interval_name",
    "model_exposure",
    "posterior_parameters",
]
