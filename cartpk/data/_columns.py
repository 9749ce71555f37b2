"""Checks of the standard columns of a long table other than ``DV``.

Each check reads its column's text cells from ``raw`` (the table as text), reports every
problem to the :class:`~cartpk.data._cells.Collector` with the value as written, and puts
the parsed column into ``df`` or returns it. Used by :func:`cartpk.data.check_dataset`, in
the order of its columns: ``ID``, ``TIME``, ``EVID``, ``AMT``, ``MDV``, ``DVID``, ``CENS``,
``LLOQ``, ``LIMIT`` (``DV`` is :mod:`cartpk.data._censoring`), ``OCC``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from cartpk.data._cells import Collector, is_missing, non_finite, to_num
from cartpk.data._endpoints import DEFAULT_ENDPOINTS, Endpoint, endpoint_for, near_endpoint

__all__ = [
    "censoring_columns",
    "check_finite",
    "check_id_time",
    "check_occ",
    "endpoint_scales",
    "numbers",
    "read_dvid",
    "read_events",
]

#: picks the rows to report from a column's numbers and its cells that are not numbers
Picker = Callable[[pd.Series, pd.Series], pd.Series]


def numbers(
    raw: pd.DataFrame,
    df: pd.DataFrame,
    col: Collector,
    name: str,
    default: float,
    pick: Picker,
    *,
    code: str,
    message: str,
    expected: str,
    fix: str,
    allow_inf: bool = False,
) -> tuple[pd.Series, pd.Series]:
    """Column ``name`` as numbers and its cells that are not numbers; report ``pick``'s rows.

    ``pick(values, bad)`` selects the rows reported as ``code`` (shown with the text as
    written). An absent column is ``default`` on every row, with nothing reported.
    """
    if name not in raw.columns:
        return pd.Series(default, index=raw.index), pd.Series(False, index=raw.index)
    values, bad = to_num(raw[name], allow_inf=allow_inf)
    col.add_rows(
        code,
        message,
        df.assign(**{name: raw[name]}),
        pick(values, bad),
        column=name,
        expected=expected,
        fix=fix,
    )
    return values, bad


def _outside(*allowed: float) -> Picker:
    """A picker of the cells that are not numbers, or numbers not in ``allowed``."""
    return lambda values, bad: bad | (values.notna() & ~values.isin(list(allowed)))


def check_finite(raw: pd.DataFrame, df: pd.DataFrame, col: Collector) -> None:
    """Report numbers that are not finite (inf, nan, 1e400) in any column but ID and DVID."""
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


def check_id_time(raw: pd.DataFrame, df: pd.DataFrame, col: Collector) -> None:
    """Report empty IDs and bad times; put ``TIME`` (days since infusion) into ``df``."""
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


def read_events(raw: pd.DataFrame, df: pd.DataFrame, col: Collector) -> tuple[pd.Series, pd.Series]:
    """Check ``EVID``, ``AMT`` and ``MDV``, put them into ``df`` and return EVID and MDV."""
    evid, _ = numbers(
        raw,
        df,
        col,
        "EVID",
        0.0,
        _outside(0, 1, 2),
        code="evid_invalid",
        message="`EVID` is not one of 0 (observation), 1 (dose), 2 (other)",
        expected="EVID in {0, 1, 2}; reset events (3, 4) are not supported",
        fix="use 0 for observations and 1 for the infusion",
    )
    evid = evid.fillna(0)
    df["EVID"] = evid.astype(int, errors="ignore") if evid.notna().all() else evid
    amt, bad = numbers(
        raw,
        df,
        col,
        "AMT",
        np.nan,
        lambda values, bad: bad,
        code="amt_not_numeric",
        message="`AMT` is not a number",
        expected="the infused amount as a number (e.g. 1e8 CAR+ cells)",
        fix="write AMT as a number without units or thousands separators",
    )
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
    mdv, _ = numbers(
        raw,
        df,
        col,
        "MDV",
        np.nan,
        _outside(0, 1),
        code="mdv_invalid",
        message="`MDV` is not 0 or 1",
        expected="MDV in {0, 1}",
        fix="set MDV=1 for records without a usable DV, 0 otherwise",
    )
    mdv = mdv.where(mdv.notna(), (evid != 0).astype(float))
    df["MDV"] = mdv
    return evid, mdv


def read_dvid(
    raw: pd.DataFrame,
    df: pd.DataFrame,
    col: Collector,
    endpoints: Mapping[str, Endpoint] | None,
    default_dvid: str,
) -> tuple[pd.Series, list[dict[str, Any]], pd.Series]:
    """The DVID of every row, the case corrections made and the rows reported as misspelt.

    A blank DVID is ``default_dvid``. A DVID one letter or only case away from a known
    endpoint is never a new endpoint: a case difference is corrected (and recorded), a
    one-letter difference reported (unless a DVID map is declared: then ``dvid_unknown``).
    """
    if "DVID" in raw.columns:
        dvid = raw["DVID"].astype(str).str.strip()
        dvid = dvid.where(~is_missing(dvid), default_dvid)
    else:
        dvid = pd.Series(default_dvid, index=raw.index)
    known = list(endpoints) if endpoints is not None else list(DEFAULT_ENDPOINTS)
    conversions: list[dict[str, Any]] = []
    misspelt = pd.Series(False, index=raw.index)
    for d in pd.unique(dvid):
        if d in known:
            continue
        same, near = near_endpoint(str(d), known)
        hit = dvid == d
        if same is not None:
            first = int(np.flatnonzero(hit.to_numpy())[0])
            conversions.append(
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
    return dvid, conversions, misspelt


def endpoint_scales(
    df: pd.DataFrame,
    col: Collector,
    dvid: pd.Series,
    is_obs: pd.Series,
    misspelt: pd.Series,
    endpoints: Mapping[str, Endpoint] | None,
) -> tuple[dict[str, Endpoint], pd.Series]:
    """The endpoint of each DVID and the scale of each row; report undeclared DVIDs."""
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
    return eps, scale


def censoring_columns(
    raw: pd.DataFrame, df: pd.DataFrame, col: Collector, is_obs: pd.Series
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Check and return ``CENS`` (0 where invalid), ``LLOQ`` (> 0 or NaN) and ``LIMIT``.

    ``LIMIT`` is the other bound of a censored record (nlmixr2/Monolix); +-inf is a number
    there (an open side).
    """
    cens, _ = numbers(
        raw,
        df,
        col,
        "CENS",
        0.0,
        _outside(-1, 0, 1),
        code="cens_invalid",
        message="`CENS` is not -1, 0 or 1",
        expected="CENS in {-1 (right-censored), 0 (none), 1 (left-censored, BLQ)}",
        fix="use CENS=1 for BLQ records with DV holding the LLOQ, 0 otherwise",
    )
    cens = cens.where(cens.isin([-1, 0, 1]), 0).fillna(0)
    lloq, _ = numbers(
        raw,
        df,
        col,
        "LLOQ",
        np.nan,
        lambda values, bad: bad | (values <= 0),
        code="lloq_invalid",
        message="`LLOQ` is not a positive number",
        expected="the assay's lower limit of quantification, > 0, or blank",
        fix="write the LLOQ as a number in the unit of DV",
    )
    lloq = lloq.where(lloq > 0)
    other, _ = numbers(
        raw,
        df,
        col,
        "LIMIT",
        np.nan,
        lambda values, bad: bad & is_obs,
        code="limit_not_numeric",
        message="`LIMIT` is not a number",
        expected="the other bound of a censored record as a number, or blank",
        fix="write LIMIT as a number in the unit of DV (for CENS=1 the lower bound, "
        "e.g. 0; for CENS=-1 the upper bound), or leave it blank",
        allow_inf=True,
    )
    return cens, lloq, other


def check_occ(raw: pd.DataFrame, df: pd.DataFrame, col: Collector) -> None:
    """Check ``OCC`` (whole numbers) and put it into ``df`` (1 where blank or absent)."""
    occ, _ = numbers(
        raw,
        df,
        col,
        "OCC",
        np.nan,
        lambda values, bad: bad | (values.notna() & (values % 1 != 0)),
        code="occ_invalid",
        message="`OCC` is not a whole number",
        expected="occasion as 1, 2, ...",
        fix="number occasions with integers",
    )
    df["OCC"] = occ.fillna(1)
