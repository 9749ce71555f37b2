"""The Emax exposure-response fit, on the log scale of the response or on its natural scale.

``E(C) = E0 + Emax C^h / (EC50^h + C^h)`` is fitted by least squares (scipy ``curve_fit``)
either to ``ln y`` (``residual="log"``, the default: log-normal residuals,
``ln y = ln E(C) + eps``) or to ``y`` (``residual="natural"``: additive normal residuals).
Cytokine peaks are log-normal with a CV of 100 % or more, so on the natural scale the few
largest peaks dominate the fit and the intervals (Holford & Sheiner 1981); on the log scale
every subject weighs the same in relative terms and ``E(C)`` is the median response.

Parameters are handled by name (``E0``, ``Emax``, ``EC50``, ``hill``); only the call to
scipy sees them as a vector. EC50 and hill are estimated on the log scale (their intervals
are the back-transformed log-scale ones); E0 and Emax on their own scale, also with log
residuals (E0 may sit at 0: on its log scale the optimiser would run off to -inf).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from cartpk.er._design import Prepared
from cartpk.er._status import ERStatus
from cartpk.er._table import _caught, _empty, _rows, _wald_p

__all__ = [
    "PLATEAU_FRACTION",
    "RESIDUALS",
    "Residual",
    "EmaxResult",
    "drop_not_positive",
    "emax_curve",
    "fit_emax",
]

#: residual error models of the Emax fit
Residual = Literal["log", "natural"]
RESIDUALS: tuple[str, ...] = ("log", "natural")
#: fraction of Emax that the highest observed exposure must reach to call the plateau seen
PLATEAU_FRACTION = 0.8


def emax_curve(
    conc: np.ndarray, e0: float, emax: float, ec50: float, hill: float = 1.0
) -> np.ndarray:
    """``E0 + Emax C^h / (EC50^h + C^h)``, written to stay finite for any ``C > 0``.

    Examples
    --------
    >>> float(emax_curve(np.array([50.0]), 10.0, 100.0, 50.0)[0])
    60.0
    """
    c = np.asarray(conc, dtype=float)
    with np.errstate(over="ignore"):
        return e0 + emax / (1.0 + np.exp(hill * (math.log(ec50) - np.log(c))))


@dataclass(frozen=True)
class EmaxResult:
    """Estimates of one Emax fit, by parameter name (natural scale of each parameter).

    Attributes
    ----------
    names : list of str
        ``E0, Emax, EC50`` and ``hill`` when estimated.
    estimate, lower, upper, se : dict
        Point estimate, interval and standard error per name (delta method for the
        parameters estimated on the log scale).
    status : ERStatus
        ``ok``, ``no_plateau`` or ``not_converged``.
    message : str
        The residual model and SD, the plateau check, the optimiser's warnings.
    sigma : float
        Residual SD (log scale for ``residual="log"``, endpoint units otherwise).
    popt, pcov : ndarray
        scipy's vector and covariance, in the order of :attr:`names`, log-transformed where
        estimated on the log scale.
    """

    names: list[str]
    estimate: dict[str, float]
    lower: dict[str, float]
    upper: dict[str, float]
    se: dict[str, float]
    status: ERStatus
    message: str
    sigma: float
    popt: np.ndarray
    pcov: np.ndarray


def drop_not_positive(prep: Prepared, endpoint: str) -> Prepared:
    """Leave out subjects whose endpoint is <= 0 (its log is undefined), with the reason."""
    keep = prep.y > 0
    if keep.all():
        return prep
    gone = pd.DataFrame(
        {
            "ID": prep.data.loc[~keep, "ID"].to_numpy(),
            "code": "endpoint_not_positive",
            "reason": f"`{endpoint}` <= 0: its log is undefined (Emax on the log scale)",
        }
    )
    frames = [f for f in (prep.exclusions, gone) if len(f)]
    return dataclasses.replace(
        prep,
        data=prep.data.loc[keep].reset_index(drop=True),
        y=prep.y[keep],
        conc=prep.conc[keep],
        x=prep.x[keep],
        covariates=prep.covariates.loc[keep].reset_index(drop=True),
        exclusions=pd.concat(frames, ignore_index=True),
    )


def _start(conc: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Starting values: medians of the lowest and highest exposure quarters."""
    order = np.argsort(conc)
    k = max(len(y) // 4, 1)
    low, high = float(np.median(y[order[:k]])), float(np.median(y[order[-k:]]))
    e0 = low if low > 0 else float(np.min(y[y > 0])) if np.any(y > 0) else 1.0
    emax = high - e0
    if emax == 0:
        emax = float(np.ptp(y)) or 1.0
    return {"E0": e0, "Emax": emax, "EC50": float(np.median(conc)), "hill": 1.0}


def fit_emax(
    conc: np.ndarray,
    y: np.ndarray,
    *,
    level: float,
    hill: bool = False,
    residual: Residual = "log",
    unit: str | None = None,
) -> EmaxResult:
    """Fit the Emax model to positive exposures ``conc`` and responses ``y``.

    Parameters
    ----------
    conc, y : ndarray
        Exposure (> 0) and response (> 0 with ``residual="log"``).
    level : float
        Confidence level of the t-based intervals.
    hill : bool, default False
        Estimate a Hill coefficient (otherwise h = 1).
    unit : str, optional
        Exposure unit, quoted with the exposures in the status message.
    residual : {"log", "natural"}, default "log"
        ``log``: least squares on ``ln y`` (log-normal residuals); ``natural``: on ``y``.

    Returns
    -------
    EmaxResult
    """
    from scipy.optimize import curve_fit
    from scipy.stats import t as tdist

    names = ["E0", "Emax", "EC50", *(["hill"] if hill else [])]
    logged = {"EC50", "hill"}
    n = len(y)
    target = np.log(y) if residual == "log" else y
    tiny = np.finfo(float).tiny

    def named(vector: np.ndarray) -> dict[str, float]:
        return {
            k: math.exp(v) if k in logged else float(v) for k, v in zip(names, vector, strict=True)
        }

    def model(c: np.ndarray, *vector: float) -> np.ndarray:
        p = named(np.asarray(vector))
        e = emax_curve(c, p["E0"], p["Emax"], p["EC50"], p.get("hill", 1.0))
        # E(C) <= 0 has no log: a large residual steers the optimiser back
        return np.log(np.maximum(e, tiny)) if residual == "log" else e

    start = _start(conc, y)
    p0 = [math.log(start[k]) if k in logged else start[k] for k in names]
    msg = ""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            popt, pcov = curve_fit(model, conc, target, p0=p0, maxfev=20000)
        msg = _caught(caught)
        ok = bool(np.all(np.isfinite(pcov)))
    except RuntimeError as err:  # curve_fit: "Optimal parameters not found"
        popt = np.full(len(p0), np.nan)
        pcov = np.full((len(p0),) * 2, np.nan)
        ok, msg = False, str(err)
    dof = max(n - len(names), 1)
    resid = target - model(conc, *popt) if ok else np.full(n, np.nan)
    sigma = float(np.sqrt(np.sum(resid**2) / dof))
    q = float(tdist.ppf(0.5 + level / 2.0, dof))
    est: dict[str, float] = {}
    lower: dict[str, float] = {}
    upper: dict[str, float] = {}
    se: dict[str, float] = {}
    for j, k in enumerate(names):  # scipy's vector -> named parameters
        v, s = float(popt[j]), float(math.sqrt(abs(pcov[j, j])))
        if k in logged:
            with np.errstate(over="ignore"):
                est[k], lower[k], upper[k] = (float(np.exp(a)) for a in (v, v - q * s, v + q * s))
            se[k] = est[k] * s  # delta method
        else:
            est[k], lower[k], upper[k], se[k] = v, v - q * s, v + q * s, s
    if residual == "log":
        cv = 100 * math.sqrt(math.expm1(sigma**2)) if math.isfinite(sigma) else math.nan
        noise = f"log-normal residuals: SD {sigma:.3g} on the log scale (CV {cv:.0f} %)"
    else:
        noise = f"additive residuals: SD {sigma:.4g} (endpoint units)"
    if not ok:
        status = ERStatus.not_converged
        msg = "; ".join(m for m in (noise, msg) if m)
    else:
        h = est.get("hill", 1.0)
        top = float(np.max(conc))
        reached = top**h / (est["EC50"] ** h + top**h)
        # the plateau is seen when the highest exposure gets >= 80 % of Emax *and* the
        # interval of EC50 lies inside the observed exposures (else EC50 could be anywhere)
        seen = reached >= PLATEAU_FRACTION and upper["EC50"] <= top
        status = ERStatus.ok if seen else ERStatus.no_plateau
        u = f" {unit}" if unit else ""
        note = (
            f"highest exposure {top:.4g}{u} reaches {100 * reached:.0f} % of Emax "
            f"(plateau needs >= {100 * PLATEAU_FRACTION:.0f} %); EC50 upper bound "
            f"{upper['EC50']:.4g}{u} (needs <= the highest exposure)"
        )
        msg = "; ".join(m for m in (noise, note, msg) if m)
    return EmaxResult(
        names=names,
        estimate=est,
        lower=lower,
        upper=upper,
        se=se,
        status=status,
        message=msg,
        sigma=sigma,
        popt=np.asarray(popt),
        pcov=np.asarray(pcov),
    )


def _fit_emax(
    prep: Prepared,
    level: float,
    hill: bool = False,
    residual: Residual = "log",
    unit: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    names = ["E0", "Emax", "EC50", *(["hill"] if hill else [])]
    n = len(prep.y)
    if n < len(names) + 2 or np.ptp(prep.conc) == 0:
        msg = f"{n} subject(s)"
        return {
            "estimates": _empty(prep, names, ERStatus.too_few, msg, n_events=math.nan, **kw),
            "status": ERStatus.too_few,
            "message": msg,
        }
    res = fit_emax(prep.conc, prep.y, level=level, hill=hill, residual=residual, unit=unit)

    def col(values: dict[str, float]) -> np.ndarray:
        return np.array([values[k] for k in names])

    est, se = col(res.estimate), col(res.se)
    table = _rows(
        prep,
        names=names,
        est=est,
        lower=col(res.lower),
        upper=col(res.upper),
        se=se,
        pval=_wald_p(est, se),
        status=res.status,
        message=res.message,
        n_events=math.nan,
        **kw,
    )
    return {
        "estimates": table,
        "status": res.status,
        "message": res.message,
        "params": dict(res.estimate),
        "result": res,
    }
