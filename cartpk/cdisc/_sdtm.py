"""SDTM into cartpk's tables: :func:`read_sdtm`.

The domains present are read (:func:`cartpk.cdisc.read_domains`) and converted:

* EX: one dose record (``EVID=1``, ``AMT = EXDOSE``) per record with ``EXDOSE > 0`` at its
  start; the first of them is ``TIME = 0`` of the subject
  (:mod:`cartpk.cdisc._sdtm_events`);
* PC (every analyte) and LB (the tests the analyte map knows): observations with their
  unit, ``LLOQ`` and censoring (:mod:`cartpk.cdisc._sdtm_find`);
* AE: graded events (``CRS``, ``ICANS``, ``AE_<AEDECOD>``, ``DV = AETOXGR``) at onset;
* DM: baseline covariates; DM and DS: the day of death (``DEATH_DAY`` of ``lesions.csv``);
* TU, TR (and RS): the RECIST 1.1 lesion table (:mod:`cartpk.cdisc._lesions`);
* any other dataset: every record not used, with the reason.

``docs/cdisc.md`` gives the rules, variable by variable.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from cartpk.cdisc._files import Domain, read_domains
from cartpk.cdisc._log import ConversionLog
from cartpk.cdisc._map import AnalyteMap, read_map
from cartpk.cdisc._result import LESION_COLUMNS, Conversion
from cartpk.cdisc._sdtm_events import (
    adverse_events,
    death_days,
    dm_covariates,
    ex_doses,
    no_first_dose,
)
from cartpk.cdisc._sdtm_find import ROW_COLUMNS, findings, unit_problems
from cartpk.cdisc._time import FirstDose
from cartpk.errors import CartpkWarning, DatasetError, Violation

__all__ = [
    "ENDPOINT_COLUMNS",
    "LESION_DATASETS",
    "TRIAL_COLUMNS",
    "assemble_trial",
    "endpoint_table",
    "finish_conversion",
    "lesion_table",
    "raise_problems",
    "read_sdtm",
]

#: the standard columns of ``trial.csv`` (covariates follow)
TRIAL_COLUMNS = ("ID", "TIME", "DV", "EVID", "AMT", "MDV", "CENS", "LLOQ", "DVID")
#: columns of ``endpoints.csv``
ENDPOINT_COLUMNS = ("DVID", "UNIT", "SCALE", "SOURCE")
#: the SDTM domains :func:`read_sdtm` converts (all others: not used, with the reason)
CONVERTED = ("DM", "EX", "PC", "LB", "AE", "DS", "TU", "TR", "RS")


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame(columns=list(ROW_COLUMNS))


#: the datasets of each standard's lesion reader (:mod:`cartpk.cdisc._lesions`)
LESION_DATASETS = {"sdtm": ("TU", "TR", "RS"), "adam": ("ADTR", "ADRS")}


def lesion_table(
    standard: str,
    domains: Mapping[str, Domain],
    first: FirstDose,
    deaths: pd.Series,
    log: ConversionLog,
    problems: list[Violation],
    evaluator: str | None,
) -> pd.DataFrame:
    """``lesions.csv`` by the lesion reader of ``standard`` (``"sdtm"``: TU/TR, RS logged as
    not used; ``"adam"``: ADTR, ADRS logged as not used); no rows without these datasets.

    Parameters
    ----------
    standard : {"sdtm", "adam"}
        Which reader: :func:`~cartpk.cdisc._lesions.sdtm_lesions` or
        :func:`~cartpk.cdisc._lesions.adam_lesions`.
    domains : mapping of str to Domain
        The datasets read.
    first : FirstDose
        Each subject's first dose (``DAY`` counts from it).
    deaths : pandas.Series
        Day of death by subject (``DEATH_DAY``).
    log : ConversionLog
        Receives one row per record of the lesion datasets.
    problems : list of Violation
        Receives the reader's problems (the table then has no rows).
    evaluator : str or None
        Whose assessments to convert (``None``: the investigator's).

    Returns
    -------
    pandas.DataFrame
        ``lesions.csv`` (:data:`~cartpk.cdisc._result.LESION_COLUMNS`).
    """
    if not set(LESION_DATASETS[standard]) & set(domains):
        return pd.DataFrame(columns=list(LESION_COLUMNS))
    from cartpk.cdisc import _lesions

    read = _lesions.sdtm_lesions if standard == "sdtm" else _lesions.adam_lesions
    kwargs = {} if evaluator is None else {"evaluator": evaluator}
    try:
        return read(dict(domains), first, deaths, log, **kwargs)
    except DatasetError as err:
        problems.extend(err.violations)
        return pd.DataFrame(columns=list(LESION_COLUMNS))


def assemble_trial(
    rows: pd.DataFrame,
    covariates: pd.DataFrame,
    domains: Mapping[str, Domain],
    log: ConversionLog,
) -> pd.DataFrame:
    """Sort the candidate rows into ``trial.csv`` and log every one as used.

    Rows are sorted by ``ID``, ``TIME``, doses before observations, then ``DVID`` and
    source record; each source record's ``TABLE_ROW`` is its 1-based data row of
    ``trial.csv``. Covariates (index ``ID``) are added to every row of the subject.

    Parameters
    ----------
    rows : pandas.DataFrame
        Candidate rows (:data:`cartpk.cdisc._sdtm_find.ROW_COLUMNS`) of every domain.
    covariates : pandas.DataFrame
        Baseline covariates by ``ID`` (may have no columns).
    domains : mapping of str to Domain
        The datasets the rows came from (by ``_DOMAIN``).
    log : ConversionLog
        Receives one used row per candidate row.

    Returns
    -------
    pandas.DataFrame
        ``TRIAL_COLUMNS`` and the covariate columns.
    """
    r = rows.assign(_DOSE_LAST=(rows["EVID"] != 1).astype(int))
    r = r.sort_values(
        ["ID", "TIME", "_DOSE_LAST", "DVID", "_DOMAIN", "_POS"], kind="stable"
    ).reset_index(drop=True)
    r["_TABLE_ROW"] = np.arange(1, len(r) + 1)
    for (name, reason), g in r.groupby(["_DOMAIN", "_REASON"], sort=False):
        log.add(
            domains[str(name)],
            g["_POS"].astype(int).tolist(),
            used=True,
            reason=str(reason),
            table="trial.csv",
            table_rows=g["_TABLE_ROW"].tolist(),
        )
    trial = pd.DataFrame(
        {
            "ID": r["ID"].astype(str),
            "TIME": r["TIME"].astype(float),
            "DV": r["DV"].astype(float),
            "EVID": r["EVID"].astype(int),
            "AMT": r["AMT"].astype(float),
            "MDV": r["MDV"].astype(int),
            "CENS": r["CENS"].astype(int),
            "LLOQ": r["LLOQ"].astype(float),
            "DVID": r["DVID"].fillna("").astype(str),
        }
    )
    for c in covariates.columns:
        trial[c] = trial["ID"].map(covariates[c]).to_numpy()
    return trial


def endpoint_table(rows: pd.DataFrame) -> pd.DataFrame:
    """``endpoints.csv``: one row per DVID (doses: blank DVID, scale ``dose``).

    Parameters
    ----------
    rows : pandas.DataFrame
        The candidate rows of ``trial.csv`` (:data:`cartpk.cdisc._sdtm_find.ROW_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        :data:`ENDPOINT_COLUMNS`: the units and sources of each DVID in order of first
        appearance, the scale from the first row (``dose``, ``grade``, else the endpoint's).
    """
    from cartpk.data._endpoints import endpoint_for

    out = []
    for dvid, g in rows.groupby("DVID", sort=True):
        if g["EVID"].iat[0] == 1:
            scale = "dose"
        elif g["UNIT"].iat[0] == "grade":
            scale = "grade"
        else:
            scale = endpoint_for(str(dvid)).scale
        units = ", ".join(dict.fromkeys(g["UNIT"].astype(str)))
        sources = "; ".join(dict.fromkeys(g["SOURCE"].astype(str)))
        out.append({"DVID": dvid, "UNIT": units, "SCALE": scale, "SOURCE": sources})
    return pd.DataFrame(out, columns=list(ENDPOINT_COLUMNS))


def raise_problems(standard: str, problems: list[Violation]) -> None:
    """Raise every problem of a conversion at once (none: nothing happens).

    Parameters
    ----------
    standard : str
        ``SDTM`` or ``ADaM``, for the message.
    problems : list of Violation
        Everything found.

    Raises
    ------
    DatasetError
        ``problems``, when there are any; nothing is converted.
    """
    if problems:
        n = len(problems)
        raise DatasetError(
            f"the {standard} datasets have {n} problem{'s' if n != 1 else ''}; "
            "nothing was converted",
            problems,
        )


def finish_conversion(
    rows: pd.DataFrame,
    covariates: pd.DataFrame,
    lesions: pd.DataFrame,
    domains: Mapping[str, Domain],
    log: ConversionLog,
    warnings: list[CartpkWarning],
) -> Conversion:
    """The tables of a conversion without problems: ``trial.csv`` (:func:`assemble_trial`),
    ``endpoints.csv`` (:func:`endpoint_table`) and the conversion record.

    Parameters
    ----------
    rows : pandas.DataFrame
        The candidate rows of ``trial.csv``.
    covariates : pandas.DataFrame
        Baseline covariates by ``ID``.
    lesions : pandas.DataFrame
        ``lesions.csv``.
    domains : mapping of str to Domain
        The datasets read; every record must be in ``log`` once the rows are added.
    log : ConversionLog
        The record of every source record (the rows of ``trial.csv`` are added here).
    warnings : list of CartpkWarning
        Usable but suspicious input.

    Returns
    -------
    Conversion
        The tables, and ``warnings`` (not yet emitted).
    """
    trial = assemble_trial(rows, covariates, domains, log)
    missing = log.missing(domains.values())
    if missing:  # pragma: no cover - a bug: every record must have its row
        raise AssertionError(f"records without a row in conversion.csv: {missing[:10]}")
    return Conversion(
        trial=trial,
        lesions=lesions,
        conversion=log.frame(),
        endpoints=endpoint_table(rows),
        warnings=warnings,
    )


def _no_doses(ex: Domain | None) -> Violation:
    where = "no EX dataset in the folder" if ex is None else "no EX record with EXDOSE > 0"
    return Violation(
        "cdisc_no_doses",
        f"no dose to start the time axis: {where}",
        expected="EX records of the CAR-T infusion (EXDOSE > 0, EXSTDTC or EXSTDY)",
        fix="add the EX dataset (ex.xpt, ex.csv, ...) to the folder",
    )


def _drop_undosed_doses(
    doses: pd.DataFrame, subjects: set[str], domains: Mapping[str, Domain], log: ConversionLog
) -> pd.DataFrame:
    """Dose rows of subjects without any observation are not used (validate needs one)."""
    lone = ~doses["ID"].isin(subjects)
    if lone.any():
        log.add(
            domains["EX"],
            doses.loc[lone, "_POS"].astype(int).tolist(),
            used=False,
            reason="subject has no result used (PC, LB or AE): dose not converted",
        )
    return doses[~lone]


def _first_doses_only(
    doses: pd.DataFrame,
    domains: Mapping[str, Domain],
    log: ConversionLog,
    problems: list[Violation],
    warns: list[CartpkWarning],
) -> pd.DataFrame:
    """The infusion at ``TIME = 0`` of each subject; later doses are not used (cartpk models
    one CAR-T infusion) and two records at the first time are a problem."""
    if len(doses) == 0:
        return doses
    later = doses["TIME"].astype(float) > 0
    if later.any():
        log.add(
            domains["EX"],
            doses.loc[later, "_POS"].astype(int).tolist(),
            used=False,
            reason="dose after the first (TIME > 0): cartpk models one CAR-T infusion at "
            "TIME 0, later doses are not in trial.csv",
        )
        who = sorted(set(doses.loc[later, "ID"]))
        warns.append(
            CartpkWarning(
                f"{int(later.sum())} EX dose record(s) of {len(who)} subject(s) after the "
                "first dose are not in trial.csv (one infusion at TIME 0 per subject); "
                "conversion.csv lists them",
                code="cdisc_later_doses_not_used",
                details={"subjects": who},
            )
        )
    first = doses[~later]
    twice = first["ID"].duplicated(keep=False)
    for sid, g in first[twice].groupby("ID", sort=True):
        problems.append(
            Violation(
                "cdisc_first_dose_repeated",
                "more than one EX record at the subject's first dose",
                id=sid,
                rows=tuple(int(r) for r in g["_ROW"]),
                column="EXDOSE",
                value="EXDOSE " + ", ".join(f"{a:g}" for a in g["AMT"].astype(float)),
                expected="one EX record of the CAR-T infusion (TIME 0)",
                fix="give the infusion as one EX record (the total dose in EXDOSE), or "
                "correct EXSTDTC of the record that is not the infusion",
            )
        )
    return first


def _drop_before_first_dose(
    rows: pd.DataFrame, domains: Mapping[str, Domain], log: ConversionLog
) -> pd.DataFrame:
    """Records before the first dose (``TIME < 0``) are not used: ``trial.csv`` starts at
    the first dose (``cartpk validate``: ``time_negative``)."""
    early = rows["TIME"].astype(float) < 0
    for name, g in rows[early].groupby("_DOMAIN", sort=False):
        log.add(
            domains[str(name)],
            g["_POS"].astype(int).tolist(),
            used=False,
            reason="before the first dose (TIME < 0): trial.csv starts at the first dose",
        )
    return rows[~early]


def _other_domains(
    domains: Mapping[str, Domain], handled: Iterable[str], log: ConversionLog
) -> None:
    for name in sorted(set(domains) - set(handled)):
        d = domains[name]
        log.add(
            d,
            range(len(d.frame)),
            used=False,
            reason=f"domain {name} is not converted (cartpk converts " + ", ".join(CONVERTED) + ")",
        )


def read_sdtm(
    folder: str | os.PathLike[str] | Mapping[str, Domain],
    *,
    map: str | os.PathLike[str] | AnalyteMap | None = None,  # noqa: A002 - the CLI's --map
    treatment: Iterable[str] | None = None,
    evaluator: str | None = None,
) -> Conversion:
    """Convert a folder of SDTM datasets into cartpk's long table and lesion table.

    Parameters
    ----------
    folder : path or mapping of str to Domain
        The folder holding the datasets (``dm.xpt``, ``ex.csv``, ``pc.json``, ...; any of
        :data:`cartpk.cdisc.FORMATS`, names case-insensitive), or datasets already read
        (:func:`cartpk.cdisc.read_domains`).
    map : path or AnalyteMap, optional
        Analyte map (CSV ``DOMAIN, TESTCD, SPEC, DVID, UNIT``) whose rows come before the
        built-in ones (:data:`cartpk.cdisc.DEFAULT_MAP`).
    treatment : iterable of str, optional
        ``EXTRT`` values of the CAR-T product, when EX holds doses of other treatments
        too (lymphodepleting chemotherapy); their records are then not used.
    evaluator : str, optional
        Whose tumour assessments make ``lesions.csv`` (a ``TREVAL`` or ``TREVALID`` value);
        default the investigator's (:func:`cartpk.cdisc._lesions.sdtm_lesions`).

    Returns
    -------
    Conversion
        ``trial`` (``ID, TIME, DV, EVID, AMT, MDV, CENS, LLOQ, DVID`` and the DM
        covariates; ``TIME`` in days since the first dose), ``lesions``, ``conversion``
        (one row per source record), ``endpoints`` and ``warnings`` (not yet emitted).

    Raises
    ------
    DatasetError
        Every problem at once: unreadable files (``cdisc_unreadable``, ...), an unreadable
        map (``map_*``), no dose (``cdisc_no_doses``), several treatments
        (``cdisc_several_treatments``), units mixed within a DVID (``cdisc_mixed_units``)
        or other than the map's (``cdisc_unit_mismatch``), BLQ results without LLOQ
        (``cdisc_blq_without_lloq``), invalid grades (``cdisc_grade_invalid``), text in
        numeric variables (``cdisc_not_numeric``), ...

    See Also
    --------
    cartpk.cdisc.read_adam : the same tables from ADaM datasets.
    """
    domains = dict(folder) if isinstance(folder, Mapping) else read_domains(folder)
    amap = map if isinstance(map, AnalyteMap) else read_map(map)
    log = ConversionLog()
    problems: list[Violation] = []
    warns: list[CartpkWarning] = []
    ex = domains.get("EX")
    if ex is not None:
        doses, first = ex_doses(ex, log, problems, list(treatment or []) or None)
    else:
        doses, first = _empty_rows(), no_first_dose()
    if len(doses) == 0 and not any(v.code == "cdisc_missing_variable" for v in problems):
        problems.append(_no_doses(ex))
    doses = _first_doses_only(doses, domains, log, problems, warns)
    deaths = death_days(domains, first, log)
    parts = [
        findings(domains[n], amap, first, log, problems, keep_unmapped=n == "PC")
        for n in ("PC", "LB")
        if n in domains
    ]
    problems.extend(unit_problems(pd.concat([_empty_rows(), *parts], ignore_index=True)))
    if "AE" in domains:
        parts.append(adverse_events(domains["AE"], first, log, problems))
    obs = pd.concat([_empty_rows(), *parts], ignore_index=True)
    obs = _drop_before_first_dose(obs, domains, log)
    subjects = sorted(set(obs["ID"]))
    doses = _drop_undosed_doses(doses, set(subjects), domains, log)
    covariates = pd.DataFrame(index=pd.Index(subjects, name="ID"))
    if "DM" in domains:
        covariates = dm_covariates(
            domains["DM"], subjects, set(first.when.index), deaths, log, problems, warns
        )
    lesions = lesion_table("sdtm", domains, first, deaths, log, problems, evaluator)
    _other_domains(domains, CONVERTED, log)
    raise_problems("SDTM", problems)
    expanded = doses["_REASON"].str.contains("not expanded", regex=False)
    if expanded.any():
        warns.append(
            CartpkWarning(
                f"{int(expanded.sum())} EX record(s) with repeated dosing (EXDOSFRQ other "
                "than ONCE) became one dose record each, at their start",
                code="cdisc_dosing_not_expanded",
            )
        )
    rows = pd.concat([doses, obs], ignore_index=True)
    return finish_conversion(rows, covariates, lesions, domains, log, warns)
