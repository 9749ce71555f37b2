"""The ``cartpk`` command line: one verb per stage, each a thin shell over the public API.

Exit codes: 0 done; 1 ran but checks failed (violations, convergence thresholds missed,
failed batch tasks); 2 user error (bad arguments or spec, unreadable or invalid input,
unknown model, an output that exists without ``--force``); 141 when stdout was closed by
its reader (``cartpk ... | head``), silently. Anything else is a bug and prints a
traceback. Every command that writes ``--out`` refuses to replace it without ``--force``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cartpk.cli._commands import COMMANDS
from cartpk.cli._common import UsageError, print_error

__all__ = ["main"]


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
    """Build the full argument parser: every command of :data:`COMMANDS` from its record,
    then the options of its own from its module (which this imports)."""
    parser = _Parser(prog="cartpk", description="CAR-T cellular kinetics.")
    parser.add_argument("--version", action="version", version=f"cartpk {_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        p = command.register(sub)
        mod = importlib.import_module(command.module)
        if hasattr(mod, "add_arguments"):
            mod.add_arguments(p)
        p.set_defaults(func=mod.run)
    return parser


#: error codes of a command that ran and failed as a whole (exit 1, not 2)
RAN_AND_FAILED = frozenset({"all_replicates_failed", "original_fit_failed"})


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
    from cartpk.run import invoked_command

    try:
        quiet = bool(getattr(args, "quiet", False))
        with invoked_command(["cartpk", *argv]), _cartpk_warnings(), _compile_messages(quiet):
            code = int(args.func(args))
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # the reader (e.g. `| head`) stopped reading: no traceback, no flush error at exit
        _silence_stdout()
        return 141  # 128 + SIGPIPE, as a process killed by the signal
    except UsageError as err:
        if args.debug:
            raise
        print_error(err, code="usage")
        return 2
    except (CartpkError, FileNotFoundError, FileExistsError, IsADirectoryError) as err:
        if args.debug:
            raise
        print_error(err)
        # a study that ran and failed as a whole is a failed run (1), not a user error (2)
        return 1 if getattr(err, "code", None) in RAN_AND_FAILED else 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that nothing more is written to a closed pipe."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout replaced (tests) or closed
        pass


class _Say(logging.Handler):
    """Prints a log record as a ``cartpk: message`` line on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"cartpk: {record.getMessage()}", file=sys.stderr, flush=True)


@contextmanager
def _compile_messages(quiet: bool) -> Iterator[None]:
    """Show the population fitter's messages (``compiling the model...``, whether the compile
    cache had the model, extra rounds of chains) as ``cartpk: ...`` lines on stderr."""
    logger = logging.getLogger("cartpk.fit")
    # a command run inside another (`cartpk demo` and `cartpk run` call main() per stage)
    # shows the messages through the outer command's handler: one line each, not two
    if quiet or any(isinstance(h, _Say) for h in logger.handlers):
        yield
        return

    handler, level = _Say(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@contextmanager
def _cartpk_warnings() -> Iterator[None]:
    """Show cartpk's warnings as ``warning [code]: message`` lines on stderr (a renamed
    option or spec key, a ``FutureWarning``: ``warning [deprecated]: message``)."""
    import warnings

    from cartpk.errors import CartpkWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", CartpkWarning)  # shown to the user, never raised
        shown = warnings.showwarning

        def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
            if isinstance(message, CartpkWarning):
                print(f"warning [{message.code}]: {message.message}", file=sys.stderr)
            elif isinstance(message, FutureWarning):
                print(f"warning [deprecated]: {message}", file=sys.stderr)
            else:
                shown(message, category, *args, **kwargs)

        warnings.showwarning = show
        yield


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
