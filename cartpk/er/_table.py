"""The estimates table of an exposure-response fit: its columns and how rows are built."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cartpk.er._design import LogBase, Prepared, exposure_term, fold_factor
from cartpk.er._status import ERStatus

__all__ = ["ESTIMATE_COLUMNS", "emax_scale"]

#: columns of :attr:`ERFit.estimates` and of ``er_estimates.csv`` (the first nine are fixed)
ESTIMATE_COLUMNS = [
    "endpoint",
    "exposure",
    "model",
    "term",
    "estimate",
    "lower",
    "upper",
    "or_per_2fold",
    "or_per_10fold",
    "or_per_2fold_lower",
    "or_per_2fold_upper",
    "or_per_10fold_lower",
    "or_per_10fold_upper",
    "ratio",
    "scale",
    "se",
    "p_value",
    "n",
    "n_events",
    "status",
    "message",
]

_SCALES = {
    "log": "log (ln of the endpoint, log-normal residuals; E0, Emax in endpoint units; "
    "EC50 in exposure units)",
    "natural": "natural (endpoint units, additive residuals; EC50 in exposure units)",
}


def emax_scale(residual: str) -> str:
    """Text of the ``scale`` column of an Emax estimate for a residual model.

    Examples
    --------
    >>> emax_scale("log").split(" (")[0], emax_scale("natural").split(" (")[0]
    ('log', 'natural')
    """
    return _SCALES[residual]


_RATIO = {"logistic": "OR", "ordinal": "OR", "cox": "HR", "loglinear": "GMR", "emax": ""}
_SCALE = {
    "logistic": "log-odds",
    "ordinal": "log-odds (cumulative, P(grade >= g))",
    "cox": "log-hazard",
    "loglinear": "log of the endpoint",
    "emax": emax_scale("log"),
}


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2.0))


def _rows(
    prep: Prepared,
    *,
    endpoint: str,
    exposure: str,
    model: str,
    log: LogBase,
    names: Sequence[str],
    est: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    se: np.ndarray,
    pval: np.ndarray,
    status: ERStatus,
    message: str,
    n_events: int | float,
    scale: str | None = None,
) -> pd.DataFrame:
    xterm = exposure_term(exposure, log)
    rows = []
    for i, name in enumerate(names):
        row: dict[str, Any] = {
            "endpoint": endpoint,
            "exposure": exposure,
            "model": model,
            "term": name,
            "estimate": est[i],
            "lower": lower[i],
            "upper": upper[i],
            "ratio": "",
            "scale": scale or _SCALE[model],
            "se": se[i],
            "p_value": pval[i],
            "n": len(prep.y),
            "n_events": n_events,
            "status": status.value,
            "message": message,
        }
        for fold in (2, 10):
            key = f"or_per_{fold}fold"
            if name == xterm and model != "emax":
                f = fold_factor(fold, log)
                row[key] = math.exp(est[i] * f)
                row[f"{key}_lower"] = math.exp(lower[i] * f)
                row[f"{key}_upper"] = math.exp(upper[i] * f)
                row["ratio"] = _RATIO[model]
            else:
                row[key] = row[f"{key}_lower"] = row[f"{key}_upper"] = math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=ESTIMATE_COLUMNS)


def _empty(
    prep: Prepared, names: Sequence[str], status: ERStatus, message: str, **kw: Any
) -> pd.DataFrame:
    nan = np.full(len(names), np.nan)
    return _rows(
        prep,
        names=names,
        est=nan,
        lower=nan,
        upper=nan,
        se=nan,
        pval=nan,
        status=status,
        message=message,
        **kw,
    )


def _wald_p(est: np.ndarray, se: np.ndarray) -> np.ndarray:
    from scipy.stats import norm

    with np.errstate(divide="ignore", invalid="ignore"):
        return 2.0 * norm.sf(np.abs(est / se))


def _caught(caught: list[warnings.WarningMessage]) -> str:
    msgs = []
    for w in caught:
        text = f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
        if text not in msgs:
            msgs.append(text)
    return "; ".join(msgs)
