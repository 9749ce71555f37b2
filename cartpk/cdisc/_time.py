"""Time since the first dose, in days, from ISO 8601 dates (``--DTC``) or study days (``--DY``).

SDTM study days have no day 0: day 1 is the reference start date and day -1 the day before
it, so the days elapsed since the reference start are ``DY - 1`` for ``DY >= 1`` and ``DY``
for ``DY <= -1`` (SDTMIG 3.4, section 4.4.4). A record's time is taken from its date when
both it and the subject's first dose are dated to the day; a date without a clock time is
read as 00:00, and the reason column of ``conversion.csv`` says so; a partial date
(``2014-01``) falls back to the study day. A record with neither is not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["FirstDose", "days_since_first_dose", "elapsed_study_days", "parse_dtc"]

_FULL_DATE = r"^\d{4}-\d{2}-\d{2}"
_HAS_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"


def parse_dtc(dtc: pd.Series) -> tuple[pd.Series, pd.Series]:
    """ISO 8601 date-times as ``datetime64`` (``NaT`` where partial or missing) and whether
    each had a clock time.

    Examples
    --------
    >>> t, clock = parse_dtc(pd.Series(["2014-01-02T06:30", "2014-01-02", "2014-01", None]))
    >>> [str(x) for x in t], clock.tolist()
    (['2014-01-02 06:30:00', '2014-01-02 00:00:00', 'NaT', 'NaT'], [True, False, False, False])
    """
    text = dtc.astype(object).where(dtc.notna(), "").astype(str).str.strip()
    full = text.str.match(_FULL_DATE)
    clock = text.str.match(_HAS_TIME)
    stamp = text.where(full, "").str.slice(0, 19)
    parsed = pd.to_datetime(stamp.where(full, None), format="ISO8601", errors="coerce")
    return parsed, clock & parsed.notna()


def elapsed_study_days(dy: pd.Series) -> pd.Series:
    """Days elapsed since the reference start from SDTM study days (no day 0).

    Examples
    --------
    >>> elapsed_study_days(pd.Series([1.0, 8.0, -1.0, np.nan])).tolist()
    [0.0, 7.0, -1.0, nan]
    """
    d = pd.to_numeric(dy, errors="coerce")
    return d.where(d < 0, d - 1.0)


@dataclass(frozen=True)
class FirstDose:
    """Each subject's first dose: its date-time (``NaT`` if not dated to the day), whether
    that had a clock time, and its elapsed study day (``NaN`` if unknown), by ``USUBJID``."""

    when: pd.Series
    clock: pd.Series
    day: pd.Series

    @classmethod
    def from_records(
        cls, usubjid: pd.Series, dtc: pd.Series | None, dy: pd.Series | None
    ) -> FirstDose:
        """The earliest dose record of each subject (by date-time, else by study day)."""
        when, clock = (
            parse_dtc(dtc)
            if dtc is not None
            else (pd.Series(pd.NaT, index=usubjid.index), pd.Series(False, index=usubjid.index))
        )
        day = elapsed_study_days(dy) if dy is not None else pd.Series(np.nan, index=usubjid.index)
        f = pd.DataFrame({"ID": usubjid.astype(str), "when": when, "clock": clock, "day": day})
        f = f.sort_values(["ID", "when", "day"], na_position="last", kind="stable")
        first = f.groupby("ID", sort=False).first()
        return cls(first["when"], first["clock"].astype(bool), first["day"])


def days_since_first_dose(
    usubjid: pd.Series,
    dtc: pd.Series | None,
    dy: pd.Series | None,
    first: FirstDose,
) -> tuple[pd.Series, pd.Series]:
    """Days since each subject's first dose, and how each value was obtained.

    Returns
    -------
    time : pandas.Series of float
        ``NaN`` where neither a full date nor a study day gives it (or the subject has no
        dose).
    how : pandas.Series of str
        ``"date-time"``, ``"date (00:00)"`` (a date without clock time on the record or the
        dose), ``"study day"``, or the reason there is no time.
    """
    ids = usubjid.astype(str)
    idx = usubjid.index
    when, clock = (
        parse_dtc(dtc)
        if dtc is not None
        else (pd.Series(pd.NaT, index=idx), pd.Series(False, index=idx))
    )

    # reindex, not map: pandas casts an empty datetime mapper to float (no subject dosed)
    def ref(s: pd.Series) -> pd.Series:
        return pd.Series(s.reindex(ids.to_numpy()).to_numpy(), index=idx)

    ref_when = ref(first.when)
    ref_clock = ref(first.clock.astype(object)).fillna(False).astype(bool)
    ref_day = ref(first.day).astype(float)
    by_date = (when - pd.to_datetime(ref_when)).dt.total_seconds() / 86400.0
    day = elapsed_study_days(dy) if dy is not None else pd.Series(np.nan, index=idx)
    by_day = day - ref_day
    time = by_date.where(by_date.notna(), by_day)
    how = pd.Series("date-time", index=idx, dtype=object)
    how[by_date.notna() & ~(clock & ref_clock)] = "date (00:00)"
    how[by_date.isna() & by_day.notna()] = "study day"
    no_dose = ~ids.isin(first.when.index)
    how[time.isna()] = "no full date or study day"
    how[no_dose] = "subject has no dose record"
    time[no_dose] = np.nan
    return time.astype(float), how
