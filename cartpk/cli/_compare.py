"""``cartpk compare RUNDIR... [--out FILE.csv]``: model comparison of maximum-likelihood fits.

One row per run folder written by ``cartpk fit SPEC --out DIR`` with ``method = "saem"``
(population maximum likelihood): ``run`` (the folder's name), ``model``, ``method``,
``n_parameters`` (estimated parameters), ``minus2ll`` (-2LL by importance sampling),
``minus2ll_mc_se`` (its Monte-Carlo standard error), ``delta_ofv`` (-2LL minus the smallest
-2LL of the compared runs), ``aic``, ``bic``, then the likelihood-ratio test of a run against
the larger run it is nested in: ``nested_in`` (empty when none), ``lrt_stat`` (this run's
-2LL minus that run's), ``lrt_df`` (the difference in numbers of parameters) and ``lrt_p``
(chi-square survival function of ``lrt_stat`` on ``lrt_df`` degrees of freedom; a negative
statistic, the larger run fitting worse, gives 1); ``note`` says what to mind.

Nesting rule. Run A is nested in run B when

* both were fitted to the same data: the data file's SHA-256 in the manifests' ``inputs``,
  the number of observations and the BLQ handling (``results.blq``) are the same;
* the estimated parameters of A (the rows of ``population.csv`` with ``fixed`` False) are
  a subset of B's, and A has fewer parameters (``results.n_parameters``).

The rule goes by parameter names: a random effect dropped (``drop_iiv``), a parameter fixed
(``fix``) or a covariate effect left out make a nested run. Runs of different models with
the same parameter names are matched too; their note says that the models differ, and
only the modeller can tell whether one is a special case of the other. A run nested in
several larger ones is tested against the smallest of them (fewest parameters; the first
given on a tie).

-2LL by importance sampling has Monte-Carlo error: a pair whose statistic is within two
Monte-Carlo SEs (the square root of the sum of both squares) of 0 is noted, since its
difference may be sampling noise (raise ``is_samples`` to tell). -2LL of different data
are not comparable: the runs are compared all the same, with a warning on stderr naming
the groups of runs on the same data. A folder that is not a run folder, or a run without
-2LL (a Bayesian or per-patient fit), is a user error (exit 2) naming every such folder.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cartpk.cli._common import TERMINAL_WIDTH

__all__ = ["COLUMNS", "add_arguments", "compare_runs", "read_runs", "run"]

#: columns of the comparison table, in order
COLUMNS = (
    "run",
    "model",
    "method",
    "n_parameters",
    "minus2ll",
    "minus2ll_mc_se",
    "delta_ofv",
    "aic",
    "bic",
    "nested_in",
    "lrt_stat",
    "lrt_df",
    "lrt_p",
    "note",
)

_FIX_RUN = 'give folders written by `cartpk fit SPEC --out DIR` with method = "saem"'


@dataclass(frozen=True)
class _Run:
    """What the comparison needs of one run folder."""

    name: str
    path: str
    model: str
    method: str
    n_parameters: int
    minus2ll: float
    mc_se: float
    aic: float
    bic: float
    converged: bool
    estimated: frozenset[str]
    data: tuple[Any, ...]  # (data SHA-256, n_observations, blq): runs on the same data


def add_arguments(parser: Any) -> None:
    """Add the options of ``cartpk compare`` to its parser."""
    parser.add_argument("--out", default=None, metavar="FILE.csv", help="also write the table")
    parser.add_argument(
        "--force", action="store_true", help="replace FILE.csv if an earlier comparison wrote it"
    )
    parser.add_argument(
        "--format",
        choices=("table", "csv"),
        default="table",
        help="stdout: the table (default) or the whole table as CSV",
    )


def _number(value: Any) -> float:
    """A JSON number as float (NaN when missing or not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _data_sha(manifest: dict[str, Any]) -> str | None:
    """SHA-256 of the data file among a fit's recorded inputs (the spec is the ``.toml``)."""
    inputs = manifest.get("inputs")
    if not isinstance(inputs, dict):
        return None
    data = [str(v) for k, v in inputs.items() if not str(k).lower().endswith(".toml")]
    return data[-1] if data else None


def _estimated(path: Path) -> frozenset[str]:
    """Names of the estimated parameters (``fixed`` False) of ``population.csv``."""
    import pandas as pd

    table = pd.read_csv(path / "population.csv")
    fixed = table["fixed"].astype(str).str.strip().str.lower().isin({"true", "1"})
    return frozenset(table.loc[~fixed, "parameter"].astype(str))


def _read_run(folder: str, name: str) -> _Run | Any:
    """One run folder as :class:`_Run`, or the :class:`~cartpk.errors.Violation` it is."""
    from cartpk.errors import Violation

    path = Path(folder)

    def bad(code: str, why: str, fix: str = _FIX_RUN) -> Violation:
        return Violation(code, f"`{folder}` {why}", fix=fix)

    if not path.is_dir():
        return bad("not_a_folder", "is not a folder (no such folder, or a file)")
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return bad("not_a_run_folder", "is not a cartpk run folder (no readable manifest.json)")
    if not isinstance(manifest, dict) or "cartpk_run" not in manifest:
        return bad("not_a_run_folder", "is not a cartpk run folder (its manifest.json is not)")
    res = manifest.get("results") if isinstance(manifest.get("results"), dict) else {}
    spec = manifest.get("spec") if isinstance(manifest.get("spec"), dict) else {}
    method = str(res.get("method") or spec.get("method") or "unknown")
    m2ll = _number(res.get("minus2ll"))
    if "minus2ll" not in res:
        return bad(
            "no_minus2ll",
            f"is a run without -2LL (method {method!r}): only population maximum-likelihood "
            'fits (method = "saem") have one',
            fix='refit its spec with method = "saem" into a new folder and compare that',
        )
    k = _number(res.get("n_parameters"))
    if not math.isfinite(m2ll) or not math.isfinite(k):
        return bad(
            "no_minus2ll",
            "has no finite -2LL or number of parameters (the likelihood could not be "
            "computed; see its diagnostics.json)",
            fix="refit (e.g. more `is_samples`, or fewer random effects)",
        )
    try:
        estimated = _estimated(path)
    except (OSError, ValueError, KeyError):
        return bad(
            "run_incomplete",
            "has no readable population.csv with columns parameter and fixed",
            fix="rerun its `cartpk fit` into a new folder",
        )
    return _Run(
        name=name,
        path=folder,
        model=str(spec.get("model") or ""),
        method=method,
        n_parameters=int(k),
        minus2ll=m2ll,
        mc_se=_number(res.get("minus2ll_mc_se")),
        aic=_number(res.get("aic")),
        bic=_number(res.get("bic")),
        converged=res.get("converged") is True,
        estimated=estimated,
        data=(
            _data_sha(manifest) or f"unknown:{folder}",
            res.get("n_observations"),
            res.get("blq"),
        ),
    )


def read_runs(folders: Sequence[str]) -> list[_Run]:
    """Read run folders for the comparison.

    Parameters
    ----------
    folders : sequence of str
        Run folders of ``cartpk fit`` with ``method = "saem"``.

    Returns
    -------
    list of _Run
        In the order given; ``name`` is the folder's name, or the path as given where two
        folders have the same name.

    Raises
    ------
    CartpkError
        ``compare_inputs``: one violation per folder that cannot be compared (not a folder,
        not a run folder, a run without -2LL, given twice), all at once.
    """
    from cartpk.errors import CartpkError, Violation

    names = [Path(f).resolve().name or str(f) for f in folders]
    runs: list[_Run] = []
    bad: list[Violation] = []
    seen: set[Path] = set()
    for folder, name in zip(folders, names, strict=True):
        where = Path(folder).resolve()
        if where in seen:
            bad.append(Violation("given_twice", f"`{folder}` is given twice", fix="give it once"))
            continue
        seen.add(where)
        got = _read_run(str(folder), name if names.count(name) == 1 else str(folder))
        (runs if isinstance(got, _Run) else bad).append(got)
    if bad:
        raise CartpkError(
            f"{len(bad)} of {len(folders)} folder(s) cannot be compared; nothing was compared",
            bad,
            code="compare_inputs",
        )
    return runs


def _nested_in(small: _Run, runs: Sequence[_Run]) -> _Run | None:
    """The smallest run that ``small`` is nested in (module docstring), or None."""
    larger = [
        r
        for r in runs
        if r is not small
        and r.data == small.data
        and small.n_parameters < r.n_parameters
        and small.estimated < r.estimated
    ]
    return min(larger, key=lambda r: r.n_parameters, default=None)


def _lrt(small: _Run, large: _Run) -> tuple[dict[str, Any], list[str]]:
    """The likelihood-ratio test of ``small`` against ``large`` and its notes."""
    from scipy.stats import chi2

    stat = small.minus2ll - large.minus2ll
    df = large.n_parameters - small.n_parameters
    notes = []
    se = math.hypot(small.mc_se, large.mc_se)
    if math.isfinite(se) and abs(stat) <= 2 * se:
        notes.append(
            f"-2LL difference to {large.name} ({stat:.2f}) within 2 Monte-Carlo SEs "
            f"({2 * se:.2f}) of 0: may be sampling noise (raise is_samples to tell)"
        )
    elif stat < 0:
        notes.append(
            f"{large.name} has the higher -2LL although it is the larger model: a fit did "
            "not reach its maximum (p set to 1)"
        )
    if small.model != large.model:
        notes.append(
            f"nested by parameter names only: models differ ({small.model} vs "
            f"{large.model}); check that one is a special case of the other"
        )
    p = float(chi2.sf(max(stat, 0.0), df))
    return {"nested_in": large.name, "lrt_stat": stat, "lrt_df": df, "lrt_p": p}, notes


def compare_runs(runs: Sequence[_Run]) -> Any:
    """The comparison table of runs (:data:`COLUMNS`), one row per run in the order given.

    Parameters
    ----------
    runs : sequence of _Run
        From :func:`read_runs`.

    Returns
    -------
    pandas.DataFrame
        With the columns of :data:`COLUMNS`; the nesting rule is the module's docstring.
    """
    import pandas as pd

    best = min(r.minus2ll for r in runs)
    rows = []
    for r in runs:
        row: dict[str, Any] = {
            "run": r.name,
            "model": r.model,
            "method": r.method,
            "n_parameters": r.n_parameters,
            "minus2ll": r.minus2ll,
            "minus2ll_mc_se": r.mc_se,
            "delta_ofv": r.minus2ll - best,
            "aic": r.aic,
            "bic": r.bic,
            "nested_in": "",
            "lrt_stat": math.nan,
            "lrt_df": pd.NA,
            "lrt_p": math.nan,
        }
        notes = [] if r.converged else ["not converged (see its diagnostics.json)"]
        large = _nested_in(r, runs)
        if large is not None:
            test, more = _lrt(r, large)
            row.update(test)
            notes += more
        rows.append({**row, "note": "; ".join(notes)})
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["lrt_df"] = frame["lrt_df"].astype("Int64")
    return frame


def _data_warning(runs: Sequence[_Run]) -> str | None:
    """The ``different_data`` warning when the runs were not all fitted to the same data."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for r in runs:
        groups.setdefault(r.data, []).append(r.name)
    if len(groups) < 2:
        return None
    parts = []
    for (sha, n, blq), names in groups.items():
        what = "unknown data file" if str(sha).startswith("unknown:") else f"data {sha[:12]}"
        parts.append(f"{', '.join(names)} ({what}, {n} observations, blq {blq})")
    return (
        "warning [different_data]: the runs were not all fitted to the same data: "
        + "; ".join(parts)
        + ". -2LL, delta OFV, AIC and BIC of different data are not comparable; runs are "
        "tested for nesting only within the same data"
    )


def _fmt(value: Any, spec: str) -> str:
    """A cell as text; missing values (None, NaN, NA) empty."""
    import pandas as pd

    return "" if pd.isna(value) else format(value, spec)


#: terminal columns: (header, column, format, numeric)
_SHOWN = (
    ("run", "run", "", False),
    ("model", "model", "", False),
    ("method", "method", "", False),
    ("k", "n_parameters", "d", True),
    ("-2LL", "minus2ll", ".2f", True),
    ("MC SE", "minus2ll_mc_se", ".2f", True),
    ("dOFV", "delta_ofv", ".2f", True),
    ("AIC", "aic", ".2f", True),
    ("BIC", "bic", ".2f", True),
    ("nested in", "nested_in", "", False),
    ("df", "lrt_df", "d", True),
    ("p", "lrt_p", ".3g", True),
)


def terminal_text(frame: Any, width: int = TERMINAL_WIDTH) -> str:
    """The table for the terminal: -2LL and its kin to 2 decimals, short headers, a legend
    and the notes below; text columns are shortened ("…") to fit ``width``."""
    shown = [s for s in _SHOWN if s[1] != "method" or frame["method"].nunique() > 1]
    cells = {h: [_fmt(v, f) for v in frame[c]] for h, c, f, _ in shown}
    widths = {h: max([len(h), *map(len, cells[h])]) for h, *_ in shown}
    texts = [h for h, _, _, num in shown if not num]
    while sum(widths.values()) + 2 * (len(widths) - 1) > width:
        widest = max(texts, key=lambda h: widths[h])
        if widths[widest] <= max(len(widest), 6):
            break
        widths[widest] -= 1

    def cell(h: str, v: str, num: bool) -> str:
        v = v if len(v) <= widths[h] else v[: widths[h] - 1] + "…"
        return v.rjust(widths[h]) if num else v.ljust(widths[h])

    lines = ["  ".join(cell(h, h, n) for h, _, _, n in shown).rstrip()]
    for i in range(len(frame)):
        lines.append("  ".join(cell(h, cells[h][i], n) for h, _, _, n in shown).rstrip())
    if len(shown) < len(_SHOWN):
        lines.insert(0, f"method: {frame['method'].iloc[0]}")
    legend = (
        "k: estimated parameters; MC SE: Monte-Carlo SE of -2LL; dOFV: -2LL minus the "
        "smallest; p: likelihood-ratio test against `nested in` (chi-square, df = its k "
        "minus this k)"
    )
    notes = [f"note [{r}]: {n}" for r, n in zip(frame["run"], frame["note"], strict=True) if n]
    for text in (legend, *notes):
        lines.append(textwrap.fill(text, width, subsequent_indent="  "))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from cartpk.run import check_out, csv_header, write_atomic

    force = bool(getattr(args, "force", False))
    if args.out is not None:
        check_out(
            args.out,
            force=force,
            inputs=list(args.runs),
            kind="file",
            written_by_cartpk=csv_header(*COLUMNS[:3]),
            what="a comparison table (run,model,method,...)",
        )
    runs = read_runs(list(args.runs))
    frame = compare_runs(runs)
    warning = _data_warning(runs)
    if warning:
        print(warning, file=sys.stderr)
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    if args.out is not None:
        write_atomic(args.out, buf.getvalue(), replace=force)
    print(buf.getvalue(), end="") if args.format == "csv" else print(terminal_text(frame))
    return 0
