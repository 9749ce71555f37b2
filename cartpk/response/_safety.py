"""Safety endpoints: CTCAE v4.0 adverse-event grades, CRS grade and cytokine peaks.

Each function returns a tidy table, one row per subject (and term or cytokine). A value
that cannot be computed is missing, with the reason in a ``REASON`` column (as PKNCA does).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from cartpk.errors import CartpkWarning, DatasetError, Violation

__all__ = ["ae_summary", "astct_grade", "crs_summary", "cytokine_peaks"]

MAX_CTCAE_GRADE = 5  # CTCAE v4.0: grades 1-5 (5 = death related to the event); 0 = none

#: the summary of a term that a listed subject has no record of (grade 0 assumed)
_NO_RECORD: dict[str, Any] = {
    "MAX_GRADE": 0,
    "GRADE3PLUS": False,
    "ONSET": math.nan,
    "TIME_MAX_GRADE": math.nan,
    "DURATION": math.nan,
    "N_RECORDS": 0,
    "REASON": "no record: grade 0 assumed",
}
_AE_COLUMNS = ["ID", "EVENT", *_NO_RECORD]
_PEAK_COLUMNS = [
    "ID",
    "DVID",
    "CMAX",
    "TMAX",
    "AUC",
    "AUC_START",
    "AUC_END",
    "N_OBS",
    "N_BLQ",
    "BLQ_RULE",
    "REASON",
]
_BLQ_RULES = {
    "zero": "BLQ set to 0 for AUC; Cmax/Tmax from quantified values only",
    "half_lloq": "BLQ set to LLOQ/2 for AUC; Cmax/Tmax from quantified values only",
    "exclude": "BLQ left out of AUC; Cmax/Tmax from quantified values only",
}


def _table(source: Any, attr: str) -> tuple[pd.DataFrame, list[str] | None]:
    """A DataFrame from a table or from a :class:`cartpk.Dataset` (and its subjects)."""
    if isinstance(source, pd.DataFrame):
        return source, None
    if hasattr(source, attr):
        value = getattr(source, attr)
        frame = value() if callable(value) else value
        return frame, list(getattr(source, "subjects", None) or []) or None
    raise TypeError(f"expected a pandas DataFrame or a cartpk Dataset, got {type(source)!r}")


def _rows(frame: pd.DataFrame) -> np.ndarray:
    if "ROW" in frame.columns:
        return frame["ROW"].to_numpy()
    return np.arange(1, len(frame) + 1)


def _text(v: Any) -> str:
    """A cell as text: blank for missing, integral floats without ``.0``."""
    if v is None or v is pd.NA or (isinstance(v, float | np.floating) and math.isnan(v)):
        return ""
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def _ids(s: pd.Series) -> pd.Series:
    return s.map(_text).astype(object)


def _bad(
    code: str,
    message: str,
    frame: pd.DataFrame,
    mask: pd.Series,
    column: str,
    expected: str,
    fix: str,
) -> list[Violation]:
    """One violation per subject for the rows selected by ``mask``."""
    out = []
    sub = frame.loc[mask.to_numpy()]
    for sid, g in sub.groupby("ID", sort=False):
        vals = ", ".join(repr(v) for v in list(dict.fromkeys(g[column].tolist()))[:5])
        out.append(
            Violation(
                code,
                message,
                id=sid or None,
                rows=tuple(int(r) for r in g["ROW"]),
                column=column,
                value=f"{column}={vals}",
                expected=expected,
                fix=fix,
            )
        )
    return out


def _missing_columns(frame: pd.DataFrame, needed: Sequence[str], what: str) -> None:
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise DatasetError(
            f"the {what} table lacks required columns",
            [
                Violation(
                    "missing_column",
                    f"required column `{c}` is missing",
                    column=c,
                    expected="columns " + ", ".join(needed),
                    fix=f"add the column `{c}`",
                )
                for c in absent
            ],
        )


def _events(events: pd.DataFrame, end: str | None) -> pd.DataFrame:
    """Validated events: ``ROW, ID, TIME, EVENT, GRADE`` (+ ``END``)."""
    ev = events.copy()
    if "EVENT" not in ev.columns and "TERM" in ev.columns:
        ev = ev.rename(columns={"TERM": "EVENT"})
    _missing_columns(ev, ["ID", "TIME", "EVENT", "GRADE"], "events")
    out = pd.DataFrame({"ROW": _rows(ev), "ID": _ids(ev["ID"]).to_numpy()})
    out["EVENT"] = ev["EVENT"].astype(object).map(lambda v: str(v).strip()).to_numpy()
    out["TIME"] = pd.to_numeric(ev["TIME"], errors="coerce").astype(float).to_numpy()
    grade = pd.to_numeric(ev["GRADE"], errors="coerce").astype(float).to_numpy()
    out["GRADE"] = grade
    has_end = end is not None and end in ev.columns
    if has_end:
        out["END"] = pd.to_numeric(ev[end], errors="coerce").astype(float).to_numpy()
    raw = ev.reset_index(drop=True).assign(ROW=out["ROW"], ID=out["ID"])
    problems: list[Violation] = []
    problems += _bad(
        "time_not_numeric",
        "`TIME` is not a number",
        raw,
        out["TIME"].isna(),
        "TIME",
        "the onset day (days since infusion)",
        "write the onset as a plain number of days",
    )
    problems += _bad(
        "grade_not_integer",
        "`GRADE` is not a whole number",
        raw,
        out["GRADE"].isna() | (out["GRADE"] % 1 != 0),
        "GRADE",
        "a CTCAE v4.0 grade 0, 1, 2, 3, 4 or 5",
        "write the grade as a whole number",
    )
    problems += _bad(
        "grade_out_of_range",
        "`GRADE` is outside the CTCAE v4.0 range",
        raw,
        out["GRADE"].notna() & ((out["GRADE"] < 0) | (out["GRADE"] > MAX_CTCAE_GRADE)),
        "GRADE",
        "a CTCAE v4.0 grade 0-5",
        "correct the grade (5 = death related to the event)",
    )
    problems += _bad(
        "event_missing",
        "`EVENT` is blank",
        raw,
        out["EVENT"].isin(["", "nan", "None", "<NA>"]),
        "EVENT",
        "a CTCAE term on every row",
        "fill in the term",
    )
    if has_end:
        raw_end = ev[end].reset_index(drop=True)
        blank = raw_end.isna() | (raw_end.astype(str).str.strip() == "")
        problems += _bad(
            "end_not_numeric",
            f"`{end}` is not a number",
            raw.assign(**{end: raw_end}),
            out["END"].isna() & ~blank,
            end,
            "the end day (days since infusion), blank when ongoing or unknown",
            "write the end as a plain number of days",
        )
        problems += _bad(
            "end_before_onset",
            f"`{end}` is before `TIME`",
            raw.assign(**{end: raw_end}),
            out["END"] < out["TIME"],
            end,
            "an end day at or after the onset day",
            "correct the onset or the end day",
        )
    if problems:
        raise DatasetError(f"the events table has {len(problems)} problem(s)", problems)
    out["GRADE"] = out["GRADE"].astype(int)
    return out


def _duration(g: pd.DataFrame) -> tuple[float, str]:
    """Days with the event (grade >= 1): length of the union of ``[TIME, END]`` intervals."""
    if "END" not in g.columns:
        return math.nan, "no end times given"
    open_rows = g.loc[g["END"].isna(), "ROW"].tolist()
    if open_rows:
        return math.nan, f"end time missing (ongoing?) at row(s) {', '.join(map(str, open_rows))}"
    intervals = sorted(zip(g["TIME"].astype(float), g["END"].astype(float), strict=True))
    total = 0.0
    cur_start, cur_end = intervals[0]
    for start, stop in intervals[1:]:
        if start > cur_end:  # a new episode: close the current one
            total += cur_end - cur_start
            cur_start, cur_end = start, stop
        else:
            cur_end = max(cur_end, stop)
    total += cur_end - cur_start
    return float(total), ""


def _term_summary(g: pd.DataFrame) -> dict[str, Any]:
    """The summary of one subject's records of one term: the columns of :data:`_NO_RECORD`."""
    g = g.sort_values(["TIME", "ROW"])
    mx = int(g["GRADE"].max())
    pos = g[g["GRADE"] >= 1]
    reasons = []
    if pos.empty:
        onset, t_max, dur = math.nan, math.nan, math.nan
        reasons.append("no record with grade >= 1")
    else:
        onset = float(pos["TIME"].iloc[0])
        t_max = float(g.loc[g["GRADE"] == mx, "TIME"].iloc[0])
        dur, why = _duration(pos)
        if why:
            reasons.append(f"DURATION: {why}")
    return {
        "MAX_GRADE": mx,
        "GRADE3PLUS": mx >= 3,
        "ONSET": onset,
        "TIME_MAX_GRADE": t_max,
        "DURATION": dur,
        "N_RECORDS": len(g),
        "REASON": "; ".join(reasons),
    }


