"""``DV`` of a long table and its censoring: BLQ text, limits, values below the LLOQ.

Used by :func:`cartpk.data.check_dataset` after the other standard columns
(:mod:`cartpk.data._columns`) are read. Problems go to the
:class:`~cartpk.data._cells.Collector`; changes made to the input (``<50`` read as
left-censored, a value below the LLOQ censored at it) are appended to the list of
conversions, one record per row.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from cartpk.data._cells import Collector, to_num

__all__ = ["censoring_bounds", "check_censored", "read_dv", "record"]

_BLQ_WORDS = {"BLQ", "BQL", "BLOQ", "<LLOQ", "<LOQ", "LLOQ", "BLD", "<LOD", "ND"}
_LT = re.compile(r"^\s*<\s*=?\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")
#: the problems of ``DV`` as written: message, expected and fix by code
_DV_PROBLEMS = {
    "blq_without_lloq": (
        "`DV` says below the limit but no limit is given",
        "'<50' (limit in the text) or an LLOQ column value on the row",
        "write the limit in DV as '<LLOQ value' or fill the LLOQ column",
    ),
    "dv_not_numeric": (
        "`DV` is not a number",
        "a number, or '<LLOQ'/'BLQ' for a value below the limit",
        "remove units and thousands separators ('1,250' -> 1250); "
        "'<50' or 'BLQ' would be read as censored",
    ),
    "dv_missing": (
        "observation record without `DV`",
        "a DV on every observation record (EVID=0, MDV=0)",
        "fill in DV, or set MDV=1 if the sample was not taken or not analysed",
    ),
}


def record(
    conversions: list[dict[str, Any]],
    df: pd.DataFrame,
    mask: pd.Series,
    code: str,
    message: Any,
) -> None:
    """Record a conversion of every row in ``mask``: ``message(i)`` for positional row ``i``."""
    for i in np.flatnonzero(mask.to_numpy()):
        conversions.append(
            {
                "ROW": int(df["ROW"].iat[i]),
                "ID": df["ID"].iat[i],
                "code": code,
                "message": message(i),
            }
        )


def _dv_problem(col: Collector, shown: pd.DataFrame, code: str, mask: pd.Series) -> None:
    """Report the :data:`_DV_PROBLEMS` entry ``code`` at the rows in ``mask`` (``shown``
    holds ``DV`` as written)."""
    message, expected, fix = _DV_PROBLEMS[code]
    col.add_rows(code, message, shown, mask, column="DV", expected=expected, fix=fix)


def _blq_text(
    dv_raw: pd.Series,
    shown: pd.DataFrame,
    col: Collector,
    is_obs: pd.Series,
    lloq: pd.Series,
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Observations whose DV says below the limit: without a limit (reported), with one.

    ``shown`` is the table with ``DV`` as written. Returns the rows without a limit, the
    rows to read as censored and the limit written in the text (``<50``; NaN for a word
    such as ``BLQ``).
    """
    lt = dv_raw.str.extract(_LT)[0]
    lt_num = pd.to_numeric(lt, errors="coerce")
    word = dv_raw.str.upper().str.replace(" ", "", regex=False).isin(_BLQ_WORDS)
    text_blq = is_obs & (lt_num.notna() | word)
    no_limit = text_blq & lt_num.isna() & lloq.isna()
    _dv_problem(col, shown, "blq_without_lloq", no_limit)
    return no_limit, text_blq & ~no_limit, lt_num


def read_dv(
    raw: pd.DataFrame,
    df: pd.DataFrame,
    col: Collector,
    is_obs: pd.Series,
    cens: pd.Series,
    lloq: pd.Series,
    conversions: list[dict[str, Any]],
) -> tuple[pd.Series, pd.Series]:
    """Check ``DV`` with its BLQ text forms; put ``DV``, ``CENS`` and ``LLOQ`` into ``df``.

    A ``<50`` or ``BLQ`` observation (with an LLOQ on the row) becomes ``CENS=1`` with the
    limit in ``DV`` (recorded). Returns ``DV`` and ``LLOQ`` as read, before the censoring
    checks of :func:`check_censored`.
    """
    dv_raw = raw["DV"].astype(str).str.strip()
    dv, bad = to_num(dv_raw)
    shown = df.assign(DV=dv_raw)
    no_limit, conv, lt_num = _blq_text(dv_raw, shown, col, is_obs, lloq)
    if bool(conv.any()):
        limit = lt_num.where(lt_num.notna(), lloq)
        record(
            conversions,
            df,
            conv,
            "blq_text",
            lambda i: f"DV={dv_raw.iat[i]!r} read as left-censored: CENS=1, DV={limit.iat[i]:g}",
        )
        dv = dv.where(~conv, limit)
        cens = cens.where(~conv, 1.0)
        lloq = lloq.where(~(conv & lloq.isna()), limit)
        bad = bad & ~conv
    _dv_problem(col, shown, "dv_not_numeric", bad & is_obs & ~no_limit)
    _dv_problem(col, shown, "dv_missing", is_obs & dv.isna() & ~bad & ~no_limit)
    df["DV"] = dv
    df["CENS"] = cens.astype(int)
    df["LLOQ"] = lloq
    return dv, lloq


