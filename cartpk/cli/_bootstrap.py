"""``cartpk bootstrap SPEC.toml --out DIR [-n N] [--scheduler ADDRESS] [--workers N]``.

Nonparametric bootstrap (subjects resampled with replacement) of a typical-value fit on
Dask, with percentile intervals (see :func:`cartpk.bootstrap`). The specification names
``model``, ``data``, ``seed``, optionally ``n_bootstrap``, ``level`` and ``[estimator]``.
Rerunning into the same ``--out`` resumes, unless the data file (its SHA-256 is kept in
``study.json`` and the manifest) or a setting changed: exit 2, ``--force`` starts afresh.
Exit 0 done, 1 some bootstrap fits failed, 2 user error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cartpk.cli._sse import add_cluster_arguments, announce, cluster_options, emit_table

__all__ = ["add_arguments", "run"]

DEFAULT_N = 200


def add_arguments(p: Any) -> None:
    """Add the options of ``cartpk bootstrap`` to its parser."""
    p.add_argument(
        "-n",
        "--n-bootstrap",
        type=int,
        default=None,
        metavar="N",
        help=f"bootstrap samples (default: the spec's n_bootstrap, else {DEFAULT_N})",
    )
    add_cluster_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk bootstrap``."""
    from cartpk.batch import bootstrap, load_spec
    from cartpk.cli._common import UsageError, task_progress

    cluster = cluster_options(args)
    if args.n_bootstrap is not None and args.n_bootstrap < 2:
        raise UsageError("`-n` must be >= 2")
    spec = load_spec(args.spec, kind="bootstrap")
    n = args.n_bootstrap or spec.values.get("n_bootstrap", DEFAULT_N)
    announce(
        f"cartpk: bootstrap of {spec.model} on {spec.values.get('data')}: the original fit and "
        f"{n} fits to resampled subjects into {args.out} (rerun the command to resume)",
        args.quiet,
    )
    names = ["original", *(f"{i:05d}" for i in range(int(n)))]
    with task_progress(args.out, names, noun="fits", force=cluster["force"], quiet=args.quiet):
        result = bootstrap(
            spec,
            n,
            seed=spec.values["seed"],
            level=spec.values.get("level", 0.95),
            **cluster,
        )
    emit_table(result.intervals, args.format, where=result.path / "intervals.csv")
    if result.problems:
        for line in result.problems:
            print(f"failed check: {line}", file=sys.stderr)
        print(
            f"the bootstrap ran but its intervals cannot be trusted (exit 1): see "
            f"{result.path / 'replicates.csv'}; make the estimator converge on resampled data "
            "(more starts, bounds, fewer estimated parameters) or raise n_bootstrap",
            file=sys.stderr,
        )
        return 1
    return 0
