"""Times of ADaM records: numeric dates (``ADT``, ``ADTM``), relative times, study days.

ADaM stores dates as numbers (SAS: days since 1960-01-01 for ``*DT``, seconds since
1960-01-01 for ``*DTM``); the readers turn them into dates where the file says so (R data,
SAS7BDAT), and CSV or Dataset-JSON files hold ISO 8601 text. :func:`adam_dates` reads any of
these and writes ISO 8601 text, so that :func:`cartpk.cdisc._time.days_since_first_dose`
computes every time the same way for SDTM and ADaM. A date-time whose time imputation flag
(``--TMF``) is ``H`` had its clock time imputed and counts as a date without clock time.

Relative times (``AFRLT``, ``NFRLT`` in ``FRLTU``) are converted to days with
:data:`TIME_UNITS`; a unit not listed there is a violation, never guessed.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import pandas as pd

from cartpk.cdisc._sdtm_find import numbers as sdtm_numbers
from cartpk.cdisc._time import FirstDose, days_since_first_dose

__all__ = [
    "TIME_UNITS",
    "adam_dates",
    "numbers",
    "record_days",
    "relative_days",
]

#: relative-time units (``FRLTU``, ``RRLTU``, upper case) -> days per unit
TIME_UNITS: dict[str, float] = {
    "H": 1 / 24,
    "HR": 1 / 24,
    "HRS": 1 / 24,
    "HOUR": 1 / 24,
    "HOURS": 1 / 24,
    "D": 1.0,
    "DAY": 1.0,
    "DAYS": 1.0,
    "MIN": 1 / 1440,
    "MINUTE": 1 / 1440,
    "MINUTES": 1 / 1440,
    "W": 7.0,
    "WK": 7.0,
    "WEEK": 7.0,
    "WEEKS": 7.0,
}

_SAS_EPOCH = pd.Timestamp("1960-01-01")


def numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A column as floats, and which non-blank cells are not numbers.

    SDTM's reading (:func:`cartpk.cdisc._sdtm_find.numbers`) with ``.`` (SAS's missing
    numeric, as CSV exports of ADaM write it) also read as blank.

    Examples
    --------
    >>> v, bad = numbers(pd.Series(["1.5", None, "x", 2]))
    >>> v.tolist(), bad.tolist()
    ([1.5, nan, nan, 2.0], [False, False, True, False])
    """
    blank = values.isna() | values.astype(str).str.strip().isin(["", "."])
    return sdtm_numbers(values.mask(blank))