def _summarise(ev: pd.DataFrame, subjects: list[str] | None, terms: list[str]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    groups = {k: g for k, g in ev.groupby(["ID", "EVENT"], sort=False)}
    ids = list(dict.fromkeys([*(subjects or []), *ev["ID"]]))
    for sid in ids:
        for term in terms:
            g = groups.get((sid, term))
            if g is None and subjects is None:
                continue
            summary = _NO_RECORD if g is None else _term_summary(g)
            rows.append({"ID": sid, "EVENT": term, **summary})
    out = pd.DataFrame(rows, columns=_AE_COLUMNS)
    out["MAX_GRADE"] = out["MAX_GRADE"].astype(int)
    out["GRADE3PLUS"] = out["GRADE3PLUS"].astype(bool)
    out["N_RECORDS"] = out["N_RECORDS"].astype(int)
    for c in ("ONSET", "TIME_MAX_GRADE", "DURATION"):
        out[c] = out[c].astype(float)
    return out


def ae_summary(
    events: Any,
    *,
    end: str | None = "END",
    subjects: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Maximum CTCAE v4.0 grade, onset and duration per subject and term.

    Parameters
    ----------
    events : pandas.DataFrame or Dataset
        Graded events, ``ID, TIME, EVENT, GRADE`` (``TERM`` accepted for ``EVENT``; ``ROW``
        used for messages when present), e.g. ``ds.events``; or a :class:`cartpk.Dataset`,
        whose ``events`` and ``subjects`` are used. ``TIME`` is the onset day (days since
        infusion), ``GRADE`` 0-5.
    end : str or None, default "END"
        Column holding the end day of each record (blank when ongoing); ignored when absent.
    subjects : sequence of str, optional
        Subjects to report for every term even without a record (grade 0 assumed, with the
        reason). Defaults to the dataset's subjects when ``events`` is a Dataset.

    Returns
    -------
    pandas.DataFrame
        ``ID, EVENT, MAX_GRADE, GRADE3PLUS, ONSET, TIME_MAX_GRADE, DURATION, N_RECORDS,
        REASON``: ``ONSET`` first day with grade >= 1, ``TIME_MAX_GRADE`` first day at the
        maximum grade, ``DURATION`` days with grade >= 1 (length of the union of the
        ``[TIME, END]`` intervals of grade >= 1 records, missing if any end is missing).

    Raises
    ------
    DatasetError
        ``missing_column``, ``time_not_numeric``, ``grade_not_integer``,
        ``grade_out_of_range`` (outside CTCAE v4.0 grades 0-5), ``event_missing``,
        ``end_not_numeric``, ``end_before_onset``.

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"ID": ["1", "1", "2"], "TIME": [2, 5, 3],
    ...                    "EVENT": ["AE_FEVER"] * 3, "GRADE": [1, 3, 0]})
    >>> ae_summary(ev)[["ID", "MAX_GRADE", "ONSET", "TIME_MAX_GRADE"]].values.tolist()
    [['1', 3, 2.0, 5.0], ['2', 0, nan, nan]]
    """
    frame, ds_subjects = _table(events, "events")
    ev = _events(frame, end)
    subj = list(subjects) if subjects is not None else ds_subjects
    terms = list(dict.fromkeys(ev["EVENT"]))
    return _summarise(ev, subj, terms)


# ASTCT 2019 consensus CRS grade (Lee DW et al., Biol Blood Marrow Transplant
# 2019;25:625-638, Table 5): the grade is set by the more severe of hypotension and hypoxia
# in a patient with fever; grade 1 is fever alone. Codes of the component columns -> grade.
_HYPOTENSION = {
    "NONE": 1,
    "NO_VASOPRESSOR": 2,  # hypotension not requiring vasopressors
    "VASOPRESSOR": 3,  # one vasopressor with or without vasopressin
    "MULTIPLE_VASOPRESSORS": 4,  # several vasopressors (excluding vasopressin)
}
_HYPOXIA = {
    "NONE": 1,
    "LOW_FLOW": 2,  # low-flow nasal cannula (<= 6 L/min) or blow-by
    "HIGH_FLOW": 3,  # high-flow nasal cannula (> 6 L/min), facemask, non-rebreather, Venturi
    "POSITIVE_PRESSURE": 4,  # CPAP, BiPAP, intubation and mechanical ventilation
}


def astct_grade(records: pd.DataFrame) -> pd.DataFrame:
    """ASTCT 2019 consensus CRS grade from its components, one grade per record.

    Parameters
    ----------
    records : pandas.DataFrame
        One row per assessment: ``ID, TIME`` (days since infusion), ``FEVER`` (1 when the
        temperature is >= 38.0 degC and not attributable to another cause, else 0),
        ``HYPOTENSION`` (``NONE``, ``NO_VASOPRESSOR``, ``VASOPRESSOR`` -- one vasopressor
        with or without vasopressin --, ``MULTIPLE_VASOPRESSORS``), ``HYPOXIA`` (``NONE``,
        ``LOW_FLOW`` -- nasal cannula <= 6 L/min or blow-by --, ``HIGH_FLOW`` -- nasal
        cannula > 6 L/min, facemask, non-rebreather or Venturi mask --,
        ``POSITIVE_PRESSURE`` -- CPAP, BiPAP, mechanical ventilation); optional ``DEATH``
        (1 = death due to CRS), ``ROW`` and ``END``.

    Returns
    -------
    pandas.DataFrame
        ``ROW, ID, TIME, EVENT, GRADE, RULE`` (+ ``END`` when given) with ``EVENT = "CRS"``:
        the graded-events shape that :func:`crs_summary` reads (pass
        ``scale="ASTCT 2019"``).

    Raises
    ------
    DatasetError
        ``missing_column``, ``code_invalid`` (a component code not listed above),
        ``time_not_numeric``.

    Notes
    -----
    ============================  =====================================================
    no fever                      0: not CRS by the consensus definition
    fever only                    1
    fever + hypotension/hypoxia   the higher of the two tiers: 2, 3 or 4 (codes above)
    ``DEATH = 1``                 5
    ============================  =====================================================

    ASTCT does not require fever once antipyretics or anti-cytokine therapy (tocilizumab,
    steroids) have been given: code ``FEVER = 1`` for those assessments. Organ toxicities
    are graded by CTCAE and do not change the CRS grade.

    References
    ----------
    Lee DW et al. ASTCT consensus grading for cytokine release syndrome and neurologic
    toxicity associated with immune effector cells. Biol Blood Marrow Transplant
    2019;25:625-638.

    Examples
    --------
    >>> import pandas as pd
    >>> rec = pd.DataFrame({"ID": ["1", "1", "2"], "TIME": [1, 2, 1], "FEVER": [1, 1, 0],
    ...                     "HYPOTENSION": ["NONE", "VASOPRESSOR", "NONE"],
    ...                     "HYPOXIA": ["LOW_FLOW", "NONE", "NONE"]})
    >>> astct_grade(rec)["GRADE"].tolist()
    [2, 3, 0]
    """
    cols = ["ID", "TIME", "FEVER", "HYPOTENSION", "HYPOXIA"]
    _missing_columns(records, cols, "CRS components")
    rows = _rows(records)
    raw = records.reset_index(drop=True).assign(ROW=rows, ID=_ids(records["ID"]).to_numpy())
    time = pd.to_numeric(raw["TIME"], errors="coerce").astype(float)
    codes = {}
    problems = _bad(
        "time_not_numeric",
        "`TIME` is not a number",
        raw,
        time.isna(),
        "TIME",
        "the assessment day (days since infusion)",
        "write the day as a plain number",
    )
    allowed = {
        "FEVER": {"0": 0, "1": 1},
        "HYPOTENSION": _HYPOTENSION,
        "HYPOXIA": _HYPOXIA,
        "DEATH": {"0": 0, "1": 1, "": 0},
    }
    for col, table in allowed.items():
        if col not in raw.columns:
            continue
        text = raw[col].map(lambda v: _text(v).upper())
        codes[col] = text
        problems += _bad(
            "code_invalid",
            f"`{col}` is not a known code",
            raw,
            ~text.isin(list(table)),
            col,
            "one of " + ", ".join(k for k in table if k),
            f"recode `{col}` (see `astct_grade`)",
        )
    if problems:
        raise DatasetError(f"the CRS component table has {len(problems)} problem(s)", problems)
    grades, rules = [], []
    for i in range(len(raw)):
        hypo_t = _HYPOTENSION[codes["HYPOTENSION"].iloc[i]]
        hypo_x = _HYPOXIA[codes["HYPOXIA"].iloc[i]]
        if "DEATH" in codes and allowed["DEATH"][codes["DEATH"].iloc[i]] == 1:
            grades.append(5)
            rules.append("death due to CRS -> 5")
        elif codes["FEVER"].iloc[i] == "0":
            grades.append(0)
            rules.append("no fever -> 0 (not CRS by the ASTCT definition)")
        else:
            grade = max(hypo_t, hypo_x)
            grades.append(grade)
            rules.append(
                f"fever, hypotension {codes['HYPOTENSION'].iloc[i]}, hypoxia "
                f"{codes['HYPOXIA'].iloc[i]} -> {grade}"
            )
    out = pd.DataFrame(
        {
            "ROW": rows,
            "ID": raw["ID"].to_numpy(),
            "TIME": time.to_numpy(),
            "EVENT": "CRS",
            "GRADE": grades,
            "RULE": rules,
        }
    )
    if "END" in raw.columns:
        out["END"] = pd.to_numeric(raw["END"], errors="coerce").astype(float).to_numpy()
    return out


def crs_summary(
    events: Any,
    *,
    term: str = "CRS",
    end: str | None = "END",
    subjects: Sequence[str] | None = None,
    scale: Literal["CTCAE v4.0", "ASTCT 2019"] = "CTCAE v4.0",
) -> pd.DataFrame:
    """Cytokine release syndrome per subject: maximum grade and the grade >= 3 flag.

    Parameters
    ----------
    events : pandas.DataFrame or Dataset
        Graded events as for :func:`ae_summary`; rows whose ``EVENT`` equals ``term``
        (case-insensitive) are used.
    term : str, default "CRS"
        The event name of CRS in the table.
    end : str or None, default "END"
        Column with end days, as for :func:`ae_summary`.
    subjects : sequence of str, optional
        Subjects to report even without a CRS record (grade 0). Defaults to the dataset's
        subjects when ``events`` is a Dataset.
    scale : {"CTCAE v4.0", "ASTCT 2019"}, default "CTCAE v4.0"
        The scale the grades were recorded on; copied to the ``SCALE`` column. Grades are
        taken as recorded; to derive ASTCT 2019 grades from fever, hypotension and hypoxia,
        pass ``astct_grade(components)`` as ``events``.

    Returns
    -------
    pandas.DataFrame
        ``ID, MAX_GRADE, GRADE3PLUS, ONSET, TIME_MAX_GRADE, DURATION, N_RECORDS, SCALE,
        REASON`` (one row per subject).

    Raises
    ------
    DatasetError
        As :func:`ae_summary`.

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"ID": ["1", "1"], "TIME": [1, 4], "EVENT": ["CRS", "CRS"],
    ...                    "GRADE": [2, 3]})
    >>> crs_summary(ev, subjects=["1", "2"])[["ID", "MAX_GRADE", "GRADE3PLUS"]].values.tolist()
    [['1', 3, True], ['2', 0, False]]
    """
    frame, ds_subjects = _table(events, "events")
    ev = _events(frame, end)
    ev = ev[ev["EVENT"].str.upper() == term.upper()].assign(EVENT=term)
    subj = list(subjects) if subjects is not None else ds_subjects
    out = _summarise(ev, subj, [term]).drop(columns="EVENT")
    out.insert(out.columns.get_loc("REASON"), "SCALE", scale)
    return out


def cytokine_peaks(
    observations: Any,
    dvids: Sequence[str] = ("IL6", "IFNG"),
    *,
    blq: Literal["zero", "half_lloq", "exclude"] = "zero",
) -> pd.DataFrame:
    """Peak concentration, its time and the AUC of cytokine series per subject.

    Parameters
    ----------
    observations : pandas.DataFrame or Dataset
        ``ID, TIME, DV, CENS, DVID`` (``LLOQ`` optional), e.g. ``ds.observations()``; or a
        :class:`cartpk.Dataset`. ``CENS=1`` marks a value below the LLOQ, with the limit in
        ``DV``; ``CENS=-1`` a value above the upper limit, with the limit in ``DV``.
    dvids : sequence of str, default ("IL6", "IFNG")
        Cytokines (``DVID`` values) to summarise.
    blq : {"zero", "half_lloq", "exclude"}, default "zero"
        BLQ values in the AUC: set to 0, set to half the limit, or left out.

    Returns
    -------
    pandas.DataFrame
        ``ID, DVID, CMAX, TMAX, AUC, AUC_START, AUC_END, N_OBS, N_BLQ, BLQ_RULE, REASON``.
        ``CMAX`` (unit of ``DV``) and ``TMAX`` (days; first time of the maximum) come from
        quantified values only; all-BLQ series have them missing with the reason. ``AUC``
        (DV unit x day) is the linear trapezoid over all observation times of the series
        (``AUC_START`` to ``AUC_END``), missing when fewer than 2 values are usable.

    Raises
    ------
    DatasetError
        ``missing_column``, or ``time_not_numeric``/``dv_not_numeric`` rows.

    Warns
    -----
    CartpkWarning
        ``dvid_absent``: a requested cytokine has no observation at all.

    Notes
    -----
    An above-limit value (``CENS=-1``) enters Cmax and AUC at its limit, so both are lower
    bounds; the reason says so.

    Examples
    --------
    >>> import pandas as pd
    >>> obs = pd.DataFrame({"ID": ["1"] * 3, "TIME": [0, 2, 4], "DV": [5, 100, 5],
    ...                     "CENS": [1, 0, 1], "DVID": ["IL6"] * 3})
    >>> cytokine_peaks(obs, dvids=["IL6"])[["CMAX", "TMAX", "AUC"]].values.tolist()
    [[100.0, 2.0, 200.0]]
    """
    if blq not in _BLQ_RULES:
        raise ValueError(f"`blq` must be one of {sorted(_BLQ_RULES)}, got {blq!r}")
    frame, _ = _table(observations, "observations")
    _missing_columns(frame, ["ID", "TIME", "DV", "CENS", "DVID"], "observations")
    obs = pd.DataFrame({"ROW": _rows(frame), "ID": _ids(frame["ID"]).to_numpy()})
    obs["DVID"] = frame["DVID"].astype(object).map(lambda v: str(v).strip()).to_numpy()
    for c in ("TIME", "DV", "CENS"):
        obs[c] = pd.to_numeric(frame[c], errors="coerce").astype(float).to_numpy()
    obs = obs[obs["DVID"].isin(list(dvids))]
    raw = frame.reset_index(drop=True).assign(ROW=_rows(frame), ID=_ids(frame["ID"]).to_numpy())
    raw = raw.loc[obs.index]
    problems: list[Violation] = []
    for col in ("TIME", "DV", "CENS"):
        problems += _bad(
            f"{col.lower()}_not_numeric",
            f"`{col}` is not a number",
            raw,
            obs[col].isna(),
            col,
            "a number",
            f"write `{col}` as a plain number",
        )
    if problems:
        raise DatasetError(f"the observations table has {len(problems)} problem(s)", problems)
    for d in dvids:
        if not (obs["DVID"] == d).any():
            warnings.warn(
                CartpkWarning(
                    f"no `{d}` observations: no peaks reported for it", code="dvid_absent"
                ),
                stacklevel=2,
            )
    rows: list[dict[str, Any]] = []
    for (sid, dvid), g in obs.groupby(["ID", "DVID"], sort=False):
        g = g.sort_values(["TIME", "ROW"])
        is_blq = (g["CENS"] == 1).to_numpy()
        quant = g[~is_blq]
        reasons = []
        if quant.empty:
            cmax, tmax = math.nan, math.nan
            reasons.append("CMAX/TMAX: all values below the LLOQ")
        else:
            cmax = float(quant["DV"].max())
            tmax = float(quant.loc[quant["DV"] == cmax, "TIME"].iloc[0])
        if (g["CENS"] == -1).any():
            reasons.append("above-limit value(s) used at the limit: CMAX/AUC are lower bounds")
        y = g["DV"].to_numpy(dtype=float).copy()
        t = g["TIME"].to_numpy(dtype=float)
        if blq == "zero":
            y[is_blq] = 0.0
        elif blq == "half_lloq":
            y[is_blq] = y[is_blq] / 2.0  # for CENS=1 rows DV holds the limit
        else:
            y, t = y[~is_blq], t[~is_blq]
        if len(t) >= 2:
            auc = float(np.sum(np.diff(t) * (y[1:] + y[:-1]) / 2.0))
            start, stop = float(t[0]), float(t[-1])
        else:
            auc, start, stop = math.nan, math.nan, math.nan
            reasons.append(f"AUC: {len(t)} usable value(s), 2 needed")
        rows.append(
            {
                "ID": sid,
                "DVID": dvid,
                "CMAX": cmax,
                "TMAX": tmax,
                "AUC": auc,
                "AUC_START": start,
                "AUC_END": stop,
                "N_OBS": len(g),
                "N_BLQ": int(is_blq.sum()),
                "BLQ_RULE": _BLQ_RULES[blq],
                "REASON": "; ".join(reasons),
            }
        )
    return pd.DataFrame(rows, columns=_PEAK_COLUMNS)
