"""Figures of per-subject fits (matplotlib, imported here only, Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.data._endpoints import display_unit

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.fit.individual import IndividualFit

__all__ = ["plot_fits", "plot_residuals"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curves(fit: IndividualFit, i: int, grid: np.ndarray) -> dict[str, np.ndarray]:
    """IPRED on a dense grid from the subject's estimates, per model output."""
    f = fit.fits[i]
    s = fit.subjects[i]
    params = {n: np.array([[f.estimate[n]]]) for n in fit.model.thetas}
    if not all(np.isfinite(v).all() for v in params.values()):
        return {}
    with np.errstate(all="ignore"):
        out = fit.model.evaluate(np, grid[None, :], params, dose=s.dose)
    return {k: np.broadcast_to(v, (1, grid.size))[0] for k, v in out.items()}


def _output_label(fit: IndividualFit, what: str = "") -> str:
    """Axis label of the model outputs with their display units: ``QPCR (copies/µg)``."""
    outputs = {str(k): display_unit(v) for k, v in fit.model.outputs.items()}
    units = set(outputs.values())
    if what and len(units) == 1:
        return f"{what} ({next(iter(units))})" if next(iter(units)) else what
    parts = ", ".join(f"{k} ({u})" if u else k for k, u in outputs.items())
    return f"{what}: {parts}" if what else parts


def plot_fits(fit: IndividualFit, path: str | Path, *, ncols: int = 4) -> Path:
    """One panel per subject: quantified observations (filled circles), censored records
    at their limit (open triangles: down for below, up for above), IPRED (line) on a
    dense grid and PRED at the observation times (dashed). Log y-axis for log-scale error.

    Returns the path written.
    """
    plt = _pyplot()
    n = len(fit.fits)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False, sharex=True
    )
    log_scale = all(e.scale == "log" for e in fit.model.error.values())
    tmax = max((float(s.time.max()) for s in fit.subjects if s.n_obs), default=1.0)
    grid = np.linspace(0.0, tmax, 400)[1:]
    for i, (s, f) in enumerate(zip(fit.subjects, fit.fits, strict=True)):
        ax = axes[i // ncols][i % ncols]
        q = s.cens == 0
        ax.plot(s.time[q], s.dv[q], "o", color="k", ms=4, label="observed")
        for c, marker in ((1, "v"), (-1, "^")):
            m = s.cens == c
            if m.any():
                ax.plot(
                    s.time[m],
                    s.dv[m],
                    marker,
                    mfc="none",
                    mec="tab:red",
                    ms=6,
                    label="censored (at limit)",
                )
        for name, y in _curves(fit, i, grid).items():
            ax.plot(grid, y, "-", color="tab:blue", lw=1.2, label=f"IPRED {name}")
        if s.n_obs:
            order = np.argsort(s.time)
            ax.plot(s.time[order], f.pred[order], "--", color="0.5", lw=1, label="PRED")
        if log_scale:
            ax.set_yscale("log")
            pos = s.dv[s.dv > 0]
            if pos.size:  # keep the data in view: curves may dive decades below the LLOQ
                ax.set_ylim(bottom=float(pos.min()) / 20.0, top=float(pos.max()) * 20.0)
        flag = "" if f.converged else f" [{f.status.name}]"
        ax.set_title(f"ID {s.id}{flag}", fontsize=9)
    for j in range(n, nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    uniq: dict[str, Any] = {}
    for ax in axes.ravel():  # censored markers may appear in any panel
        for hnd, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            uniq.setdefault(lab, hnd)
    fig.legend(uniq.values(), uniq.keys(), loc="upper right", ncol=len(uniq), fontsize=8)
    fig.supxlabel(f"time ({fit.model.time_unit})")
    fig.supylabel(_output_label(fit))
    fig.suptitle(
        f"{fit.model.name}: individual fits (blq={fit.blq}, prior={fit.prior})", x=0.02, ha="left"
    )
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 0.93))
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_residuals(fit: IndividualFit, path: str | Path) -> Path:
    """IWRES against time and against IPRED; censored records show their simulated
    residual (``IWRES_SIM``) as open triangles. Returns the path written."""
    plt = _pyplot()
    pr = fit.predictions
    q = pr["CENS"] == 0
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, x, lab in (
        (axes[0], "TIME", f"time ({fit.model.time_unit})"),
        (axes[1], "IPRED", _output_label(fit, "IPRED, individual prediction")),
    ):
        ax.plot(pr.loc[q, x], pr.loc[q, "IWRES"], "o", color="k", ms=3, label="IWRES")
        ax.plot(
            pr.loc[~q, x],
            pr.loc[~q, "IWRES_SIM"],
            "v",
            mfc="none",
            mec="tab:red",
            ms=5,
            label="censored (simulated)",
        )
        for y in (-1.96, 0.0, 1.96):
            ax.axhline(y, color="0.6", lw=0.8, ls="-" if y == 0 else ":")
        ax.set_xlabel(lab)
    if all(e.scale == "log" for e in fit.model.error.values()):
        axes[1].set_xscale("log")
    axes[0].set_ylabel("IWRES")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"{fit.model.name}: individual weighted residuals (blq={fit.blq})")
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 0.95))
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
