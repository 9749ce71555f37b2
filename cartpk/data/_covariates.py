"""Covariate columns of a long table: presence, values, constancy of baseline covariates."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from cartpk.data._cells import Collector, is_missing, non_finite
from cartpk.data._dataset import CANONICAL
from cartpk.errors import Violation

__all__ = ["check_covariates"]

#: the problems of a covariate's values: message, expected and fix by code, ``{c}`` the column
_VALUE_PROBLEMS = {
    "covariate_missing": (
        "covariate `{c}` has no value",
        "a value of {c} on every row of the subject",
        "fill in {c} (carry the subject's value forward or impute and document it)",
    ),
    "covariate_not_numeric": (
        "numeric covariate `{c}` holds text",
        "a number: the other values of {c} are numbers",
        "write {c} as a number without units or comments, or leave it blank if unknown",
    ),
}


def _value_problem(col: Collector, shown: pd.DataFrame, c: str, code: str, mask: pd.Series) -> None:
    """Report the :data:`_VALUE_PROBLEMS` entry ``code`` of covariate ``c`` at the rows in
    ``mask`` (``shown`` holds ``c`` as written)."""
    message, expected, fix = (text.format(c=c) for text in _VALUE_PROBLEMS[code])
    col.add_rows(code, message, shown, mask, column=c, expected=expected, fix=fix)


def check_covariates(
    raw: pd.DataFrame,
    df: pd.DataFrame,
    col: Collector,
    baseline: Iterable[str] | None,
    time_varying: Iterable[str] | None,
) -> tuple[list[str], list[str]]:
    """Check the covariate columns of ``raw`` and add their values to ``df`` (in place).

    Parameters
    ----------
    raw : pandas.DataFrame
        The table as text cells, canonical column names.
    df : pandas.DataFrame
        The parsed table (``ROW``, ``ID``, ...); gains one column per covariate.
    col : Collector
        Receives the violations.
    baseline, time_varying : iterable of str, optional
        As in :func:`cartpk.read_dataset`.

    Returns
    -------
    baseline, time_varying : list of str
        The covariate columns by kind.
    """
    known = set(CANONICAL) | {"ROW", "CMT", "RATE", "DUR", "II", "ADDL", "SS", "BLQ"}
    extra = [c for c in raw.columns if c not in known]
    tv = list(time_varying or [])
    base = list(baseline) if baseline is not None else [c for c in extra if c not in tv]
    for name_list, label in ((tv, "time_varying"), (base, "baseline")):
        absent = [c for c in name_list if c not in raw.columns]
        if absent:
            col.add(
                Violation(
                    "covariate_column_missing",
                    f"{label} covariate column(s) not in the table: "
                    + ", ".join(f"`{c}`" for c in absent),
                    value="columns found: " + ", ".join(map(str, raw.columns)),
                    expected=f"every name given in `{label}` to be a column",
                    fix="correct the covariate names",
                )
            )
    covs = [c for c in [*base, *tv] if c in raw.columns]
    for c in covs:
        s = raw[c].astype(str).str.strip()
        miss = is_missing(s)
        shown = df.assign(**{c: s})
        _value_problem(col, shown, c, "covariate_missing", miss)
        num = pd.to_numeric(s.where(~miss), errors="coerce").astype(float)
        inf = non_finite(s)
        text = num.isna() & ~miss & ~inf
        # a column of numbers with some text in it is numeric: the text is the violation
        numeric = bool((num.notna() | inf).sum() > text.sum()) and bool((~miss).any())
        if numeric:
            _value_problem(col, shown, c, "covariate_not_numeric", text)
            values = num.where(np.isfinite(num.to_numpy()))
        else:
            values = s.where(~miss)
        df[c] = values
        if c in base:
            present = df.loc[~miss, ["ID", "ROW", c]]
            nun = present.groupby("ID", sort=False)[c].nunique()
            for sid in nun.index[nun > 1]:
                if sid == "":
                    continue  # rows without a subject ID (reported as such)
                grp = present[present["ID"] == sid]
                col.add_group(
                    "covariate_not_constant",
                    f"baseline covariate `{c}` changes within the subject",
                    grp,
                    column=c,
                    value=f"{c}=" + ", ".join(map(str, pd.unique(grp[c])[:6])),
                    expected="one value per subject for a baseline covariate",
                    fix=f"correct {c}, or declare it time-varying (time_varying=['{c}'])",
                )
    return base, tv
