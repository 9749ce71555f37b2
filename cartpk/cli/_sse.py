"""``cartpk sse SPEC.toml --out DIR [--scheduler tcp://HOST:PORT] [--workers N]``.

Simulation-estimation study on Dask (see :func:`cartpk.sse`); a spec with
``kind = "er_chain"`` runs the exposure-response chain study instead
(:func:`cartpk.batch.er_chain_sse`, summary ``er_sse_summary.csv``). The specification is
validated before anything runs. Rerunning the same command into the same ``--out``
resumes an interrupted study, unless its settings or input files changed (exit 2;
``--force`` discards the old study and starts afresh). Exit 0 done, 1 some replicates
failed, 2 user error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = [
    "add_arguments",
    "add_cluster_arguments",
    "announce",
    "cluster_options",
    "emit_table",
    "run",
]


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    """The options every batch command shares."""
    p.add_argument("--out", required=True, help="study folder (rerun into it to resume)")
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
        "(default: start a local cluster)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes of the local cluster (default: CPU cores)",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress (a bar on a terminal, else a 'cartpk: 12/200 replicates done' line "
        "at every tenth) and no cluster messages",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="discard a study already in --out (a cartpk study folder only) and start afresh",
    )
    p.add_argument(
        "--format", choices=("table", "json", "csv"), default="table", help="stdout format"
    )


def cluster_options(args: argparse.Namespace) -> dict[str, Any]:
    """The batch function's arguments from :func:`add_cluster_arguments` (``--workers`` checked)."""
    from cartpk.cli._common import UsageError

    if args.workers is not None and args.workers < 1:
        raise UsageError("`--workers` must be >= 1")
    return {
        "out": args.out,
        "scheduler": args.scheduler,
        "workers": args.workers,
        "quiet": args.quiet,
        "force": bool(getattr(args, "force", False)),
    }


def add_arguments(p: Any) -> None:
    """Add the options of ``cartpk sse`` to its parser: the Dask cluster's."""
    add_cluster_arguments(p)


#: the terminal's columns of a result table (``--format csv|json`` and the files have all)
SSE_COLUMNS = {
    "parameter": "parameter",
    "level": "level",
    "true": "truth",
    "mean_estimate": "mean estimate",
    "rel_bias_pct": "bias %",
    "rel_rmse_pct": "RMSE %",
    "coverage_pct": "coverage %",
    "convergence_pct": "converged %",
    "identified_pct": "identified %",
}
ER_CHAIN_COLUMNS = {
    "route": "route",
    "endpoint": "endpoint",
    "model": "model",
    "exposure": "exposure",
    "truth": "truth",
    "median_estimate": "median est.",
    "median_rel_bias_pct": "bias %",
    "coverage_pct": "coverage %",
    "n_replicates_ok": "n ok",
}


def emit_table(
    frame: Any, fmt: str, *, columns: dict[str, str] | None = None, where: Any = None
) -> None:
    """Print a result table to stdout in the chosen format.

    The terminal table (``fmt="table"``) shows ``columns`` (name -> header; default all)
    within 100 characters and says where the full table is (the file ``where``).
    """
    import math

    if fmt == "json":
        recs = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in frame.to_dict(orient="records")
        ]
        print(json.dumps(recs, indent=2, default=str))
    elif fmt == "csv":
        print(frame.to_csv(index=False), end="")
    else:
        from cartpk.cli._common import terminal_table

        shown = frame
        if columns:
            keep = {k: v for k, v in columns.items() if k in frame.columns}
            shown = frame[list(keep)].rename(columns=keep)
        print(terminal_table(shown, max_rows=None))
        place = f"{where}" if where is not None else "the study folder's CSV files"
        print(f"(the full table, with every column: {place}, or --format csv)")


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk sse``."""
    from cartpk.batch import er_chain_from_spec, er_chain_sse, estimator_from_spec, load_spec, sse
    from cartpk.cli._common import task_progress

    cluster = cluster_options(args)
    spec = load_spec(args.spec, kind="sse")
    v = spec.values
    n = int(v["n_replicates"])
    progress = task_progress(
        args.out,
        [f"{i:05d}" for i in range(n)],
        noun="replicates",
        force=cluster["force"],
        quiet=args.quiet,
    )
    what = "E-R chain " if spec.kind == "er_chain" else ""
    announce(
        f"cartpk: {what}simulation-estimation of {spec.model}: {n} trials of "
        f"{v['n_subjects']} subjects into {args.out} (rerun the command to resume)",
        args.quiet,
    )
    if spec.kind == "er_chain":
        with progress:
            chain = er_chain_sse(**er_chain_from_spec(spec), **cluster, spec_file=args.spec)
        emit_table(
            chain.summary,
            args.format,
            columns=ER_CHAIN_COLUMNS,
            where=chain.path / "er_sse_summary.csv",
        )
        return _report_failures(chain.replicates, chain.path / "er_sse_replicates.csv")
    with progress:
        result = sse(
            spec.model,
            v["days"],
            v["n_replicates"],
            estimator_from_spec(spec),
            seed=v["seed"],
            n_subjects=v["n_subjects"],
            lloq=v.get("lloq"),
            dose=v.get("dose"),
            spec_file=args.spec,
            **cluster,
        )
    emit_table(result.summary, args.format, columns=SSE_COLUMNS, where=result.path / "summary.csv")
    return _report_failures(result.replicates, result.path / "replicates.csv")


def announce(message: str, quiet: bool) -> None:
    """A line on stderr before a long silent phase (not with ``--quiet``)."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _report_failures(replicates: Any, where: Any) -> int:
    """Exit code of a study: 1 (with a line on stderr) when some replicates failed."""
    failed = replicates[replicates["status"] != "ok"]
    if len(failed):
        print(
            f"{len(failed)} of {len(replicates)} replicates failed; see {where}",
            file=sys.stderr,
        )
        return 1
    return 0