def censoring_bounds(
    df: pd.DataFrame,
    other: pd.Series,
    ok_dv: pd.Series,
    scale: pd.Series,
    col: Collector,
    conversions: list[dict[str, Any]],
) -> None:
    """Check the censoring limits and set ``df["LIMIT"]`` (nlmixr2/Monolix convention).

    ``DV`` of a censored record holds its limit (upper for ``CENS=1``, lower for
    ``CENS=-1``); ``LIMIT`` is the other bound. A NONMEM-style ``DV`` of 0 on a ``CENS=1``
    record of a log-scale endpoint is replaced by the row's ``LLOQ`` (recorded).
    """
    cens = df["CENS"]
    censored = ok_dv & (cens != 0)
    log = scale == "log"
    zero_blq = censored & (cens == 1) & log & (df["DV"] <= 0) & df["LLOQ"].notna()
    record(
        conversions,
        df,
        zero_blq,
        "blq_dv_to_lloq",
        lambda i: (
            f"CENS=1 with DV={df['DV'].iat[i]:g} read as censored at "
            f"LLOQ={df['LLOQ'].iat[i]:g} (DV holds the limit of a censored record)"
        ),
    )
    df.loc[zero_blq, "DV"] = df.loc[zero_blq, "LLOQ"]
    col.add_rows(
        "cens_limit_nonpositive",
        "censored record of a log-scale endpoint with `DV` <= 0",
        df,
        censored & log & (df["DV"] <= 0),
        column="DV",
        show=("CENS", "DV"),
        expected="a censored record holds its limit (> 0 for concentrations) in DV",
        fix="write the limit of quantification in DV (or fill the LLOQ column for CENS=1)",
    )
    dv = df["DV"]
    # blank, -inf (CENS=1) or +inf (CENS=-1) is an open side: no other bound (Monolix)
    open_side = (
        other.isna() | ((cens == 1) & (other == -np.inf)) | ((cens == -1) & (other == np.inf))
    )
    wrong = censored & ~open_side & (((cens == 1) & ~(other < dv)) | ((cens == -1) & ~(other > dv)))
    col.add_rows(
        "limit_wrong_side",
        "`LIMIT` is not on the open side of the censored `DV`",
        df.assign(LIMIT=other),
        wrong,
        column="LIMIT",
        show=("CENS", "DV", "LIMIT"),
        expected="CENS=1: LIMIT < DV (value in (LIMIT, DV)); CENS=-1: LIMIT > DV (value in "
        "(DV, LIMIT)) - the nlmixr2/Monolix convention",
        fix="put the censoring limit (LLOQ or ULOQ) in DV and the other bound in LIMIT, "
        "or leave LIMIT blank",
    )
    df["LIMIT"] = other.where(censored & ~open_side).astype(float)


def _censor_below_lloq(
    df: pd.DataFrame,
    ok_dv: pd.Series,
    dv: pd.Series,
    lloq: pd.Series,
    negative_log: pd.Series,
    scale: pd.Series,
    conversions: list[dict[str, Any]],
) -> None:
    """Censor at the LLOQ a measured value reported below it (recorded); never a grade."""
    below = (
        ok_dv & (df["CENS"] == 0) & lloq.notna() & (dv < lloq) & (scale != "grade") & ~negative_log
    )
    record(
        conversions,
        df,
        below,
        "below_lloq",
        lambda i: (
            f"DV={dv.iat[i]:g} is below LLOQ={lloq.iat[i]:g}: read as "
            f"left-censored (CENS=1, DV={lloq.iat[i]:g})"
        ),
    )
    df.loc[below, "DV"] = df.loc[below, "LLOQ"]
    df.loc[below, "CENS"] = 1


def check_censored(
    df: pd.DataFrame,
    col: Collector,
    is_obs: pd.Series,
    dv: pd.Series,
    lloq: pd.Series,
    other: pd.Series,
    scale: pd.Series,
    conversions: list[dict[str, Any]],
) -> None:
    """Check the observations' values against their limits and scale; censor below the LLOQ.

    ``dv`` and ``lloq`` are the values of :func:`read_dv`; ``other`` is ``LIMIT``.
    """
    ok_dv = is_obs & dv.notna()
    censoring_bounds(df, other, ok_dv, scale, col, conversions)
    cens_num = (df["CENS"] == 1) & ok_dv & lloq.notna()
    col.add_rows(
        "cens_above_lloq",
        "`CENS` is 1 but `DV` is above `LLOQ`",
        df,
        cens_num & (dv > lloq * (1 + 1e-9)),
        column="CENS",
        show=("DV", "LLOQ"),
        expected="a left-censored record holds the limit in DV (DV <= LLOQ)",
        fix="set CENS=0 if the value was measured, or DV=LLOQ if the sample was below the limit",
    )
    negative_log = ok_dv & (scale == "log") & (dv < 0)  # a violation, never censored
    _censor_below_lloq(df, ok_dv, dv, lloq, negative_log, scale, conversions)
    col.add_rows(
        "dv_nonpositive_log",
        "`DV` on a log-scale endpoint is negative, or 0 without censoring",
        df,
        (ok_dv & (df["CENS"] == 0) & (scale == "log") & (df["DV"] <= 0)) | negative_log,
        column="DV",
        show=("DVID", "DV"),
        expected="DV > 0 for concentrations (log-normal residual error)",
        fix="mark values below the limit as CENS=1 with DV=LLOQ (or write '<LLOQ'); "
        "declare the endpoint as linear if zero is a real value",
    )
    col.add_rows(
        "grade_invalid",
        "a graded event's `DV` is not an integer grade 0-5",
        df,
        ok_dv & (scale == "grade") & ~(df["DV"].isin([0, 1, 2, 3, 4, 5])),
        column="DV",
        show=("DVID", "DV"),
        expected="CTCAE v4.0 / CRS grade as an integer 0-5",
        fix="write the grade as 0, 1, 2, 3, 4 or 5",
    )
