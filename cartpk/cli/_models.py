"""``cartpk models [--format table|json|csv]``: list the model catalogue and its provenance."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_arguments", "run", "short_reference"]


def add_arguments(p: Any) -> None:
    """Add the options of ``cartpk models`` to its parser."""
    p.add_argument(
        "--format", choices=("table", "json", "csv"), default="table", help="output format"
    )


def run(args: argparse.Namespace) -> int:
    """Print the catalogue; returns 0."""
    from cartpk.model import list_models
    from cartpk.model._catalogue import catalogue_provenance

    table = list_models()
    if args.format == "json":
        records = table.to_dict("records")
        for rec in records:
            rec["provenance_detail"] = catalogue_provenance(str(rec["name"]))
        print(json.dumps(records, indent=2))
    elif args.format == "csv":
        print(table.to_csv(index=False), end="")
    else:
        from cartpk.cli._common import terminal_table

        # compact provenance: blocks verified against the publication, and the weakest level
        counts = table["provenance"].str.extract(r"verified (\d+/\d+), weakest (\w+)")
        shown = table.drop(columns=["provenance", "provenance_detail"])
        shown["reference"] = [short_reference(str(r)) for r in table["reference"]]
        shown["outputs"] = table["outputs"].str.replace(r" \([^)]*\)", "", regex=True)
        shown["verified"] = counts[0].fillna("-")
        shown["weakest"] = counts[1].fillna("-")
        print(terminal_table(shown, max_rows=None))
        print("full references, output units and provenance: cartpk models --format csv (or json)")
    return 0


def short_reference(reference: str) -> str:
    """First author's surname and year of a catalogue reference (the whole text if it has
    neither), for a table that fits the terminal.

    Examples
    --------
    >>> short_reference("Stein AM et al. 2019, CPT Pharmacometrics Syst Pharmacol 8:285")
    'Stein 2019'
    >>> short_reference("Hardiansyah D, Ng CM 2019, Clin Transl Sci 12:343")
    'Hardiansyah 2019'
    >>> short_reference("illustration: core of Barros LRC et al. 2021, Cancers 13:2941")
    'Barros 2021'
    >>> short_reference("in-house")
    'in-house'
    """
    import re

    m = re.search(
        r"\b([A-Z][\w'-]+) [A-Z]{1,4}(?: et al\.|, [A-Z][\w'-]+ [A-Z]{1,4})? ((?:19|20)\d\d)\b",
        reference,
    )
    return f"{m.group(1)} {m.group(2)}" if m else reference
