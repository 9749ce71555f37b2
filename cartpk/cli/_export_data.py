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

from cartpk.cli._export import TOOLS, add_tool_arguments

__all__ = ["add_arguments", "run"]


def add_arguments(p: Any) -> None:
    """Add the options of ``cartpk export-data`` to its parser."""
    add_tool_arguments(p, "export-data")
    p.add_argument(
        "--model",
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


def _summary(table: Any, files: dict[str, Any]) -> dict[str, Any]:
    """What was written: files, records by kind, changes, columns."""
    return {
        "tool": TOOLS[str(table.attrs["target"])],
        "files": {k: str(v) for k, v in files.items()},
        "records": int(len(table)),
        "subjects": int(table["ID"].nunique()),
        "doses": int((table["EVID"] == 1).sum()),
        "observations": int(((table["EVID"] == 0) & (table["MDV"] == 0)).sum()),
        "not_used": int((table["EXCL"] > 0).sum()),
        "changes": table.attrs["changes"].to_dict("records"),
        "columns": [str(c) for c in table.columns],
    }


def _lines(table: Any, files: dict[str, Any], s: dict[str, Any]) -> list[str]:
    """The table output: the files written, the changes by kind, NONMEM's ``$INPUT``."""
    from cartpk.errors import compress_rows

    out = [
        f"{files['table']}: {s['records']} records of {s['subjects']} subjects for {s['tool']} "
        f"({s['doses']} doses, {s['observations']} observations used, {s['not_used']} records "
        f"not used: MDV=1, EXCL > 0)",
        f"  {files['changes']}: {len(s['changes'])} change(s) to records",
    ]
    changes = table.attrs["changes"]
    for (code, message), grp in changes.groupby(["code", "message"], sort=False):
        rows = compress_rows(grp["ROW"])
        rows = rows if len(rows) <= 60 else rows[:57].rsplit(",", 1)[0] + ", ..."
        out.append(f"    {code} x {len(grp)} ({rows}): {message}")
    if "codes" in files:
        coded = list(dict.fromkeys(table.attrs["codes"]["COLUMN"]))
        out.append(f"  {files['codes']}: integer codes of {', '.join(coded) or '-'}")
    if "ids" in files:
        out.append(f"  {files['ids']}: ID -> the input's ID")
    if table.attrs["target"] == "nonmem":
        out.append("$INPUT " + " ".join(s["columns"]))
    return out


def _said(fmt: str, obj: dict[str, Any], lines: list[str], code: int) -> int:
    """Print the outcome as JSON (``obj``) or as text (``lines``); return the exit code."""
    print(json.dumps(obj, indent=2, default=str) if fmt == "json" else "\n".join(lines))
    return code


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk export-data``."""
    from cartpk.errors import DatasetError
    from cartpk.export._dataset import check_outputs, export_dataset, write_export

    tv = [c.strip() for c in args.time_varying.split(",") if c.strip()]
    check_outputs(args.out, args.to, force=args.force, inputs=[args.data])
    try:
        table = export_dataset(args.data, args.to, model=args.model, time_varying=tv or None)
    except DatasetError as err:
        if err.code == "unreadable":
            raise  # not a table at all: a usage error (exit 2)
        return _said(args.format, {"written": False, **err.to_dict()}, [f"NOT WRITTEN: {err}"], 1)
    files = write_export(table, args.out, force=args.force, inputs=[args.data])
    s = _summary(table, files)
    return _said(args.format, {"written": True, **s}, _lines(table, files, s), 0)
