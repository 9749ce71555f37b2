"""What the batch studies (SSE, E-R chain SSE, bootstrap) share: the checks of a study's
size and seed, one simulated trial with its subjects' true parameters, running the tasks on
Dask, and one status row per task."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.batch._runner import StudyFolder, TaskResult, dask_client, run_tasks
from cartpk.errors import Violation

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "ReplicateStudyResult",
    "is_count",
    "run_study",
    "simulate_trial",
    "status_row",
    "study_size_violations",
]


@dataclass(frozen=True)
class ReplicateStudyResult:
    """Outcome of a study of simulated replicates (:func:`cartpk.sse`, E-R chain SSE).

    Attributes
    ----------
    summary : pandas.DataFrame
        The study's summary table.
    estimates : pandas.DataFrame
        Every estimate of every replicate.
    replicates : pandas.DataFrame
        One row per replicate, from ``replicate, status, error, message, seconds``.
    path : Path
        The study folder.
    status : {"ok", "failed_checks"}
        ``"failed_checks"`` when a replicate raised.
    """

    summary: pd.DataFrame
    estimates: pd.DataFrame
    replicates: pd.DataFrame
    path: Path
    status: str


def is_count(value: Any, low: int) -> bool:
    """Whether ``value`` is an integer (not a bool) of at least ``low``."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= low


def study_size_violations(n_replicates: Any, n_subjects: Any, seed: Any) -> list[Violation]:
    """The problems of a replicated study's size and master seed.

    Parameters
    ----------
    n_replicates, n_subjects : Any
        Replicates and subjects per replicate; integers >= 1 (``n_replicates_invalid``,
        ``n_subjects_invalid``).
    seed : Any
        The master seed; a non-negative integer (``seed_invalid``).

    Returns
    -------
    list of Violation
        In the order of the arguments; empty when all three are valid.
    """
    problems = [
        Violation(
            f"{name}_invalid",
            f"`{name}` must be an integer >= 1",
            value=repr(value),
            fix=f"pass e.g. {name}=100",
        )
        for name, value in (("n_replicates", n_replicates), ("n_subjects", n_subjects))
        if not is_count(value, 1)
    ]
    if not is_count(seed, 0):
        problems.append(
            Violation(
                "seed_invalid",
                "`seed` must be a non-negative integer (the master seed of the study)",
                value=repr(seed),
                fix="pass e.g. seed=1",
            )
        )
    return problems


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
