"""``cartpk report RUNDIR [RUNDIR ...] --out report.html``: one self-contained HTML report.

Reads run folders only (figures embedded, no scripts, no network references) and writes
the report atomically; ``--pdf FILE`` also prints it to PDF with headless Chromium (a bonus
export; :mod:`cartpk.report._pdf`). Exit 0 when written (runs whose status is not ``ok`` are flagged in
the report and on stderr); 2 when a path is not a run folder (nothing is written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cartpk.cli._common import UsageError

__all__ = ["add_arguments", "run"]


def add_arguments(p: Any) -> None:
    """Add the options of ``cartpk report`` to its parser."""
    p.add_argument("--out", required=True, metavar="REPORT.html", help="HTML file to write")
    p.add_argument("--force", action="store_true", help="replace REPORT.html if it exists")
    p.add_argument("--title", default=None, help="report title (default: from the run specs)")
    p.add_argument(
        "--pdf",
        default=None,
        metavar="REPORT.pdf",
        help="also print the report to this PDF file (needs Chromium or Chrome on PATH)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk report``; returns the exit code."""
    from cartpk.report import build_report
    from cartpk.report._build import GENERATOR
    from cartpk.report._collect import load_runs
    from cartpk.run import check_out

    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise UsageError(f"`--out` {out} is a folder; give the HTML file to write")
    force = bool(getattr(args, "force", False))
    check_out(
        out,
        force=force,
        kind="file",
        written_by_cartpk=lambda head: GENERATOR.encode() in head,
        what="a cartpk report",
    )
    if pdf_out := getattr(args, "pdf", None):
        check_out(
            pdf_out,
            force=force,
            kind="file",
            written_by_cartpk=lambda head: head.startswith(b"%PDF"),
            what="a PDF file",
        )
    pdf = getattr(args, "pdf", None)
    if pdf is not None:
        from cartpk.report._pdf import find_browser

        if find_browser() is None:  # before anything is written
            from cartpk.report._pdf import _unavailable

            raise _unavailable()
    path = build_report(args.rundirs, out, title=args.title, overwrite=force)
    for r in load_runs(list(args.rundirs)):
        if not r.ok:
            print(
                f"warning [run_status]: run {r.name} has status {r.status!r}; flagged in the "
                "report",
                file=sys.stderr,
            )
    print(f"report: {path.resolve()}")
    if pdf is not None:
        from cartpk.report._pdf import export_pdf

        print(f"pdf: {export_pdf(path, pdf).resolve()}")
    return 0
