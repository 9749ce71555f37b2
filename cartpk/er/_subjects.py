"""The data route: a long trial table (+ lesions) -> one row per subject for E-R analyses."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["er_subjects"]


SURVIVAL_COLUMNS = [
    "ID",
    "pfs_time",
    "pfs_event",
    "dor_time",
    "dor_event",
    "death_day",
    "os_time",
    "os_event",
]


def _survival(
    timepoints: pd.DataFrame,
    bor: pd.DataFrame,
    deaths: pd.DataFrame | None = None,
    *,
    last_alive: dict[str, float] | None = None,
    landmark: float | None = None,
) -> pd.DataFrame:
    """PFS, duration of response and overall survival from RECIST time points.

    Parameters
    ----------
    timepoints : DataFrame
        ``ID, DAY, OVRLRESP`` (days since infusion; baseline rows ``DAY <= 0`` are ignored).
    bor : DataFrame
        ``ID, BOR_CONFIRMED``: confirmed CR/PR makes a responder.
    deaths : DataFrame, optional
        ``ID, DEATH_DAY`` (``NaN`` = alive or not known to have died).
    last_alive : dict, optional
        Subject -> last day known alive from other records (e.g. blood samples), for OS.
    landmark : float, optional
        Landmark day: PFS ending on or before it is set missing with the reason in
        ``pfs_exclusion``; PFS of the others is counted from the landmark.

    Returns
    -------
    DataFrame
        :data:`SURVIVAL_COLUMNS`, plus ``pfs_exclusion`` with a landmark; see
        :func:`er_subjects` for the rules.
    """
    rows = []
    responders = set(bor.loc[bor["BOR_CONFIRMED"].isin(["CR", "PR"]), "ID"].astype(str))
    death_of: dict[str, float] = {}
    if deaths is not None:
        death_of = {
            str(k): float(v) for k, v in zip(deaths["ID"], deaths["DEATH_DAY"], strict=True)
        }
    for sid, g in timepoints.groupby("ID", sort=False):
        sid = str(sid)
        g = g[g["DAY"] > 0].sort_values("DAY")
        resp = g["OVRLRESP"].astype(str)
        pd_days = g.loc[resp == "PD", "DAY"]
        last = float(g["DAY"].max()) if len(g) else math.nan
        first_pd = float(pd_days.iloc[0]) if len(pd_days) else math.inf
        death = death_of.get(sid, math.nan)
        death_or_inf = death if math.isfinite(death) else math.inf
        # progression or death, whichever first; a death with no assessment after baseline,
        # or after the last one, is an event too (FDA 2018 PFS table: no missed-visit rule)
        if math.isfinite(min(first_pd, death_or_inf)):
            pfs, pfs_ev = min(first_pd, death_or_inf), 1
            cause = "progression" if first_pd <= death_or_inf else "death"
        elif math.isfinite(last):
            pfs, pfs_ev, cause = last, 0, "censored"
        else:  # no assessment after baseline and no death: nothing to count
            pfs, pfs_ev, cause = math.nan, math.nan, ""
        dor, dor_ev = math.nan, math.nan
        if sid in responders:
            first = g.loc[resp.isin(["CR", "PR"]), "DAY"]
            if len(first):
                start = float(first.iloc[0])
                dor, dor_ev = pfs - start, pfs_ev
        known = [d for d in (last, (last_alive or {}).get(sid, math.nan)) if math.isfinite(d)]
        if math.isfinite(death):
            os_time, os_ev = death, 1
        elif known:  # censored on the last day known alive
            os_time, os_ev = max(known), 0
        else:
            os_time, os_ev = math.nan, math.nan
        row = {
            "ID": sid,
            "pfs_time": pfs,
            "pfs_event": pfs_ev,
            "dor_time": dor,
            "dor_event": dor_ev,
            "death_day": death,
            "os_time": os_time,
            "os_event": os_ev,
        }
        if landmark is not None:
            row.update(_landmark(pfs, cause, float(landmark)))
        rows.append(row)
    columns = SURVIVAL_COLUMNS + (["pfs_exclusion"] if landmark is not None else [])
    out = pd.DataFrame(rows, columns=columns)
    for c in SURVIVAL_COLUMNS[1:]:
        out[c] = out[c].astype(float)
    return out


def _landmark(pfs: float, cause: str, landmark: float) -> dict[str, Any]:
    """PFS counted from the landmark, or missing with the reason it is excluded."""
    if math.isnan(pfs):
        why = "no assessment after baseline and no death: PFS unknown"
        return {"pfs_time": math.nan, "pfs_event": math.nan, "pfs_exclusion": why}
    if pfs > landmark:
        return {"pfs_time": pfs - landmark, "pfs_exclusion": ""}
    where = (
        f"before the landmark on day {landmark:g}"
        if pfs < landmark
        else f"at the landmark (day {landmark:g})"
    )
    if cause == "censored":
        why = f"censored on day {pfs:g} (last assessment), {where}"
    else:
        why = f"PFS event ({cause}) on day {pfs:g}, {where}"
    return {"pfs_time": math.nan, "pfs_event": math.nan, "pfs_exclusion": why}


def _check_landmark(landmark: Any, lesions: Any) -> None:
    from cartpk.errors import SpecError, Violation

    if landmark is None:
        return
    ok = (
        isinstance(landmark, numbers.Real)  # numpy numbers too
        and not isinstance(landmark, bool)
        and math.isfinite(landmark)
        and landmark >= 0
    )
    if not ok:
        raise SpecError(
            "`landmark` must be a number of days >= 0",
            [
                Violation(
                    "option_invalid",
                    "`landmark` is not a number of days >= 0",
                    column="landmark",
                    value=repr(landmark),
                    expected="days since infusion >= 0, e.g. 28, or None for no landmark",
                    fix="pass e.g. `landmark=28`",
                )
            ],
        )
    if lesions is None:
        raise SpecError(
            "`landmark` applies to PFS, which needs the RECIST lesion table",
            [
                Violation(
                    "landmark_without_lesions",
                    "`landmark` is given without `lesions`",
                    column="landmark",
                    value=repr(landmark),
                    expected="a RECIST lesion table (`lesions=`) from which PFS is derived",
                    fix="pass `lesions=`, or drop `landmark`",
                )
            ],
        )


#: exposure and time columns in days whatever the endpoint
_DAY_COLUMNS = ("tmax", "tlast", "time_above_lloq", "pfs_time", "os_time", "dor_time", "thalf")


def _check_lesion_subjects(lesion_ids: list[str], data_ids: list[str]) -> None:
    """Lesion-table subjects must be trial subjects: none in common raises, a few unknown warn.

    Subjects of the trial data without lesions keep missing response endpoints (recorded
    as exclusions by the analyses); lesion-table subjects absent from the trial data have
    no exposure and are not used, which is said, never done silently.
    """
    import warnings

    from cartpk.errors import CartpkWarning, DatasetError, Violation

    known = set(data_ids)
    unknown = [s for s in dict.fromkeys(lesion_ids) if s not in known]
    if not unknown:
        return
    shown = ", ".join(unknown[:10]) + (
        f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
    )
    if len(unknown) == len(set(lesion_ids)):
        raise DatasetError(
            "no subject of the lesion table is in the trial data",
            [
                Violation(
                    "lesions_no_common_subject",
                    "the lesion table and the trial data share no subject ID",
                    column="ID",
                    value=f"lesion table: {shown}; trial data: {', '.join(data_ids[:5])}",
                    expected="the trial's subject IDs in the lesion table's ID column",
                    fix="use the same subject identifiers in both tables (compare the ID "
                    "columns: prefixes, leading zeros, site numbers)",
                )
            ],
        )
    warnings.warn(
        CartpkWarning(
            f"{len(unknown)} subject(s) of the lesion table are not in the trial data and "
            f"are not used: {shown}. Check their IDs if they should be.",
            code="lesions_subject_not_in_data",
        ),
        stacklevel=3,
    )


def column_units(
    columns: Sequence[str], endpoints: Mapping[str, Any], *, dvid: str = "QPCR"
) -> dict[str, str]:
    """Unit of each per-subject column whose unit cartpk knows (for axes and tables).

    Parameters
    ----------
    columns : sequence of str
        Columns of the per-subject table.
    endpoints : mapping
        ``DVID`` -> :class:`cartpk.data.Endpoint` (``Dataset.endpoints``).
    dvid : str, default "QPCR"
        Endpoint of the NCA / model exposure columns (``cmax``, ``auc_0_28d``, ...).

    Returns
    -------
    dict
        The NCA parameters (``cmax``, ``auclast``, ``lambda_z``, ...) and
        ``<cytokine>_cmax``: the NCA registry's unit of the endpoint (``auc_*``: day x
        unit); their ``_nca``, ``_lower`` and ``_upper`` companions likewise; times
        (``tmax``, ``pfs_time``, ...): ``day``; grades: ``grade``. Columns without a known
        unit (covariates, counts, fractions) are absent.

    Examples
    --------
    >>> from cartpk.data import DEFAULT_ENDPOINTS as E
    >>> column_units(["cmax", "auc_0_28d", "tmax", "il6_cmax", "crs_grade", "AGE"], E)
    {'cmax': 'copies/ug', 'auc_0_28d': 'day*copies/ug', 'tmax': 'day', 'il6_cmax': 'pg/mL', 'crs_grade': 'grade'}
    """

    from cartpk.noncompartmental._registry import PARAMETERS, unit_for

    kinds = {p.name: p.unit for p in PARAMETERS if not p.interval}

    def unit(name: str) -> str:
        e = endpoints.get(name)
        return str(getattr(e, "unit", "") or "")

    def kind_of(c: str) -> str | None:
        if c in kinds:
            return kinds[c]
        if c in _DAY_COLUMNS or c.endswith("_day"):
            return "time"
        if c.startswith("auc_") or c == "auc":
            return "auc"
        for suffix in ("_nca", "_input", "_lower", "_upper"):  # cmax_nca, auc_0_28d_lower
            if c.endswith(suffix) and c[: -len(suffix)]:
                return kind_of(c[: -len(suffix)])
        return None

    out: dict[str, str] = {}
    prefixes = {d.lower(): d for d in endpoints if d != dvid}
    for col in columns:
        c = str(col)
        base, _, metric = c.partition("_")
        source = dvid
        if base in prefixes and metric:  # il6_cmax, ifng_auc, ...
            source, c = prefixes[base], metric
        conc = unit(source)
        if c.endswith("grade"):
            out[str(col)] = "grade"
            continue
        kind = kind_of(c)
        # the NCA registry's units, so both tables spell them alike; counts and
        # fractions have none
        if kind in ("time", "rate", "percent") or (kind in ("conc", "auc") and conc):
            out[str(col)] = unit_for(kind, conc, "day")
    return out


def _descriptions(
    out: pd.DataFrame, ds: Any, nca_text: Mapping[str, str], cytokines: Sequence[str]
) -> dict[str, str]:
    """What the covariate, NCA and cytokine columns of the subject table hold."""
    text: dict[str, str] = {}
    for c in ds.covariates.columns:
        if c != "ID" and c in out.columns:
            text[str(c)] = (
                f"baseline covariate `{c}` of the data file (its unit is the file's; "
                "cartpk does not know it)"
            )
    for c, label in nca_text.items():
        text[str(c)] = f"NCA: {label}"
    peak = {"cmax": "peak (Cmax)", "tmax": "time of the peak", "auc": "AUC over the sampling"}
    for d in cytokines:
        for k, v in peak.items():
            text[f"{d.lower()}_{k}"] = f"{d}: {v}"
    return text


def er_subjects(
    data: Any,
    lesions: str | os.PathLike[str] | pd.DataFrame | None = None,
    *,
    dvid: str = "QPCR",
    interval: tuple[float, float] = (0, 28),
    cytokines: Sequence[str] = ("IL6", "IFNG"),
    min_sd_days: float = 42,
    confirm_days: float = 28,
    landmark: float | None = None,
) -> pd.DataFrame:
    """One row per subject with exposure, endpoints and covariates, from the trial data.

    Parameters
    ----------
    data : path, DataFrame or Dataset
        Long trial table (read with :func:`cartpk.read_dataset` unless already a Dataset).
    lesions : path or DataFrame, optional
        RECIST 1.1 lesion table for :func:`cartpk.recist`; without it no response columns.
        Its optional ``DEATH_DAY`` column (day of death since infusion, one value per
        subject, blank if alive or unknown) makes death a PFS, DOR and OS event.
    dvid : str, default "QPCR"
        Endpoint whose NCA gives the exposure columns.
    interval : (float, float), default (0, 28)
        AUC interval in days (``auc_0_28d`` by default).
    cytokines : sequence of str, default ("IL6", "IFNG")
        Cytokines whose peaks are added (those absent from the data are skipped).
    min_sd_days, confirm_days : float
        RECIST settings passed to :func:`cartpk.recist`.
    landmark : float, optional
        Landmark day (days since infusion) for PFS, e.g. 28 when exposure is the AUC to
        day 28: a subject whose PFS event or censoring falls on or before it is excluded
        from PFS (``pfs_time``, ``pfs_event`` missing, the reason in ``pfs_exclusion``);
        the others' ``pfs_time`` is counted from the landmark. Needs ``lesions``.

    Returns
    -------
    DataFrame
        ``ID``; the baseline covariates of the dataset (e.g. ``DOSE, SLD0, TARGET``); the
        NCA wide columns of ``dvid`` (``cmax, tmax, auc_0_28d, ...``); ``crs_grade``
        (maximum CRS grade, 0 without a record), ``crs_grade3plus`` (0/1); ``ae_grade``
        (maximum grade over the other graded events), ``ae_grade3plus``; per cytokine
        ``<dvid>_cmax``, ``<dvid>_tmax``, ``<dvid>_auc`` (lower case); with lesions
        ``bor`` (confirmed BOR), ``bor_unconfirmed``, ``orr`` (1 for confirmed CR/PR, 0
        otherwise, NE counted as non-response), ``pfs_time``/``pfs_event`` (first PD or
        death, else censored at the last assessment), for confirmed responders
        ``dor_time``/``dor_event`` (first CR/PR to PD or death, else to the last
        assessment), ``death_day``, ``os_time``/``os_event`` (death, else censored on the
        last day known alive) and, with a ``landmark``, ``pfs_exclusion`` (``""`` for the
        subjects analysed). Times in days; events 1/0. Subjects are those of the dataset; a
        value that cannot be derived is missing (never dropped).

    Raises
    ------
    SpecError
        ``option_invalid`` (``landmark`` not a number of days >= 0),
        ``landmark_without_lesions``.
    DatasetError
        From :func:`cartpk.read_dataset` and :func:`cartpk.recist` (including the
        ``DEATH_DAY`` codes ``death_day_not_numeric``, ``death_day_negative``,
        ``death_day_inconsistent``, ``assessment_after_death``);
        ``lesions_no_common_subject`` when the lesion table and the trial data share no
        subject ID.

    Warns
    -----
    CartpkWarning
        ``lesions_subject_not_in_data``: lesion-table subjects that are not in the trial
        data (named; not used).

    Notes
    -----
    Time-to-event endpoints (days since infusion; assessments are RECIST time points with
    ``DAY > 0``; see ``docs/time_to_event.md``):

    =========  =================================================================================
    PFS        event on the first PD or the death, whichever comes first (a death with no
               assessment after baseline, or after the last one, counts: FDA 2018 convention,
               no missed-visit censoring); otherwise censored at the last assessment; missing
               without an assessment or a death
    DOR        confirmed CR/PR only: from the first CR/PR time point to the PFS event (PD or
               death), else censored at the last assessment
    OS         event on ``death_day``; otherwise censored on the last day known alive: the
               last assessment or the last continuous-endpoint observation in ``data``
    landmark   PFS ending (event or censoring) on or before day L is excluded with its reason;
               the others count ``pfs_time - L``. DOR and OS are not landmarked
    =========  =================================================================================

    Warnings raised by the stages (e.g. RECIST input warnings) pass through unchanged.

    References
    ----------
    U.S. FDA. Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics,
    Guidance for Industry, December 2018 (PFS event and censoring table).
    Anderson JR, Cain KC, Gelber RD. Analysis of survival by tumor response. J Clin Oncol
    1983;1:710-719 (landmark analysis).
    """
    from cartpk.data import read_dataset
    from cartpk.noncompartmental import nca
    from cartpk.response import ae_summary, crs_summary, cytokine_peaks, recist

    _check_landmark(landmark, lesions)
    ds = data if hasattr(data, "observations") else read_dataset(data)
    out = pd.DataFrame({"ID": [str(s) for s in ds.subjects]})
    cov = ds.covariates.copy()
    cov["ID"] = cov["ID"].astype(str)
    out = out.merge(cov, on="ID", how="left", validate="one_to_one")
    nca_columns: list[str] = []
    nca_text: dict[str, str] = {}
    if dvid in ds.endpoints and len(ds.observations(dvid)):  # a trial without qPCR: no NCA
        wide = nca(ds, dvid=dvid, interval=interval).wide.drop(columns=["DVID"])
        wide["ID"] = wide["ID"].astype(str)
        nca_columns = [str(c) for c in wide.columns if c != "ID"]
        nca_text = dict(wide.attrs.get("descriptions") or {})
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
        _check_lesion_subjects(list(bor["ID"]), list(out["ID"]))
        out["bor"] = out["ID"].map(bor.set_index("ID")["BOR_CONFIRMED"])
        out["bor_unconfirmed"] = out["ID"].map(bor.set_index("ID")["BOR_UNCONFIRMED"])
        out["orr"] = np.where(
            out["bor"].isna(), np.nan, out["bor"].isin(["CR", "PR"]).astype(float)
        )
        tp = res.timepoints.copy()
        tp["ID"] = tp["ID"].astype(str)
        obs = ds.observations()
        obs = obs[obs["TIME"] > 0]
        last_alive = {str(k): float(v) for k, v in obs.groupby("ID")["TIME"].max().items()}
        surv = _survival(tp, bor, res.deaths, last_alive=last_alive, landmark=landmark)
        out = out.merge(surv, on="ID", how="left", validate="one_to_one")
        if landmark is not None:  # subjects of the dataset absent from the lesion table
            out["pfs_exclusion"] = out["pfs_exclusion"].fillna("not in the lesion table")
    out.attrs["nca_columns"] = nca_columns
    out.attrs["units"] = column_units(list(out.columns), ds.endpoints, dvid=dvid)
    out.attrs["descriptions"] = _descriptions(out, ds, nca_text, present)
    return out
