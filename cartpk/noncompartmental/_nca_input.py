"""The input of observed NCA: concentration records from a :class:`~cartpk.data.Dataset` or
a long table, checked at once (columns, types, negative values, BLQ flags), and the
intervals asked for."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cartpk.errors import DatasetError, SpecError, Violation

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.data import Dataset

__all__ = ["negative_concentrations"]

Interval = tuple[float, float]


def _is_dataset(data: object) -> bool:
    return hasattr(data, "observations") and hasattr(data, "endpoints")


def _spec_error(code: str, message: str, **kw: Any) -> SpecError:
    return SpecError(message, [Violation(code, message, **kw)])


def _observations_from_dataset(
    ds: Dataset, dvid: str | None
) -> tuple[pd.DataFrame, dict[str, str], pd.DataFrame]:
    obs = ds.observations(dvid)
    units = {str(k): str(getattr(e, "unit", "") or "") for k, e in ds.endpoints.items()}
    cols = ["ROW", "ID", "DVID", "TIME", "DV", "CENS", "LLOQ"]
    obs = obs[cols].copy()
    covariates = ds.covariates.copy() if getattr(ds, "covariates", None) is not None else None
    if covariates is None:
        covariates = pd.DataFrame({"ID": pd.unique(obs["ID"])})
    return obs, units, covariates


def negative_concentrations(rows: pd.DataFrame, *, expected: str, fix: str) -> list[Violation]:
    """One ``dv_negative`` violation per subject for quantified records with ``DV < 0``.

    Parameters
    ----------
    rows : DataFrame
        The offending records (``ID``, ``ROW``, ``DV``), already selected.
    expected, fix : str
        The caller's wording of what is expected and how to fix it.

    Returns
    -------
    list of Violation
        Empty when ``rows`` is empty; the first five values of each subject are shown.
    """
    return _per_subject(
        rows,
        "dv_negative",
        "a quantified concentration is negative",
        column="DV",
        shown="DV={:g}",
        expected=expected,
        fix=fix,
    )


def _per_subject(
    rows: pd.DataFrame,
    code: str,
    message: str,
    *,
    column: str,
    shown: str,
    expected: str,
    fix: str,
    by: str | list[str] = "ID",
) -> list[Violation]:
    """One violation per group of ``rows`` (by subject), showing its first five ``column`` values."""
    out = []
    for key, sub in rows.groupby(by, sort=False):
        out.append(
            Violation(
                code,
                message,
                id=key if isinstance(by, str) else key[0],
                rows=tuple(int(r) for r in sub["ROW"]),
                column=column,
                value=", ".join(shown.format(v) for v in sub[column].head(5)),
                expected=expected,
                fix=fix,
            )
        )
    return out


def _at_rows(df: pd.DataFrame, where: Any, code: str, message: str, **kw: Any) -> Violation:
    """One violation naming the input ``ROW`` of the records ``df.loc[where]``."""
    return Violation(code, message, rows=tuple(int(r) for r in df.loc[where, "ROW"]), **kw)


def _observations_from_frame(
    frame: pd.DataFrame, dvid: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check a plain table (ID, TIME, DV [, CENS, LLOQ, DVID, EVID, MDV, ROW])."""
    _require_columns(frame)
    df = frame.copy()
    problems: list[Violation] = []
    df["ROW"] = (
        pd.to_numeric(df["ROW"], errors="coerce")
        if "ROW" in df.columns
        else pd.Series(np.arange(1, len(df) + 1), index=df.index)
    )
    df["ID"] = _subject_ids(df, problems)
    df = _observation_rows(df)
    df["TIME"] = _numeric(df, "TIME", "time_not_numeric", False, problems)
    df["DV"] = _numeric(df, "DV", "dv_not_numeric", True, problems)
    df["CENS"] = _cens(df, problems)
    df["LLOQ"] = (
        pd.to_numeric(df["LLOQ"], errors="coerce").astype(float) if "LLOQ" in df.columns else np.nan
    )
    if "DVID" in df.columns:
        df["DVID"] = df["DVID"].astype("string").fillna("").astype(object)
    else:
        df["DVID"] = dvid if dvid is not None else "DV"
    problems += negative_concentrations(
        df[(df["CENS"] == 0) & (df["DV"] < 0)],
        expected="DV >= 0 (a BLQ sample has CENS=1 and the limit in DV)",
        fix="correct DV or mark the sample CENS=1",
    )
    problems += _duplicate_times(df)
    if problems:
        raise DatasetError(
            f"the NCA input table has {len(problems)} problem(s); nothing was computed",
            problems,
        )
    if dvid is not None and "DVID" in frame.columns:
        df = df[df["DVID"] == dvid]
    obs = df[["ROW", "ID", "DVID", "TIME", "DV", "CENS", "LLOQ"]].copy()
    return obs, _frame_covariates(frame, df)


