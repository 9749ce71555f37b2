"""Helpers shared by the command modules: error printing, output formats, progress."""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["UsageError", "emit", "print_error", "wants_progress"]


class UsageError(Exception):
    """A command-line usage error (exit code 2)."""


def print_error(err: BaseException, code: str | None = None) -> None:
    """Print a user error to stderr without a traceback."""
    from cartpk.errors import CartpkError

    if isinstance(err, CartpkError):
        print(f"error [{err.code}]: {err}", file=sys.stderr)
    elif isinstance(err, FileNotFoundError):
        name = err.filename or str(err)
        print(f"error [{code or 'file_not_found'}]: no such file: {name}", file=sys.stderr)
    elif isinstance(err, FileExistsError):
        print(f"error [{code or 'exists'}]: {err}", file=sys.stderr)
    else:
        print(f"error [{code or 'error'}]: {err}", file=sys.stderr)


def emit(obj: Any, fmt: str = "table") -> None:
    """Print a result to stdout as a table (str) or JSON."""
    if fmt == "json":
        print(json.dumps(obj, indent=2, default=str))
    else:
        print(obj)


def wants_progress(quiet: bool = False) -> bool:
    """Progress bars go to stderr, only on a terminal and not with ``--quiet``."""
    return (not quiet) and sys.stderr.isatty()
