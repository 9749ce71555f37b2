"""Read run folders: manifest, tables recognised by their columns, figures by their names.

The report never recomputes an analysis; it only reads what the commands wrote. File names
may vary between commands, so tables are recognised by their header (a CDISC NCA table has
``PPTESTCD`` and ``PPORRES`` whatever it is called) and figures by words in their names.
Whatever is not recognised is still listed under "Other outputs": nothing is dropped.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cartpk.errors import SpecError, Violation

__all__ = ["Run", "load_runs"]

MANIFEST = "manifest.json"

# table kind -> test on the set of column names (checked in this order)
_TABLE_RULES: list[tuple[str, Any]] = [
    # studies (cartpk sse, cartpk bootstrap): their summaries, not their replicates
    ("sse_summary", lambda c: {"parameter", "rel_bias_pct", "coverage_pct"} <= c),
    ("bootstrap", lambda c: {"parameter", "estimate", "lower", "upper", "boot_se", "n_ok"} <= c),
    ("study_replicates", lambda c: {"replicate", "parameter", "estimate"} <= c),
    ("study_status", lambda c: {"replicate", "status"} <= c and "parameter" not in c),
    ("exposure_compare", lambda c: {"metric", "gmr", "r2_log"} <= c),
    ("exposure_pairs", lambda c: {"ID", "metric", "model", "nca", "used"} <= c),
    ("nca_summary", lambda c: {"PPTESTCD"} <= c and ({"geo_mean"} <= c or {"n"} <= c)),
    ("nca", lambda c: {"PPTESTCD", "PPORRES"} <= c),
    ("er", lambda c: {"endpoint", "exposure", "term", "estimate"} <= c),
    ("timepoints", lambda c: {"ID", "OVRLRESP"} <= c),
    ("bor", lambda c: "ID" in c and bool({"BOR_CONFIRMED", "BOR_UNCONFIRMED"} & c)),
    ("predictions", lambda c: {"ID", "TIME", "DV"} <= c and bool({"IPRED", "PRED"} & c)),
    ("individual_long", lambda c: {"ID", "parameter", "estimate"} <= c),
    ("individual", lambda c: {"ID", "converged"} <= c),
    ("priors", lambda c: {"parameter", "distribution"} <= c),
    ("population", lambda c: {"parameter", "estimate"} <= c),
    ("exclusions", lambda c: {"ROW", "reason"} <= c or {"ROW", "REASON", "ID"} <= c),
    ("conversions", lambda c: {"ROW", "message"} <= c),
    ("rules", lambda c: {"RULE"} <= c),
]
# name-based kinds for tables whose columns are free-form
_NAME_RULES: list[tuple[str, str]] = [
    ("diagnostics", r"diagnos|convergence|rhat|r_hat"),
    ("vpc_table", r"vpc"),
    ("exposure", r"exposure"),
    ("exclusions", r"exclu"),
    ("ebe", r"individual|(^|_)ebes?(_|$)|(^|_)etas?(_|$)"),
]

# figure kind -> words in the file name (checked in this order)
_FIGURE_RULES: list[tuple[str, str]] = [
    ("vpc", r"vpc"),
    ("convergence", r"trace|rank|energy|pair|forest|autocorr|rhat|r_hat|\bess|diagnos|converg"),
    ("recist", r"waterfall|spider|swimmer|recist"),
    ("er", r"(^|[_\-])er([_\-]|$)|exposure.?response|logistic|kaplan|\bkm\b|_km|km_"),
    ("gof", r"gof|dv_?vs|pred_?vs|vs_?pred|resid|cwres|iwres|npde|qq"),
    ("individual", r"indiv|individual|subject|per.?patient|fits?(_|$)|_fit"),
    ("data", r"spaghetti|observ|data|profiles?|summary"),
    ("nca", r"nca|auc|cmax"),
    ("exposure", r"exposure"),
]
_FIG_EXT = {".png", ".svg", ".jpg", ".jpeg", ".gif"}


@dataclass
class Run:
    """One run folder as read from disk.

    Attributes
    ----------
    path : Path
        The folder.
    name : str
        Display name (folder name, ``parent/child`` for a nested run).
    manifest : dict
        Parsed ``manifest.json``.
    tables : dict
        Table kind -> list of CSV paths.
    figures : dict
        Figure kind -> list of image paths.
    other : list of Path
        Files neither recognised as a table nor as a figure.
    used : set of Path
        Tables and figures already placed in a section of the report.
    aliases : dict
        Table -> an earlier table with the same bytes (shown once, under that name).
    """

    path: Path
    name: str
    manifest: dict[str, Any]
    tables: dict[str, list[Path]] = field(default_factory=dict)
    figures: dict[str, list[Path]] = field(default_factory=dict)
    other: list[Path] = field(default_factory=list)
    used: set[Path] = field(default_factory=set)
    aliases: dict[Path, Path] = field(default_factory=dict)

    def take_tables(self, *kinds: str) -> list[Path]:
        """Tables of these kinds, marked as shown (the rest go to "Other outputs")."""
        found = [p for k in kinds for p in self.tables.get(k, [])]
        self.used.update(found)
        return found

    def take_figures(self, *kinds: str) -> list[Path]:
        """Figures of these kinds, marked as shown."""
        found = [p for k in kinds for p in self.figures.get(k, [])]
        self.used.update(found)
        return found

    @property
    def status(self) -> str:
        """The manifest's ``status`` (``"missing"`` when absent)."""
        return str(self.manifest.get("status") or "missing")

    @property
    def ok(self) -> bool:
        """Whether the run finished with status ``ok``."""
        return self.status == "ok"

    @property
    def command(self) -> str:
        """The command line as one string."""
        cmd = self.manifest.get("command")
        if isinstance(cmd, list):
            return " ".join(str(c) for c in cmd)
        return "" if cmd is None else str(cmd)

    @property
    def spec(self) -> dict[str, Any]:
        """The manifest's ``spec`` (empty when there is none)."""
        spec = self.manifest.get("spec")
        return spec if isinstance(spec, dict) else {}

    def rel(self, path: Path) -> str:
        """Path of a file relative to the run folder, with forward slashes."""
        return path.relative_to(self.path).as_posix()

    def first(self, kind: str) -> Path | None:
        """The first table of a kind, or ``None``."""
        found = self.tables.get(kind)
        return found[0] if found else None


