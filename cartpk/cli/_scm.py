"""``cartpk scm SPEC.toml --out DIR [--force] [--workers N] [--scheduler ADDRESS]``.

Step-wise covariate search (PsN's SCM) by SAEM fits on Dask (see :func:`cartpk.batch.scm`):
forward inclusion over the specification's ``[[candidate]]`` effects at ``forward_p``, then
backward elimination at ``backward_p``. The specification is a SAEM fit specification plus
those keys (:mod:`cartpk.batch._scm_spec`, ``fits/stein2019_scm.toml``); every problem is
listed before anything runs. Rerunning into the same ``--out`` reuses the finished fits,
unless the settings or the data file changed (exit 2; ``--force`` starts afresh).

Writes ``scm_steps.csv``, ``scm_result.json``, the final model's ``population.csv`` and
``manifest.json``; prints the steps and the final model. Exit 0 done, 1 every fit of a step
failed, 2 user error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cartpk.cli._sse import add_cluster_arguments, announce, cluster_options, emit_table

__all__ = ["STEP_COLUMNS", "add_arguments", "run"]

#: the terminal's columns of the steps table (the file has every column)
STEP_COLUMNS = {
    "step": "step",
    "direction": "direction",
    "candidate": "candidate",
    "df": "df",
    "ofv": "OFV",
    "dofv": "dOFV",
    "p_value": "p",
    "converged": "converged",
    "chosen": "chosen",
}


def add_arguments(p: Any) -> None:
    """Add the options of ``cartpk scm`` to its parser: the Dask cluster's."""
    add_cluster_arguments(p)


def _final_table(result: Any) -> Any:
    """The final model's covariate coefficients with their Wald intervals."""
    pop = result.population
    keep = pop["role"].astype(str) == "covariate"
    cols = [c for c in ("parameter", "estimate", "se", "lower", "upper") if c in pop.columns]
    return pop.loc[keep & ~pop["fixed"].astype(bool), cols]


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk scm``."""
    from cartpk.batch import scm, scm_from_spec
    from cartpk.cli._common import print_error, task_progress, terminal_table
    from cartpk.errors import FitError

    cluster = cluster_options(args)
    settings = scm_from_spec(args.spec)
    n = len(settings["candidates"])
    announce(
        f"cartpk: covariate search on {settings['model'].name}: {n} candidates, forward "
        f"p < {settings['forward_p']}, backward p < {settings['backward_p']}, into {args.out} "
        "(rerun the command to resume)",
        args.quiet,
    )

    def progress(names: list[str]) -> Any:
        return task_progress(args.out, names, noun="fits", quiet=args.quiet)

    try:
        result = scm(**settings, **cluster, progress=progress)
    except FitError as err:
        if err.code != "scm_step_failed":
            raise
        print_error(err)
        return 1
    emit_table(result.steps, args.format, columns=STEP_COLUMNS, where=result.path / "scm_steps.csv")
    if args.format == "table":
        final = ", ".join(result.final) or "none (the base model)"
        ofv = result.result["final"]["ofv"]
        print(f"\nfinal model: {final}; OFV {ofv:.2f}")
        effects = _final_table(result)
        if len(effects):
            print(terminal_table(effects, max_rows=None))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
