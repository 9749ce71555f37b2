"""Assemble the report from run folders: one self-contained HTML file.

Sections follow the order of an analysis: data, methods, estimates, convergence, fit
diagnostics, individual fits, exposure, tumour response, exposure-response, other outputs
and the run manifests. A section appears when one of the run folders holds its inputs.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from cartpk.report._collect import Run, load_runs
from cartpk.report._common import _Section, _text
from cartpk.report._html import CSS, esc
from cartpk.report._sections_data import (
    _data_section,
    _manifest_section,
    _methods_section,
    _other_section,
    _overview,
)
from cartpk.report._sections_fit import (
    _convergence_section,
    _estimates_section,
    _figure_section,
)
from cartpk.report._sections_outcome import _er_section, _exposure_section, _recist_section
from cartpk.report._sections_study import _study_section

__all__ = ["build_report", "render_report"]

# ----------------------------------------------------------------------------- assembly
_SECTIONS: list[tuple[str, str, Callable[[list[Run], _Section], None]]] = [
    ("data", "Data and exclusions", _data_section),
    ("methods", "Model and methods", _methods_section),
    ("estimates", "Parameter estimates", _estimates_section),
    ("studies", "Simulation-estimation and bootstrap studies", _study_section),
    ("convergence", "Convergence diagnostics", _convergence_section),
    (
        "gof",
        "Goodness of fit and VPC",
        _figure_section(["gof", "vpc"], "Goodness of fit and VPC", "gof"),
    ),
    (
        "individual",
        "Individual fits",
        _figure_section(["individual"], "Individual fits", "individual"),
    ),
    ("exposure", "Exposure: NCA and model-based", _exposure_section),
    ("recist", "Tumour response (RECIST 1.1)", _recist_section),
    ("er", "Exposure–response", _er_section),
    ("other", "Other outputs", _other_section),
    ("manifests", "Run manifests", _manifest_section),
]


def _title(runs: list[Run], title: str | None) -> tuple[str, str]:
    if title:
        return title, ", ".join(r.name for r in runs)
    for run in runs:
        study = next((run.spec[k] for k in ("study", "title") if run.spec.get(k)), None)
        if study:
            return f"cartpk report — {_text(study)}", ", ".join(r.name for r in runs)
    return "cartpk report", ", ".join(r.name for r in runs)


def render_report(run_dirs: Iterable[str | os.PathLike[str]], *, title: str | None = None) -> str:
    """The report of run folders as one self-contained HTML document.

    Parameters
    ----------
    run_dirs : iterable of path
        Run folders written by cartpk commands (each holds ``manifest.json``); run folders
        nested inside them are reported too.
    title : str, optional
        Report title; defaults to the study named in a run's specification.

    Returns
    -------
    str
        The HTML text (UTF-8, no scripts, no external references).

    Raises
    ------
    SpecError
        ``not_a_run_folder`` naming every given path that is not a run folder.
    """
    from cartpk import __version__

    runs = load_runs(list(run_dirs))
    head_title, names = _title(runs, title)
    sections = []
    for key, sec_title, build in _SECTIONS:
        sec = _Section(key, sec_title)
        build(runs, sec)
        if sec.body:
            sections.append(sec)
    toc = [
        '<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>',
        '<li><a href="#overview">Runs in this report</a></li>',
    ]
    for sec in sections:
        sub = "".join(f'<li><a href="#{esc(a)}">{esc(t)}</a></li>' for a, t in sec.sub)
        toc.append(
            f'<li><a href="#{esc(sec.key)}">{esc(sec.title)}</a>'
            + (f"<ol>{sub}</ol>" if len(sec.sub) > 1 else "")
            + "</li>"
        )
    toc.append("</ol></nav>")
    chips = "".join(
        f'<span class="chip{"" if r.ok else " bad"}">{esc(r.name)}'
        f"{'' if r.ok else ' — ' + esc(r.status)}</span>"
        for r in runs
    )
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'{GENERATOR} {esc(__version__)}">',
        f"<title>{esc(head_title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f'<header class="top"><h1>{esc(head_title)}</h1>',
        f'<div class="sub">{len(runs)} run folder(s): {esc(names)} · generated {esc(now)} '
        f"by cartpk {esc(__version__)}</div>",
        f'<div class="runs">{chips}</div></header><main>',
        "".join(toc),
        '<section id="overview"><h2>Runs in this report</h2>',
        _overview(runs),
        "</section>",
    ]
    for sec in sections:
        parts.append(f'<section id="{esc(sec.key)}"><h2>{esc(sec.title)}</h2>')
        parts.extend(sec.body)
        parts.append("</section>")
    parts.append(
        "</main><footer>Self-contained report: figures embedded, no scripts, no "
        "network access. Every number is read from the run folders listed above."
        "</footer></body></html>"
    )
    return "\n".join(parts) + "\n"


#: the head of every report (``cartpk report --force`` replaces only such a file)
GENERATOR = '<meta name="generator" content="cartpk'


def build_report(
    run_dirs: Iterable[str | os.PathLike[str]],
    out_html: str | os.PathLike[str],
    *,
    title: str | None = None,
    overwrite: bool = True,
) -> Path:
    """Write one self-contained HTML report of run folders.

    The report only reads the run folders (it never fits or recomputes an analysis; it
    formats and summarises their tables): data summary and exclusions, model and method,
    parameter estimates, convergence, goodness-of-fit and VPC figures, individual fits,
    NCA and model-based exposure, RECIST response, exposure-response, and every run's
    manifest. Figures are embedded as base64 ``data:`` URIs and the stylesheet is inline:
    the file opens offline and runs no script. Runs whose status is not ``"ok"`` carry a
    warning banner.

    Parameters
    ----------
    run_dirs : iterable of path
        Run folders written by cartpk commands (each holds ``manifest.json``).
    out_html : path
        The HTML file to write (atomically: a temporary file, then a rename).
    title : str, optional
        Report title; defaults to the study named in a run's specification.
    overwrite : bool, default True
        Replace an existing ``out_html``; ``False``: :class:`cartpk.run.OutputExistsError`
        if it exists when the report is written (``cartpk report`` without ``--force``).

    Returns
    -------
    Path
        ``out_html``.

    Raises
    ------
    SpecError
        ``not_a_run_folder`` naming every given path that is not a run folder (nothing
        is written).

    See Also
    --------
    cartpk.run.run_folder : how the commands write run folders.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from cartpk.run import run_folder
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> with run_folder(tmp / "run", command=["cartpk", "demo"], seed=1) as rf:
    ...     _ = rf.write_text("data_summary.txt", "12 subjects")
    >>> out = build_report([tmp / "run"], tmp / "report.html")
    >>> "12 subjects" in out.read_text(encoding="utf-8")
    True
    >>> import shutil; shutil.rmtree(tmp)
    """
    from cartpk.run import write_atomic

    text = render_report(run_dirs, title=title)
    return write_atomic(out_html, text.encode("utf-8"), replace=overwrite)
