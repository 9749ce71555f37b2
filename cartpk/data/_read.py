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
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartpk.data._cells import Collector, is_missing, non_finite, to_num
from cartpk.data._covariates import check_covariates
from cartpk.data._dataset import CANONICAL, Dataset
from cartpk.data._endpoints import DEFAULT_ENDPOINTS, Endpoint, endpoint_for, near_endpoint
from cartpk.data._records import check_doses, order_and_exclude
from cartpk.data._table import TextTable, read_table
from cartpk.errors import DatasetError, Violation

__all__ = ["check_dataset", "read_dataset"]

_BLQ_WORDS = {"BLQ", "BQL", "BLOQ", "<LLOQ", "<LOQ", "LLOQ", "BLD", "<LOD", "ND"}
_LT = re.compile(r"^\s*<\s*=?\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")
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
    for k, c in enumerate(names):
        if c == "":
            if bool((raw.iloc[:, k] != "").any()):
                col.add(
                    Violation(
                        "column_unnamed",
                        f"column {k + 1} has values but no name in the header",
                        column=None,
                        value="columns found: " + ", ".join(map(repr, names)),
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
                value="columns found: " + ", ".join(map(repr, names)),
                expected="unique column names (case is ignored)",
                fix="rename or remove the repeated column"
                + ("s " if len(others) > 1 else " ")
                + ", ".join(f"`{o}`" for o in others),
            )
        )
    out = raw.iloc[:, keep].copy()
    out.columns = [names[k] for k in keep]
    return out


