"""``cartpk models [--format table|json|csv]``: list the model catalogue."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register the ``models`` command."""
    p = sub.add_parser(
        "models",
        help="list the model catalogue",
        description="List the catalogue models: name, kind, reference, outputs.",
    )
    p.add_argument(
        "--format", choices=("table", "json", "csv"), default="table", help="output format"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the catalogue; returns 0."""
    from cartpk.model import list_models

    table = list_models()
    if args.format == "json":
        print(json.dumps(table.to_dict("records"), indent=2))
    elif args.format == "csv":
        print(table.to_csv(index=False), end="")
    else:
        from cartpk.cli._common import terminal_table

        print(terminal_table(table, max_rows=None))
        print("full references: cartpk models --format csv")
    return 0
