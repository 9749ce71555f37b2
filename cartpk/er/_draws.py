"""Exposure uncertainty: refit an exposure-response model once per posterior draw of exposure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cartpk.er._design import LogBase, Model, exposure_term, fold_factor
from cartpk.er._fit import ESTIMATE_COLUMNS, fit_er
from cartpk.er._status import FAILED, ERStatus
from cartpk.errors import DatasetError, SpecError, Violation

__all__ = ["DRAW_COLUMNS", "ERDraws", "er_draws"]

DRAW_COLUMNS = ["draw", "estimate", "se", "lower", "upper", "status"]


@dataclass(frozen=True, eq=False)
class ERDraws:
    """Result of :func:`er_draws`.

    Attributes
    ----------
    per_draw : DataFrame
        ``draw, estimate, se, lower, upper, status``: the exposure term of each refit.
    pooled : DataFrame
        One row in :data:`cartpk.er.ESTIMATE_COLUMNS` layout (``model`` suffixed
        ``+draws``) with the pooled estimate and interval, then ``draws_median,
        draws_q025, draws_q975, n_draws, n_draws_used, fraction_missing_info``.
    """

    per_draw: pd.DataFrame
    pooled: pd.DataFrame


def er_draws(
    subjects: pd.DataFrame,
    draws: pd.DataFrame,
    endpoint: str,
    *,
    exposure: str,
    model: Model,
    covariates: Sequence[str] = (),
    log: LogBase = "ln",
    event: str | None = None,
    threshold: float | None = None,
    level: float = 0.95,
) -> ERDraws:
    """Propagate exposure uncertainty by refitting the model once per posterior draw.

    Parameters
    ----------
    subjects : DataFrame
        Per-subject table as for :func:`cartpk.fit_er` (its ``exposure`` column, if any,
        is replaced draw by draw).
    draws : DataFrame
        Long table of exposure draws, ``ID, draw, <exposure>`` (e.g. from a population
        posterior: one row per subject and draw).
    endpoint, exposure, model, covariates, log, event, threshold, level
        As for :func:`cartpk.fit_er` (``emax`` is not supported: its EC50 has no common
        scale to pool on; use ``loglinear``).

    Returns
    -------
    ERDraws
        Per-draw exposure coefficients and their pooled summary.

    Raises
    ------
    SpecError
        ``column_unknown`` (``draws`` lacks ``ID``, ``draw`` or the exposure column),
        ``model_unsupported`` (``emax``).
    DatasetError
        ``draws_missing_subject``: a subject of ``subjects`` has no draw (listed).

    Notes
    -----
    Each draw ``m = 1..M`` gives an estimate ``b_m`` with standard error ``s_m``. Two
    summaries are reported:

    * the distribution of ``b_m`` over draws (``draws_median``, ``draws_q025``,
      ``draws_q975``): how much the slope moves with exposure uncertainty alone;
    * the pooled estimate ``b = mean(b_m)`` with total variance
      ``T = W + (1 + 1/M) B``, ``W = mean(s_m^2)``, ``B = var(b_m)`` and Rubin's
      degrees of freedom ``(M - 1) (1 + W / ((1 + 1/M) B))^2``: the interval in
      ``lower``/``upper`` (t-based) carries both sampling and exposure uncertainty (Rubin
      1987, treating the draws as multiple imputations of the unobserved true exposure).

    Draws whose fit failed (status in ``FAILED``) are left out of the pooling and counted.

    References
    ----------
    Rubin DB. Multiple Imputation for Nonresponse in Surveys. Wiley, 1987.
    """
    from scipy.stats import t as tdist

    if model == "emax":
        msg = "exposure draws cannot be pooled for the Emax model"
        raise SpecError(
            msg,
            [
                Violation(
                    "model_unsupported",
                    msg,
                    value="'emax'",
                    expected="ordinal, logistic, loglinear or cox",
                    fix="use model='loglinear' for a continuous endpoint",
                )
            ],
        )
    missing = [c for c in ("ID", "draw", exposure) if c not in draws.columns]
    if missing:
        msg = "the exposure draws table lacks column(s) " + ", ".join(f"`{c}`" for c in missing)
        raise SpecError(
            msg,
            [
                Violation(
                    "column_unknown",
                    msg,
                    value=", ".join(missing),
                    expected=f"ID, draw, {exposure}",
                    fix="give one row per subject and draw",
                )
            ],
        )
    d = draws[["ID", "draw", exposure]].copy()
    d["ID"] = d["ID"].astype(str).str.strip()
    base = subjects.copy()
    base["ID"] = base["ID"].astype(str).str.strip()
    absent = sorted(set(base["ID"]) - set(d["ID"]))
    if absent:
        msg = f"{len(absent)} subject(s) have no exposure draw"
        raise DatasetError(
            msg,
            [
                Violation(
                    "draws_missing_subject",
                    msg,
                    value=", ".join(absent[:20]),
                    expected="every subject in every draw",
                    fix="add the subjects' draws or drop them",
                )
            ],
        )
    term = exposure_term(exposure, log)
    rows = []
    template = None
    for draw, g in d.groupby("draw", sort=True):
        one = base.drop(columns=[exposure], errors="ignore").merge(
            g[["ID", exposure]], on="ID", how="left", validate="one_to_one"
        )
        fit = fit_er(
            one,
            endpoint,
            exposure=exposure,
            model=model,
            covariates=covariates,
            log=log,
            event=event,
            threshold=threshold,
            level=level,
        )
        r = fit.slope
        template = r if template is None else template
        rows.append(
            {
                "draw": draw,
                "estimate": r["estimate"],
                "se": r["se"],
                "lower": r["lower"],
                "upper": r["upper"],
                "status": fit.status.value,
            }
        )
    per_draw = pd.DataFrame(rows, columns=DRAW_COLUMNS)
    used = per_draw[~per_draw["status"].isin([s.value for s in FAILED])]
    b, s = used["estimate"].to_numpy(float), used["se"].to_numpy(float)
    m = len(b)
    pooled: dict[str, object] = {c: math.nan for c in ESTIMATE_COLUMNS}
    assert template is not None
    for c in ("endpoint", "exposure", "term", "ratio", "scale", "n", "n_events"):
        pooled[c] = template[c]
    pooled["model"] = f"{model}+draws"
    if m >= 2:
        w, bv = float(np.mean(s**2)), float(np.var(b, ddof=1))
        total = w + (1 + 1 / m) * bv
        df = (m - 1) * (1 + w / ((1 + 1 / m) * bv)) ** 2 if bv > 0 else math.inf
        q = float(tdist.ppf(0.5 + level / 2, df))
        est = float(np.mean(b))
        pooled.update(
            estimate=est,
            se=math.sqrt(total),
            lower=est - q * math.sqrt(total),
            upper=est + q * math.sqrt(total),
            status=ERStatus.ok.value,
            p_value=float(2 * tdist.sf(abs(est) / math.sqrt(total), df)),
        )
        for fold in (2, 10):
            f = fold_factor(fold, log)
            key = f"or_per_{fold}fold"
            pooled[key] = math.exp(est * f)
            pooled[f"{key}_lower"] = math.exp(float(pooled["lower"]) * f)  # type: ignore[arg-type]
            pooled[f"{key}_upper"] = math.exp(float(pooled["upper"]) * f)  # type: ignore[arg-type]
        fmi = (1 + 1 / m) * bv / total if total > 0 else 0.0
        pooled["message"] = (
            f"Rubin pooling over {m} of {len(per_draw)} exposure draws; "
            f"fraction of information from exposure uncertainty {fmi:.2f}"
        )
    else:
        fmi = math.nan
        pooled["status"] = ERStatus.too_few.value
        pooled["message"] = f"only {m} of {len(per_draw)} draw fits usable; nothing pooled"
    extra = {
        "draws_median": float(np.median(b)) if m else math.nan,
        "draws_q025": float(np.quantile(b, 0.025)) if m else math.nan,
        "draws_q975": float(np.quantile(b, 0.975)) if m else math.nan,
        "n_draws": len(per_draw),
        "n_draws_used": m,
        "fraction_missing_info": fmi,
    }
    pooled_df = pd.DataFrame([{**pooled, **extra}], columns=[*ESTIMATE_COLUMNS, *extra])
    pooled_df["term"] = term
    return ERDraws(per_draw=per_draw, pooled=pooled_df)
