"""The record of a conversion: what became of every source record (``conversion.csv``).

Every record of every dataset read gets exactly one row: the domain, its ``--SEQ`` (blank
where the domain has none), its 1-based record number in the file, the subject, whether it
was used, the table and row it became (``trial.csv``, ``lesions.csv``; blank for records
that became covariates or were not used) and the reason or what was done. Nothing is dropped
without a row saying why.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from cartpk.cdisc._files import Domain

__all__ = ["COLUMNS", "ConversionLog"]

COLUMNS = ("DOMAIN", "SEQ", "SOURCE_ROW", "USUBJID", "USED", "TABLE", "TABLE_ROW", "REASON")


def _seq_column(domain: Domain) -> str | None:
    """``--SEQ`` (``PCSEQ``, ``AESEQ``) or ADaM's ``ASEQ``, if the dataset has one."""
    for c in (f"{domain.name[:2]}SEQ", "ASEQ"):
        if c in domain.frame.columns:
            return c
    seqs = [c for c in domain.frame.columns if c.endswith("SEQ") and len(c) == 5]
    return seqs[0] if len(seqs) == 1 else None


class ConversionLog:
    """Collects one row per source record; :meth:`frame` is ``conversion.csv``."""

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._seen: set[tuple[str, int]] = set()

    def add(
        self,
        domain: Domain,
        positions: Iterable[int] | int,
        *,
        used: bool,
        reason: str,
        table: str = "",
        table_rows: Iterable[int | None] | None = None,
    ) -> None:
        """Record what became of the records at 0-based ``positions`` of ``domain``.

        ``table_rows`` (one per position, ``None`` for none) are filled in by the caller
        that writes ``table``; ``reason`` says why a record was not used, or what was done
        with it (``"BLQ text '<BLQ' -> CENS=1 at PCLLOQ"``).
        """
        pos = [int(positions)] if isinstance(positions, int | np.integer) else list(positions)
        rows = [None] * len(pos) if table_rows is None else list(table_rows)
        seq_col = _seq_column(domain)
        f = domain.frame
        seqs = f[seq_col] if seq_col else None  # looked up once, not once per record
        subjects = f["USUBJID"] if "USUBJID" in f.columns else None
        for p, r in zip(pos, rows, strict=True):
            key = (domain.name, p)
            if key in self._seen:
                raise AssertionError(f"record {p + 1} of {domain.name} logged twice")
            self._seen.add(key)
            seq = seqs.iat[p] if seqs is not None else None
            subject = subjects.iat[p] if subjects is not None else None
            self._rows.append(
                {
                    "DOMAIN": domain.name,
                    "SEQ": "" if seq is None or pd.isna(seq) else _text(seq),
                    "SOURCE_ROW": p + 1,
                    "USUBJID": "" if subject is None or pd.isna(subject) else str(subject),
                    "USED": "Y" if used else "N",
                    "TABLE": table if used else "",
                    "TABLE_ROW": "" if r is None else int(r),
                    "REASON": reason,
                }
            )

    def missing(self, domains: Iterable[Domain]) -> list[str]:
        """``DOMAIN:record`` of every record of ``domains`` with no row yet (should be none)."""
        return [
            f"{d.name}:{p + 1}"
            for d in domains
            for p in range(len(d.frame))
            if (d.name, p) not in self._seen
        ]

    def frame(self) -> pd.DataFrame:
        """``conversion.csv``: one row per source record, in domain and file order."""
        out = pd.DataFrame(self._rows, columns=list(COLUMNS))
        return out.sort_values(["DOMAIN", "SOURCE_ROW"], kind="stable").reset_index(drop=True)


def _text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)