def _require_columns(frame: pd.DataFrame) -> None:
    """Raise ``missing_column`` when the table lacks ``ID``, ``TIME`` or ``DV``."""
    missing = [c for c in ("ID", "TIME", "DV") if c not in frame.columns]
    if missing:
        raise DatasetError(
            "the NCA input table lacks required columns; nothing was computed",
            [
                Violation(
                    "missing_column",
                    "required column(s) " + ", ".join(f"`{c}`" for c in missing) + " missing",
                    column=", ".join(missing),
                    expected="at least ID, TIME, DV (optional CENS, LLOQ, DVID)",
                    fix="rename or add the columns",
                )
            ],
        )


def _subject_ids(df: pd.DataFrame, problems: list[Violation]) -> pd.Series:
    """The stripped ``ID`` column (object); rows without one are reported as ``id_missing``."""
    ids = df["ID"].astype("string").str.strip()
    if ids.isna().any():
        problems.append(
            _at_rows(
                df,
                df.index[ids.isna().to_numpy()],
                "id_missing",
                "`ID` is empty",
                column="ID",
                expected="a subject identifier on every row",
                fix="fill `ID`",
            )
        )
    return ids.astype(object)


def _observation_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows that are observations: ``EVID`` and ``MDV`` 0 (or absent)."""
    if "EVID" in df.columns:
        df = df[pd.to_numeric(df["EVID"], errors="coerce").fillna(0) == 0]
    if "MDV" in df.columns:
        df = df[pd.to_numeric(df["MDV"], errors="coerce").fillna(0) == 0]
    return df


def _numeric(
    df: pd.DataFrame, col: str, code: str, allow_nan: bool, problems: list[Violation]
) -> pd.Series:
    """Column ``col`` as floats; text (and, unless ``allow_nan``, empty cells) reported by subject."""
    raw = df[col]
    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna() & (raw.notna() if allow_nan else True)
    if bad.any():
        problems += _per_subject(
            df[bad],
            code,
            f"`{col}` is not a number",
            column=col,
            shown=f"{col}={{!r}}",
            expected="a number",
            fix=f"correct `{col}`",
        )
    return num.astype(float)


def _cens(df: pd.DataFrame, problems: list[Violation]) -> pd.Series | int:
    """The ``CENS`` flags as 0/1 integers (0 when absent); other values reported."""
    if "CENS" not in df.columns:
        return 0
    cens = pd.to_numeric(df["CENS"], errors="coerce").fillna(0)
    bad = ~cens.isin([0, 1])
    if bad.any():
        problems.append(
            _at_rows(
                df,
                bad,
                "cens_invalid",
                "`CENS` must be 0 (quantified) or 1 (below the limit)",
                column="CENS",
                value=", ".join(map(str, df.loc[bad, "CENS"].unique()[:5])),
                expected="0 or 1",
                fix="set CENS=1 for BLQ samples (DV holds the limit), else 0",
            )
        )
    return cens.astype(int)


def _duplicate_times(df: pd.DataFrame) -> list[Violation]:
    """One ``duplicate_time`` violation per profile (ID, DVID) with two samples at one time."""
    finite_t = df["TIME"].notna()
    dup = df[finite_t].duplicated(["ID", "DVID", "TIME"], keep=False)
    if not dup.any():
        return []
    return _per_subject(
        df[finite_t][dup],
        "duplicate_time",
        "two samples of one subject share a `TIME`",
        column="TIME",
        shown="TIME={:g}",
        expected="one sample per time and DVID",
        fix="average replicates or remove the duplicate",
        by=["ID", "DVID"],
    )


def _frame_covariates(frame: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """One row per subject: ``ID`` and the extra columns constant within each subject."""
    base = {"ROW", "ID", "TIME", "DV", "CENS", "LLOQ", "DVID", "EVID", "MDV", "AMT", "OCC"}
    extra = [c for c in frame.columns if c not in base]
    covariates = pd.DataFrame({"ID": pd.unique(df["ID"])})
    if extra:
        # per-subject constant columns become grouping covariates
        per = df.groupby("ID", sort=False)[extra].nunique(dropna=False)
        const = [c for c in extra if (per[c] <= 1).all()]
        if const:
            firsts = df.groupby("ID", sort=False)[const].first().reset_index()
            covariates = covariates.merge(firsts, on="ID", how="left")
    return covariates


def _check_intervals(
    interval: Interval | Sequence[Interval] | None,
) -> list[Interval]:
    if interval is None:
        return []
    items: list[Any]
    if (
        isinstance(interval, Sequence)
        and len(interval) == 2
        and all(isinstance(v, int | float | np.number) for v in interval)
    ):
        items = [interval]
    else:
        items = list(interval)  # type: ignore[arg-type]
    out: list[Interval] = []
    problems = []
    for item in items:
        try:
            a, b = (float(item[0]), float(item[1]))
            good = len(item) == 2 and math.isfinite(a) and math.isfinite(b) and 0 <= a < b
        except (TypeError, ValueError, IndexError):
            good = False
            a = b = math.nan
        if not good:
            problems.append(
                Violation(
                    "interval_invalid",
                    "an AUC interval must be (start, end) with 0 <= start < end",
                    value=repr(item),
                    expected="e.g. (0, 28)",
                    fix="pass interval=(0, 28) or a list of such pairs",
                )
            )
        else:
            out.append((a, b))
    if problems:
        raise SpecError("invalid `interval` for `cartpk.nca`", problems)
    return out
