"""Checks the CDISC conversion tests share: rows of ``conversion.csv``, the rows of
``trial.csv`` as tuples, and the violations a converter raises."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from cartpk.errors import DatasetError, Violation

__all__ = ["log_row", "raised", "trial_rows"]


def log_row(log: pd.DataFrame, domain: str, **where: object) -> pd.Series:
    """The one row of ``conversion.csv`` (``log``) of ``domain`` whose columns hold the
    values of ``where`` (e.g. ``SOURCE_ROW=3``, or ``SEQ="2", USUBJID="S1"``)."""
    hit = log["DOMAIN"] == domain
    for column, value in where.items():
        hit &= log[column] == value
    assert hit.sum() == 1
    return log[hit].iloc[0]


def trial_rows(trial: pd.DataFrame) -> list[tuple[Any, ...]]:
    """``(ID, TIME, EVID, DVID, DV, CENS)`` of every row of ``trial.csv``, ``TIME`` to four
    decimals and a missing ``DV`` as ``None``."""
    return [
        (r.ID, round(r.TIME, 4), r.EVID, r.DVID, None if math.isnan(r.DV) else r.DV, r.CENS)
        for r in trial.itertuples()
    ]


def raised(convert: Callable[..., object], *args: Any, **kwargs: Any) -> list[Violation]:
    """The violations of the :class:`~cartpk.errors.DatasetError` that
    ``convert(*args, **kwargs)`` raises (the test fails when it raises none)."""
    with pytest.raises(DatasetError) as err:
        convert(*args, **kwargs)
    return list(err.value.violations)
