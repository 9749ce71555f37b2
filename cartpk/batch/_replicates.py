"""What the batch studies (SSE, E-R chain SSE, bootstrap) share: one simulated trial with
its subjects' true parameters, running the tasks on Dask, and one status row per task."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.batch._runner import StudyFolder, TaskResult, dask_client, run_tasks

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["run_study", "simulate_trial", "status_row"]


def simulate_trial(
    model: Any,
    n_subjects: int,
    seed: np.random.SeedSequence,
    *,
    days: Any,
    lloq: Any,
    dose: Any,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The records of one trial simulated with ``seed`` and its subjects' true parameters."""
    from cartpk.simulation import simulate, simulate_parameters

    table = simulate(
        model,
        n=n_subjects,
        seed=np.random.default_rng(seed),
        days=days,
        lloq=lloq,
        dose=dose,
    )
    # the same seed draws the same random effects first: the subjects' true parameters
    params = simulate_parameters(model, n=n_subjects, seed=np.random.default_rng(seed), dose=dose)
    return table, params


def run_study(
    task: Callable[[Any], Any],
    payloads: Sequence[Any] | Mapping[int | str, Any],
    folder: StudyFolder,
    desc: str,
    client: Any,
    scheduler: str | None,
    workers: int | None,
    quiet: bool,
) -> dict[int | str, TaskResult]:
    """:func:`run_tasks` on ``client``, or on a Dask client of its own when it is ``None``."""
    if client is not None:
        return run_tasks(task, payloads, folder, client=client, quiet=quiet, desc=desc)
    with dask_client(scheduler, workers, quiet=quiet) as cl:
        return run_tasks(task, payloads, folder, client=cl, quiet=quiet, desc=desc)


def status_row(replicate: Any, res: TaskResult) -> dict[str, Any]:
    """The ``replicate, status, error, message, seconds`` row of one task's result."""
    return {
        "replicate": replicate,
        "status": res.status,
        "error": res.error,
        "message": res.message,
        "seconds": res.seconds,
    }