def _header(path: Path) -> set[str]:
    import pandas as pd

    try:
        cols = pd.read_csv(path, nrows=0).columns
    except (ValueError, UnicodeDecodeError, OSError):
        return set()
    return {str(c).strip() for c in cols}


def _table_kind(path: Path) -> str:
    cols = _header(path)
    stem = path.stem.lower()
    kind = next((k for k, rule in _TABLE_RULES if cols and rule(cols)), None)
    if stem.startswith("er_") and kind != "er":
        return "er_extra"  # the E-R analysis data set, its exclusions, its draws
    if kind is not None:
        return kind
    for kind, pattern in _NAME_RULES:
        if re.search(pattern, stem):
            return kind
    return "other"


def _figure_kind(path: Path) -> str:
    stem = path.stem.lower()
    for kind, pattern in _FIGURE_RULES:
        if re.search(pattern, stem):
            return kind
    return "other"


def _is_run(path: Path) -> bool:
    return (path / MANIFEST).is_file()


def _read_manifest(path: Path) -> dict[str, Any] | str:
    try:
        obj = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"`manifest.json` is not valid JSON ({err})"
    if not isinstance(obj, dict):
        return "`manifest.json` does not hold a JSON object"
    if "cartpk_run" not in obj and "status" not in obj:
        return "`manifest.json` is not a cartpk run manifest (no `cartpk_run` or `status`)"
    return obj


