"""Read and validate a NONMEM/Monolix-style long table into a :class:`Dataset`.

The whole table is checked first; every problem becomes a :class:`~cartpk.errors.Violation`
and :func:`read_dataset` raises them all at once in one :class:`~cartpk.errors.DatasetError`.
Rows that are valid but not used (pre-dose observations, ``MDV=1``, ``EVID=2``) go to
:attr:`Dataset.exclusions` with a reason; changes made to the input (``<50`` read as
left-censored, a re-sorted subject) go to :attr:`Dataset.conversions`.

Row numbers are data records counted from 1 in the order of the input (the header is not
counted: row N of a CSV file is on line N + 1).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cartpk.data._cells import Collector
from cartpk.data._censoring import check_censored, read_dv
from cartpk.data._columns import (
    censoring_columns,
    check_finite,
    check_id_time,
    check_occ,
    endpoint_scales,
    read_dvid,
    read_events,
)
from cartpk.data._covariates import check_covariates
from cartpk.data._dataset import CANONICAL, Dataset
from cartpk.data._endpoints import Endpoint
from cartpk.data._records import check_doses, order_and_exclude
from cartpk.data._table import TextTable, read_table
from cartpk.errors import DatasetError, Violation

__all__ = ["check_dataset", "read_dataset"]

# LIMIT is not an alias of LLOQ: in nlmixr2 and Monolix it is the *other* bound of a
# censored record (CENS=1: y in (LIMIT, DV); CENS=-1: y in (DV, LIMIT)); see docs/data_format.md
_ALIASES = {"YTYPE": "DVID", "CMT_NAME": "DVID", "OCCASION": "OCC"}
_REQUIRED = ("ID", "TIME", "DV")


def _load(source: str | os.PathLike[str] | pd.DataFrame) -> TextTable:
    return read_table(
        source,
        expected="a CSV file with a header line (ID,TIME,DV,...)",
        fix="export the table as CSV with one header line and one record per line",
    )


def _unique_columns(raw: pd.DataFrame, col: Collector) -> pd.DataFrame:
    """Report repeated (case-insensitive) and unnamed columns; keep the first of each name."""
    names = [str(c).strip() for c in raw.columns]
    seen: dict[str, int] = {}
    keep: list[int] = []
    repeated: dict[str, list[str]] = {}
    found = "columns found: " + ", ".join(map(repr, names))
    for k, c in enumerate(names):
        if c == "":
            if bool((raw.iloc[:, k] != "").any()):
                col.add(
                    Violation(
                        "column_unnamed",
                        f"column {k + 1} has values but no name in the header",
                        column=None,
                        value=found,
                        expected="a name for every column",
                        fix="name the column in the header line, or delete it",
                    )
                )
            continue  # an empty trailing column (a stray separator) is dropped
        if c.upper() in seen:
            repeated.setdefault(names[seen[c.upper()]], []).append(c)
            continue
        seen[c.upper()] = k
        keep.append(k)
    for first, others in repeated.items():
        col.add(
            Violation(
                "duplicate_column",
                f"column `{first}` appears more than once",
                column=first,
                value=found,
                expected="unique column names (case is ignored)",
                fix="rename or remove the repeated column"
                + ("s " if len(others) > 1 else " ")
                + ", ".join(f"`{o}`" for o in others),
            )
        )
    out = raw.iloc[:, keep].copy()
    out.columns = [names[k] for k in keep]
    return out


def _canonical_columns(raw: pd.DataFrame, col: Collector) -> pd.DataFrame:
    """Rename aliases and any-case names to the standard ones; add missing required ones.

    A required column that is missing is reported, added blank and muted, so that the rows
    are still checked.
    """
    rename: dict[str, str] = {}
    upper = {c.upper(): c for c in raw.columns}
    for up, orig in upper.items():
        target = _ALIASES.get(up, up)
        if target in CANONICAL and target not in rename.values():
            if target != up and target in upper:
                continue  # e.g. both DVID and YTYPE: DVID wins, YTYPE stays a covariate
            rename[orig] = target
    raw = raw.rename(columns=rename)
    missing = [c for c in _REQUIRED if c not in raw.columns]
    if missing:
        col.add(
            Violation(
                "missing_column",
                "required column"
                + ("s " if len(missing) > 1 else " ")
                + ", ".join(f"`{c}`" for c in missing)
                + " not found",
                value="columns found: " + ", ".join(map(str, raw.columns)),
                expected="at least the columns ID, TIME, DV (NONMEM names, any case)",
                fix="rename the columns to ID, TIME and DV (TIME in days since infusion)",
            )
        )
        # the rows are still checked: the missing columns are blank, their checks muted
        for c in missing:
            raw[c] = ""
            col.mute(c)
    return raw


def _reading_conversions(text: TextTable, df: pd.DataFrame) -> list[dict[str, Any]]:
    """The changes made while reading the file, each with the ``ID`` of its row."""
    row_id = dict(zip(df["ROW"], df["ID"], strict=True))
    return [
        {
            "ROW": c["ROW"],
            "ID": row_id.get(c["ROW"], ""),
            "code": c["code"],
            "message": c["message"],
        }
        for c in text.conversions
    ]


def _check_duplicates(df: pd.DataFrame, col: Collector, keyed: pd.Series) -> None:
    """Report observations among ``keyed`` that share an ``ID``, ``TIME`` and ``DVID``."""
    dup = pd.Series(False, index=df.index)
    dup[keyed] = df.loc[keyed].duplicated(["ID", "TIME", "DVID"], keep=False)
    if bool(dup.any()):
        sub = df.loc[dup]
        for (_, t, d), grp in sub.groupby(["ID", "TIME", "DVID"], sort=False):
            col.add_group(
                "duplicate_observation",
                "more than one observation at the same `ID`, `TIME` and `DVID`",
                grp,
                column="TIME",
                value=f"TIME={t:g}, DVID={d!r}, DV=" + ", ".join(f"{v:g}" for v in grp["DV"]),
                expected="one record per subject, time and endpoint",
                fix="average replicate measurements, or set MDV=1 on the ones not to use",
            )


def _check_subjects(df: pd.DataFrame, col: Collector, is_obs: pd.Series) -> None:
    """Report subjects without any observation record."""
    has_obs = df.loc[is_obs, "ID"].unique()
    for _, grp in df.loc[~df["ID"].isin(has_obs) & (df["ID"] != "")].groupby("ID", sort=False):
        col.add_group(
            "subject_without_observations",
            "subject has no observation record (EVID=0, MDV=0)",
            grp,
            expected="at least one observation per subject",
            fix="remove the subject or add its observations",
        )


def _dataset(
    df: pd.DataFrame,
    conversions: list[dict[str, Any]],
    eps: dict[str, Endpoint],
    base: list[str],
    tv: list[str],
    name: str,
) -> Dataset:
    """The :class:`Dataset` of a table without violations: records ordered, exclusions split."""
    used, exclusions, df = order_and_exclude(df, conversions)
    conv_df = pd.DataFrame(conversions, columns=["ROW", "ID", "code", "message"])
    used_eps = {d: eps[d] for d in pd.unique(df["DVID"])}
    return Dataset(
        table=used,
        endpoints=used_eps,
        exclusions=exclusions,
        conversions=conv_df,
        baseline_covariates=[c for c in base if c in df.columns],
        time_varying_covariates=[c for c in tv if c in df.columns],
        source=name,
        subjects=[str(s) for s in pd.unique(df["ID"])],
    )


def check_dataset(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    endpoints: Mapping[str, Endpoint] | None = None,
    baseline: Iterable[str] | None = None,
    time_varying: Iterable[str] | None = None,
    default_dvid: str = "QPCR",
) -> tuple[Dataset | None, list[Violation]]:
    """Validate a long table and return the dataset (if valid) and every violation.

    Parameters are those of :func:`read_dataset`. Never raises for problems in the table
    (only for an unreadable file); the caller decides what to do with the violations.

    Returns
    -------
    dataset : Dataset or None
        ``None`` when there is at least one violation.
    violations : list of Violation
        Every problem found, in column order.
    """
    text = _load(source)
    name = text.name
    col = Collector()
    for v in text.violations:
        col.add(v)
    raw = _canonical_columns(_unique_columns(text.frame, col), col)
    if len(raw) == 0:
        col.add(
            Violation(
                "empty_table",
                "the table has a header but no records",
                expected="one record per observation or dose",
                fix="export the data rows too",
            )
        )
        return None, col.items
    df = pd.DataFrame({"ROW": text.rows})
    df["ID"] = raw["ID"].astype(str).str.strip()
    check_finite(raw, df, col)
    check_id_time(raw, df, col)
    evid, mdv = read_events(raw, df, col)
    dvid, dvid_conv, misspelt = read_dvid(raw, df, col, endpoints, default_dvid)
    df["DVID"] = dvid
    is_obs = (evid == 0) & (mdv == 0)
    eps, scale = endpoint_scales(df, col, dvid, is_obs, misspelt, endpoints)
    cens, lloq, other = censoring_columns(raw, df, col, is_obs)
    conversions = _reading_conversions(text, df) + dvid_conv
    dv, lloq = read_dv(raw, df, col, is_obs, cens, lloq, conversions)
    check_censored(df, col, is_obs, dv, lloq, other, scale, conversions)
    check_occ(raw, df, col)
    keyed = is_obs & df["TIME"].notna() & ~(scale == "grade") & (df["ID"] != "")
    _check_duplicates(df, col, keyed)
    _check_subjects(df, col, is_obs)
    check_doses(raw, df, col)
    base, tv = check_covariates(raw, df, col, baseline, time_varying)
    for c in raw.columns:
        if c not in df.columns and c not in ("ROW",):
            df[c] = raw[c]
    if col.items:
        return None, col.items
    return _dataset(df, conversions, eps, base, tv, name), []


def read_dataset(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    endpoints: Mapping[str, Endpoint] | None = None,
    baseline: Iterable[str] | None = None,
    time_varying: Iterable[str] | None = None,
    default_dvid: str = "QPCR",
) -> Dataset:
    """Read a NONMEM/Monolix-style long table and validate all of it.

    Parameters
    ----------
    source : path or pandas.DataFrame
        CSV file or table with at least ``ID, TIME, DV``; optional ``EVID, AMT, MDV,
        CENS, LLOQ`` (or ``LIMIT``), ``DVID, OCC`` and covariate columns. Column names are
        matched case-insensitively. ``TIME`` is in days since infusion.
    endpoints : mapping of str to Endpoint, optional
        The DVID map. When given, a DVID not in it is a violation. Otherwise the built-in
        endpoints (QPCR, IL6, IFNG, CRS, ...) describe known DVIDs, ``AE_*`` DVIDs are
        graded events and any other DVID is a log-scale measurement.
    baseline : iterable of str, optional
        Baseline covariate columns (constant within a subject). Default: every column that
        is not a standard column and not listed in ``time_varying``.
    time_varying : iterable of str, optional
        Time-varying covariate columns.
    default_dvid : str, default "QPCR"
        DVID of records whose DVID is blank or of tables without a DVID column.

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        Listing every problem in the table (``.violations``); nothing is loaded.
    FileNotFoundError
        ``source`` is a path that does not exist.

    Notes
    -----
    Conventions (Monolix / nlmixr2): ``CENS=1`` is left-censored with ``DV`` holding the
    limit; ``CENS=-1`` right-censored with ``DV`` holding the upper limit. Raw values such
    as ``<50`` or ``BLQ`` (with an LLOQ on the row) are converted to ``CENS=1`` and the
    conversion is recorded in :attr:`Dataset.conversions`, as are measured values below
    the row's LLOQ (censored at the LLOQ) and subjects whose records were not in time
    order (sorted by ``TIME``, stably). ``LIMIT`` is the *other* bound of a censored
    record, as in nlmixr2 and Monolix: ``CENS=1`` means ``y`` in ``(LIMIT, DV)``,
    ``CENS=-1`` means ``y`` in ``(DV, LIMIT)`` (interval censoring); blank, ``-inf`` for
    ``CENS=1`` or ``+inf`` for ``CENS=-1`` mean no other bound, and ``LIMIT`` is ignored
    on uncensored records (kept as ``NaN`` in :attr:`Dataset.table`). See
    ``docs/data_format.md``.

    Examples
    --------
    >>> import pandas as pd
    >>> ds = read_dataset(pd.DataFrame({"ID": [1, 1], "TIME": [7, 14], "DV": ["350", "<50"]}))
    >>> ds.observations()[["ID", "TIME", "DV", "CENS"]].to_dict("records")
    [{'ID': '1', 'TIME': 7.0, 'DV': 350.0, 'CENS': 0}, {'ID': '1', 'TIME': 14.0, 'DV': 50.0, 'CENS': 1}]
    """
    ds, violations = check_dataset(
        source,
        endpoints=endpoints,
        baseline=baseline,
        time_varying=time_varying,
        default_dvid=default_dvid,
    )
    if violations:
        name = (
            source.name
            if isinstance(source, Path)
            else (Path(source).name if isinstance(source, str | os.PathLike) else "the table")
        )
        subjects = {v.id for v in violations if v.id is not None}
        msg = (
            f"{name} has {len(violations)} problem{'s' if len(violations) != 1 else ''}"
            + (
                f" in {len(subjects)} subject{'s' if len(subjects) != 1 else ''}"
                if subjects
                else ""
            )
            + "; nothing was loaded. (Rows count data records from 1; row N is on line N+1 "
            "of a CSV file.)"
        )
        raise DatasetError(msg, violations)
    assert ds is not None
    return ds
