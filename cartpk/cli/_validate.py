"""``cartpk validate DATA.csv [--format table|json]``: check a long table, print a summary.

Exit 0 for a valid table, 1 when the table has violations (all listed), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_arguments", "format_summary", "run"]


def add_arguments(p: Any) -> None:
    """Add the options of ``cartpk validate`` to its parser."""
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.add_argument(
        "--time-varying",
        default="",
        metavar="COLS",
        help="comma-separated time-varying covariate columns",
    )


def format_summary(s: dict[str, Any]) -> str:
    """Human-readable text of :meth:`cartpk.Dataset.summary`."""
    lines = [
        f"{s['source']}: {s['subjects']} subjects, {s['records']} records, {s['doses']} doses",
        "",
        "observations per DVID:",
    ]
    for d, o in s["observations"].items():
        unit = f" [{o['unit']}]" if o["unit"] else ""
        lines.append(
            f"  {d:<10}{unit:<14} n={o['n']:<5} BLQ={o['blq']:<4} subjects={o['subjects']}"
        )
    if s["blq_fraction"]:
        lines += ["", "BLQ fraction per nominal day:"]
        for d, fr in s["blq_fraction"].items():
            cells = "  ".join(f"d{k}: {v:.0%}" for k, v in fr.items())
            lines.append(f"  {d:<10}{cells}")
    if s["events"]:
        lines += ["", "graded events:"]
        for e, v in s["events"].items():
            lines.append(f"  {e:<20} subjects={v['subjects']:<4} max grade={v['max_grade']}")
    cov = s["covariates"]
    if cov["baseline"] or cov["time_varying"]:
        lines += ["", "covariates: baseline " + (", ".join(cov["baseline"]) or "-")]
        if cov["time_varying"]:
            lines.append("            time-varying " + ", ".join(cov["time_varying"]))
    lines += ["", f"exclusions: {len(s['exclusions'])}"]
    for e in s["exclusions"]:
        lines.append(f"  row {e['ROW']} (ID {e['ID']}): {e['reason']}")
    if s["conversions"]:
        lines += ["", f"conversions: {len(s['conversions'])}"]
        for c in s["conversions"]:
            lines.append(f"  row {c['ROW']} (ID {c['ID']}): {c['message']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk validate``."""
    from cartpk.data import read_dataset
    from cartpk.errors import DatasetError

    tv = [c.strip() for c in args.time_varying.split(",") if c.strip()]
    try:
        ds = read_dataset(args.data, time_varying=tv or None)
    except DatasetError as err:
        if err.code == "unreadable":
            raise  # not a table at all: a usage error (exit 2)
        if args.format == "json":
            print(json.dumps({"valid": False, **err.to_dict()}, indent=2, default=str))
        else:
            print(f"INVALID: {err}")
        return 1
    if args.format == "json":
        print(json.dumps({"valid": True, "summary": ds.summary()}, indent=2, default=str))
    else:
        print("VALID: " + format_summary(ds.summary()))
    return 0
