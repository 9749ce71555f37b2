"""``cartpk er SPEC.toml --out DIR``: exposure-response models into a run folder.

Writes ``er_estimates.csv`` (first columns ``endpoint, exposure, model, term, estimate,
lower, upper, or_per_2fold, or_per_10fold``; hazard ratios in the same columns for Cox),
``er_subjects.csv`` (the per-subject table analysed), ``er_exclusions.csv`` (subjects left
out of a fit, with the reason), ``er_draws.csv`` (per-draw slopes, with exposure draws),
one exposure-quartile plot per analysis ``er_<endpoint>_<exposure>_<model>.png`` and
``manifest.json``. Exit 0 when every fit succeeded, 1 when a fit failed (separation without
a penalised fallback, no convergence, too few data: see the ``status`` column), 2 for an
invalid specification (every problem is printed) or input.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``er`` subcommand."""
    p = subparsers.add_parser(
        "er",
        help="exposure-response models (ordinal, logistic, Emax/log-linear, Cox) from a spec",
        description=(
            "Fit the exposure-response analyses named in a TOML specification on a "
            "per-subject table (given, or derived from the trial data by NCA, RECIST and "
            "the safety summaries); report odds / hazard ratios per 2-fold and 10-fold "
            "exposure with 95 % intervals and exposure-quartile plots."
        ),
    )
    p.add_argument("spec", metavar="SPEC.toml", help="E-R specification (see fits/er_example.toml)")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder to create")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--quiet", action="store_true", help="no summary on stdout")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk er``; returns the exit code."""
    import pandas as pd

    from cartpk.er import FAILED, er_plot, load_subjects, read_er_spec, run_er
    from cartpk.errors import CartpkWarning
    from cartpk.run import run_folder

    spec = read_er_spec(args.spec)  # SpecError -> exit 2, before any work
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
    failed = [(a, f) for a, f in report.fits if f.status in FAILED]
    with run_folder(
        args.out,
        command=command,
        spec=spec.raw,
        seed=spec.seed,
        inputs=[Path(args.spec), *spec.inputs],
        overwrite=args.overwrite,
    ) as rf:
        rf.write_csv("er_estimates.csv", report.estimates)
        rf.write_csv("er_subjects.csv", report.subjects)
        rf.write_csv("er_exclusions.csv", report.exclusions)
        if report.draws:
            rf.write_csv(
                "er_draws.csv",
                pd.concat(
                    [
                        d.per_draw.assign(endpoint=a.endpoint, exposure=a.exposure, model=a.model)
                        for a, d in report.draws
                    ],
                    ignore_index=True,
                ),
            )
        plots = []
        for a, fit in report.fits:
            name = f"er_{a.label}.png"
            er_plot(fit, rf.file(name), level=spec.level)
            plots.append(name)
        rf.manifest["er"] = {
            "exposure_scale": sorted({a.log for a in spec.analyses}),
            "level": spec.level,
            "fits": [
                {
                    "key": a.key,
                    "endpoint": a.endpoint,
                    "exposure": a.exposure,
                    "model": a.model,
                    "status": f.status.value,
                    "remedy": "" if f.status.value == "ok" else f.status.remedy,
                    "n": len(f.prepared.y),
                    "excluded": len(f.exclusions),
                }
                for a, f in report.fits
            ],
            "plots": plots,
        }
        if failed:
            rf.status = "failed_checks"
        final = rf.final
    for a, f in report.fits:
        if f.status.value != "ok":
            print(
                f"warning [{f.status.value}]: {a.key} {a.endpoint} ~ {a.exposure} "
                f"({a.model}): {f.status.remedy}",
                file=sys.stderr,
            )
    if not args.quiet:
        shown = report.estimates[report.estimates["or_per_2fold"].notna()]
        for _, r in shown.iterrows():
            print(
                f"{r['endpoint']:<16} {r['exposure']:<10} {r['model']:<14} "
                f"{r['ratio'] or 'ratio'} per 2-fold {r['or_per_2fold']:.3g} "
                f"({r['or_per_2fold_lower']:.3g}-{r['or_per_2fold_upper']:.3g}) "
                f"[{r['status']}]"
            )
        print(f"run folder: {final}")
    return 1 if failed else 0
