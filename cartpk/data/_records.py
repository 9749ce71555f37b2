"""Dose and observation records of a long table: ordering and exclusions, vectorised."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["order_and_exclude"]


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
