"""Per-subject model-based exposure for exposure-response: the regression-calibration value.

Exposure-response models take exposure as its log. What a sparse qPCR profile says about a
subject's true exposure ``X`` is the posterior ``p(ln X | data)`` of a population fit. The
value that keeps E-R slopes unbiased is its mean, ``E[ln X | data]`` (regression
calibration, Carroll et al. 2006, chapter 4): the true log exposure is that mean plus an
error *independent of it* (Berkson error), which leaves a linear slope unbiased and a
logistic, ordinal or Cox slope nearly so. Observed NCA Cmax is the true value *plus*
independent error (classical error): its slopes are attenuated. So is a single posterior
draw per subject, which is why refitting per draw and pooling (multiple imputation from an
imputation model that ignores the outcome) attenuates too. See ``docs/er_exposure.md``.

References
----------
Carroll RJ, Ruppert D, Stefanski LA, Crainiceanu CM. Measurement Error in Nonlinear
Models: A Modern Perspective, 2nd ed. Chapman & Hall/CRC, 2006.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cartpk.exposure._sources import exposure_from_posterior

__all__ = ["CALIBRATION_METHOD", "calibrated_exposure"]

#: how :func:`calibrated_exposure` summarises each subject's posterior exposure draws
CALIBRATION_METHOD = "posterior mean of ln(exposure) (regression calibration)"


def _calibrate(values: np.ndarray) -> float:
    """exp(mean(ln x)) over the draws with a value; the mean when a draw is 0 or less."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return float("nan")
    if np.all(v > 0):
        return float(np.exp(np.mean(np.log(v))))
    return float(np.mean(v))


def _quantile(values: np.ndarray, q: float) -> float:
    v = values[np.isfinite(values)]
    return float(np.quantile(v, q)) if v.size else float("nan")


def _sd_log(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    if v.size < 2 or not np.all(v > 0):
        return float("nan")
    return float(np.std(np.log(v), ddof=1))


def calibrated_exposure(
    fit: Any,
    *,
    n_draws: int | None = 200,
    interval_ends: Sequence[float] = (28, 90),
    lloq: float | None = None,
    dvid: str | None = None,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Model-based exposure of every subject of a population fit, ready for E-R models.

    Parameters
    ----------
    fit : PopulationFit
        Result of :func:`cartpk.fit_population` (or :func:`cartpk.fit.read_population_run`).
    n_draws : int, optional, default 200
        Posterior draws used, evenly spaced over all chains (``None`` for all). The Monte
        Carlo error of a subject's mean log exposure is its posterior SD / sqrt(n_draws).
    interval_ends, lloq, dvid
        As for :func:`cartpk.model_exposure`.
    ci : float, default 0.95
        Probability of the per-subject credible interval columns.

    Returns
    -------
    DataFrame
        One row per subject: ``ID``, then per metric (``cmax``, ``tmax``, ``auc_0_28d``,
        ``auc_0_90d``, ``time_above_lloq`` with a limit) the regression-calibration value
        ``exp(E[ln metric | data])`` under the metric's own name (the posterior mean when
        a draw is 0, e.g. no time above the LLOQ), then ``<metric>_lower``,
        ``<metric>_upper`` (equal-tailed credible interval) and ``<metric>_sd_log``
        (posterior SD of the log, NaN when a draw is 0). ``attrs["method"]`` names the
        summary, ``attrs["n_draws"]`` the draws used.

    Examples
    --------
    >>> import cartpk as ck                                             # doctest: +SKIP
    >>> fit = ck.fit_population(model, data)                            # doctest: +SKIP
    >>> ck.calibrated_exposure(fit)[["ID", "cmax", "auc_0_28d"]]        # doctest: +SKIP
    """
    res = exposure_from_posterior(
        fit, n_draws=n_draws, interval_ends=interval_ends, lloq=lloq, dvid=dvid
    )
    wide = res.wide
    metrics = res.metrics
    lo_q, hi_q = (1.0 - ci) / 2.0, 1.0 - (1.0 - ci) / 2.0
    ids = list(dict.fromkeys(wide["ID"].astype(str)))
    groups = wide.assign(ID=wide["ID"].astype(str)).groupby("ID", sort=False)
    out = pd.DataFrame({"ID": ids})
    for name in metrics:
        values = {sid: g[name].to_numpy(dtype=float) for sid, g in groups}
        out[name] = [_calibrate(values[s]) for s in ids]
        out[f"{name}_lower"] = [_quantile(values[s], lo_q) for s in ids]
        out[f"{name}_upper"] = [_quantile(values[s], hi_q) for s in ids]
        out[f"{name}_sd_log"] = [_sd_log(values[s]) for s in ids]
    out.attrs["method"] = CALIBRATION_METHOD
    out.attrs["n_draws"] = int(wide.groupby("ID").size().iloc[0]) if len(wide) else 0
    out.attrs["metrics"] = list(metrics)
    return out
