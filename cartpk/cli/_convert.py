"""``cartpk convert {sdtm,adam} FOLDER --out DIR``: CDISC datasets into cartpk's tables.

Writes a run folder with ``trial.csv`` (the long table ``cartpk validate`` reads),
``lesions.csv`` (the input of ``cartpk recist``), ``conversion.csv`` (what became of every
source record), ``endpoints.csv`` (unit, scale and source of each DVID), ``columns.csv``
and ``manifest.json`` (the SHA-256 of every dataset file read). The written tables are then
checked as ``cartpk validate`` and ``cartpk recist`` check them.

Exit codes: 0 converted and valid; 1 the datasets have problems (mixed units, BLQ without
LLOQ, ...: every problem is printed, nothing is written) or the written tables do not
pass the checks (the run folder is kept, with status ``failed_checks``); 2 the folder or
the map cannot be read, or a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cartpk.cli._common import UsageError, add_run_folder_arguments

__all__ = ["READING_CODES", "add_arguments", "run"]

#: violation codes of input that cannot be read at all (exit 2, not 1)
READING_CODES = frozenset(
    {
        "cdisc_no_folder",
        "cdisc_no_datasets",
        "cdisc_unreadable",
        "cdisc_duplicate_domain",
        "map_unreadable",
        "map_missing_column",
        "map_blank",
    }
)

_DESCRIPTIONS = {
    "trial.csv": {
        "ID": "subject (USUBJID)",
        "TIME": "days since the subject's first dose",
        "DV": "result in the unit of its DVID (endpoints.csv); grade of a graded event",
        "EVID": "1 dose, 0 observation",
        "AMT": "dose (EXDOSE) in the unit of endpoints.csv",
        "MDV": "1 on dose records",
        "CENS": "1 below the LLOQ (DV = LLOQ), -1 above the upper limit, 0 quantified",
        "LLOQ": "lower limit of quantitation (--LLOQ) in the DVID's unit",
        "DVID": "endpoint (analyte map); blank on dose records",
        "AGE": "age (DM AGE, in AGEU)",
        "SEX": "sex (DM SEX)",
        "RACE": "race (DM RACE)",
        "ETHNIC": "ethnicity (DM ETHNIC)",
        "ARM": "actual arm code (DM ACTARMCD)",
        "COUNTRY": "country (DM COUNTRY)",
    },
    "conversion.csv": {
        "DOMAIN": "source dataset",
        "SEQ": "--SEQ of the source record",
        "SOURCE_ROW": "1-based record number in the source file",
        "USUBJID": "subject",
        "USED": "Y used, N not used",
        "TABLE": "the table the record went to",
        "TABLE_ROW": "1-based data row of TABLE",
        "REASON": "what was done, or why the record was not used",
    },
    "endpoints.csv": {
        "DVID": "endpoint (blank: the doses)",
        "UNIT": "unit of DV (AMT for the doses)",
        "SCALE": "log (concentrations), grade (graded events), dose",
        "SOURCE": "source domain and test code",
    },
}


def add_arguments(p: Any) -> None:
    """Add the ``sdtm`` and ``adam`` forms of ``cartpk convert`` to its parser.

    Both forms take FOLDER, the run folder (``--out``, ``--force``) and the options of
    ``read_sdtm`` and ``read_adam`` (``--map``, ``--treatment``, ``--evaluator``).
    """
    kinds = p.add_subparsers(dest="standard", metavar="STANDARD", required=True)
    for name, text in (
        ("sdtm", "SDTM domains: DM, EX, PC, LB, AE, DS, TU, TR, RS"),
        ("adam", "ADaM datasets: ADSL, ADEX, ADPC, ADLB, ADAE, ADTR"),
    ):
        k = kinds.add_parser(name, help=text, description=f"Convert {text}.")
        k.add_argument("folder", metavar="FOLDER", help="folder holding the datasets")
        add_run_folder_arguments(k)
        k.add_argument(
            "--map",
            default=None,
            metavar="FILE",
            help="analyte map CSV (DOMAIN, TESTCD, SPEC, DVID, UNIT) whose rows come before "
            "the built-in ones",
        )
        k.add_argument(
            "--treatment",
            action="append",
            default=None,
            metavar="EXTRT",
            help="EXTRT of the CAR-T product when the dosing dataset holds other treatments "
            "too (repeatable)",
        )
        k.add_argument(
            "--evaluator",
            default=None,
            metavar="NAME",
            help="whose tumour assessments make lesions.csv (TREVAL or TREVALID; default the "
            "investigator's)",
        )


def _inputs(folder: Path, map_path: str | None) -> list[Path]:
    """The dataset files of ``folder`` (those :func:`read_domains` reads) and the map."""
    from cartpk.cdisc import FORMATS

    files = (
        sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FORMATS)
        if folder.is_dir()
        else []
    )
    if map_path is not None:
        mp = Path(map_path)
        if not mp.is_file():
            raise UsageError(f"`--map {map_path}`: no such file")
        files.append(mp)
    return files


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The options of ``read_sdtm`` / ``read_adam`` given on the command line."""
    return {"map": args.map, "treatment": args.treatment, "evaluator": args.evaluator}


