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

The Berkson error of each subject is independent across subjects only given the population
parameters; their posterior uncertainty moves every subject's value together and so rescales
the calibrated exposure as a whole. An E-R fit's standard error knows nothing of that shared
part. :func:`calibration_sd` measures it from the posterior draws (the SD of the slope of
ln exposure on its calibrated value, less its subject-independent part) and
:func:`cartpk.er.widen_for_calibration` adds it to the slope's variance.

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

__all__ = ["CALIBRATION_METHOD", "calibrated_exposure", "calibration_sd"]

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


def calibration_sd(log_draws: np.ndarray) -> float:
    """SD of the calibration slope that the subjects' shared posterior uncertainty causes.

    Parameters
    ----------
    log_draws : ndarray, shape (n_draws, n_subjects)
        Posterior draws of ln(exposure), one column per subject (columns with a
        non-finite value are left out).

    Returns
    -------
    float
        With ``a`` the subjects' posterior means and ``c = (a - mean a) / sum (a - mean a)^2``,
        draw ``s`` has calibration slope ``lambda_s = sum_i c_i x_si`` (the slope of the
        drawn exposures on ``a``; its posterior mean is 1). Its posterior variance
        ``c' Sigma c`` has a part ``sum_i c_i^2 Sigma_ii`` that is independent across
        subjects (Berkson error: already in an E-R fit's residual and standard error) and
        a shared part ``c' (Sigma - diag Sigma) c`` from the population parameters'
        uncertainty. The square root of the shared part (0 when the draws estimate it
        below 0); NaN with fewer than 3 subjects or 2 draws.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(0, 1, 200)
    >>> scale = rng.normal(1, 0.05, (4000, 1))   # one shared factor per draw
    >>> x = a * scale + rng.normal(0, 0.3, (4000, 200))
    >>> round(calibration_sd(x), 2)
    0.05
    """
    x = np.asarray(log_draws, dtype=float)
    x = x[:, np.all(np.isfinite(x), axis=0)]
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 3:
        return float("nan")
    a = x.mean(axis=0)
    dev = a - a.mean()
    ss = float(dev @ dev)
    if ss == 0:
        return float("nan")
    c = dev / ss
    lam = (x - x.mean(axis=1, keepdims=True)) @ c
    total = float(np.var(lam, ddof=1))
    independent = float(np.sum(c**2 * np.var(x, axis=0, ddof=1)))
    return float(np.sqrt(max(total - independent, 0.0)))


def _log_draws(wide: pd.DataFrame, name: str) -> np.ndarray:
    """Draws x subjects matrix of ln(metric); NaN where a draw is 0 or less."""
    m = wide.pivot_table(index="draw", columns="ID", values=name, aggfunc="first", dropna=False)
    v = m.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, np.log(np.where(v > 0, v, 1.0)), np.nan)


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
        summary, ``attrs["n_draws"]`` the draws used, ``attrs["calibration_sd"]`` maps
        each metric to :func:`calibration_sd` of its draws (subjects with a draw <= 0 left
        out).

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
    out.attrs["calibration_sd"] = {
        name: calibration_sd(_log_draws(wide.assign(ID=wide["ID"].astype(str)), name))
        for name in metrics
    }
    out.attrs["method"] = CALIBRATION_METHOD
    out.attrs["n_draws"] = int(wide.groupby("ID").size().iloc[0]) if len(wide) else 0
    out.attrs["metrics"] = list(metrics)
    return out