def _record(
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


def _censoring_bounds(
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
    _record(
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
    raw = _unique_columns(text.frame, col)
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
    n = len(raw)
    if n == 0:
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
    # -- numbers that are not finite (inf, nan, 1e400), in any column but ID and DVID
    for c in raw.columns:
        if c in ("ID", "DVID", "LIMIT"):  # LIMIT: +-inf means no other bound
            continue
        inf = non_finite(raw[c])
        col.add_rows(
            "non_finite",
            f"`{c}` is not a finite number",
            df.assign(**{c: raw[c]}),
            inf,
            column=c,
            expected="a finite number (or a blank for a missing value)",
            fix=f"replace the {c} value with the real number, or leave it blank if it is "
            "missing (a division by zero or an overflow in the export?)",
        )
        col.mute(c, inf)
    # -- ID
    bad_id = is_missing(raw["ID"])
    col.add_rows(
        "id_missing",
        "`ID` is empty",
        df.assign(ID="").assign(ID_TEXT=raw["ID"]),
        bad_id,
        column="ID",
        show=("ID_TEXT",),
        expected="a subject identifier on every row",
        fix="fill in the subject ID",
    )
    # -- TIME
    time, bad = to_num(raw["TIME"])
    df["TIME"] = time
    show = df.assign(TIME=raw["TIME"])
    col.add_rows(
        "time_not_numeric",
        "`TIME` is not a number",
        show,
        bad,
        column="TIME",
        expected="days since infusion as a number",
        fix="write TIME as a decimal number of days (e.g. 7 or 0.5), not a date or text",
    )
    col.add_rows(
        "time_missing",
        "`TIME` is missing",
        show,
        time.isna() & ~bad,
        column="TIME",
        expected="days since infusion on every row",
        fix="fill in TIME (days since infusion) or remove the record",
    )
    col.add_rows(
        "time_negative",
        "`TIME` is negative",
        df,
        time < 0,
        column="TIME",
        expected="TIME >= 0 (days since infusion)",
        fix="shift TIME so that the infusion is at 0; drop screening samples or keep them "
        "in a separate file",
    )
    # -- EVID / MDV / AMT
    if "EVID" in raw.columns:
        evid, bad = to_num(raw["EVID"])
        col.add_rows(
            "evid_invalid",
            "`EVID` is not one of 0 (observation), 1 (dose), 2 (other)",
            df.assign(EVID=raw["EVID"]),
            bad | (evid.notna() & ~evid.isin([0, 1, 2])),
            column="EVID",
            expected="EVID in {0, 1, 2}; reset events (3, 4) are not supported",
            fix="use 0 for observations and 1 for the infusion",
        )
        evid = evid.fillna(0)
    else:
        evid = pd.Series(0.0, index=raw.index)
    df["EVID"] = evid.astype(int, errors="ignore") if evid.notna().all() else evid
    if "AMT" in raw.columns:
        amt, bad = to_num(raw["AMT"])
        col.add_rows(
            "amt_not_numeric",
            "`AMT` is not a number",
            df.assign(AMT=raw["AMT"]),
            bad,
            column="AMT",
            expected="the infused amount as a number (e.g. 1e8 CAR+ cells)",
            fix="write AMT as a number without units or thousands separators",
        )
    else:
        amt, bad = pd.Series(np.nan, index=raw.index), pd.Series(False, index=raw.index)
    df["AMT"] = amt
    col.add_rows(
        "dose_without_amt",
        "dose record (`EVID`=1) without a positive `AMT`",
        df.assign(AMT=raw["AMT"] if "AMT" in raw.columns else ""),
        (evid == 1) & ~bad & ~(amt > 0),
        column="AMT",
        expected="AMT > 0 on every EVID=1 row",
        fix="fill in AMT, the infused amount (e.g. CAR+ cells), on the dose row",
    )
    if "MDV" in raw.columns:
        mdv, bad = to_num(raw["MDV"])
        col.add_rows(
            "mdv_invalid",
            "`MDV` is not 0 or 1",
            df.assign(MDV=raw["MDV"]),
            bad | (mdv.notna() & ~mdv.isin([0, 1])),
            column="MDV",
            expected="MDV in {0, 1}",
            fix="set MDV=1 for records without a usable DV, 0 otherwise",
        )
        mdv = mdv.where(mdv.notna(), (evid != 0).astype(float))
    else:
        mdv = (evid != 0).astype(float)
    df["MDV"] = mdv
    # -- DVID
    if "DVID" in raw.columns:
        dvid = raw["DVID"].astype(str).str.strip()
        dvid = dvid.where(~is_missing(dvid), default_dvid)
    else:
        dvid = pd.Series(default_dvid, index=raw.index)
    # a DVID one letter or only case away from a known endpoint is never a new endpoint
    known = list(endpoints) if endpoints is not None else list(DEFAULT_ENDPOINTS)
    dvid_conv: list[dict[str, Any]] = []
    misspelt = pd.Series(False, index=raw.index)
    for d in pd.unique(dvid):
        if d in known:
            continue
        same, near = near_endpoint(str(d), known)
        hit = dvid == d
        if same is not None:
            first = int(np.flatnonzero(hit.to_numpy())[0])
            dvid_conv.append(
                {
                    "ROW": int(df["ROW"].iat[first]),
                    "ID": df["ID"].iat[first],
                    "code": "dvid_case",
                    "message": f"DVID {d!r} read as the endpoint {same!r} (case differs; "
                    f"{int(hit.sum())} records)",
                }
            )
            dvid = dvid.where(~hit, same)
        elif near is not None and endpoints is None:  # a declared map: dvid_unknown
            misspelt |= hit
            col.add_rows(
                "dvid_misspelt",
                f"`DVID` {d!r} is one letter away from the endpoint {near!r}",
                df.assign(DVID=dvid),
                hit,
                column="DVID",
                expected=f"{near!r}, or a DVID that differs from every known endpoint by "
                "more than one letter",
                fix=f"correct the DVID to {near!r}; a new endpoint needs a distinct name "
                "(or declare it in the DVID map)",
            )
    df["DVID"] = dvid
    is_obs = (evid == 0) & (mdv == 0)
    if endpoints is not None:
        unknown = is_obs & ~dvid.isin(list(endpoints)) & ~misspelt
        col.add_rows(
            "dvid_unknown",
            "`DVID` is not one of the declared endpoints",
            df,
            unknown,
            column="DVID",
            expected="one of " + ", ".join(sorted(endpoints)),
            fix="correct the DVID or add the endpoint to the DVID map",
        )
    eps = {d: endpoint_for(d, dict(endpoints) if endpoints else None) for d in dvid.unique()}
    scale = dvid.map({d: e.scale for d, e in eps.items()})
    # -- CENS
    if "CENS" in raw.columns:
        cens, bad = to_num(raw["CENS"])
        col.add_rows(
            "cens_invalid",
            "`CENS` is not -1, 0 or 1",
            df.assign(CENS=raw["CENS"]),
            bad | (cens.notna() & ~cens.isin([-1, 0, 1])),
            column="CENS",
            expected="CENS in {-1 (right-censored), 0 (none), 1 (left-censored, BLQ)}",
            fix="use CENS=1 for BLQ records with DV holding the LLOQ, 0 otherwise",
        )
        cens = cens.where(cens.isin([-1, 0, 1]), 0).fillna(0)
    else:
        cens = pd.Series(0.0, index=raw.index)
    # -- LLOQ
    if "LLOQ" in raw.columns:
        lloq, bad = to_num(raw["LLOQ"])
        col.add_rows(
            "lloq_invalid",
            "`LLOQ` is not a positive number",
            df.assign(LLOQ=raw["LLOQ"]),
            bad | (lloq <= 0),
            column="LLOQ",
            expected="the assay's lower limit of quantification, > 0, or blank",
            fix="write the LLOQ as a number in the unit of DV",
        )
        lloq = lloq.where(lloq > 0)
    else:
        lloq = pd.Series(np.nan, index=raw.index)
    # -- LIMIT: the other bound of a censored record (nlmixr2/Monolix)
    if "LIMIT" in raw.columns:
        other, bad = to_num(raw["LIMIT"], allow_inf=True)  # +-inf: an open side
        col.add_rows(
            "limit_not_numeric",
            "`LIMIT` is not a number",
            df.assign(LIMIT=raw["LIMIT"]),
            bad & is_obs,
            column="LIMIT",
            expected="the other bound of a censored record as a number, or blank",
            fix="write LIMIT as a number in the unit of DV (for CENS=1 the lower bound, "
            "e.g. 0; for CENS=-1 the upper bound), or leave it blank",
        )
    else:
        other = pd.Series(np.nan, index=raw.index)
    # -- DV, with the raw BLQ text form
    row_id = dict(zip(df["ROW"], df["ID"], strict=True))
    conversions: list[dict[str, Any]] = [
        {
            "ROW": c["ROW"],
            "ID": row_id.get(c["ROW"], ""),
            "code": c["code"],
            "message": c["message"],
        }
        for c in text.conversions
    ] + dvid_conv
    dv_raw = raw["DV"].astype(str).str.strip()
    dv, bad = to_num(dv_raw)
    lt = dv_raw.str.extract(_LT)[0]
    lt_num = pd.to_numeric(lt, errors="coerce")
    word = dv_raw.str.upper().str.replace(" ", "", regex=False).isin(_BLQ_WORDS)
    text_blq = is_obs & (lt_num.notna() | word)
    no_limit = text_blq & lt_num.isna() & lloq.isna()
    col.add_rows(
        "blq_without_lloq",
        "`DV` says below the limit but no limit is given",
        df.assign(DV=dv_raw),
        no_limit,
        column="DV",
        expected="'<50' (limit in the text) or an LLOQ column value on the row",
        fix="write the limit in DV as '<LLOQ value' or fill the LLOQ column",
    )
    conv = text_blq & ~no_limit
    if bool(conv.any()):
        limit = lt_num.where(lt_num.notna(), lloq)
        _record(
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
    col.add_rows(
        "dv_not_numeric",
        "`DV` is not a number",
        df.assign(DV=dv_raw),
        bad & is_obs & ~no_limit,
        column="DV",
        expected="a number, or '<LLOQ'/'BLQ' for a value below the limit",
        fix="remove units and thousands separators ('1,250' -> 1250); "
        "'<50' or 'BLQ' would be read as censored",
    )
    dv_missing = is_obs & dv.isna() & ~bad & ~no_limit
    col.add_rows(
        "dv_missing",
        "observation record without `DV`",
        df.assign(DV=dv_raw),
        dv_missing,
        column="DV",
        expected="a DV on every observation record (EVID=0, MDV=0)",
        fix="fill in DV, or set MDV=1 if the sample was not taken or not analysed",
    )
    df["DV"] = dv
    df["CENS"] = cens.astype(int)
    df["LLOQ"] = lloq
    ok_dv = is_obs & dv.notna()
    _censoring_bounds(df, other, ok_dv, scale, col, conversions)
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
    # a measured value reported below the LLOQ is censored at the LLOQ (recorded)
    negative_log = ok_dv & (scale == "log") & (dv < 0)  # a violation, never censored
    below = (
        ok_dv & (df["CENS"] == 0) & lloq.notna() & (dv < lloq) & (scale != "grade") & ~negative_log
    )
    _record(
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
    grade = scale == "grade"
    col.add_rows(
        "grade_invalid",
        "a graded event's `DV` is not an integer grade 0-5",
        df,
        ok_dv & grade & ~(df["DV"].isin([0, 1, 2, 3, 4, 5])),
        column="DV",
        show=("DVID", "DV"),
        expected="CTCAE v4.0 / CRS grade as an integer 0-5",
        fix="write the grade as 0, 1, 2, 3, 4 or 5",
    )
    # -- OCC
    if "OCC" in raw.columns:
        occ, bad = to_num(raw["OCC"])
        col.add_rows(
            "occ_invalid",
            "`OCC` is not a whole number",
            df.assign(OCC=raw["OCC"]),
            bad | (occ.notna() & (occ % 1 != 0)),
            column="OCC",
            expected="occasion as 1, 2, ...",
            fix="number occasions with integers",
        )
        df["OCC"] = occ.fillna(1)
    else:
        df["OCC"] = 1.0
    # -- duplicated observations
    valid_time = df["TIME"].notna()
    keyed = is_obs & valid_time & ~grade & (df["ID"] != "")
    dup = pd.Series(False, index=df.index)
    dup[keyed] = df.loc[keyed].duplicated(["ID", "TIME", "DVID"], keep=False)
    if bool(dup.any()):
        sub = df.loc[dup]
        for (sid, t, d), grp in sub.groupby(["ID", "TIME", "DVID"], sort=False):
            col.add(
                Violation(
                    "duplicate_observation",
                    "more than one observation at the same `ID`, `TIME` and `DVID`",
                    id=sid,
                    rows=tuple(int(r) for r in grp["ROW"]),
                    column="TIME",
                    value=f"TIME={t:g}, DVID={d!r}, DV=" + ", ".join(f"{v:g}" for v in grp["DV"]),
                    expected="one record per subject, time and endpoint",
                    fix="average replicate measurements, or set MDV=1 on the ones not to use",
                )
            )
    # -- subjects without observations
    has_obs = df.loc[is_obs, "ID"].unique()
    for sid, grp in df.loc[~df["ID"].isin(has_obs) & (df["ID"] != "")].groupby("ID", sort=False):
        col.add(
            Violation(
                "subject_without_observations",
                "subject has no observation record (EVID=0, MDV=0)",
                id=sid,
                rows=tuple(int(r) for r in grp["ROW"]),
                expected="at least one observation per subject",
                fix="remove the subject or add its observations",
            )
        )
    check_doses(raw, df, col)
    base, tv = check_covariates(raw, df, col, baseline, time_varying)
    for c in raw.columns:
        if c not in df.columns and c not in ("ROW",):
            df[c] = raw[c]
    if col.items:
        return None, col.items
    used, exclusions, df = order_and_exclude(df, conversions)
    conv_df = pd.DataFrame(conversions, columns=["ROW", "ID", "code", "message"])
    used_eps = {d: eps[d] for d in pd.unique(df["DVID"])}
    ds = Dataset(
        table=used,
        endpoints=used_eps,
        exclusions=exclusions,
        conversions=conv_df,
        baseline_covariates=[c for c in base if c in df.columns],
        time_varying_covariates=[c for c in tv if c in df.columns],
        source=name,
        subjects=[str(s) for s in pd.unique(df["ID"])],
    )
    return ds, []


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
