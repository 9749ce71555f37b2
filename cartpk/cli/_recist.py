"""``cartpk recist LESIONS.csv --out DIR``: RECIST 1.1 responses into a run folder.

Writes ``timepoints.csv`` (``ID, DAY, SOD, PCHG_BASE, PCHG_NADIR, TRGRESP, NTRGRESP,
NEWLPROG, OVRLRESP``), ``bor.csv`` (``ID, BOR_UNCONFIRMED, BOR_CONFIRMED``), ``rules.csv``
(every derived value with the rule that produced it), ``waterfall.png``, ``spider.png`` and
``manifest.json``. Exit code 2 for an invalid table (every problem is printed).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from cartpk.cli._common import UsageError

__all__ = ["add_arguments", "run"]


def add_arguments(p: Any) -> None:
    """Add the options of ``cartpk recist`` to its parser."""
    p.add_argument(
        "--min-sd-days",
        type=float,
        default=42.0,
        metavar="DAYS",
        help="minimum days after infusion for SD to count as best response (default 42)",
    )
    p.add_argument(
        "--confirm-days",
        type=float,
        default=28.0,
        metavar="DAYS",
        help="minimum days between a CR/PR and its confirmation (default 28)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk recist``; returns the exit code."""
    from cartpk.errors import CartpkWarning
    from cartpk.response import recist, spider, waterfall
    from cartpk.response._recist import BOR_COLUMNS, TIMEPOINT_COLUMNS
    from cartpk.run import check_out, run_folder

    for name in ("min_sd_days", "confirm_days"):
        if getattr(args, name) < 0:
            raise UsageError(f"`--{name.replace('_', '-')}` must be >= 0 days")
    path = Path(args.lesions)
    force = bool(getattr(args, "force", False))
    check_out(args.out, force=force, inputs=[path])  # before any work
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CartpkWarning)
        result = recist(path, min_sd_days=args.min_sd_days, confirm_days=args.confirm_days)
    found = [w.message for w in caught if isinstance(w.message, CartpkWarning)]
    for w in caught:  # anything else goes back to the normal warning machinery
        if not isinstance(w.message, CartpkWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for w in found:
        print(f"warning [{w.code}]: {w.message}", file=sys.stderr)
    command = [
        "cartpk",
        "recist",
        str(path),
        "--out",
        str(args.out),
        "--min-sd-days",
        f"{args.min_sd_days:g}",
        "--confirm-days",
        f"{args.confirm_days:g}",
    ]
    with run_folder(args.out, command=command, inputs=[path], overwrite=force) as rf:
        rf.write_csv("timepoints.csv", result.timepoints[TIMEPOINT_COLUMNS])
        rf.write_csv("bor.csv", result.bor[BOR_COLUMNS])
        rf.write_csv("rules.csv", result.rules)
        waterfall(result, rf.file("waterfall.png"))
        spider(result, rf.file("spider.png"))
        rf.manifest["settings"] = {
            "min_sd_days": result.min_sd_days,
            "confirm_days": result.confirm_days,
        }
        rf.manifest["warnings"] = [{"code": w.code, "message": w.message} for w in found]
        final = rf.final
    counts = result.bor["BOR_CONFIRMED"].value_counts()
    summary = ", ".join(f"{k} {int(counts[k])}" for k in sorted(counts.index))
    print(f"{final}: {len(result.bor)} subject(s); confirmed BOR: {summary or 'none'}")
    return 0
