"""Figures of the predictive checks: VPC (+ BLQ panel), GOF, individual fits with bands.

Matplotlib is imported inside each function with the non-interactive ``Agg`` backend;
every figure is saved and closed. Censored records are drawn at their limit as open
markers, never as if they had been measured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cartpk.data._endpoints import display_unit

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.diagnostics._predictive import Vpc
    from cartpk.fit._predictive import PredictiveDraws

__all__ = ["plot_gof", "plot_individual", "plot_vpc"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    plt = _plt()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def _dv_label(what: str, dvids: Sequence[str], units: Mapping[str, str] | None) -> str:
    """``what (unit)`` when the endpoints share one unit, else ``what (DVID: unit, ...)``."""
    if not units:
        return what
    found = {d: display_unit(units.get(str(d))) for d in dvids if units.get(str(d))}
    if not found:
        return what
    if len(set(found.values())) == 1:
        return f"{what} ({next(iter(found.values()))})"
    return f"{what} ({', '.join(f'{d}: {u}' for d, u in found.items())})"


def plot_vpc(
    result: Vpc,
    path: str | os.PathLike[str],
    *,
    observations: pd.DataFrame | None = None,
    units: Mapping[str, str] | None = None,
    time_unit: str = "day",
) -> Path:
    """Draw a (pc)VPC: percentiles with simulated intervals, and the BLQ fraction panel.

    Parameters
    ----------
    result : Vpc
        Output of :func:`cartpk.diagnostics.vpc`.
    path : path
        PNG file to write.
    observations : pandas.DataFrame, optional
        ``TIME, DV, CENS, DVID`` to overlay the data (not prediction-corrected).
    units : mapping, optional
        Unit of each endpoint (``DVID`` -> unit, e.g. ``model.outputs``) for the axes.
    time_unit : str, default "day"
        Unit of ``TIME``.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    plt = _plt()
    dvids = list(dict.fromkeys(result.percentiles["DVID"]))
    fig, axes = plt.subplots(
        2,
        len(dvids),
        figsize=(6.5 * len(dvids), 7.5),
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1.3]},
        sharex="col",
    )
    colours = {0.1: "tab:green", 0.5: "tab:red", 0.9: "tab:blue"}
    for j, dv in enumerate(dvids):
        ax, axb = axes[0, j], axes[1, j]
        pt = result.percentiles.loc[result.percentiles["DVID"] == dv]
        if observations is not None and not result.prediction_corrected:
            o = observations.loc[observations["DVID"] == dv]
            q = o["CENS"].to_numpy() == 0
            ax.scatter(o["TIME"][q], o["DV"][q], s=8, color="0.55", alpha=0.6, label="observed")
            ax.scatter(
                o["TIME"][~q],
                o["DV"][~q],
                s=14,
                facecolors="none",
                edgecolors="0.4",
                alpha=0.7,
                label="censored (at limit)",
            )
        for qv, g in pt.groupby("quantile"):
            c = colours.get(round(float(qv), 3), "tab:gray")
            ax.fill_between(
                g["time"],
                g["sim_lower"],
                g["sim_upper"],
                color=c,
                alpha=0.2,
                lw=0,
                label=f"simulated {qv:.0%} percentile ({'pc' if result.prediction_corrected else ''}PI)",
            )
            ax.plot(
                g["time"],
                g["observed"],
                color=c,
                lw=2,
                marker="o",
                ms=4,
                label=f"observed {qv:.0%} percentile",
            )
        lim = result.limits.get(dv, np.nan)
        if np.isfinite(lim):
            ax.axhline(lim, color="k", ls=":", lw=1, label="LLOQ (median)")
        ax.set_yscale("log")
        ax.set_title(f"{'pcVPC' if result.prediction_corrected else 'VPC'}: {dv}")
        ax.set_ylabel(
            _dv_label(
                f"prediction-corrected {dv}" if result.prediction_corrected else str(dv),
                [dv],
                units,
            )
        )
        ax.legend(fontsize=7, loc="best")
        b = result.blq.loc[result.blq["DVID"] == dv]
        axb.fill_between(
            b["time"],
            b["sim_lower"],
            b["sim_upper"],
            color="tab:purple",
            alpha=0.25,
            lw=0,
            label="simulated",
        )
        axb.plot(b["time"], b["observed"], color="tab:purple", marker="o", lw=2, label="observed")
        axb.set_ylim(-0.02, 1.02)
        axb.set_ylabel("fraction BLQ (0-1)")
        axb.set_xlabel(f"time ({time_unit})")
        axb.legend(fontsize=7)
    return _save(fig, path)