def _one_date(v: object, seconds: bool) -> tuple[pd.Timestamp | None, bool]:
    """One cell as a timestamp and whether it carries a clock time."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return None, False
    if isinstance(v, pd.Timestamp | _dt.datetime):
        return pd.Timestamp(v), True
    if isinstance(v, _dt.date):
        return pd.Timestamp(v), False
    if isinstance(v, int | float | np.integer | np.floating):
        if seconds:
            return _SAS_EPOCH + pd.Timedelta(seconds=float(v)), True
        return _SAS_EPOCH + pd.Timedelta(days=float(v)), False
    text = str(v).strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        return _one_date(number, seconds)
    if len(text) < 10 or not text[:4].isdigit() or text[4] != "-" or text[7] != "-":
        return None, False
    try:
        stamp = pd.Timestamp(text[:19].replace(" ", "T"))
    except ValueError:
        return None, False
    return stamp, len(text) >= 16 and text[10] in "T "


def adam_dates(
    frame: pd.DataFrame, datetime_col: str | None, date_col: str | None, tmf_col: str | None
) -> pd.Series:
    """ISO 8601 text of each record's date-time (``datetime_col``) or date (``date_col``).

    The date-time is used where present and its clock time was not imputed (``tmf_col`` is
    not ``H``); otherwise the date, as a date without clock time. Missing or unreadable:
    ``None``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The records.
    datetime_col : str or None
        Date-time variable (``ADTM``): timestamps, ISO text, or SAS seconds since 1960.
    date_col : str or None
        Date variable (``ADT``): dates, ISO text, or SAS days since 1960.
    tmf_col : str or None
        Time imputation flag (``ATMF``); ``H`` means the clock time was imputed.

    Returns
    -------
    pandas.Series
        ``YYYY-MM-DDThh:mm:ss``, ``YYYY-MM-DD`` or ``None`` per record.

    Examples
    --------
    >>> f = pd.DataFrame({"ADTM": ["2014-01-02 06:30:00", None, "2014-01-03T00:00:00"],
    ...                   "ADT": ["2014-01-02", "2014-01-05", "2014-01-03"],
    ...                   "ATMF": [None, None, "H"]})
    >>> adam_dates(f, "ADTM", "ADT", "ATMF").tolist()
    ['2014-01-02T06:30:00', '2014-01-05', '2014-01-03']
    >>> adam_dates(pd.DataFrame({"ADT": [19725.0]}), None, "ADT", None).tolist()
    ['2014-01-02']
    """
    out: list[str | None] = [None] * len(frame)
    none = [None] * len(frame)
    dtm = frame[datetime_col].to_numpy(object) if datetime_col in frame.columns else none
    dt = frame[date_col].to_numpy(object) if date_col in frame.columns else none
    tmf = frame[tmf_col].to_numpy(object) if tmf_col in frame.columns else none
    for i in range(len(frame)):
        stamp, clock = _one_date(dtm[i], seconds=True)
        if str(tmf[i]).strip().upper() == "H":
            clock = False
        if stamp is None:
            stamp, clock = _one_date(dt[i], seconds=False)
            clock = False
        if stamp is not None:
            out[i] = stamp.strftime("%Y-%m-%dT%H:%M:%S" if clock else "%Y-%m-%d")
    return pd.Series(out, index=frame.index, dtype=object)


def relative_days(
    frame: pd.DataFrame, time_col: str, unit_col: str
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """A relative time column (``AFRLT`` in ``FRLTU``) in days.

    Returns
    -------
    days : pandas.Series of float
        ``NaN`` where the time is blank or its unit unknown.
    unit : pandas.Series of str
        The unit text as found (``""`` where blank).
    unknown : pandas.Series of bool
        A time whose unit is blank or not in :data:`TIME_UNITS`.

    Examples
    --------
    >>> f = pd.DataFrame({"AFRLT": ["36", "2", "5"], "FRLTU": ["HOURS", "DAYS", "FORTNIGHTS"]})
    >>> d, u, unknown = relative_days(f, "AFRLT", "FRLTU")
    >>> d.tolist(), unknown.tolist()
    ([1.5, 2.0, nan], [False, False, True])
    """
    idx = frame.index
    if time_col not in frame.columns:
        nan = pd.Series(np.nan, index=idx)
        return nan, pd.Series("", index=idx, dtype=object), pd.Series(False, index=idx)
    value, _ = numbers(frame[time_col])
    unit = (
        frame[unit_col].astype(object).where(frame[unit_col].notna(), "").astype(str)
        if unit_col in frame.columns
        else pd.Series("", index=idx, dtype=object)
    )
    per_day = unit.str.strip().str.upper().map(TIME_UNITS).astype(float)
    unknown = value.notna() & per_day.isna()
    return value * per_day, unit, unknown


def record_days(
    frame: pd.DataFrame,
    first: FirstDose,
    *,
    datetime_col: str | None,
    date_col: str | None,
    tmf_col: str | None,
    day_col: str | None,
) -> tuple[pd.Series, pd.Series]:
    """Days since the subject's first dose from the record's date(-time) or study day.

    Parameters
    ----------
    frame : pandas.DataFrame
        Records with ``USUBJID``.
    first : FirstDose
        Each subject's first dose.
    datetime_col, date_col, tmf_col : str or None
        As in :func:`adam_dates`.
    day_col : str or None
        Relative day (``ADY``, ``ASTDY``), no day 0.

    Returns
    -------
    time, how : pandas.Series
        As :func:`~cartpk.cdisc._time.days_since_first_dose`.
    """
    dtc = adam_dates(frame, datetime_col, date_col, tmf_col)
    dy = numbers(frame[day_col])[0] if day_col in frame.columns else None
    return days_since_first_dose(frame["USUBJID"], dtc, dy, first)
