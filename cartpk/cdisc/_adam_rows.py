"""The rows an ADaM conversion collects before it writes ``trial.csv``.

Each reader of a dataset (doses, ADPC, ADLB, ADAE) adds candidate rows of the long table,
each tied to the source record it came from and a sentence saying what was done, records it
does not use with the reason, and the problems it found. :mod:`cartpk.cdisc._adam` then
keeps the subjects that have a dose and an observation, numbers the rows and writes the
conversion record, so every source record is logged exactly once, after every decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cartpk.cdisc._files import Domain
from cartpk.cdisc._sdtm_find import ROW_COLUMNS
from cartpk.errors import CartpkWarning, Violation

__all__ = ["ROW_COLUMNS", "Pending", "clip", "each", "fmt", "text_column"]


def text_column(frame: pd.DataFrame, *names: str) -> pd.Series:
    """The first of ``names`` that is a column, as stripped text (``""`` where blank).

    Examples
    --------
    >>> text_column(pd.DataFrame({"PCSTRESC": ["<BLQ", None]}), "AVALC", "PCSTRESC").tolist()
    ['<BLQ', '']
    """
    for n in names:
        if n in frame.columns:
            s = frame[n]
            cells = s.astype(object).where(s.notna(), "").to_numpy()
            return pd.Series([str(v).strip() for v in cells], index=frame.index, dtype=object)
    return pd.Series("", index=frame.index, dtype=object)


def clip(values: Iterable[object], k: int = 4) -> str:
    """The first ``k`` distinct values as text, with a count of the rest.

    Examples
    --------
    >>> clip(["a", "b", "a", "c", "d", "e"], 3)
    'a, b, c (+2 more)'
    """
    seen = list(dict.fromkeys(str(v) for v in values))
    more = f" (+{len(seen) - k} more)" if len(seen) > k else ""
    return ", ".join(seen[:k]) + more


@dataclass
class Pending:
    """Candidate trial rows, records not used, problems and warnings of one conversion."""

    rows: list[pd.DataFrame] = field(default_factory=list)
    skipped: list[tuple[Domain, list[int], list[str]]] = field(default_factory=list)
    problems: list[Violation] = field(default_factory=list)
    warnings: list[CartpkWarning] = field(default_factory=list)
    #: why an ADSL record gave no dose (ADSL as dose source; logged with the covariates)
    notes: dict[int, str] = field(default_factory=dict)

    def add_rows(self, domain: Domain, rows: pd.DataFrame) -> None:
        """Candidate rows of ``domain`` (:data:`ROW_COLUMNS` of the SDTM converter, whose
        ``assemble_trial`` and ``unit_problems`` they go through): ``_POS`` is the 0-based
        record, ``_REASON`` what was done; ``_DOMAIN`` and ``_ROW`` are filled in here."""
        out = rows.copy()
        out["_DOMAIN"] = domain.name
        out["_ROW"] = out["_POS"].astype(int) + 1
        for c in ("UNIT", "MAP_UNIT", "SOURCE"):
            if c not in out.columns:
                out[c] = ""
        self.rows.append(out[list(ROW_COLUMNS)])

    def skip(self, domain: Domain, positions: Iterable[int], reason: str | Sequence[str]) -> None:
        """Records of ``domain`` not used, with one reason or one reason each."""
        pos = [int(p) for p in positions]
        if not pos:
            return
        why = [reason] * len(pos) if isinstance(reason, str) else [str(r) for r in reason]
        if len(why) != len(pos):
            raise ValueError("one reason per record")
        self.skipped.append((domain, pos, why))

    def problem(
        self,
        code: str,
        domain: Domain,
        positions: Iterable[int],
        message: str,
        *,
        column: str | None = None,
        value: str | None = None,
        expected: str = "",
        fix: str = "",
        subject: object = None,
    ) -> None:
        """One violation naming the records (1-based rows of ``domain``'s file)."""
        rows = tuple(sorted({int(p) + 1 for p in positions}))
        self.problems.append(
            Violation(
                code,
                f"{domain.name} (`{domain.path.name}`): {message}",
                id=subject,
                rows=rows,
                column=column,
                value=value,
                expected=expected,
                fix=fix,
            )
        )

    def candidates(self) -> pd.DataFrame:
        """Every candidate row so far (no rows, the right columns, if none)."""
        frames = [r for r in self.rows if len(r)]
        if not frames:
            return pd.DataFrame(columns=list(ROW_COLUMNS))
        return pd.concat(frames, ignore_index=True)


def fmt(x: float) -> str:
    """A number for a reason text: up to 6 significant digits.

    Examples
    --------
    >>> fmt(1.5), fmt(0.0208333333), fmt(float("nan"))
    ('1.5', '0.0208333', 'nan')
    """
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "nan"
    return f"{float(x):.6g}"


def each(values: pd.Series, func: Callable[[Any], str] | None = None) -> pd.Series:
    """``func`` (default :func:`fmt`) of every value, as text (object dtype, also when empty).

    Examples
    --------
    >>> each(pd.Series([1.5, 2.0])).tolist(), each(pd.Series([], dtype=float)).dtype
    (['1.5', '2'], dtype('O'))
    """
    f = fmt if func is None else func
    return pd.Series([f(v) for v in values.to_numpy()], index=values.index, dtype=object)
