"""Helpers shared by the command modules: error printing, output formats, progress."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "Renaming",
    "TERMINAL_WIDTH",
    "UsageError",
    "add_run_folder_arguments",
    "emit",
    "print_error",
    "task_progress",
    "terminal_table",
    "wants_progress",
]


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
    elif isinstance(err, IsADirectoryError):
        name = err.filename or str(err)
        print(
            f"error [{code or 'not_a_file'}]: {name} is a folder, not a file: give the file's path",
            file=sys.stderr,
        )
    elif isinstance(err, FileExistsError):
        print(f"error [{code or 'exists'}]: {err}", file=sys.stderr)
    else:
        print(f"error [{code or 'error'}]: {err}", file=sys.stderr)


def add_run_folder_arguments(p: Any) -> None:
    """Add ``--out DIR`` (the run folder to create) and ``--force`` to a command's parser."""
    p.add_argument("--out", required=True, metavar="DIR", help="run folder to create")
    p.add_argument(
        "--force", action="store_true", help="replace DIR if it is an earlier cartpk run folder"
    )


def emit(obj: Any, fmt: str = "table") -> None:
    """Print a result to stdout as a table (str) or JSON."""
    if fmt == "json":
        print(json.dumps(obj, indent=2, default=str))
    else:
        print(obj)


def wants_progress(quiet: bool = False) -> bool:
    """Progress bars go to stderr, only on a terminal and not with ``--quiet``."""
    return (not quiet) and sys.stderr.isatty()


@contextmanager
def task_progress(
    folder: str | Path,
    names: Collection[str],
    *,
    noun: str = "replicates",
    force: bool = False,
    quiet: bool = False,
    poll_s: float = 1.0,
    every_s: float = 30.0,
) -> Iterator[None]:
    """``cartpk: 12/200 replicates done (...)`` lines on stderr while a batch study runs.

    A terminal shows the batch runner's progress bar instead; elsewhere (a log file, a
    pipe, a job scheduler) this counts the study's task files (``folder/tasks/NAME.json``
    for each of ``names``, written as each task ends) and prints a line at every tenth or
    ``every_s`` seconds after the last line, whichever comes first, with the failed tasks
    and the time left at the rate so far. Tasks found from a resumed study count as done;
    with ``force`` (the old study discarded) only files written from now on count.
    Nothing with ``quiet``.
    """
    import threading
    import time

    total = len(names)
    if quiet or total < 1 or sys.stderr.isatty():
        yield
        return
    stream, tasks, t0, wanted = sys.stderr, Path(folder) / "tasks", time.time(), set(names)
    status: dict[str, bool] = {}  # task file -> ok
    step = max(1, -(-total // 10))

    def poll() -> None:
        try:
            files = [
                f
                for f in tasks.glob("*.json")
                if f.stem in wanted and (not force or f.stat().st_mtime >= t0)
            ]
        except OSError:  # the folder is being created or replaced
            return
        for f in files:
            if f.name not in status:
                try:
                    status[f.name] = json.loads(f.read_text(encoding="utf-8"))["status"] == "ok"
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # read it at the next poll

    poll()  # tasks found done when the study resumes: the first line counts them
    state = {"printed": len(status), "at": t0, "first": len(status)}

    def say(final: bool = False) -> None:
        done, now = len(status), time.time()
        if done <= state["printed"]:
            return
        due = done >= total or done // step > state["printed"] // step
        if not final and not due and now - state["at"] < every_s:
            return
        failed = sum(not ok for ok in status.values())
        parts = [_duration(now - t0)]
        new = done - state["first"]
        if 0 < new and done < total:
            parts.append(f"about {_duration((total - done) * (now - t0) / new)} left")
        if failed:
            parts.append(f"{failed} failed")
        print(f"cartpk: {done}/{total} {noun} done ({'; '.join(parts)})", file=stream, flush=True)
        state["printed"], state["at"] = done, now

    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(poll_s):
            poll()
            say()

    thread = threading.Thread(target=watch, name="cartpk-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    poll()  # not reached when the study raised: its error is the last line
    say(final=True)


def _duration(seconds: float) -> str:
    """``42 s``, ``3.5 min``, ``2.1 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


#: widest line a command prints in a table (full tables go to files)
TERMINAL_WIDTH = 100


def terminal_table(
    frame: Any, *, width: int = TERMINAL_WIDTH, max_rows: int | None = 40, file_hint: str = ""
) -> str:
    """A DataFrame as text no wider than ``width``: numbers to 4 significant digits, long
    cells end in "…", long tables show their first ``max_rows`` rows and say how many more
    there are (and where).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"name": ["a", "b"], "reference": ["x" * 200, "short"]})
    >>> text = terminal_table(df, width=40)
    >>> max(len(line) for line in text.splitlines()) <= 40
    True
    >>> print(terminal_table(pd.DataFrame({"n": range(5)}), max_rows=2, file_hint="out.csv"))
    n
    0
    1
    ... 3 more rows (all in out.csv)
    """
    import pandas as pd

    shown = frame if max_rows is None or len(frame) <= max_rows else frame.head(max_rows)
    cells = shown.astype(object).where(pd.notna(shown), "").astype(str)
    for c in shown.columns:  # numbers to 4 significant digits
        if shown[c].dtype.kind == "f":
            cells[c] = [("" if v != v else f"{v:.4g}") for v in shown[c]]
    cols = [str(c) for c in shown.columns]
    widths = {
        c: max([len(c), *(len(v) for v in cells[orig])])
        for c, orig in zip(cols, shown.columns, strict=True)
    }
    sep = 2

    def total() -> int:
        return sum(widths.values()) + sep * (len(widths) - 1)

    floor = {c: min(widths[c], max(len(c), 8)) for c in widths}
    while total() > width:  # take one character at a time from the widest column
        widest = max(
            (c for c in widths if widths[c] > floor[c]), key=lambda c: widths[c], default=None
        )
        if widest is None:
            break  # every column at its floor: wider than asked rather than headless
        widths[widest] -= 1

    def clip(text: str, w: int) -> str:
        return text if len(text) <= w else text[: max(w - 1, 0)] + "…"

    lines = []
    for row in [cols, *cells.itertuples(index=False, name=None)]:
        parts = []
        for c, v in zip(cols, row, strict=True):
            v = clip(str(v), widths[c])
            numeric = shown[shown.columns[cols.index(c)]].dtype.kind in "fiu"
            parts.append(v.rjust(widths[c]) if numeric else v.ljust(widths[c]))
        lines.append((" " * sep).join(parts).rstrip())
    if len(shown) < len(frame):
        where = f" (all in {file_hint})" if file_hint else ""
        lines.append(f"... {len(frame) - len(shown)} more rows{where}")
    return "\n".join(lines)


class Renaming(io.TextIOBase):
    """A text stream that writes to ``stream`` with a run's temporary folder renamed.

    ``cartpk demo`` and ``cartpk run`` run their stages in the run's temporary folder,
    renamed to ``--out`` at the end; the stages' messages on stderr name the folder the user
    will find (progress bars pass through).
    """

    def __init__(self, stream: Any, rename: tuple[str, str]) -> None:
        self._stream = stream
        self._old, self._new = rename

    def write(self, text: str) -> int:
        self._stream.write(text.replace(self._old, self._new))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return bool(getattr(self._stream, "isatty", lambda: False)())

    def fileno(self) -> int:
        return int(self._stream.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._stream, "encoding", "utf-8") or "utf-8")
