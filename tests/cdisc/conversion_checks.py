"""Checks the CDISC conversion tests share: the converted study of a test module, rows of
``conversion.csv``, the rows of ``trial.csv`` as tuples, and the violations a converter
raises."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cartpk.cdisc import Conversion
from cartpk.errors import DatasetError, Violation

__all__ = ["log_row", "raised", "study_fixture", "trial_rows"]


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


def study_fixture(write: Callable[[Path], Path], read: Callable[[Path], Conversion]) -> Any:
    """A module-scoped fixture: the study ``write`` puts into a folder, converted once by
    ``read``; the tests only read the conversion (``conv = study_fixture(write, read)``)."""

    @pytest.fixture(scope="module")
    def conv(tmp_path_factory: pytest.TempPathFactory) -> Conversion:
        return read(write(tmp_path_factory.mktemp("study")))

    return conv
