"""REPORT: one self-contained HTML report of run folders (reads them only, never fits).

See :func:`build_report`.
"""

from __future__ import annotations

from cartpk.report._build import build_report as build_report
from cartpk.report._build import render_report as render_report

__all__ = ["build_report", "render_report"]
