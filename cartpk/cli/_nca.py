"""``cartpk nca DATA.csv --out OUT.csv``: observed NCA, CDISC long table."""

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path
from typing import Any

from cartpk.cli._common import UsageError

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``nca`` command."""
    parser = subparsers.add_parser(
        "nca",
        help="non-compartmental analysis (Cmax, Tmax, AUC0-28d, lambda_z, ...)",
        description=(
            "Observed NCA of every subject. Writes the CDISC long table (ID, DVID, "
            "PPTESTCD, PPORRES, PPORRESU, PPSTINT, PPENINT, REASON, PPANMETH) to --out and "
            "prints it. BLQ samples follow PKNCA's default: 0 before the first quantifiable "
            "sample, dropped between quantifiable ones, 0 after the last; PPANMETH says how "
            "each interval AUC was obtained (interpolated, blq_zero, extrapolated_lambda_z, "
            "all_blq)."
        ),
    )
    parser.add_argument("data", metavar="DATA.csv", help="dataset (at least ID, TIME, DV)")
    parser.add_argument("--out", required=True, metavar="OUT.csv", help="CSV to write")
    parser.add_argument("--dvid", default=None, metavar="NAME", help="endpoint to analyse")
    parser.add_argument(
        "--auc-method",
        choices=("linear", "linuplogdown"),
        default="linear",
        help="trapezoid rule (default: linear)",
    )
    parser.add_argument(
        "--interval",
        default="0,28",
        metavar="START,END",
        help="AUC interval in days (default: 0,28)",
    )
    parser.add_argument("--format", choices=("csv", "table"), default="table", help="stdout format")
    parser.set_defaults(func=run)
    return parser


def _interval(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        a, b = (float(p) for p in parts)
    except ValueError:
        raise UsageError(
            f"`--interval` must be START,END in days, e.g. 0,28 (got {text!r})"
        ) from None
    if not (math.isfinite(a) and math.isfinite(b) and 0 <= a < b):
        raise UsageError(f"`--interval` needs 0 <= START < END (got {text!r})")
    return a, b


def _read(path: str) -> Any:
    """The input as a Dataset when the data layer can read it, else as a table."""
    if not Path(path).is_file():
        raise FileNotFoundError(2, "no such file", path)
    try:
        from cartpk.data import read_dataset
    except ImportError:  # data layer not available: plain table, checked by `nca`
        import pandas as pd

        return pd.read_csv(path)
    return read_dataset(path)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from cartpk.noncompartmental import nca
    from cartpk.run import write_atomic

    interval = _interval(args.interval)
    data = _read(args.data)
    result = nca(data, dvid=args.dvid, auc_method=args.auc_method, interval=interval)
    buf = io.StringIO()
    result.long.to_csv(buf, index=False)
    write_atomic(args.out, buf.getvalue())
    if args.format == "csv":
        print(buf.getvalue(), end="")
    else:
        print(result.long.to_string(index=False, na_rep=""))
    return 0
