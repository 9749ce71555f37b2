"""Add the model-based exposure's shared calibration uncertainty to an E-R slope.

A subject's model-based exposure (:func:`cartpk.calibrated_exposure`) is the posterior mean of
its log under a population fit. Its error is independent across subjects only given the
population parameters; their own uncertainty rescales every subject's exposure together, so
the slope of the true log exposure on the calibrated one, ``lambda``, is 1 only on average.
An E-R slope on calibrated exposure estimates ``b * lambda``, and its fitted standard error
holds the subject-level part of the error (as residual) but not the shared part. By the delta
method the slope's variance becomes ``se^2 + (b * sd_lambda)^2`` with ``sd_lambda`` from
:func:`cartpk.exposure.calibration_sd` (Carroll et al. 2006, section 4.6 and appendix B.3:
the calibration's own estimation error must enter a regression-calibration standard error).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.stats import norm

from cartpk.er._design import fold_factor
from cartpk.er._fit import ERFit

__all__ = ["widen_for_calibration"]


def widen_for_calibration(fit: ERFit, sd: float) -> ERFit:
    """The fit with its exposure slope's interval widened for calibration uncertainty.

    Parameters
    ----------
    fit : ERFit
        A fit on model-based (calibrated) exposure.
    sd : float
        SD of the calibration slope from the population parameters' uncertainty
        (:func:`cartpk.exposure.calibration_sd`, ``calibrated_exposure(...).attrs``).

    Returns
    -------
    ERFit
        The same fit; on the exposure term's row ``se`` becomes
        ``sqrt(se^2 + (estimate * sd)^2)``, ``lower``/``upper`` move away from the estimate
        by the ratio of the new to the old ``se`` (a profile interval keeps its asymmetry),
        the ``or_per_*`` limits follow, ``p_value`` is the Wald value on the new ``se`` and
        ``message`` says what was added. Unchanged when ``sd`` is NaN or 0, when the row
        has no finite ``se``, and for ``emax`` (EC50 is not a slope; its message says so).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from cartpk.er import fit_er
    >>> rng = np.random.default_rng(3)
    >>> x = rng.normal(0, 1, 200)
    >>> df = pd.DataFrame({"ID": range(200), "cmax": np.exp(x),
    ...                    "il6": np.exp(1 + 0.8 * x + rng.normal(0, 0.5, 200))})
    >>> fit = fit_er(df, "il6", exposure="cmax", model="loglinear")
    >>> wide = widen_for_calibration(fit, 0.05)
    >>> bool(wide.slope["se"] > fit.slope["se"]), bool(wide.slope["estimate"] == fit.slope["estimate"])
    (True, True)
    """
    if not math.isfinite(sd) or sd <= 0:
        return fit
    est = fit.estimates.copy()
    if fit.model == "emax":
        note = "calibration uncertainty of the exposure not added (EC50 is not a slope)"
        est["message"] = [_join(m, note) for m in est["message"]]
        return dataclasses.replace(fit, estimates=est)
    rows = np.flatnonzero((est["term"] == fit.term).to_numpy())
    for i in rows:
        b, se = float(est.at[i, "estimate"]), float(est.at[i, "se"])
        if not (math.isfinite(b) and math.isfinite(se) and se > 0):
            continue
        new = math.hypot(se, b * sd)
        k = new / se
        for side in ("lower", "upper"):
            est.at[i, side] = b + k * (float(est.at[i, side]) - b)
        for fold in (2, 10):
            key = f"or_per_{fold}fold"
            if math.isfinite(float(est.at[i, key])):
                f = fold_factor(fold, fit.log)
                est.at[i, f"{key}_lower"] = math.exp(float(est.at[i, "lower"]) * f)
                est.at[i, f"{key}_upper"] = math.exp(float(est.at[i, "upper"]) * f)
        est.at[i, "se"] = new
        est.at[i, "p_value"] = float(2.0 * norm.sf(abs(b) / new))
        note = (
            f"interval includes the exposure's calibration uncertainty (SD {sd:.3g} of the "
            f"calibration slope; se {se:.3g} -> {new:.3g})"
        )
        est.at[i, "message"] = _join(est.at[i, "message"], note)
    return dataclasses.replace(fit, estimates=est)


def _join(message: object, note: str) -> str:
    text = message if isinstance(message, str) else ""
    return f"{text}; {note}" if text else note
