"""Waterfall and spider plots of RECIST 1.1 results (matplotlib, imported lazily)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from cartpk.response._recist import PD_PCHG, PR_PCHG, RecistResult

__all__ = ["spider", "waterfall"]

# one colour per best overall response (colour-blind-safe Okabe-Ito palette)
_COLOURS = {
    "CR": "#009E73",
    "PR": "#56B4E9",
    "SD": "#E69F00",
    "NON-CR/NON-PD": "#F0E442",
    "PD": "#D55E00",
    "NE": "#999999",
}


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bor_column(confirmed: bool) -> str:
    return "BOR_CONFIRMED" if confirmed else "BOR_UNCONFIRMED"


@contextmanager
def _figure(
    path: str | os.PathLike[str], figsize: tuple[float, float]
) -> Iterator[tuple[Any, Any, Any]]:
    """``(pyplot, figure, axes)`` of one plot; saved to ``path`` when the block ends, then
    closed (also when it raises)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=figsize)
    try:
        yield plt, fig, ax
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)


def _thresholds(ax: Any) -> None:
    """The PD (+20 %) and PR (-30 %) thresholds as dashed lines, and the zero line."""
    ax.axhline(PD_PCHG, ls="--", lw=0.8, color="#D55E00")
    ax.axhline(PR_PCHG, ls="--", lw=0.8, color="#56B4E9")
    ax.axhline(0, lw=0.6, color="black")


def _bor_legend(ax: Any, shown: Iterable[Any], handle: Callable[[str], Any], loc: str) -> None:
    """A legend of the best overall responses in ``shown``, in the order of the palette;
    ``handle(colour)`` draws a key."""
    present = [k for k in _COLOURS if k in set(shown)]
    if present:
        ax.legend([handle(_COLOURS[k]) for k in present], present, title="BOR", fontsize=7, loc=loc)


def waterfall(
    result: RecistResult,
    path: str | os.PathLike[str],
    *,
    bor: Literal["confirmed", "unconfirmed"] = "confirmed",
) -> Path:
    """Waterfall plot: best % change of the SOD from baseline per subject.

    Parameters
    ----------
    result : RecistResult
        Output of :func:`cartpk.recist`.
    path : path
        Image file to write (format from the suffix, e.g. ``.png``).
    bor : {"confirmed", "unconfirmed"}, default "confirmed"
        Which best overall response colours the bars.

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    The bar is ``BEST_PCHG_BASE`` of :attr:`RecistResult.bor`: the smallest ``PCHG_BASE``
    of the complete assessments up to the first PD. Subjects without one (no target
    lesions, no complete follow-up SOD) get no bar and are listed under the axis.
    Dashed lines mark +20 % and -30 %.
    """
    col = _bor_column(bor == "confirmed")
    b = result.bor
    has = b[b["BEST_PCHG_BASE"].notna()].sort_values("BEST_PCHG_BASE", ascending=False)
    none = b.loc[b["BEST_PCHG_BASE"].isna(), "ID"].tolist()
    with _figure(path, (max(6.0, 0.25 * len(has) + 2), 4.5)) as (plt, fig, ax):
        x = range(len(has))
        ax.bar(
            x,
            has["BEST_PCHG_BASE"],
            color=[_COLOURS.get(str(r), "#999999") for r in has[col]],
            edgecolor="black",
            linewidth=0.4,
        )
        ax.set_xticks(list(x), has["ID"].tolist(), rotation=90, fontsize=7)
        _thresholds(ax)
        ax.set_ylabel("best change of SOD from baseline (%)")
        ax.set_xlabel("subject")
        title = f"RECIST 1.1 waterfall ({bor} BOR)"
        ax.set_title(title)
        _bor_legend(ax, has[col], lambda c: plt.Rectangle((0, 0), 1, 1, color=c), "lower left")
        if none:
            shown = ", ".join(map(str, none[:15])) + (" ..." if len(none) > 15 else "")
            fig.text(0.01, 0.01, f"no evaluable SOD change: {shown}", fontsize=7)
    return Path(path)


def spider(
    result: RecistResult,
    path: str | os.PathLike[str],
    *,
    bor: Literal["confirmed", "unconfirmed"] = "confirmed",
) -> Path:
    """Spider plot: % change of the SOD from baseline over time, one line per subject.

    Parameters
    ----------
    result, path
        As for :func:`waterfall`.
    bor : {"confirmed", "unconfirmed"}, default "confirmed"
        Which best overall response colours the lines.

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    Each line joins the complete assessments (``PCHG_BASE`` not missing) from baseline (0 %
    at its day); assessments with a target not evaluated have no SOD and are skipped.
    Overall PD time points are marked with a cross.
    """
    col = _bor_column(bor == "confirmed")
    tp = result.timepoints
    colour = dict(zip(result.bor["ID"], result.bor[col], strict=True))
    with _figure(path, (7.0, 4.5)) as (plt, _, ax):
        for sid, g in tp[tp["PCHG_BASE"].notna()].groupby("ID", sort=False):
            c = _COLOURS.get(str(colour.get(sid)), "#999999")
            ax.plot(g["DAY"], g["PCHG_BASE"], color=c, lw=1.0, marker="o", ms=2.5)
            pd_pts = g[g["OVRLRESP"] == "PD"]
            ax.plot(pd_pts["DAY"], pd_pts["PCHG_BASE"], ls="none", marker="x", color="black")
        _thresholds(ax)
        ax.set_xlabel("day since infusion")
        ax.set_ylabel("change of SOD from baseline (%)")
        ax.set_title(f"RECIST 1.1 spider plot ({bor} BOR; x = overall PD)")
        _bor_legend(ax, result.bor[col], lambda c: plt.Line2D([0], [0], color=c), "upper right")
    return Path(path)
