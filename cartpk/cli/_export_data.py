"""``cartpk export-data DATA.csv --to nonmem|monolix|nlmixr2 --out FILE``: a long table in a
tool's dataset conventions.

Writes the table and, next to it, ``<stem>.changes.csv`` (every change to a record) and for
NONMEM ``<stem>.codes.csv`` (integer codes of text values, DVIDs and ``EXCL``) and
``<stem>.ids.csv`` (``ID`` -> the input's ID); see ``docs/export.md``. Exit 0 done, 1 when
the table has violations (all listed) or does not fit the tool or ``--model``, 2 for a
usage error (bad options, unreadable or missing file, an output that exists without
``--force``, an unknown model).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "run"]

_TOOL = {"nonmem": "NONMEM", "monolix": "Monolix", "nlmixr2": "nlmixr2"}


def add_parser(sub: Any) -> None:
    """Register the ``export-data`` command."""
    p = sub.add_parser(
        "export-data",
        help="write a long table in NONMEM, Monolix or nlmixr2 dataset conventions",
        description="Validate a long table and write it for NONMEM (numbers only: IDs, "
        "DVIDs and text covariates as integer codes), Monolix or nlmixr2. Every input "
        "record appears once; every change to a record is listed in <stem>.changes.csv.",
    )
    p.add_argument("data", help="CSV file (ID, TIME, DV, [EVID, AMT, MDV, CENS, LLOQ, ...])")
    p.add_argument("--to", required=True, choices=tuple(_TOOL), help="the tool")
    p.add_argument("--out", required=True, metavar="FILE", help="the CSV file to write")
    p.add_argument(
        "--model",
        default=None,
        help="catalogue model whose conventions the table follows (DVID and covariate "
        "codes, compartments; observations of other endpoints get MDV=1)",
    )
    p.add_argument(
        "--time-varying",
        default="",
        metavar="COLS",
        help="comma-separated time-varying covariate columns",
    )
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.add_argument(
        "--force", action="store_true", help="replace earlier, unchanged outputs of this command"
    )
    p.set_defaults(func=run)


def _summary(table: Any, files: dict[str, Any]) -> dict[str, Any]:
    """What was written: files, records by kind, changes, columns."""
    return {
        "tool": _TOOL[str(table.attrs["target"])],
        "files": {k: str(v) for k, v in files.items()},
        "records": int(len(table)),
        "subjects": int(table["ID"].nunique()),
        "doses": int((table["EVID"] == 1).sum()),
        "observations": int(((table["EVID"] == 0) & (table["MDV"] == 0)).sum()),
        "not_used": int((table["EXCL"] > 0).sum()),
        "changes": table.attrs["changes"].to_dict("records"),
        "columns": [str(c) for c in table.columns],
    }


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk export-data``."""
    from cartpk.errors import DatasetError, compress_rows
    from cartpk.export._dataset import check_outputs, export_dataset, write_export

    tv = [c.strip() for c in args.time_varying.split(",") if c.strip()]
    check_outputs(args.out, args.to, force=args.force, inputs=[args.data])
    try:
        table = export_dataset(args.data, args.to, model=args.model, time_varying=tv or None)
    except DatasetError as err:
        if err.code == "unreadable":
            raise  # not a table at all: a usage error (exit 2)
        if args.format == "json":
            print(json.dumps({"written": False, **err.to_dict()}, indent=2, default=str))
        else:
            print(f"NOT WRITTEN: {err}")
        return 1
    files = write_export(table, args.out, force=args.force, inputs=[args.data])
    s = _summary(table, files)
    if args.format == "json":
        print(json.dumps({"written": True, **s}, indent=2, default=str))
        return 0
    print(
        f"{files['table']}: {s['records']} records of {s['subjects']} subjects for {s['tool']} "
        f"({s['doses']} doses, {s['observations']} observations used, {s['not_used']} records "
        f"not used: MDV=1, EXCL > 0)"
    )
    print(f"  {files['changes']}: {len(s['changes'])} change(s) to records")
    changes = table.attrs["changes"]
    for (code, message), grp in changes.groupby(["code", "message"], sort=False):
        rows = compress_rows(grp["ROW"])
        rows = rows if len(rows) <= 60 else rows[:57].rsplit(",", 1)[0] + ", ..."
        print(f"    {code} x {len(grp)} ({rows}): {message}")
    if "codes" in files:
        coded = list(dict.fromkeys(table.attrs["codes"]["COLUMN"]))
        print(f"  {files['codes']}: integer codes of {', '.join(coded) or '-'}")
    if "ids" in files:
        print(f"  {files['ids']}: ID -> the input's ID")
    if args.to == "nonmem":
        print("$INPUT " + " ".join(s["columns"]))
    return 0
