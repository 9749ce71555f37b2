"""Exposure-quartile plots: observed rates with binomial intervals and the model curve."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cartpk.data._endpoints import display_unit
from cartpk.er._fit import ERFit

__all__ = ["er_plot", "exposure_quartiles"]


def exposure_quartiles(conc: np.ndarray, bins: int = 4) -> pd.Series:
    """Exposure quantile group of each subject (``Q1`` lowest); fewer groups when n < 2 bins.

    Examples
    --------
    >>> exposure_quartiles(np.array([1.0, 2, 3, 4, 5, 6, 7, 8])).tolist()
    ['Q1', 'Q1', 'Q2', 'Q2', 'Q3', 'Q3', 'Q4', 'Q4']
    """
    k = int(max(1, min(bins, len(conc) // 2)))
    ranks = pd.Series(conc).rank(method="first")
    groups = pd.qcut(ranks, k, labels=[f"Q{i + 1}" for i in range(k)])
    return groups.astype(str)


def _binned(fit: ERFit, success: np.ndarray, level: float) -> pd.DataFrame:
    from statsmodels.stats.proportion import proportion_confint

    prep = fit.prepared
    q = exposure_quartiles(prep.conc).to_numpy()
    rows = []
    for g in sorted(set(q)):
        m = q == g
        k, n = int(success[m].sum()), int(m.sum())
        lo, hi = proportion_confint(k, n, alpha=1 - level, method="beta")  # Clopper-Pearson
        rows.append(
            {
                "group": g,
                "x": float(np.median(prep.conc[m])),
                "k": k,
                "n": n,
                "rate": k / n,
                "lower": float(lo),
                "upper": float(hi),
                "xmin": float(prep.conc[m].min()),
                "xmax": float(prep.conc[m].max()),
            }
        )
    return pd.DataFrame(rows)


def _with_unit(name: str, unit: str | None, extra: str = "") -> str:
    parts = [p for p in (display_unit(unit), extra) if p]
    return f"{name} ({', '.join(parts)})" if parts else name


def er_plot(
    fit: ERFit,
    path: str | os.PathLike[str],
    *,
    level: float = 0.95,
    units: Mapping[str, str] | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Draw the exposure-quartile plot of a fit and save it.

    Parameters
    ----------
    fit : ERFit
        Result of :func:`cartpk.fit_er`.
    path : path
        Image file to write (``.png``).
    level : float, default 0.95
        Level of the Clopper-Pearson intervals of the observed rates.
    units : mapping, optional
        Column -> unit (e.g. ``er_subjects(...).attrs["units"]``) for the axis labels.
    source : str, optional
        Where the exposure comes from (``"model"``, ``"nca"``, ...: the analysis'
        ``exposure_source``), said in the title.

    Returns
    -------
    DataFrame
        The plotted observed values per exposure quartile: ``group, x`` (median exposure),
        ``k, n, rate, lower, upper`` (binary and ordinal), ``xmin, xmax``; for
        ``ordinal`` one block per cut ``grade >= g`` (column ``cut``).

    Notes
    -----
    Logistic: observed proportion per exposure quartile and the fitted probability.
    Ordinal: observed proportion with grade >= g for each cut g and the fitted
    ``P(grade >= g)``. Emax / log-linear: individual values, quartile medians and the fitted
    curve (geometric mean for log-linear), on a log endpoint axis for log-linear and for Emax
    fitted on the log scale (``fit.residual == "log"``, the curve is the median response).
    Cox: Kaplan-Meier curves per exposure quartile
    (statsmodels ``SurvfuncRight``) and the model's survival at each quartile's median
    exposure (dashed). Model curves are drawn with covariates at their medians
    (``fit.reference``). Exposure is on a log axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    units = dict(units or {})

    prep = fit.prepared
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    grid = np.exp(np.linspace(np.log(prep.conc.min()), np.log(prep.conc.max()), 200))
    curve_ok = bool(fit.params) and all(np.isfinite(list(fit.params.values())))
    colors: Any = plt.get_cmap("viridis")
    if fit.model == "logistic":
        table = _draw_logistic(ax, fit, grid, curve_ok, level)
    elif fit.model == "ordinal":
        table = _draw_ordinal(ax, fit, grid, curve_ok, level, colors)
    elif fit.model in ("emax", "loglinear"):
        table = _draw_continuous(ax, fit, grid, curve_ok, units)
    else:  # cox
        table = _draw_cox(ax, fit, curve_ok, units, colors)
    _label_and_save(fig, ax, fit, path, units, source)
    plt.close(fig)
    return table


def _observed_rates(ax: Any, table: pd.DataFrame, color: Any, label: str) -> None:
    """The observed rate of each exposure quartile with its interval (error bars)."""
    ax.errorbar(
        table["x"],
        table["rate"],
        yerr=[table["rate"] - table["lower"], table["upper"] - table["rate"]],
        fmt="o",
        color=color,
        capsize=3,
        label=label,
    )


def _draw_logistic(
    ax: Any, fit: ERFit, grid: np.ndarray, curve_ok: bool, level: float
) -> pd.DataFrame:
    """Observed proportion per exposure quartile and the fitted probability."""
    table = _binned(fit, fit.prepared.y, level)
    _observed_rates(ax, table, "k", f"observed (quartile, {100 * level:g} % CI)")
    if curve_ok:
        ax.plot(grid, fit.predict(grid), color="tab:blue", label="logistic model")
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(f"P({fit.endpoint}) (probability)")
    return table


def _draw_ordinal(
    ax: Any, fit: ERFit, grid: np.ndarray, curve_ok: bool, level: float, colors: Any
) -> pd.DataFrame:
    """Observed proportion with grade >= g per quartile and the fitted ``P(grade >= g)``,
    one colour per cut g."""
    prep = fit.prepared
    cats = prep.categories
    blocks = []
    pred = fit.predict(grid) if curve_ok else None
    for k in range(1, len(cats)):
        col = colors((k - 1) / max(len(cats) - 2, 1))
        t = _binned(fit, (prep.y >= k).astype(float), level).assign(cut=f">= {cats[k]}")
        blocks.append(t)
        _observed_rates(ax, t, col, f"observed grade >= {cats[k]}")
        if pred is not None:
            ax.plot(grid, pred[:, k - 1], color=col)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(f"P({fit.endpoint} >= g) (probability)")
    return pd.concat(blocks, ignore_index=True)


def _draw_continuous(
    ax: Any, fit: ERFit, grid: np.ndarray, curve_ok: bool, units: Mapping[str, str]
) -> pd.DataFrame:
    """Emax / log-linear: individual values, quartile medians and the fitted curve."""
    prep = fit.prepared
    q = exposure_quartiles(prep.conc).to_numpy()
    ax.scatter(prep.conc, prep.y, s=12, color="0.6", label="subjects")
    rows = [
        {
            "group": g,
            "x": float(np.median(prep.conc[q == g])),
            "median": float(np.median(prep.y[q == g])),
            "n": int((q == g).sum()),
        }
        for g in sorted(set(q))
    ]
    table = pd.DataFrame(rows)
    ax.plot(table["x"], table["median"], "s", color="k", label="quartile median")
    # a fit on the log scale of the endpoint is drawn on a log axis (its curve is the
    # median response); an Emax fit with additive residuals on a linear one (the mean)
    log_y = fit.model == "loglinear" or fit.residual == "log"
    if curve_ok:
        what = {"loglinear": "geometric mean"}.get(
            fit.model, "median, log-normal residuals" if log_y else "mean, additive residuals"
        )
        ax.plot(grid, fit.predict(grid), color="tab:blue", label=f"{fit.model} model ({what})")
    if log_y:
        ax.set_yscale("log")
    ax.set_ylabel(_with_unit(fit.endpoint, units.get(fit.endpoint), "log axis" if log_y else ""))
    return table


def _draw_cox(
    ax: Any, fit: ERFit, curve_ok: bool, units: Mapping[str, str], colors: Any
) -> pd.DataFrame:
    """Kaplan-Meier curves per exposure quartile and the model's survival at each
    quartile's median exposure (dashed)."""
    from statsmodels.duration.survfunc import SurvfuncRight

    prep = fit.prepared
    q = exposure_quartiles(prep.conc).to_numpy()
    assert prep.event is not None
    rows = []
    for i, g in enumerate(sorted(set(q))):
        m = q == g
        col = colors(i / 3)
        sf = SurvfuncRight(prep.y[m], prep.event[m])
        t = np.concatenate([[0.0], sf.surv_times])
        s = np.concatenate([[1.0], sf.surv_prob])
        lo, hi = float(prep.conc[m].min()), float(prep.conc[m].max())
        unit = units.get(fit.exposure) or ""
        span = f"{fit.exposure} {lo:.3g}-{hi:.3g}{' ' + display_unit(unit) if unit else ''}"
        ax.step(t, s, where="post", color=col, label=f"{g}: {span} (KM, n={int(m.sum())})")
        med = float(np.median(prep.conc[m]))
        if curve_ok:
            tt = np.linspace(0, float(prep.y.max()), 200)
            model_label = "model at each quartile's median exposure" if i == 0 else None
            ax.plot(tt, fit.predict([med], times=tt)[0], "--", color=col, label=model_label)
        rows.append({"group": g, "x": med, "n": int(m.sum()), "events": int(prep.event[m].sum())})
    ax.set_xlabel(f"{fit.endpoint} (day)")
    ax.set_ylabel("survival (probability)")
    ax.set_ylim(-0.02, 1.02)
    return pd.DataFrame(rows)


def _label_and_save(
    fig: Any,
    ax: Any,
    fit: ERFit,
    path: str | os.PathLike[str],
    units: Mapping[str, str],
    source: str | None,
) -> None:
    """The exposure axis (log, except for Cox), title and legend; the figure written."""
    if fit.model != "cox":
        ax.set_xscale("log")
        ax.set_xlabel(_with_unit(fit.exposure, units.get(fit.exposure), "log axis"))
    adj = f"; covariates at median ({', '.join(fit.covariates)})" if fit.covariates else ""
    said = f" ({source} exposure)" if source else ""
    ax.set_title(
        f"{fit.endpoint} vs {fit.exposure}{said}: {fit.model} [{fit.status.value}]{adj}",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
