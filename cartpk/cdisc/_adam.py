"""ADaM into cartpk's tables: :func:`read_adam`.

The datasets present are read (:func:`cartpk.cdisc.read_domains`) and converted:

* doses: ADEX (``PARAMCD`` ``DOSE``), else the dose records of ADPC, else ADSL ``TRTSDTM``
  with ``DOSE01A``; the first of each subject is ``TIME = 0``
  (:mod:`cartpk.cdisc._adam_events`);
* ADPC (every analyte) and ADLB (the tests the analyte map knows): one observation per
  sample, ``TIME`` from ``AFRLT`` (:mod:`cartpk.cdisc._adam_conc`);
* ADAE: graded events (``CRS``, ``ICANS``, ``AE_<AEDECOD>``, ``DV`` = grade) at onset;
* ADSL: baseline covariates and the day of death (``DEATH_DAY`` of ``lesions.csv``);
* ADTR: the RECIST 1.1 lesion table (:func:`cartpk.cdisc._lesions.adam_lesions`), days
  since the first dose, or since ADSL ``TRTSDTM`` for subjects without a dose record;
* ADRS, ADTTE, ADPP: derived results, not input data (every record not used, with the
  reason; ``docs/cdisc_peer_check.md`` compares them with cartpk's own results);
* any other dataset: every record not used, with the reason.

The rows go through the SDTM converter's :func:`~cartpk.cdisc._sdtm.finish_conversion` and
:func:`~cartpk.cdisc._sdtm_find.unit_problems`, so both write the same tables.
``docs/cdisc.md`` (section ADaM) gives the rules, variable by variable.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import pandas as pd

from cartpk.cdisc._adam_conc import ADLB, ADPC, measurements
from cartpk.cdisc._adam_events import adverse_events, doses
from cartpk.cdisc._adam_rows import Pending, clip, fmt, text_column
from cartpk.cdisc._adam_time import adam_dates, numbers, record_days
from cartpk.cdisc._files import Domain, read_domains
from cartpk.cdisc._log import ConversionLog
from cartpk.cdisc._map import AnalyteMap, read_map
from cartpk.cdisc._result import Conversion
from cartpk.cdisc._sdtm import finish_conversion, lesion_table, raise_problems
from cartpk.cdisc._sdtm_events import COVARIATES as DM_COVARIATES
from cartpk.cdisc._sdtm_events import complete_covariates
from cartpk.cdisc._sdtm_find import unit_problems
from cartpk.cdisc._time import FirstDose
from cartpk.errors import DatasetError, Violation

__all__ = ["COVARIATES", "DERIVED", "read_adam"]

#: ADSL variable -> covariate column of ``trial.csv`` (DM's, and ADSL's baseline body size)
COVARIATES = {**DM_COVARIATES, "WEIGHTBL": "WT", "HEIGHTBL": "HT", "BMIBL": "BMI"}

_PEER = "compared in docs/cdisc_peer_check.md, not input data"
#: derived ADaM datasets: why their records are not used (ADRS: by the lesion reader)
DERIVED = {
    "ADTTE": f"derived time-to-event parameter (cartpk recist derives PFS, OS); {_PEER}",
    "ADPP": f"derived PK parameter (cartpk nca derives Cmax, AUC, ...); {_PEER}",
}
#: the datasets read_adam converts (any other: not used, with the reason)
CONVERTED = ("ADSL", "ADEX", "ADPC", "ADLB", "ADAE", "ADTR", "ADRS", *DERIVED)


def _treatment_start(first: FirstDose, adsl: Domain | None) -> FirstDose:
    """``first``, and ADSL's ``TRTSDTM`` (else ``TRTSDT``) for subjects it lacks: the time
    origin of ``lesions.csv`` and of the days of death (placebo or other treatment arms,
    subjects whose doses no dataset gives)."""
    if adsl is None:
        return first
    f = adsl.frame
    ids = text_column(f, "USUBJID")
    dtc = adam_dates(f, "TRTSDTM", "TRTSDT", "TRTSTMF")
    extra = dtc.notna() & ~ids.isin(first.when.index) & ~ids.duplicated()
    if not extra.any():
        return first
    start = FirstDose.from_records(ids[extra], dtc[extra], pd.Series(1.0, index=f.index)[extra])
    return FirstDose(
        pd.concat([first.when, start.when]),
        pd.concat([first.clock, start.clock]).astype(bool),
        pd.concat([first.day, start.day]).astype(float),
    )


def _deaths(adsl: Domain | None, first: FirstDose) -> tuple[pd.Series, pd.Series]:
    """Day of death by subject (``DTHDT``, else ``DTHDTC``; ``DTHFL`` Y where present), and
    the variable each came from."""
    if adsl is None:
        return pd.Series(dtype=float, name="DEATH_DAY"), pd.Series(dtype=object)
    f = adsl.frame
    col = "DTHDT" if "DTHDT" in f.columns else "DTHDTC"
    flagged = text_column(f, "DTHFL").str.upper().eq("Y") | ("DTHFL" not in f.columns)
    day, how = record_days(f, first, datetime_col=None, date_col=col, tmf_col=None,
                           day_col="DTHADY")  # fmt: skip
    keep = flagged & day.notna()
    ids = text_column(f, "USUBJID")[keep].to_numpy()
    out = pd.Series(day[keep].to_numpy(), index=pd.Index(ids, name="ID"), dtype=float)
    src = pd.Series((col + ", " + how[keep]).to_numpy(), index=ids, dtype=object)
    return out.rename("DEATH_DAY"), src


def _covariates(adsl: Domain, subjects: list[str], pend: Pending) -> tuple[pd.DataFrame, list[str]]:
    """Covariates (:data:`COVARIATES`) of ``subjects`` by ``ID``; a covariate missing for
    some subject is left out with a ``cdisc_covariate_incomplete`` warning, as for DM."""
    f = adsl.frame
    ids = text_column(f, "USUBJID")
    dup = ids.duplicated(keep=False) & (ids != "")
    if dup.any():
        pend.problem("cdisc_duplicate_subject", adsl, f.index[dup],
                     "more than one record of a subject", column="USUBJID",
                     value=clip(ids[dup]), expected="one ADSL record per USUBJID",
                     fix="remove the repeated ADSL records")  # fmt: skip
    present = [c for c in COVARIATES if c in f.columns]
    table = pd.DataFrame({COVARIATES[c]: f[c].to_numpy() for c in present}, index=ids.to_numpy())
    for c in ("AGE", "WT", "HT", "BMI"):  # numbers, whether read from XPT or from CSV text
        if c in table.columns:
            value, bad = numbers(table[c])
            table[c] = value.where(~bad, table[c]) if bad.any() else value
    wanted = table[~table.index.duplicated()].reindex(subjects)
    kept = complete_covariates(wanted, "ADSL", pend.warnings)
    out = wanted[kept]
    out.index.name = "ID"
    return out, kept


def _adsl_reasons(
    adsl: Domain,
    subjects: set[str],
    first: FirstDose,
    kept: list[str],
    deaths: tuple[pd.Series, pd.Series],
    lesion_ids: set[str],
    pend: Pending,
) -> tuple[pd.Series, pd.Series]:
    """What became of each ADSL record, and the table it went to (``""``: not used)."""
    ids = text_column(adsl.frame, "USUBJID")
    day, src = deaths
    out = pd.Series("", index=adsl.frame.index, dtype=object)
    table = pd.Series("", index=adsl.frame.index, dtype=object)
    for k, sid in ids.items():
        died = (
            f"death on day {fmt(day[sid])} ({src[sid]}) -> DEATH_DAY of lesions.csv"
            if sid in day.index
            else ""
        )
        if sid in subjects:
            why = "; ".join(filter(None, [f"covariates {', '.join(kept) or '(none)'} of "
                                          f"subject {sid}", died]))  # fmt: skip
            table[k] = "trial.csv"
        else:
            note = pend.notes.get(int(k))
            why = (
                "subject has doses but no result used: not in trial.csv"
                if sid in first.when.index
                else "subject has no dose" + (f" ({note})" if note else "") + ": not in trial.csv"
            )
            if sid in lesion_ids and sid not in first.when.index:
                why += "; TRTSDTM (TRTSDT) is DAY 0 of its lesions.csv rows"
                table[k] = "lesions.csv"
            if sid in lesion_ids and died:
                why += "; " + died
                table[k] = "lesions.csv"
        out[k] = why
    return out, table


def _log_adsl(
    adsl: Domain,
    rows: pd.DataFrame,
    why: pd.Series,
    table: pd.Series,
    pend: Pending,
    log: ConversionLog,
) -> None:
    """Log every ADSL record; a dose read from ADSL carries its covariates in the row's
    reason (one row per record)."""
    at = rows["_DOMAIN"] == "ADSL"
    rows.loc[at, "_REASON"] += "; " + why[rows.loc[at, "_POS"].astype(int)].to_numpy()
    rest = adsl.frame.index.difference(rows.loc[at, "_POS"].astype(int))
    for (name, reason), g in why[rest].groupby([table[rest], why[rest]], sort=False):
        if name:
            log.add(adsl, g.index.tolist(), used=True, reason=str(reason), table=str(name))
        else:
            pend.skip(adsl, g.index, str(reason))


def _no_adam(names: Iterable[str]) -> DatasetError:
    found = ", ".join(sorted(names)) or "none"
    return DatasetError(
        "no ADaM dataset to convert",
        [
            Violation(
                "cdisc_no_adam",
                "the folder holds no ADaM dataset (ADSL, ADEX, ADPC, ADLB, ADAE, ADTR)",
                value=f"datasets found: {found}",
                expected="ADaM datasets named adsl, adpc, ... (.xpt, .csv, .json, .sas7bdat)",
                fix="give the folder of the ADaM datasets; SDTM folders: cartpk convert sdtm",
            )
        ],
    )


def _log_unused(pend: Pending, log: ConversionLog) -> None:
    for dom, pos, why in pend.skipped:
        frame = pd.DataFrame({"p": pos, "w": why})
        for reason, g in frame.groupby("w", sort=False):
            log.add(dom, g["p"].tolist(), used=False, reason=str(reason))


def _other_datasets(domains: dict[str, Domain], log: ConversionLog) -> None:
    for name in sorted((set(domains) - set(CONVERTED)) | (set(DERIVED) & set(domains))):
        d = domains[name]
        why = DERIVED.get(name) or (
            f"dataset {name} is not converted (read_adam converts "
            + ", ".join(c for c in CONVERTED if c not in DERIVED)
            + ("; SDTM domains: cartpk convert sdtm" if not name.startswith("AD") else "")
            + ")"
        )
        log.add(d, range(len(d.frame)), used=False, reason=why)


def read_adam(
    folder: str | os.PathLike[str] | Mapping[str, Domain],
    *,
    map: str | os.PathLike[str] | AnalyteMap | None = None,  # noqa: A002 - the CLI's --map
    treatment: Iterable[str] | None = None,
    evaluator: str | None = None,
) -> Conversion:
    """Convert a folder of ADaM datasets into cartpk's long table and lesion table.

    Parameters
    ----------
    folder : path or mapping of str to Domain
        The folder holding the datasets (``adsl.xpt``, ``adpc.csv``, ``adae.json``, ...;
        any of :data:`cartpk.cdisc.FORMATS`), or datasets already read
        (:func:`cartpk.cdisc.read_domains`).
    map : path or AnalyteMap, optional
        Analyte map (CSV ``DOMAIN, TESTCD, SPEC, DVID, UNIT``; ``DOMAIN`` ``ADPC`` or
        ``ADLB``, ``TESTCD`` the ``PARAMCD``) before the built-in rows.
    treatment : iterable of str, optional
        ``EXTRT`` values of the CAR-T product, when ADEX holds doses of other treatments.
    evaluator : str, optional
        Whose tumour assessments make ``lesions.csv`` (default the investigator's).

    Returns
    -------
    Conversion
        The tables of :func:`~cartpk.cdisc.read_sdtm`, with the ADSL covariates in
        ``trial``.

    Raises
    ------
    DatasetError
        Every problem at once: unreadable files, no ADaM dataset (``cdisc_no_adam``), no
        dose (``cdisc_no_doses``), several treatments (``cdisc_several_treatments``), units
        mixed within a DVID (``cdisc_mixed_units``) or other than the map's
        (``cdisc_unit_mismatch``), BLQ results without ``ALLOQ``
        (``cdisc_blq_without_lloq``), records without relative time or date
        (``cdisc_no_time``), an unknown ``FRLTU`` (``cdisc_time_unit_unknown``), two
        values of one sample (``cdisc_duplicate_sample``), invalid grades
        (``cdisc_grade_invalid``), ...

    Examples
    --------
    >>> from cartpk.cdisc import read_adam  # doctest: +SKIP
    >>> conv = read_adam("adam/")  # doctest: +SKIP
    >>> conv.trial.to_csv("trial.csv", index=False)  # doctest: +SKIP
    """
    domains = dict(folder) if isinstance(folder, Mapping) else read_domains(folder)
    amap = map if isinstance(map, AnalyteMap) else read_map(map)
    if not any(n.startswith("AD") for n in domains):
        raise _no_adam(domains)
    pend, log = Pending(), ConversionLog()
    first, copies = doses(domains, pend, list(treatment or []) or None)
    if "ADPC" in domains:
        measurements(domains["ADPC"], ADPC, first, amap, pend, handled=copies)
    if "ADLB" in domains:
        measurements(domains["ADLB"], ADLB, first, amap, pend)
    found = pend.candidates()
    pend.problems.extend(unit_problems(found[found["EVID"] == 0]))
    if "ADAE" in domains:
        adverse_events(domains["ADAE"], first, pend)
    if not {"ADPC", "ADLB", "ADAE"} & set(domains):
        pend.problems.append(
            Violation(
                "cdisc_no_results",
                "no ADPC, ADLB or ADAE in the folder: nothing to observe",
                expected="ADPC (concentrations), ADLB (cytokines) or ADAE (graded events)",
                fix="add the datasets of the results",
            )
        )
    rows = pend.candidates()
    subjects = sorted(set(rows.loc[rows["EVID"] == 0, "ID"]))
    lone = ~rows["ID"].isin(subjects) & (rows["_DOMAIN"] != "ADSL")
    for name, g in rows[lone].groupby("_DOMAIN"):
        pend.skip(domains[str(name)], g["_POS"].astype(int),
                  "subject has no result used (ADPC, ADLB or ADAE): dose not converted")  # fmt: skip
    rows = rows[rows["ID"].isin(subjects)].reset_index(drop=True)
    start = _treatment_start(first, domains.get("ADSL"))
    deaths = _deaths(domains.get("ADSL"), start)
    lesions = lesion_table("adam", domains, start, deaths[0], log, pend.problems, evaluator)
    covariates = pd.DataFrame(index=pd.Index(subjects, name="ID"))
    if "ADSL" in domains:
        adsl = domains["ADSL"]
        covariates, kept = _covariates(adsl, subjects, pend)
        lesion_ids = set(lesions["ID"].astype(str)) if len(lesions) else set()
        why, table = _adsl_reasons(adsl, set(subjects), first, kept, deaths, lesion_ids, pend)
        _log_adsl(adsl, rows, why, table, pend, log)
    _other_datasets(domains, log)
    raise_problems("ADaM", pend.problems)
    _log_unused(pend, log)
    return finish_conversion(rows, covariates, lesions, domains, log, pend.warnings)