def _convert(args: argparse.Namespace) -> Any:
    """The :class:`~cartpk.cdisc._result.Conversion` of the folder (raises DatasetError)."""
    options = _options(args)
    if args.standard == "sdtm":
        from cartpk.cdisc._sdtm import read_sdtm

        return read_sdtm(args.folder, **options)
    from cartpk.cdisc._adam import read_adam

    return read_adam(args.folder, **options)


def _check_tables(folder: Path, n_lesions: int) -> tuple[list[str], list[str]]:
    """Problems and warnings of the written ``trial.csv`` and ``lesions.csv``."""
    from cartpk.data import check_dataset
    from cartpk.errors import DatasetError
    from cartpk.response._lesions import validate_lesions

    problems: list[str] = []
    warns: list[str] = []
    _, violations = check_dataset(folder / "trial.csv")
    problems += [f"trial.csv {v.format()}" for v in violations]
    if n_lesions:
        try:
            table = validate_lesions(folder / "lesions.csv")
        except DatasetError as err:
            problems += [f"lesions.csv {v.format()}" for v in err.violations]
        else:
            warns += [f"warning [{w.code}]: lesions.csv: {w.message}" for w in table.warnings]
    return problems, warns


def _summary(conv: Any, final: Path) -> list[str]:
    """Lines for the terminal: subjects, rows per DVID, records used per domain, next steps."""
    trial, log = conv.trial, conv.conversion
    doses = int((trial["EVID"] == 1).sum())
    per = trial.loc[trial["EVID"] != 1, "DVID"].value_counts().sort_index()
    lines = [
        f"{final}: {trial['ID'].nunique()} subject(s); trial.csv {len(trial)} rows "
        f"({doses} doses"
        + "".join(f", {d} {n}" for d, n in per.items())
        + f"); lesions.csv {len(conv.lesions)} rows",
        "",
        "source records used / not used (most frequent reasons for not using them):",
    ]
    for domain, g in log.groupby("DOMAIN", sort=True):
        used = int((g["USED"] == "Y").sum())
        lines.append(f"  {domain:<8} {used:>6} used  {len(g) - used:>6} not used")
        top = g.loc[g["USED"] == "N", "REASON"].value_counts().head(3)
        lines += [f"      {n:>6}  {why}" for why, n in top.items()]
    return lines


def _next_steps(final: Path, trial: Any) -> list[str]:
    dvids = [d for d in trial.loc[trial["EVID"] == 0, "DVID"].unique() if d]
    concs = [d for d in dvids if not (str(d).startswith("AE_") or d in ("CRS", "ICANS"))]
    lines = ["", "next:", f"  cartpk validate {final / 'trial.csv'}"]
    lines.append(f"  cartpk recist {final / 'lesions.csv'} --out {final.name}-recist")
    if concs:
        lines.append(
            f"  cartpk nca {final / 'trial.csv'} --dvid {concs[0]} --out {final.name}-nca.csv"
        )
    return lines


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk convert``; returns the exit code."""
    from cartpk.cli._common import print_error
    from cartpk.errors import DatasetError
    from cartpk.run import check_out, run_folder

    folder = Path(args.folder)
    inputs = _inputs(folder, args.map)
    force = bool(args.force)
    check_out(args.out, force=force, inputs=inputs)  # before any work
    try:
        conv = _convert(args)
    except DatasetError as err:
        if all(v.code in READING_CODES for v in err.violations):
            raise  # the folder or the map cannot be read: exit 2
        print_error(err)
        return 1
    for w in conv.warnings:
        print(f"warning [{w.code}]: {w.message}", file=sys.stderr)
    with run_folder(args.out, inputs=inputs, overwrite=force) as rf:
        dose_unit = conv.endpoints.loc[conv.endpoints["SCALE"] == "dose", "UNIT"]
        units = {"TIME": "day", "AMT": str(dose_unit.iat[0]) if len(dose_unit) else ""}
        rf.write_csv("trial.csv", conv.trial, units=units, descriptions=_DESCRIPTIONS["trial.csv"])
        rf.write_csv("lesions.csv", conv.lesions, units={"DAY": "day", "DEATH_DAY": "day"})
        rf.write_csv(
            "conversion.csv", conv.conversion, descriptions=_DESCRIPTIONS["conversion.csv"]
        )
        rf.write_csv("endpoints.csv", conv.endpoints, descriptions=_DESCRIPTIONS["endpoints.csv"])
        problems, lesion_warnings = _check_tables(rf.path, len(conv.lesions))
        rf.status = "failed_checks" if problems else "ok"
        rf.manifest["settings"] = {"standard": args.standard, **_options(args)}
        rf.manifest["warnings"] = [{"code": w.code, "message": w.message} for w in conv.warnings]
        rf.manifest["checks"] = problems
        final = rf.final
    for line in lesion_warnings:
        print(line, file=sys.stderr)
    print("\n".join(_summary(conv, final)))
    if problems:
        print(
            f"\nFAILED CHECKS: the written tables have {len(problems)} problem(s):\n"
            + "\n".join(problems)
        )
        return 1
    print("\n".join(_next_steps(final, conv.trial)))
    return 0
