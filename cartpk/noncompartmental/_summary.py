"""Summary statistics of NCA parameters by group, as in the cellular-kinetics section of a
product label (geometric mean, geometric CV %, arithmetic mean, median, range)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cartpk.errors import SpecError, Violation
from cartpk.noncompartmental._nca import NCAResult
from cartpk.noncompartmental._registry import PARAMETERS

__all__ = ["nca_summary"]

_ORDER = {p.testcd: i for i, p in enumerate(PARAMETERS)}


def nca_summary(
    result: NCAResult,
    by: str | Sequence[str] | None = None,
    *,
    groups: pd.DataFrame | None = None,
    parameters: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Descriptive statistics of each NCA parameter, overall or by group.

    Parameters
    ----------
    result : NCAResult
        Output of :func:`cartpk.nca`.
    by : str or sequence of str, optional
        Grouping column(s) of ``groups`` (e.g. ``"RESPONSE"``, ``"DOSE"``); ``None`` gives
        one row per parameter over all subjects.
    groups : DataFrame, optional
        One row per subject with ``ID`` and the ``by`` columns; defaults to
        ``result.covariates`` (the Dataset's covariates or per-subject columns of the
        input table). Subjects without a group value form their own (missing) group.
    parameters : sequence of str, optional
        ``PPTESTCD`` codes to summarise; all by default.

    Returns
    -------
    DataFrame
        ``by`` columns, ``DVID, PPTESTCD, PPTEST, PPSTINT, PPENINT, PPORRESU``, then
        ``n`` (values present), ``n_missing`` (missing with a reason), ``geo_mean``,
        ``geo_cv_pct``, ``mean``, ``sd``, ``median``, ``min``, ``max``.

    Raises
    ------
    SpecError
        ``summary_by_unknown`` when a ``by`` column is not in ``groups``.

    Notes
    -----
    Geometric CV % is ``100 * sqrt(exp(s^2) - 1)`` with ``s`` the sample standard
    deviation (ddof 1) of the log values; geometric statistics are missing when a value is
    not positive (e.g. a Tmax of 0) or, for the CV, fewer than two values are present.
    """
    long = result.long
    if parameters is not None:
        long = long[long["PPTESTCD"].isin(list(parameters))]
    by_cols = [by] if isinstance(by, str) else list(by or [])
    if by_cols:
        table = result.covariates if groups is None else groups
        missing = [c for c in [*by_cols, "ID"] if c not in table.columns]
        if missing:
            raise SpecError(
                "cannot group the NCA summary",
                [
                    Violation(
                        "summary_by_unknown",
                        "grouping column(s) " + ", ".join(f"`{c}`" for c in missing) + " not found",
                        value=", ".join(missing),
                        expected="columns of `groups`: " + ", ".join(map(str, table.columns)),
                        fix="pass `groups=` with ID and the grouping columns",
                    )
                ],
            )
        table = table[["ID", *by_cols]].assign(ID=table["ID"].astype(str))
        long = long.merge(table.drop_duplicates("ID"), on="ID", how="left")
    keys = [*by_cols, "DVID", "PPTESTCD", "PPTEST", "PPSTINT", "PPENINT", "PPORRESU"]
    v = long["PPORRES"].astype(float)
    work = long[keys].copy()
    work["_v"] = v
    work["_log"] = np.log(v.where(v > 0))
    work["_nonpos"] = (v <= 0).astype(int)
    work["_missing"] = v.isna().astype(int)
    g = work.groupby(keys, dropna=False, sort=False)
    out = g.agg(
        n=("_v", "count"),
        n_missing=("_missing", "sum"),
        _nonpos=("_nonpos", "sum"),
        _logmean=("_log", "mean"),
        _logsd=("_log", "std"),
        mean=("_v", "mean"),
        sd=("_v", "std"),
        median=("_v", "median"),
        min=("_v", "min"),
        max=("_v", "max"),
    ).reset_index()
    positive = (out["_nonpos"] == 0) & (out["n"] > 0)
    out["geo_mean"] = np.exp(out["_logmean"]).where(positive)
    out["geo_cv_pct"] = (100.0 * np.sqrt(np.expm1(out["_logsd"] ** 2))).where(
        positive & (out["n"] >= 2)
    )
    out["_order"] = out["PPTESTCD"].map(_ORDER)
    out = out.sort_values([*by_cols, "DVID", "_order"], kind="stable")
    cols = [*keys, "n", "n_missing", "geo_mean", "geo_cv_pct", "mean", "sd", "median"]
    return out[[*cols, "min", "max"]].reset_index(drop=True)
