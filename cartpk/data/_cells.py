"""Text cells of a long table: missing values, numbers, and the violation collector.

Shared by the checks of :mod:`cartpk.data` (``_read``, ``_records``, ``_covariates``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from cartpk.errors import Violation

__all__ = ["MISSING", "Collector", "fmt_value", "is_missing", "to_num"]

#: cell texts read as "no value" (case-insensitive)
MISSING = {"", ".", "NA", "NAN", "NULL", "NONE"}


def is_missing(s: pd.Series) -> pd.Series:
    return s.str.strip().str.upper().isin(MISSING)


def to_num(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numeric values and a mask of entries that are present but not numbers."""
    missing = is_missing(s)
    num = pd.to_numeric(s.where(~missing).str.strip(), errors="coerce")
    bad = num.isna() & ~missing
    return num.astype(float), bad


def fmt_value(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return f"{v:.1f}"
    return repr(v) if isinstance(v, str) else str(v)


class Collector:
    """Collects violations grouped by (code, subject)."""

    def __init__(self) -> None:
        self.items: list[Violation] = []

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
        if not bool(mask.any()):
            return
        sub = frame.loc[mask]
        cols = list(show) if show is not None else ([column] if column else [])
        for sid, grp in sub.groupby("ID", sort=False):
            vals = []
            for _, r in grp.head(5).iterrows():
                vals.append(", ".join(f"{c}={fmt_value(r[c])}" for c in cols if c in grp.columns))
            value = "; ".join(v for v in vals if v)
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

    def add(self, v: Violation) -> None:
        self.items.append(v)
