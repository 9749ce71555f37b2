"""Doses (EX), graded adverse events (AE), deaths (DM, DS) and covariates (DM).

Each function turns one SDTM domain into candidate rows of ``trial.csv`` (or a per-subject
table), writes the records it does not use to the conversion record with the reason, and
adds the problems it finds to ``problems``; :mod:`cartpk.cdisc._sdtm` puts them together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from cartpk.cdisc._files import Domain
from cartpk.cdisc._log import ConversionLog
from cartpk.cdisc._sdtm_find import ROW_COLUMNS, column, numbers
from cartpk.cdisc._time import FirstDose, days_since_first_dose, parse_dtc
from cartpk.errors import CartpkWarning, Violation

__all__ = [
    "COVARIATES",
    "adverse_events",
    "ae_dvid",
    "complete_covariates",
    "death_days",
    "dm_covariates",
    "ex_doses",
    "no_first_dose",
]

#: DM variable -> covariate column of ``trial.csv``
COVARIATES = {
    "AGE": "AGE",
    "SEX": "SEX",
    "RACE": "RACE",
    "ETHNIC": "ETHNIC",
    "ACTARMCD": "ARM",
    "COUNTRY": "COUNTRY",
}
#: EXDOSFRQ values that mean one administration (CDISC CT FREQ: ONCE; blank)
_ONCE = {"", "ONCE"}
_CRS = re.compile(r"^(?:CRS|CYTOKINE\s+RELEASE\s+SYNDROME)$", re.IGNORECASE)
_ICANS = re.compile(
    r"^(?:ICANS|IMMUNE\s+EFFECTOR\s+CELL[\s-]+ASSOCIATED\s+NEUROTOXICITY(?:\s+SYNDROME)?)$",
    re.IGNORECASE,
)


def _text(v: object) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def _texts(frame: pd.DataFrame, name: str) -> pd.Series:
    return column(frame, name).map(_text)


def no_first_dose() -> FirstDose:
    """A :class:`FirstDose` without subjects (no EX dataset or no usable dose)."""
    index = pd.Index([], dtype=object, name="ID")
    return FirstDose(
        when=pd.Series(dtype="datetime64[ns]", index=index),
        clock=pd.Series(dtype=bool, index=index),
        day=pd.Series(dtype=float, index=index),
    )


def _row(**values: object) -> dict[str, object]:
    out: dict[str, object] = dict.fromkeys(ROW_COLUMNS, np.nan)
    out.update(values)
    return out


def _treatments(
    domain: Domain, trt: pd.Series, dosed: pd.Series, treatment: list[str] | None
) -> tuple[pd.Series, Violation | None]:
    """Which records are of the treatment converted, and a problem when it is ambiguous."""
    if treatment:
        wanted = {t.strip().upper() for t in treatment}
        return trt.str.upper().isin(wanted), None
    names = sorted(set(trt[dosed]))
    if len(names) <= 1:
        return pd.Series(True, index=trt.index), None
    return pd.Series(True, index=trt.index), Violation(
        "cdisc_several_treatments",
        f"{domain.name} holds doses of {len(names)} treatments; which one is the CAR-T "
        "infusion (TIME = 0) is not known",
        column="EXTRT",
        value=", ".join(repr(n) for n in names),
        expected="the doses of one treatment (EXDOSE > 0)",
        fix="name the CAR-T product: --treatment NAME (read_sdtm(..., treatment=[NAME])); "
        "the other treatments' records are then not used, with the reason",
    )


def _records(mask: pd.Series) -> tuple[int, ...]:
    """The 1-based record numbers where ``mask`` holds."""
    return tuple(int(k) + 1 for k in np.flatnonzero(mask.to_numpy()))


def _dose_problems(
    f: pd.DataFrame, dose: pd.Series, bad: pd.Series, use: pd.Series, unit: pd.Series
) -> list[Violation]:
    """Text in ``EXDOSE``, negative doses, and doses used in more than one unit."""
    text = pd.unique(f["EXDOSE"].iloc[np.flatnonzero(bad.to_numpy())])[:5]
    units = sorted(set(unit[use]))
    mixed = use & (len({u.replace(" ", "").lower() for u in units}) > 1)
    checks = (  # code, records, message, column, value, expected, fix
        ("cdisc_not_numeric", bad, "EX `EXDOSE` holds text that is not a number", "EXDOSE",
         ", ".join(repr(v) for v in text), "the dose as a number", "correct EXDOSE"),
        ("cdisc_dose_negative", dose < 0, "EX `EXDOSE` is negative", "EXDOSE", None,
         "a dose >= 0", "correct EXDOSE"),
        ("cdisc_mixed_dose_units", mixed,
         "EX doses are in more than one unit (`EXDOSU`); cartpk does not convert them",
         "EXDOSU", ", ".join(repr(u or "(blank)") for u in units),
         "one dose unit (e.g. all CAR+ cells, or all cells/kg)",
         "convert EXDOSE to one unit in EX before converting"),
    )  # fmt: skip
    return [
        Violation(code, message, rows=_records(hit), column=col, value=value, expected=e, fix=fix)
        for code, hit, message, col, value, e, fix in checks
        if hit.any()
    ]


def ex_doses(
    domain: Domain,
    log: ConversionLog,
    problems: list[Violation],
    treatment: list[str] | None = None,
) -> tuple[pd.DataFrame, FirstDose]:
    """Dose rows (``EVID=1``) from EX and each subject's first dose.

    One row per record with ``EXDOSE > 0`` at its start (``EXSTDTC``, else ``EXSTDY``),
    ``AMT = EXDOSE``. A frequency other than ``ONCE`` (or blank) gives one dose record at
    the start; repeated dosing is not expanded (the row's reason says so). ``EXDOSE`` 0 or
    missing, and treatments other than ``treatment``, are not used.

    Returns
    -------
    rows : pandas.DataFrame
        Candidate rows (:data:`ROW_COLUMNS`), ``UNIT`` the dose unit.
    first : FirstDose
        From the dose rows.
    """
    f = domain.frame
    need = [c for c in ("USUBJID", "EXDOSE") if c not in f.columns]
    if need:
        problems.extend(
            Violation(
                "cdisc_missing_variable",
                f"EX (`{domain.path.name}`) has no variable `{c}`",
                column=c,
                expected="the EX variables USUBJID, EXDOSE, EXDOSU, EXSTDTC or EXSTDY",
                fix=f"export EX with `{c}`",
            )
            for c in need
        )
        return pd.DataFrame(columns=list(ROW_COLUMNS)), no_first_dose()
    dose, bad = numbers(f["EXDOSE"])
    trt, ids = _texts(f, "EXTRT"), _texts(f, "USUBJID")
    mine, several = _treatments(domain, trt, dose > 0, treatment)
    problems.extend([several] if several is not None else [])
    dated = parse_dtc(column(f, "EXSTDTC"))[0].notna() | numbers(column(f, "EXSTDY"))[0].notna()
    use = mine & (dose > 0) & dated
    first = FirstDose.from_records(
        ids[use], column(f, "EXSTDTC")[use], numbers(column(f, "EXSTDY"))[0][use]
    )
    time, how = days_since_first_dose(ids, column(f, "EXSTDTC"), column(f, "EXSTDY"), first)
    unit, freq = _texts(f, "EXDOSU"), _texts(f, "EXDOSFRQ").str.upper()
    problems.extend(_dose_problems(f, dose, bad, use, unit))
    rows = []
    for k in range(len(f)):
        if not mine.iat[k]:
            why = f"EXTRT {trt.iat[k]!r} is not the treatment converted (--treatment)"
        elif np.isnan(dose.iat[k]):
            why = "EXDOSE missing: no dose record"
        elif dose.iat[k] == 0:
            why = "EXDOSE 0 (placebo or dose not given): no dose record"
        elif dose.iat[k] < 0:
            continue  # a violation
        elif not dated.iat[k]:
            why = "no start: EXSTDTC not a full date and EXSTDY blank"
        else:
            parts = [f"dose {dose.iat[k]:g} {unit.iat[k]} of {trt.iat[k] or 'EXTRT blank'}"]
            if freq.iat[k] not in _ONCE:
                parts.append(
                    f"EXDOSFRQ {freq.iat[k]}: one dose record at EXSTDTC/EXSTDY; repeated "
                    "dosing to EXENDTC was not expanded"
                )
            parts.append(f"TIME from {how.iat[k]}")
            rows.append(
                _row(
                    ID=ids.iat[k],
                    TIME=float(time.iat[k]),
                    EVID=1,
                    AMT=float(dose.iat[k]),
                    MDV=1,
                    CENS=0,
                    DVID="",
                    UNIT=unit.iat[k],
                    MAP_UNIT="",
                    SOURCE=f"EX EXDOSE (EXTRT {trt.iat[k]})",
                    _DOMAIN=domain.name,
                    _POS=k,
                    _ROW=k + 1,
                    _REASON="; ".join(parts),
                )
            )
            continue
        log.add(domain, k, used=False, reason=why)
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS)), first


def ae_dvid(decod: str, term: str) -> str:
    """DVID of an adverse event: ``CRS``, ``ICANS`` or ``AE_<AEDECOD>``.

    Examples
    --------
    >>> ae_dvid("Cytokine release syndrome", ""), ae_dvid("", "ICANS")
    ('CRS', 'ICANS')
    >>> ae_dvid("APPLICATION SITE ERYTHEMA", "redness")
    'AE_APPLICATION_SITE_ERYTHEMA'
    """
    for text in (decod, term):
        if _CRS.match(text.strip()):
            return "CRS"
        if _ICANS.match(text.strip()):
            return "ICANS"
    name = re.sub(r"[^A-Za-z0-9]+", "_", decod or term).strip("_").upper()
    return f"AE_{name}"


def _grade(text: str) -> float | None:
    """A grade 0-5 from ``3``, ``3.0`` or ``GRADE 3``; ``NaN`` for blank; ``None`` if bad."""
    if not text:
        return np.nan
    m = re.fullmatch(r"\s*(?:GRADE\s*)?(\d+)(?:\.0*)?\s*", text, re.IGNORECASE)
    if m is None or int(m.group(1)) > 5:
        return None
    return float(m.group(1))


def adverse_events(
    domain: Domain, first: FirstDose, log: ConversionLog, problems: list[Violation]
) -> pd.DataFrame:
    """Graded event rows from AE: ``DV = AETOXGR`` at the onset (``AESTDTC``/``AESTDY``).

    A record without a grade is not used (``AESEV`` is a severity, not a CTCAE/ASTCT grade).
    """
    f = domain.frame
    ids = _texts(f, "USUBJID")
    decod, term = _texts(f, "AEDECOD"), _texts(f, "AETERM")
    if "AETOXGR" not in f.columns:
        log.add(
            domain,
            range(len(f)),
            used=False,
            reason="AE has no AETOXGR (CTCAE/ASTCT grade); AESEV is a severity, not a grade",
        )
        return pd.DataFrame(columns=list(ROW_COLUMNS))
    grade_text = _texts(f, "AETOXGR")
    time, how = days_since_first_dose(ids, column(f, "AESTDTC"), column(f, "AESTDY"), first)
    rows, bad = [], []
    for k in range(len(f)):
        g = _grade(grade_text.iat[k])
        if g is None:
            bad.append(k)
            continue
        if np.isnan(g):
            log.add(domain, k, used=False, reason="AETOXGR blank: no grade")
            continue
        if np.isnan(time.iat[k]):
            log.add(domain, k, used=False, reason=f"no onset time: {how.iat[k]}")
            continue
        dvid = ae_dvid(decod.iat[k], term.iat[k])
        rows.append(
            _row(
                ID=ids.iat[k],
                TIME=float(time.iat[k]),
                DV=g,
                EVID=0,
                AMT=0.0,
                MDV=0,
                CENS=0,
                DVID=dvid,
                UNIT="grade",
                MAP_UNIT="",
                SOURCE="AE AETOXGR",
                _DOMAIN=domain.name,
                _POS=k,
                _ROW=k + 1,
                _REASON=f"{decod.iat[k] or term.iat[k]} -> DVID {dvid}, grade {g:g}; "
                f"onset TIME from {how.iat[k]}",
            )
        )
    if bad:
        problems.append(
            Violation(
                "cdisc_grade_invalid",
                "AE `AETOXGR` is not a CTCAE/ASTCT grade 0-5",
                rows=tuple(k + 1 for k in bad),
                column="AETOXGR",
                value=", ".join(repr(grade_text.iat[k]) for k in bad[:5]),
                expected="a grade 0, 1, 2, 3, 4 or 5 (or 'GRADE 3')",
                fix="correct AETOXGR",
            )
        )
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS))


def _dm_deaths(dm: Domain, first: FirstDose) -> pd.Series:
    """Death day of DM subjects with ``DTHFL = Y`` (or no ``DTHFL``) and a ``DTHDTC``."""
    f = dm.frame
    if "DTHDTC" not in f.columns:
        return pd.Series(dtype=float)
    flagged = _texts(f, "DTHFL").str.upper().eq("Y") | ("DTHFL" not in f.columns)
    ids = _texts(f, "USUBJID")
    day, _ = days_since_first_dose(ids, f["DTHDTC"], None, first)
    keep = flagged & day.notna()
    return pd.Series(day[keep].to_numpy(), index=ids[keep].to_numpy(), dtype=float)


def death_days(domains: Mapping[str, Domain], first: FirstDose, log: ConversionLog) -> pd.Series:
    """Day of death of each subject (days since the first dose), from DM and DS.

    DM ``DTHDTC`` (with ``DTHFL = Y``) is used where it gives a day; else the earliest DS
    record with ``DSDECOD = DEATH`` (``DSSTDTC``, else ``DSSTDY``). Every DS record is
    written to ``log`` (deaths used; other dispositions not used, with the reason); DM
    records are logged with the covariates (:func:`dm_covariates`).

    Returns
    -------
    pandas.Series
        Index ``ID`` (``USUBJID``), values in days; subjects without a known death absent.
    """
    dm = _dm_deaths(domains["DM"], first) if "DM" in domains else pd.Series(dtype=float)
    out = dm.copy()
    ds = domains.get("DS")
    if ds is not None:
        f = ds.frame
        ids = _texts(f, "USUBJID")
        decod = _texts(f, "DSDECOD").str.upper()
        day, how = days_since_first_dose(ids, column(f, "DSSTDTC"), column(f, "DSSTDY"), first)
        death = decod.eq("DEATH")
        ds_day = day[death & day.notna()].groupby(ids[death & day.notna()]).min()
        for sid, d in ds_day.items():
            if sid not in out.index:
                out[sid] = d
        for k in range(len(f)):
            if not death.iat[k]:
                why = f"disposition {decod.iat[k] or '(DSDECOD blank)'} is not converted"
                log.add(ds, k, used=False, reason=why)
            elif np.isnan(day.iat[k]):
                log.add(ds, k, used=False, reason=f"death without a day: {how.iat[k]}")
            else:
                sid = ids.iat[k]
                note = (
                    f"; DM DTHDTC gives day {dm[sid]:g}, which is used"
                    if sid in dm.index and dm[sid] != day.iat[k]
                    else ""
                )
                log.add(
                    ds,
                    k,
                    used=True,
                    reason=f"death on day {day.iat[k]:g} (DSSTDTC, {how.iat[k]}) -> "
                    f"DEATH_DAY of lesions.csv{note}",
                )
    out.index.name = "ID"
    return out.astype(float).rename("DEATH_DAY")


def complete_covariates(
    wanted: pd.DataFrame, source: str, warnings: list[CartpkWarning]
) -> list[str]:
    """The covariates with a value for every subject of ``trial.csv``; each other one gets a
    ``cdisc_covariate_incomplete`` warning (``cartpk validate`` requires a value on every
    row, so it is left out).

    Parameters
    ----------
    wanted : pandas.DataFrame
        One row per subject of ``trial.csv`` (index ``ID``), one column per covariate.
    source : str
        The dataset the covariates come from (``DM``, ``ADSL``), for the message.
    warnings : list of CartpkWarning
        Receives the warnings.

    Returns
    -------
    list of str
        The columns of ``wanted`` to keep, in order.
    """
    kept = []
    for c in wanted.columns:
        gaps = wanted.index[wanted[c].isna()].tolist()
        if gaps:
            warnings.append(
                CartpkWarning(
                    f"covariate {c} ({source}) has no value for {len(gaps)} subject(s) of "
                    f"trial.csv ({', '.join(gaps[:5])}); it is left out of trial.csv",
                    code="cdisc_covariate_incomplete",
                    details={"covariate": c, "subjects": gaps},
                )
            )
        else:
            kept.append(c)
    return kept


def dm_covariates(
    dm: Domain,
    subjects: list[str],
    dosed: set[str],
    deaths: pd.Series,
    log: ConversionLog,
    problems: list[Violation],
    warnings: list[CartpkWarning],
) -> pd.DataFrame:
    """Baseline covariates of ``subjects`` from DM (:data:`COVARIATES`), index ``ID``.

    A covariate without a value for some subject of ``trial.csv`` is left out (a
    ``cdisc_covariate_incomplete`` warning): ``cartpk validate`` requires a value on every
    row. Every DM record is logged: used for the subjects of ``trial.csv``, not used for
    the others (``dosed``: the subjects with a dose, to say why).
    """
    f = dm.frame
    ids = _texts(f, "USUBJID")
    dup = ids.duplicated(keep=False) & (ids != "")
    if dup.any():
        problems.append(
            Violation(
                "cdisc_duplicate_subject",
                "DM has more than one record of a subject",
                rows=_records(dup),
                column="USUBJID",
                value=", ".join(sorted(set(ids[dup]))[:5]),
                expected="one DM record per USUBJID",
                fix="remove the repeated DM records",
            )
        )
    present = [c for c in COVARIATES if c in f.columns]
    table = pd.DataFrame({COVARIATES[c]: f[c].to_numpy() for c in present}, index=ids.to_numpy())
    if "AGE" in table.columns:  # a number, whether read from XPT or from CSV text
        age, bad = numbers(table["AGE"])
        table["AGE"] = age.where(~bad, table["AGE"])
    table = table[~table.index.duplicated()]
    wanted = table.reindex(subjects)
    kept = complete_covariates(wanted, "DM", warnings)
    inside = set(subjects)
    dated = set(deaths.index)
    for k in range(len(f)):
        sid = ids.iat[k]
        if sid in inside:
            why = f"covariates {', '.join(kept) or '(none)'} of subject {sid}"
            if sid in dated:
                src = "DTHDTC" if _text(column(f, "DTHDTC").iat[k]) else "DS"
                why += f"; death on day {deaths[sid]:g} ({src}) -> DEATH_DAY of lesions.csv"
            log.add(dm, k, used=True, reason=why, table="trial.csv")
        elif sid in dosed:
            log.add(
                dm, k, used=False, reason="subject has doses but no result used: not in trial.csv"
            )
        else:
            log.add(dm, k, used=False, reason="subject has no dose (EXDOSE > 0): not in trial.csv")
    out = wanted[kept]
    out.index.name = "ID"
    return out