def _unreadable(folder: Path, reason: str) -> Violation:
    """The ``not_a_run_folder`` problem of a folder whose manifest is unusable (``reason``)."""
    return Violation(
        "not_a_run_folder",
        f"`{folder}`: {reason}",
        value=str(folder),
        fix="re-run the command that made this folder",
    )


def _dedupe(run: Run) -> None:
    """A table written twice under two names (same bytes) is shown once."""
    import hashlib

    seen: dict[str, Path] = {}
    for kind, paths in run.tables.items():
        keep = []
        for p in paths:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            if digest in seen:
                run.used.add(p)
                run.aliases[p] = seen[digest]
            else:
                seen[digest] = p
                keep.append(p)
        run.tables[kind] = keep


def _scan(run: Run, nested: set[Path]) -> None:
    for root, dirs, files in os.walk(run.path):
        here = Path(root)
        # nested run folders are reported as runs of their own; hidden folders are
        # temporary run folders or caches
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and (here / d).resolve() not in nested
        )
        for name in sorted(files):
            p = here / name
            if name.startswith(".") or (here == run.path and name == MANIFEST):
                continue
            ext = p.suffix.lower()
            if ext == ".csv":
                run.tables.setdefault(_table_kind(p), []).append(p)
            elif ext in _FIG_EXT:
                run.figures.setdefault(_figure_kind(p), []).append(p)
            else:
                run.other.append(p)
    _dedupe(run)


def _nested_runs(top: Path) -> list[Path]:
    found = []
    for root, dirs, _files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(root)
        if here != top and _is_run(here):
            found.append(here.resolve())
    return found


def load_runs(run_dirs: list[str | os.PathLike[str]]) -> list[Run]:
    """Read every run folder (and run folders nested inside them).

    Raises
    ------
    SpecError
        ``not_a_run_folder`` for each path that is not a folder with a cartpk
        ``manifest.json`` (all listed at once); ``no_run_folders`` when none is given.
    """
    if not run_dirs:
        raise SpecError(
            "no run folders given",
            [
                Violation(
                    "no_run_folders",
                    "give at least one run folder",
                    fix="cartpk report RUNDIR --out report.html",
                )
            ],
        )
    problems: list[Violation] = []
    runs: list[Run] = []
    seen: set[Path] = set()
    for given in run_dirs:
        path = Path(given)
        if not path.exists():
            problems.append(
                Violation(
                    "not_a_run_folder",
                    f"`{path}` does not exist",
                    value=str(path),
                    fix="check the path; run folders are made by `--out` of a command",
                )
            )
            continue
        if not path.is_dir() or not _is_run(path):
            inside = (
                sorted(p.parent.name for p in path.glob(f"*/{MANIFEST}")) if path.is_dir() else []
            )
            fix = (
                "pass the run folders inside it: " + ", ".join(inside)
                if inside
                else "pass a folder written by a cartpk command's `--out` (it holds `manifest.json`)"
            )
            problems.append(
                Violation(
                    "not_a_run_folder",
                    f"`{path}` is not a run folder (no `{MANIFEST}`)",
                    value=str(path),
                    expected="a folder with manifest.json",
                    fix=fix,
                )
            )
            continue
        manifest = _read_manifest(path)
        if isinstance(manifest, str):
            problems.append(_unreadable(path, manifest))
            continue
        top = path.resolve()
        if top in seen:
            continue
        nested = _nested_runs(top)
        for folder in [top, *nested]:
            if folder in seen:
                continue
            seen.add(folder)
            m = manifest if folder == top else _read_manifest(folder)
            if isinstance(m, str):
                problems.append(_unreadable(folder, m))
                continue
            name = top.name if folder == top else f"{top.name}/{folder.relative_to(top).as_posix()}"
            run = Run(path=folder, name=name, manifest=m)
            _scan(run, set(nested) - {folder})
            runs.append(run)
    if problems:
        raise SpecError(
            f"{len(problems)} of the given paths cannot be reported; no report was written",
            problems,
        )
    return runs
