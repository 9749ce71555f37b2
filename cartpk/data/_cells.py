"""Text cells of a long table: missing values, numbers, and the violation collector.

Shared by the checks of :mod:`cartpk.data` (``_read``, ``_records``, ``_covariates``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from cartpk.errors import Violation

__all__ = ["MISSING", "Collector", "fmt_value", "is_missing", "non_finite", "to_num"]

#: cell texts read as "no value" (case-insensitive); ``nan`` text is not one of them: it is a
#: non-finite number (a violation), as are ``inf``, ``Infinity`` and overflows like ``1e400``
MISSING = {"", ".", "NA", "NULL", "NONE"}


def is_missing(s: pd.Series) -> pd.Series:
    """Cells that hold no value (``""``, ``.``, ``NA``, ``NULL``, ``NONE``)."""
    return s.str.strip().str.upper().isin(MISSING)


def non_finite(s: pd.Series) -> pd.Series:
    """Cells that are numbers but not finite: ``inf``, ``-Infinity``, ``nan``, ``1e400``."""
    out = pd.Series(False, index=s.index)
    maybe = s.str.contains(r"(?i)inf|nan|e\+?[0-9]{3}", regex=True, na=False)
    if not bool(maybe.any()):  # the common case: no candidate, no parsing
        return out
    text = s[maybe].str.strip()
    num = pd.to_numeric(text, errors="coerce").astype(float)
    nan_text = text.str.upper().str.lstrip("+-").isin({"NAN", "INF", "INFINITY"})
    out[maybe] = np.isinf(num.to_numpy()) | nan_text.to_numpy()
    return out


def to_num(s: pd.Series, *, allow_inf: bool = False) -> tuple[pd.Series, pd.Series]:
    """Numeric values and a mask of entries that are present but not finite numbers.

    With ``allow_inf``, ``inf``/``-inf`` (and overflows) are numbers too (``nan`` is not).
    """
    missing = is_missing(s)
    num = pd.to_numeric(s.where(~missing).str.strip(), errors="coerce").astype(float)
    if not allow_inf:
        num = num.where(np.isfinite(num.to_numpy()))
    bad = num.isna() & ~missing
    return num, bad


def fmt_value(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return f"{v:.1f}"
    return repr(v) if isinstance(v, str) else str(v)


class Collector:
    """Collects violations grouped by (code, subject)."""

    def __init__(self) -> None:
        self.items: list[Violation] = []
        self.muted: dict[str, pd.Series | None] = {}

    def mute(self, column: str, mask: pd.Series | None = None) -> None:
        """Report nothing more on ``column`` (in the rows of ``mask``, or all rows)."""
        if mask is None or self.muted.get(column, False) is None:
            self.muted[column] = None
            return
        old = self.muted.get(column)
        self.muted[column] = mask if old is None else (old | mask)

    def add_rows(
        self,
        code: str,
        message: str,
        frame: pd.DataFrame,
        mask: pd.Series,
        *,
        column: str | None,
        show: Iterable[str] | None = None,
        expected: str = "",
        fix: str = "",
    ) -> None:
        """One violation per subject for the rows selected by ``mask``."""
        if column is not None and column in self.muted:
            muted = self.muted[column]
            if muted is None:
                return
            mask = mask & ~muted
        if not bool(mask.any()):
            return
        sub = frame.loc[mask]
        cols = list(show) if show is not None else ([column] if column else [])
        cols = [c for c in cols if c in sub.columns]
        text = pd.Series("", index=sub.index, dtype=object)
        for k, c in enumerate(cols):
            text = text + ("" if k == 0 else ", ") + f"{c}=" + sub[c].map(fmt_value)
        for sid, grp in sub.groupby("ID", sort=False):
            value = "; ".join(v for v in text[grp.index[:5]] if v)
            if len(grp) > 5:
                value += f"; ... ({len(grp)} rows)"
            self.items.append(
                Violation(
                    code=code,
                    message=message,
                    id=None if sid == "" else sid,
                    rows=tuple(int(x) for x in grp["ROW"]),
                    column=column,
                    value=value or None,
                    expected=expected,
                    fix=fix,
                )
            )

    def add_group(
        self,
        code: str,
        message: str,
        rows: pd.DataFrame,
        *,
        column: str | None = None,
        value: str | None = None,
        expected: str = "",
        fix: str = "",
    ) -> None:
        """One violation for ``rows``, records of one subject (``ID``, ``ROW``); never muted.

        The counterpart of :meth:`add_rows` for a problem of several records together
        (repeated ones, a subject's changing value), with a ``value`` that shows them.
        """
        self.items.append(
            Violation(
                code,
                message,
                id=rows["ID"].iat[0],
                rows=tuple(int(r) for r in rows["ROW"]),
                column=column,
                value=value,
                expected=expected,
                fix=fix,
            )
        )

    def add(self, v: Violation) -> None:
        self.items.append(v)