def plot_gof(
    table: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    units: Mapping[str, str] | None = None,
    time_unit: str = "day",
) -> Path:
    """Goodness-of-fit panels: DV vs PRED, DV vs IPRED, NPD vs time, NPD vs PRED.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`cartpk.diagnostics.predictions`.
    path : path
        PNG file to write.
    units, time_unit
        As for :func:`plot_vpc`.

    Returns
    -------
    pathlib.Path
    """
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(10, 9))
    q = table["CENS"].to_numpy() == 0
    dvids = list(dict.fromkeys(table["DVID"])) if "DVID" in table.columns else []
    names = {
        "PRED": _dv_label("PRED, population prediction", dvids, units),
        "IPRED": _dv_label("IPRED, individual prediction", dvids, units),
        "DV": _dv_label("DV, observed", dvids, units),
        "TIME": f"time ({time_unit})",
    }
    for ax, col in ((axes[0, 0], "PRED"), (axes[0, 1], "IPRED")):
        ax.scatter(table[col][q], table["DV"][q], s=8, alpha=0.6, label="observed")
        ax.scatter(
            table[col][~q],
            table["DV"][~q],
            s=14,
            facecolors="none",
            edgecolors="0.4",
            label="censored (at limit)",
        )
        vals = np.concatenate([table[col].to_numpy(dtype=float), table["DV"].to_numpy(dtype=float)])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        if vals.size:
            lo, hi = vals.min() / 2, vals.max() * 2
            ax.plot([lo, hi], [lo, hi], "k-", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(names[col])
        ax.set_ylabel(names["DV"])
        ax.legend(fontsize=7)
    for ax, col in ((axes[1, 0], "TIME"), (axes[1, 1], "PRED")):
        ax.scatter(table[col][q], table["NPD"][q], s=8, alpha=0.6)
        ax.scatter(table[col][~q], table["NPD"][~q], s=14, facecolors="none", edgecolors="0.4")
        for y in (-1.96, 0, 1.96):
            ax.axhline(y, color="k", ls="-" if y == 0 else ":", lw=1)
        if col == "PRED":
            ax.set_xscale("log")
        ax.set_xlabel(names[col])
        ax.set_ylabel("NPD (posterior predictive, dimensionless)")
    return _save(fig, path)


def plot_individual(
    fit: PredictiveDraws,
    path: str | os.PathLike[str],
    *,
    ids: Sequence[str] | None = None,
    max_subjects: int = 24,
    n: int = 200,
    ci: float = 0.9,
) -> Path:
    """Individual fits: data, posterior median prediction and its credible band per subject.

    Parameters
    ----------
    fit : PopulationFit or SaemFit
    path : path
        PNG file to write.
    ids : sequence of str, optional
        Subjects to draw (default the first ``max_subjects``).
    max_subjects : int, default 24
    n : int, default 200
        Posterior draws for the bands.
    ci : float, default 0.9
        Probability of the band.

    Returns
    -------
    pathlib.Path
    """
    plt = _plt()
    subjects = fit.subjects
    chosen = list(ids) if ids is not None else subjects[:max_subjects]
    index = {s: i for i, s in enumerate(subjects)}
    obs = fit.observations
    tmax = float(obs["TIME"].max())
    grid = np.linspace(0.0, tmax * 1.05, 200)
    grid[0] = min(0.5, tmax / 100)
    pred = fit.predict(grid, n=n)
    ncol = min(6, len(chosen)) or 1
    nrow = int(np.ceil(len(chosen) / ncol)) or 1
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(2.6 * ncol, 2.3 * nrow), squeeze=False, sharex=True
    )
    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    limits = obs["LLOQ"].to_numpy(dtype=float)
    limits = limits[np.isfinite(limits) & (limits > 0)]
    floor = limits.min() / 20 if limits.size else np.nan
    for k, sid in enumerate(chosen):
        ax = axes[k // ncol, k % ncol]
        i = index[str(sid)]
        for dv, arr in pred.items():
            band = arr[:, i, :]
            ax.fill_between(
                grid,
                np.quantile(band, lo_q, axis=0),
                np.quantile(band, hi_q, axis=0),
                alpha=0.25,
                lw=0,
            )
            ax.plot(grid, np.median(band, axis=0), lw=1.2)
            o = obs.loc[(obs["ID"] == str(sid)) & (obs["DVID"] == dv)]
            q = o["CENS"].to_numpy() == 0
            ax.scatter(o["TIME"][q], o["DV"][q], s=10, color="k", zorder=3)
            ax.scatter(
                o["TIME"][~q], o["DV"][~q], s=14, facecolors="none", edgecolors="k", zorder=3
            )
        ax.set_yscale("log")
        if np.isfinite(floor):  # keep the band's far tail from flattening the data
            ax.set_ylim(bottom=floor)
        ax.set_title(f"ID {sid}", fontsize=8)
        ax.tick_params(labelsize=7)
    for k in range(len(chosen), nrow * ncol):
        axes[k // ncol, k % ncol].set_visible(False)
    fig.supxlabel(f"time ({fit.model.time_unit})")
    dvs = [str(d) for d in pred]
    fig.supylabel(_dv_label(", ".join(dvs), dvs, fit.model.outputs) + " — open: censored, at limit")
    if len(chosen) < len(subjects):
        fig.suptitle(
            f"{len(chosen)} of {len(subjects)} subjects shown (ID {chosen[0]} to {chosen[-1]})",
            fontsize=9,
        )
    return _save(fig, path)
