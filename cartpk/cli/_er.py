"""``cartpk er SPEC.toml --out DIR``: exposure-response models into a run folder.

Writes ``er_estimates.csv`` (first columns ``endpoint, exposure, model, term, estimate,
lower, upper, or_per_2fold, or_per_10fold``; hazard ratios in the same columns for Cox;
``analysis`` names the ``[[analysis]]`` block and ``exposure_source`` says whether the
exposure is the population fit's (``model``), NCA's (``nca``) or the subject table's
(``subjects``)), ``er_subjects.csv`` (the per-subject table analysed; with ``fit`` the model
exposure under each metric's name and NCA's as ``<metric>_nca``), ``er_exclusions.csv``
(subjects left out of a fit, with the reason), one exposure-quartile plot per analysis
``er_<label>.png`` (label: endpoint, exposure, model, threshold and covariates) and
``manifest.json``. One analysis that cannot be fitted never stops the others: its rows say
``failed`` with the reason. Exit 0 when every fit succeeded, 1 when a fit failed
(separation without a penalised fallback, no convergence, too few data, an error: see the
``status`` column), 2 for an invalid specification (every problem is printed) or input.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run", "summary_table"]


def add_arguments(p: Any) -> None:
    """Add the options of ``cartpk er`` to its parser."""
    # deprecated spelling of --force, kept working but not shown
    p.add_argument(
        "--overwrite",
        dest="force",
        action=_DeprecatedForce,
        nargs=0,
        default=False,
        help=argparse.SUPPRESS,
    )


class _DeprecatedForce(argparse.Action):
    """``--overwrite``: sets ``--force`` and says, in one line on stderr, to use that."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        print(
            f"warning [deprecated]: `{option}` is deprecated and will be removed; use `--force`",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, True)


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk er``; returns the exit code."""
    from cartpk.er import FAILED, load_subjects, read_er_spec, run_er
    from cartpk.errors import CartpkWarning
    from cartpk.run import check_out, run_folder

    spec = read_er_spec(args.spec)  # SpecError -> exit 2, before any work
    check_out(args.out, force=args.force, inputs=[Path(args.spec), *spec.inputs])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CartpkWarning)
        subjects = load_subjects(spec)
    for w in caught:
        if isinstance(w.message, CartpkWarning):
            print(f"warning [{w.message.code}]: {w.message.message}", file=sys.stderr)
        else:  # anything else goes back to the normal warning machinery
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    report = run_er(spec, subjects)  # column check first (SpecError -> exit 2), then fits

    command = ["cartpk", "er", str(args.spec), "--out", str(args.out)]
    everything = [*report.fits, *report.comparisons]
    failed = [(a, f) for a, f in everything if f.status in FAILED]
    with run_folder(
        args.out,
        command=command,
        spec=spec.raw,
        seed=spec.seed,
        inputs=[Path(args.spec), *spec.inputs],
        overwrite=args.force,
    ) as rf:
        rf.write_csv("er_estimates.csv", report.estimates)
        rf.write_csv("er_subjects.csv", report.subjects)
        rf.write_csv("er_exclusions.csv", report.exclusions)
        plots = _plots(report, rf, spec.level)
        rf.manifest["er"] = {
            "exposure_scale": sorted({a.log for a in spec.analyses}),
            "level": spec.level,
            "exposure": report.exposure,
            "fits": [
                {
                    "key": a.key,
                    "endpoint": a.endpoint,
                    "exposure": a.exposure,
                    "model": a.model,
                    "exposure_source": source,
                    "status": f.status.value,
                    "remedy": "" if f.status.value == "ok" else f.status.remedy,
                    "message": f.message,
                    "n": len(f.prepared.y),
                    "excluded": len(f.exclusions),
                }
                for (a, f), source in _sourced(report)
            ],
            "plots": plots,
        }
        if failed:
            rf.status = "failed_checks"
        final = rf.final
    for (a, f), source in _sourced(report):
        if f.status.value != "ok":
            print(
                f"warning [{f.status.value}]: {a.key} {a.endpoint} ~ {a.exposure} "
                f"({a.model}, {source} exposure): {f.message or f.status.remedy}",
                file=sys.stderr,
            )
    if not args.quiet:
        from cartpk.cli._common import terminal_table

        print(terminal_table(summary_table(report.estimates, spec), max_rows=None))
        print(f"every term, interval and p-value: {final / 'er_estimates.csv'}")
        print(f"run folder: {final}")
    return 1 if failed else 0


#: terms of the models without a per-2-fold ratio that the terminal summary shows
_SHOWN_TERMS = {"emax": ("Emax", "EC50")}


def summary_table(estimates: Any, spec: Any) -> Any:
    """The terminal summary of ``er_estimates.csv``: one row per exposure effect (the ratio
    per 2-fold exposure with its interval) and per Emax and EC50 of an Emax model, the
    logistic endpoints with their threshold (``crs_grade >= 3``)."""
    import pandas as pd

    thresholds = {a.key: a.threshold for a in spec.analyses if a.threshold is not None}
    rows = []
    for _, r in estimates.iterrows():
        if r["or_per_2fold"] == r["or_per_2fold"]:  # not NaN: an exposure slope
            effect = f"{r['ratio'] if isinstance(r['ratio'], str) else 'ratio'} per 2-fold"
            est, lo, hi = r["or_per_2fold"], r["or_per_2fold_lower"], r["or_per_2fold_upper"]
        elif r["term"] in _SHOWN_TERMS.get(str(r["model"]), ()):
            effect, est, lo, hi = r["term"], r["estimate"], r["lower"], r["upper"]
        else:
            continue
        endpoint = str(r["endpoint"])
        if r.get("analysis") in thresholds:
            endpoint += f" ≥ {thresholds[r['analysis']]:g}"
        rows.append(
            {
                "endpoint": endpoint,
                "exposure": r["exposure"],
                "source": r.get("exposure_source", ""),
                "model": r["model"],
                "effect": effect,
                "estimate": _sig3(est),
                f"{spec.level:.0%} CI": f"{_sig3(lo)} to {_sig3(hi)}",
                "status": r["status"],
            }
        )
    columns = ["endpoint", "exposure", "source", "model", "effect", "estimate"]
    return pd.DataFrame(rows, columns=[*columns, f"{spec.level:.0%} CI", "status"])


def _sig3(x: float) -> str:
    """Three significant digits without an exponent below a million (8020, not 8.02e+03)."""
    text = f"{x:.3g}"
    return f"{float(text):.0f}" if "e+" in text and abs(x) < 1e6 else text


def _sourced(report: Any) -> list[tuple[tuple[Any, Any], str]]:
    """Every fit of a report with its exposure source (primary fits, then NCA comparisons)."""
    primary = list(zip(report.fits, report.sources, strict=True))
    return primary + [((a, f), "nca") for a, f in report.comparisons]


def _plots(report: Any, rf: Any, level: float) -> list[str]:
    """One exposure-quartile plot per analysis that produced estimates (unique names)."""
    from cartpk.er import er_plot

    plots: list[str] = []
    sources = list(getattr(report, "sources", []) or [])
    for k, (a, fit) in enumerate(report.fits):
        if fit.status.value == "failed" or not fit.params:
            continue
        name = f"er_{a.label}.png"
        if name in plots:  # two blocks with the same label: number them
            name = f"er_{a.label}_{a.key.replace('[', '').replace(']', '')}.png"
        er_plot(
            fit,
            rf.file(name),
            level=level,
            units=report.subjects.attrs.get("units"),
            source=sources[k] if k < len(sources) else None,
        )
        plots.append(name)
    return plots
