"""The data route: a long trial table (+ lesions) -> one row per subject for E-R analyses."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["er_subjects"]


def _survival(timepoints: pd.DataFrame, bor: pd.DataFrame) -> pd.DataFrame:
    """PFS and duration of response from RECIST time points (days since infusion)."""
    rows = []
    responders = set(bor.loc[bor["BOR_CONFIRMED"].isin(["CR", "PR"]), "ID"].astype(str))
    for sid, g in timepoints.groupby("ID", sort=False):
        g = g[g["DAY"] > 0].sort_values("DAY")
        resp = g["OVRLRESP"].astype(str)
        pd_days = g.loc[resp == "PD", "DAY"]
        last = float(g["DAY"].max()) if len(g) else math.nan
        if len(pd_days):
            pfs, pfs_ev = float(pd_days.iloc[0]), 1
        else:
            pfs, pfs_ev = last, 0
        dor, dor_ev = math.nan, math.nan
        if str(sid) in responders:
            first = g.loc[resp.isin(["CR", "PR"]), "DAY"]
            if len(first):
                start = float(first.iloc[0])
                dor, dor_ev = pfs - start, pfs_ev
        rows.append(
            {
                "ID": str(sid),
                "pfs_time": pfs,
                "pfs_event": pfs_ev,
                "dor_time": dor,
                "dor_event": dor_ev,
            }
        )
    return pd.DataFrame(rows, columns=["ID", "pfs_time", "pfs_event", "dor_time", "dor_event"])


def er_subjects(
    data: Any,
    lesions: str | os.PathLike[str] | pd.DataFrame | None = None,
    *,
    dvid: str = "QPCR",
    interval: tuple[float, float] = (0, 28),
    cytokines: Sequence[str] = ("IL6", "IFNG"),
    min_sd_days: float = 42,
    confirm_days: float = 28,
) -> pd.DataFrame:
    """One row per subject with exposure, endpoints and covariates, from the trial data.

    Parameters
    ----------
    data : path, DataFrame or Dataset
        Long trial table (read with :func:`cartpk.read_dataset` unless already a Dataset).
    lesions : path or DataFrame, optional
        RECIST 1.1 lesion table for :func:`cartpk.recist`; without it no response columns.
    dvid : str, default "QPCR"
        Endpoint whose NCA gives the exposure columns.
    interval : (float, float), default (0, 28)
        AUC interval in days (``auc_0_28d`` by default).
    cytokines : sequence of str, default ("IL6", "IFNG")
        Cytokines whose peaks are added (those absent from the data are skipped).
    min_sd_days, confirm_days : float
        RECIST settings passed to :func:`cartpk.recist`.

    Returns
    -------
    DataFrame
        ``ID``; the baseline covariates of the dataset (e.g. ``DOSE, SLD0, TARGET``); the
        NCA wide columns of ``dvid`` (``cmax, tmax, auc_0_28d, ...``); ``crs_grade``
        (maximum CRS grade, 0 without a record), ``crs_grade3plus`` (0/1); ``ae_grade``
        (maximum grade over the other graded events), ``ae_grade3plus``; per cytokine
        ``<dvid>_cmax``, ``<dvid>_tmax``, ``<dvid>_auc`` (lower case); with lesions
        ``bor`` (confirmed BOR), ``bor_unconfirmed``, ``orr`` (1 for confirmed CR/PR, 0
        otherwise, NE counted as non-response), ``pfs_time``/``pfs_event`` (first PD, else
        censored at the last assessment) and, for confirmed responders, ``dor_time``/
        ``dor_event`` (first CR/PR to PD or last assessment). Subjects are those of the
        dataset; a value that cannot be derived is missing (never dropped).

    Notes
    -----
    Warnings raised by the stages (e.g. RECIST input warnings) pass through unchanged.
    """
    from cartpk.data import read_dataset
    from cartpk.noncompartmental import nca
    from cartpk.response import ae_summary, crs_summary, cytokine_peaks, recist

    ds = data if hasattr(data, "observations") else read_dataset(data)
    out = pd.DataFrame({"ID": [str(s) for s in ds.subjects]})
    cov = ds.covariates.copy()
    cov["ID"] = cov["ID"].astype(str)
    out = out.merge(cov, on="ID", how="left", validate="one_to_one")
    if dvid in ds.endpoints:
        wide = nca(ds, dvid=dvid, interval=interval).wide.drop(columns=["DVID"])
        wide["ID"] = wide["ID"].astype(str)
        out = out.merge(wide, on="ID", how="left", validate="one_to_one")
    events = ds.events
    if len(events):
        is_crs = events["EVENT"].astype(str).str.upper() == "CRS"
        crs = crs_summary(ds)
        out = out.merge(
            pd.DataFrame(
                {
                    "ID": crs["ID"].astype(str),
                    "crs_grade": crs["MAX_GRADE"],
                    "crs_grade3plus": crs["GRADE3PLUS"].astype(int),
                }
            ),
            on="ID",
            how="left",
            validate="one_to_one",
        )
        other = events[~is_crs]
        if len(other):
            ae = ae_summary(other, subjects=list(out["ID"]))
            worst = ae.groupby("ID", sort=False)["MAX_GRADE"].max()
            out["ae_grade"] = out["ID"].map(worst)
            out["ae_grade3plus"] = (out["ae_grade"] >= 3).astype(int)
    present = [c for c in cytokines if c in ds.endpoints]
    if present:
        peaks = cytokine_peaks(ds, dvids=present)
        for c in present:
            p = peaks[peaks["DVID"] == c].set_index(peaks.loc[peaks["DVID"] == c, "ID"].astype(str))
            for src, dst in (("CMAX", "cmax"), ("TMAX", "tmax"), ("AUC", "auc")):
                out[f"{c.lower()}_{dst}"] = out["ID"].map(p[src])
    if lesions is not None:
        res = recist(lesions, min_sd_days=min_sd_days, confirm_days=confirm_days)
        bor = res.bor.copy()
        bor["ID"] = bor["ID"].astype(str)
        out["bor"] = out["ID"].map(bor.set_index("ID")["BOR_CONFIRMED"])
        out["bor_unconfirmed"] = out["ID"].map(bor.set_index("ID")["BOR_UNCONFIRMED"])
        out["orr"] = np.where(
            out["bor"].isna(), np.nan, out["bor"].isin(["CR", "PR"]).astype(float)
        )
        tp = res.timepoints.copy()
        tp["ID"] = tp["ID"].astype(str)
        surv = _survival(tp, bor)
        out = out.merge(surv, on="ID", how="left", validate="one_to_one")
    return out
