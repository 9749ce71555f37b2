"""Shared pieces of the report sections: the section object, reading, small formatters."""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cartpk.report._collect import Run
from cartpk.report._html import (
    banner,
    esc,
    figure,
    fmt,
)


@dataclass
class _Section:
    """One numbered section of the report: its body and its entries in the contents."""

    key: str
    title: str
    body: list[str] = field(default_factory=list)
    sub: list[tuple[str, str]] = field(default_factory=list)  # (anchor, title) for the TOC

    def add(self, html_: str) -> None:
        self.body.append(html_)

    def heading(self, title: str, run: Run, anchor: str) -> None:
        self.sub.append((anchor, f"{title} ({run.name})"))
        self.add(
            f'<h3 id="{esc(anchor)}">{esc(title)}<span class="run">{esc(run.name)}</span></h3>'
        )
        if not run.ok:
            self.add(_status_banner(run))


def _status_banner(run: Run) -> str:
    return banner(
        f"Run {run.name} finished with status “{run.status}”, not “ok”: "
        "its results below may be incomplete or fail the analysis checks.",
        "fail" if run.status in {"failed", "error", "missing"} else "warn",
    )


def _read(path: Path) -> Any:
    import pandas as pd

    cols = pd.read_csv(path, nrows=0).columns
    dtype = {c: str for c in ("ID", "USUBJID", "SUBJID") if c in cols}
    return pd.read_csv(path, dtype=dtype)


def _anchor(*parts: object) -> str:
    text = "-".join(str(p) for p in parts)
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower()


def _caption(run: Run, path: Path) -> str:
    return f"{run.name}/{run.rel(path)}"


def _figures(run: Run, paths: Sequence[Path], *, stack: bool = False) -> str:
    """Figures of a run: one (or ``stack``) at full width, several in a grid."""
    if not paths:
        return ""
    if stack:
        return "".join(figure(p, _caption(run, p), wide=True) for p in paths)
    if len(paths) == 1:
        return figure(paths[0], _caption(run, paths[0]), wide=True)
    return '<div class="figs">' + "".join(figure(p, _caption(run, p)) for p in paths) + "</div>"


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{esc(summary)}</summary>{body}</details>"


def _geo_stats(values: Any) -> dict[str, float]:
    """n, geometric mean, geometric CV %, median, min, max of the non-missing values."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    out = {
        "n": float(len(x)),
        "geo_mean": math.nan,
        "geo_cv_pct": math.nan,
        "median": math.nan,
        "min": math.nan,
        "max": math.nan,
    }
    if len(x) == 0:
        return out
    out.update(median=float(np.median(x)), min=float(x.min()), max=float(x.max()))
    if np.all(x > 0):
        lx = np.log(x)
        out["geo_mean"] = float(np.exp(lx.mean()))
        if len(x) > 1:
            out["geo_cv_pct"] = float(100 * math.sqrt(math.expm1(float(lx.std(ddof=1)) ** 2)))
    return out


def _range(lo: object, hi: object) -> str:
    return f"{fmt(lo)} – {fmt(hi)}"


def _when(stamp: object) -> str:
    """An ISO 8601 time as ``YYYY-MM-DD HH:MM:SS UTC`` (as given when not parseable)."""
    if not stamp:
        return "—"
    try:
        t = _dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    if t.tzinfo is not None:
        t = t.astimezone(_dt.UTC)
        return t.strftime("%Y-%m-%d %H:%M:%S UTC")
    return t.strftime("%Y-%m-%d %H:%M:%S")


_STANDARD_KEYS = {
    "cartpk_run",
    "command",
    "spec",
    "seed",
    "inputs",
    "versions",
    "platform",
    "started",
    "finished",
    "status",
    "files",
    "warnings",
    "folder",
}


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        out: list[tuple[str, Any]] = []
        for k, v in obj.items():
            out += _flatten(v, f"{prefix}{k}.")
        return out
    return [(prefix[:-1], obj)]


def _lookup(items: list[tuple[str, Any]], *names: str) -> Any:
    for name in names:
        for key, value in items:
            if key.split(".")[-1].lower() == name and value not in (None, "", [], {}):
                return value
    return None


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    return fmt(value) if not isinstance(value, str) else value


_TRUE = ["true", "1", "yes", "1.0"]


def _units(path: Path) -> dict[str, str]:
    """Column -> unit of a table, from the ``columns.csv`` of its folder (ASCII spelling;
    ``{}`` when the folder has none). Per-row units (``[unit]``) are kept as written."""
    import csv

    from cartpk.units import DICTIONARY_FILE

    dictionary = path.parent / DICTIONARY_FILE
    if not dictionary.is_file():
        return {}
    out: dict[str, str] = {}
    try:
        with open(dictionary, encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("file") == path.name and row.get("column"):
                    out[str(row["column"])] = str(row.get("unit") or "")
    except (OSError, csv.Error, UnicodeDecodeError):
        return {}
    return out


def _table(run: Run, path: Path, frame: Any = None, **kwargs: Any) -> str:
    """A run's CSV table as HTML, each column's unit (from ``columns.csv``) in its header."""
    from cartpk.report._html import frame_table

    return frame_table(_read(path) if frame is None else frame, units=_units(path), **kwargs)
