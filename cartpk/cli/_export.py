"""``cartpk export MODEL --to nonmem|monolix|nlmixr2 --out FILE``: a catalogue model as a
NONMEM control stream, a Monolix Mlxtran file or an nlmixr2 model function.

The file is written from the model's declaration (``cartpk.export``); ``docs/export.md``
says what is written how and what was verified. Exit 0 done, 2 for a usage error (unknown
model - the valid names are listed -, bad options, an output that exists without
``--force``), 1 when the declaration cannot be expressed in the tool (every problem
listed). A NONMEM control stream handles interval censoring (``LIMIT LIMFL`` in
``$INPUT``) when the data file it names exists and has ``LIMFL=1`` records
(:func:`interval_data`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cartpk.cli._common import UsageError

__all__ = ["TOOLS", "add_arguments", "add_tool_arguments", "run"]

#: the tools both export commands write for: ``--to`` value -> name
TOOLS = {"nonmem": "NONMEM", "monolix": "Monolix", "nlmixr2": "nlmixr2"}
_FILES = {"nonmem": "a NONMEM control stream", "monolix": "Mlxtran", "nlmixr2": "nlmixr2"}


#: per command: the help of ``--out`` and ``--force``
_OUTPUT = {
    "export": ("the file to write", "replace an earlier, unchanged output of cartpk"),
    "export-data": ("the CSV file to write", "replace earlier, unchanged outputs of this command"),
}


def add_tool_arguments(p: Any, command: str) -> None:
    """Add what ``cartpk export`` and ``cartpk export-data`` (``command``) both take to the
    command's parser: ``--to TOOL``, ``--out FILE`` and ``--force``."""
    out, force = _OUTPUT[command]
    p.add_argument("--to", required=True, choices=tuple(TOOLS), help="the tool")
    p.add_argument("--out", required=True, metavar="FILE", help=out)
    p.add_argument("--force", action="store_true", help=force)


def add_arguments(p: Any) -> None:
    """Add the options of ``cartpk export`` to its parser."""
    add_tool_arguments(p, "export")
    data = "data file the NONMEM control stream reads ($DATA; default: --out's name with .csv)"
    data += "; with LIMFL=1 records (export-data), interval censoring; --to nonmem only"
    p.add_argument("--data", metavar="FILE", help=data)


def export_text(model: Any, to: str, data: str | None = None, interval: bool = False) -> str:
    """The export of ``model`` for tool ``to`` (``nonmem``, ``monolix``, ``nlmixr2``);
    ``data``, ``interval``: NONMEM's (:func:`cartpk.export.to_nonmem`)."""
    if to == "nonmem":
        from cartpk.export import to_nonmem

        return to_nonmem(model, data=data, interval=interval)
    if to == "monolix":
        from cartpk.export import to_monolix

        return to_monolix(model)
    from cartpk.export import to_nlmixr2

    return to_nlmixr2(model)


def interval_data(out: Path, data: str) -> Path | None:
    """The data file of a NONMEM control stream if it has interval-censored records.

    ``data`` is looked up next to ``out`` (where NONMEM reads ``$DATA``), else from the
    current folder. The file has them when its ``LIMFL`` column (``cartpk export-data --to
    nonmem`` writes ``LIMIT`` and ``LIMFL`` when a record has another bound) holds a 1.

    Parameters
    ----------
    out : Path
        The control stream.
    data : str
        Its ``$DATA``.

    Returns
    -------
    Path or None
        The file, or None when it does not exist or has no ``LIMFL=1`` record.
    """
    import csv

    path = next((p for p in (out.parent / data, Path(data)) if p.is_file()), None)
    if path is None:
        return None
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        rows = csv.reader(f)
        header = [c.strip() for c in next(rows, [])]
        if "LIMFL" not in header:
            return None
        k = header.index("LIMFL")
        flagged = any(len(r) > k and r[k].strip() in ("1", "1.0") for r in rows)
    return path if flagged else None


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from cartpk.errors import ModelError
    from cartpk.model import load_model
    from cartpk.run import check_out, write_atomic

    if args.data is not None and args.to != "nonmem":
        raise UsageError("`--data` names the data file of a NONMEM control stream (--to nonmem)")
    out = Path(args.out)
    check_out(
        out,
        force=args.force,
        kind="file",
        written_by_cartpk=lambda head: b"cartpk" in head[:4096],  # every export's header
        recorded=True,  # and only bytes cartpk recorded writing
        what=f"{_FILES[args.to]} written by `cartpk export`",
    )
    if not out.parent.exists():
        raise UsageError(f"the folder of `--out` does not exist: {out.parent}")
    model = load_model(args.model)  # unknown model: ModelError -> exit 2, names listed
    data = args.data or f"{out.stem}.csv"
    limits = interval_data(out, data) if args.to == "nonmem" else None
    try:
        text = export_text(model, args.to, data=data, interval=limits is not None)
    except ModelError as err:  # the declaration cannot be expressed in the tool: exit 1
        from cartpk.cli._common import print_error

        print_error(err)
        return 1
    except ImportError as err:  # SymPy missing: the message says how to install it
        from cartpk.cli._common import print_error

        print_error(err, code="missing_dependency")
        return 2
    write_atomic(out, text, replace=args.force, record=True)
    print(f"{out}: {model.name} ({model.kind.replace('_', ' ')}) as {_FILES[args.to]}")
    if limits is not None:
        print(f"  interval censoring: $INPUT ends with LIMIT LIMFL ({limits} has LIMFL=1 records)")
    return 0
