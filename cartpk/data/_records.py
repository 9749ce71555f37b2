"""Dose and observation records of a long table: ordering and exclusions, vectorised."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cartpk.data._cells import Collector, is_missing

__all__ = ["check_doses", "order_and_exclude"]


def check_doses(raw: pd.DataFrame, df: pd.DataFrame, col: Collector) -> None:
    """Check the dose records: one infusion per subject, at ``TIME`` 0, flagged ``EVID=1``.

    cartpk models a single CAR-T infusion with ``TIME`` in days since it. A record with
    ``AMT`` but a blank ``EVID``, ``AMT`` on an observation record, a second dose record
    and a dose at a ``TIME`` other than 0 are violations (never silently ignored).

    Parameters
    ----------
    raw : pandas.DataFrame
        The table as text cells, canonical column names.
    df : pandas.DataFrame
        The parsed table (``ROW, ID, TIME, EVID, AMT, ...``).
    col : Collector
        Receives the violations.
    """
    evid, amt = df["EVID"], df["AMT"]
    amt_text = raw["AMT"] if "AMT" in raw.columns else pd.Series("", index=raw.index)
    blank = is_missing(raw["EVID"]) if "EVID" in raw.columns else pd.Series(True, index=raw.index)
    given = amt.notna() & (amt != 0)
    show = df.assign(AMT=amt_text, EVID=raw["EVID"] if "EVID" in raw.columns else "")
    col.add_rows(
        "evid_missing_with_amt",
        "record with `AMT` but no `EVID`: a dose cannot be told from an observation",
        show,
        blank & given,
        column="EVID",
        show=("EVID", "AMT"),
        expected="EVID=1 on the dose record (the infusion), EVID=0 on observations",
        fix="add an EVID column (or fill it in) with 1 on the dose record",
    )
    col.add_rows(
        "amt_on_observation",
        "observation record (`EVID`=0) with an `AMT`",
        show,
        ~blank & (evid == 0) & given,
        column="AMT",
        show=("EVID", "AMT"),
        expected="AMT blank or 0 on observation records; the dose on its own EVID=1 record",
        fix="move the amount to the dose record (EVID=1), or set EVID=1 if this is the dose",
    )
    dose = evid == 1
    col.add_rows(
        "dose_not_at_time_zero",
        "dose record (`EVID`=1) not at `TIME` 0",
        df,
        dose & df["TIME"].notna() & (df["TIME"] != 0),
        column="TIME",
        show=("TIME", "AMT"),
        expected="the infusion at TIME 0: TIME is days since the infusion",
        fix="shift the subject's TIME so that the infusion is at 0",
    )
    n_doses = dose.groupby(df["ID"]).transform("sum")
    repeated = dose & (n_doses > 1) & (df["ID"] != "")
    for _, grp in df.loc[repeated].groupby("ID", sort=False):
        col.add_group(
            "dose_repeated",
            "more than one dose record (`EVID`=1) for the subject",
            grp,
            column="EVID",
            value="; ".join(
                f"TIME={t:g}, AMT={a:g}" for t, a in zip(grp["TIME"], grp["AMT"], strict=True)
            ),
            expected="one CAR-T infusion per subject (cartpk models a single dose)",
            fix="enter a split infusion as one record at TIME 0 with the total AMT; "
            "analyse re-infusions as a separate subject or occasion file",
        )
    _check_undosed(df, dose, col)


def _check_undosed(df: pd.DataFrame, dose: pd.Series, col: Collector) -> None:
    """A subject without a dose record in a table whose other subjects have one.

    A table without any dose record is the plain ``ID, TIME, DV`` form (``TIME`` in days
    since the infusion). Once a table has dose records, a subject without one would be
    fitted as if infused at ``TIME`` 0 (with the model's default dose): never assumed.
    Subjects with a problem already reported on ``EVID`` or ``AMT`` (an unreadable ``EVID``,
    an ``AMT`` on an observation record) are left out: their dose is that problem.
    """
    if not bool(dose.any()):
        return
    reported = {v.id for v in col.items if v.column in ("EVID", "AMT")}
    dosed = set(df.loc[dose, "ID"]) | reported
    undosed = ~df["ID"].isin(dosed) & (df["ID"] != "")
    n_dosed = df.loc[dose, "ID"].nunique()
    for _, grp in df.loc[undosed].groupby("ID", sort=False):
        col.add_group(
            "dose_missing",
            f"subject has no dose record (`EVID`=1), while {n_dosed} other subject(s) have one",
            grp.iloc[:1],
            column="EVID",
            value=f"{len(grp)} record(s), none with EVID=1",
            expected="each subject's infusion on an EVID=1 record at TIME 0 with its AMT",
            fix="add the subject's infusion record (EVID=1, TIME 0, AMT = cells infused), "
            "or remove the subject if it was never infused",
        )


def order_and_exclude(
    df: pd.DataFrame, conversions: list[dict[str, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Sort each subject's records by ``TIME`` and split off the records not used.

    Parameters
    ----------
    df : pandas.DataFrame
        The parsed, valid table (``ROW, ID, TIME, EVID, MDV, ...``).
    conversions : list of dict
        Receives one ``time_resorted`` entry per subject whose records were re-sorted.

    Returns
    -------
    used : pandas.DataFrame
        The records used, index reset.
    exclusions : pandas.DataFrame
        ``ROW, ID, code, reason`` of the records not used, in table order.
    table : pandas.DataFrame
        All records, sorted.
    """
    df = df.copy()
    df["EVID"] = df["EVID"].astype(int)
    df["MDV"] = df["MDV"].astype(int)
    back = df.groupby("ID", sort=False)["TIME"].diff() < 0
    if bool(back.any()):
        unsorted = pd.unique(df.loc[back, "ID"])
        first_row = df.groupby("ID", sort=False)["ROW"].first()
        for sid in unsorted:
            conversions.append(
                {
                    "ROW": int(first_row[sid]),
                    "ID": sid,
                    "code": "time_resorted",
                    "message": "records were not in time order; sorted by TIME "
                    "(stable: records at the same time keep their order)",
                }
            )
        id_order = {sid: k for k, sid in enumerate(pd.unique(df["ID"]))}
        df = (
            df.assign(_o=df["ID"].map(id_order))
            .sort_values(["_o", "TIME", "ROW"], kind="stable")
            .drop(columns="_o")
            .reset_index(drop=True)
        )
    evid = df["EVID"].to_numpy()
    mdv = df["MDV"].to_numpy()
    time = df["TIME"].to_numpy(dtype=float)
    pos = pd.Series(np.arange(len(df)), index=df.index)
    dose = evid == 1
    t0 = df.loc[dose].groupby("ID")["TIME"].min()
    first_pos = pos[dose].groupby(df.loc[dose, "ID"]).min()
    sub_t0 = df["ID"].map(t0).to_numpy(dtype=float)
    sub_pos = df["ID"].map(first_pos).to_numpy(dtype=float)
    other = evid == 2
    not_used = (evid == 0) & (mdv == 1)
    with np.errstate(invalid="ignore"):
        pre = (
            (evid == 0)
            & ~not_used
            & ~np.isnan(sub_t0)
            & ((time < sub_t0) | ((time == sub_t0) & (pos.to_numpy() < sub_pos)))
        )
    out = other | not_used | pre
    code = np.where(other, "evid_other", np.where(not_used, "mdv", "pre_dose"))[out]
    reason = [
        "EVID=2 (other-type event) is not used by cartpk"
        if c == "evid_other"
        else "MDV=1: the record's DV is not to be used"
        if c == "mdv"
        else f"pre-dose observation (TIME={t:g} before the infusion at TIME={t0_:g}): "
        "baseline value, not used in kinetic analyses"
        for c, t, t0_ in zip(code, time[out], sub_t0[out], strict=True)
    ]
    exclusions = pd.DataFrame(
        {
            "ROW": df["ROW"].to_numpy()[out].astype(int),
            "ID": df["ID"].to_numpy()[out],
            "code": code,
            "reason": reason,
        },
        columns=["ROW", "ID", "code", "reason"],
    )
    used = df.loc[~out].reset_index(drop=True)
    return used, exclusions, df
