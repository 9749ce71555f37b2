"""The ``cartpk`` command line: one verb per stage, each a thin shell over the public API.

Exit codes: 0 done; 1 ran but checks failed (violations, convergence thresholds missed,
failed batch tasks); 2 user error (bad arguments or spec, unreadable or invalid input,
unknown model). Anything else is a bug and prints a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cartpk.cli._common import UsageError, print_error

__all__ = ["main"]

# command name -> module under cartpk.cli implementing ``add_parser(subparsers)`` and
# ``run(args) -> int``. Modules are imported lazily so `cartpk --version` stays fast.
COMMANDS: dict[str, str] = {
    "validate": "cartpk.cli._validate",
    "demo": "cartpk.cli._demo",
    "simulate": "cartpk.cli._simulate",
    "models": "cartpk.cli._models",
    "nca": "cartpk.cli._nca",
    "recist": "cartpk.cli._recist",
    "fit": "cartpk.cli._fit",
    "er": "cartpk.cli._er",
    "report": "cartpk.cli._report",
    "sse": "cartpk.cli._sse",
    "bootstrap": "cartpk.cli._bootstrap",
    "run": "cartpk.cli._run",
}


def _version() -> str:
    from cartpk import __version__

    return __version__


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors exit with code 2 and no traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"error [usage]: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser (imports every command module)."""
    parser = _Parser(prog="cartpk", description="CAR-T cellular kinetics.")
    parser.add_argument("--version", action="version", version=f"cartpk {_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for modname in COMMANDS.values():
        mod = importlib.import_module(modname)
        mod.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cartpk`` console script; returns the exit code."""
    from cartpk.errors import CartpkError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version -> 0, usage error -> 2
        return int(exc.code or 0)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except UsageError as err:
        if args.debug:
            raise
        print_error(err, code="usage")
        return 2
    except (CartpkError, FileNotFoundError, FileExistsError, IsADirectoryError) as err:
        if args.debug:
            raise
        print_error(err)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
