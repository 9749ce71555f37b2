"""Stochastic simulation and estimation (SSE): is a design good enough to estimate a model?

Each replicate simulates a virtual trial from the model with its own seed
(:func:`cartpk.simulate`), estimates the parameters with a pluggable estimator, and writes
its estimates to ``tasks/<replicate>.json``. The gathered estimates give, per parameter,
bias, relative bias, relative RMSE, confidence-interval coverage and the convergence rate.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from cartpk.batch._replicates import (
    ReplicateStudyResult,
    run_study,
    simulate_trial,
    status_row,
    study_size_violations,
)
from cartpk.batch._runner import StudyFolder, code_inputs, spawn_seeds
from cartpk.errors import SpecError, Violation

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from cartpk.data import Dataset
    from cartpk.model import Model

__all__ = ["Estimator", "SSEResult", "estimates_frame", "sse", "summarise_sse"]

ESTIMATE_COLUMNS = ("parameter", "estimate", "lower", "upper")


class Estimator(Protocol):
    """What :func:`sse` and :func:`bootstrap` call: ``estimator(dataset, model) -> table``.

    The table has one row per parameter (typical-value estimators) or per subject and
    parameter (then with an ``ID`` column): ``parameter, estimate, lower, upper`` on the
    natural scale, ``lower``/``upper`` NaN where no interval exists, and optionally
    ``converged`` (bool, default True) and ``identified`` (bool per subject, or the
    fraction of subjects in which the parameter was identified). Parameter names are the model's (``tmax``,
    ``omega_cmax``...). The callable must be picklable: a module-level function or an
    instance of a module-level class, such as
    :class:`cartpk.batch.IndividualFitEstimator`.
    """

    def __call__(self, dataset: Dataset, model: Model) -> pd.DataFrame: ...  # pragma: no cover


def estimates_frame(table: Any) -> pd.DataFrame:
    """Check an estimator's table and bring it to the canonical columns.

    Returns
    -------
    pandas.DataFrame
        ``parameter, ID, estimate, lower, upper, converged, identified`` (``ID`` is ``""``
        for typical values; ``identified`` is 1/0 per subject, a fraction of subjects for
        typical values, NaN when the estimator does not say).

    Raises
    ------
    TypeError
        Not a DataFrame, or one of ``parameter, estimate, lower, upper`` is missing.
    """
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            f"the estimator returned a {type(table).__name__}; expected a DataFrame with "
            f"columns {list(ESTIMATE_COLUMNS)}"
        )
    missing = [c for c in ESTIMATE_COLUMNS if c not in table.columns]
    if missing:
        raise TypeError(f"the estimator's table lacks columns {missing}")
    out = pd.DataFrame(
        {
            "parameter": table["parameter"].astype(str).to_numpy(),
            "ID": table["ID"].astype(str).to_numpy() if "ID" in table else "",
            "estimate": table["estimate"].to_numpy(dtype=float),
            "lower": table["lower"].to_numpy(dtype=float),
            "upper": table["upper"].to_numpy(dtype=float),
            "converged": table["converged"].to_numpy(dtype=bool) if "converged" in table else True,
            "identified": table["identified"].to_numpy(dtype=float)
            if "identified" in table
            else math.nan,
        }
    )
    return out.reset_index(drop=True)


def _records(frame: pd.DataFrame) -> dict[str, list[Any]]:
    return {c: frame[c].tolist() for c in frame.columns}


@dataclass(frozen=True)
class _SSETask:
    """One replicate: simulate with the replicate's seed, estimate, attach the truth."""

    model: Any
    days: Any
    n_subjects: int
    lloq: Any
    dose: Any
    estimator: Callable[..., Any]

    def __call__(self, seed: np.random.SeedSequence) -> dict[str, list[Any]]:
        from cartpk.data import read_dataset

        table, truth = simulate_trial(
            self.model, self.n_subjects, seed, days=self.days, lloq=self.lloq, dose=self.dose
        )
        est = estimates_frame(self.estimator(read_dataset(table), self.model))
        typical = self.model.initial_values()
        by_id = truth.set_index("ID")
        true = []
        for pid, name in zip(est["ID"], est["parameter"], strict=True):
            if pid:
                ok = pid in by_id.index and name in by_id.columns
                true.append(float(by_id.at[pid, name]) if ok else math.nan)
            else:
                true.append(float(typical.get(name, math.nan)))
        est["true"] = true
        unknown = sorted(set(est.loc[np.isnan(est["true"]), "parameter"]))
        if unknown:
            raise ValueError(
                f"the estimator returned parameters with no true value in "
                f"`{self.model.name}`: {unknown}"
            )
        return _records(est)


@dataclass(frozen=True)
class SSEResult(ReplicateStudyResult):
    """Outcome of :func:`sse`: ``summary``, ``estimates``, ``replicates``, ``path``, ``status``.

    ``summary`` has one row per parameter and level (see :func:`summarise_sse`);
    ``estimates`` the columns ``replicate, parameter, ID, estimate, lower, upper, converged,
    identified, true``; ``replicates`` ``replicate, status, error, message, seconds``
    (replicate ``r`` drew from ``SeedSequence(seed).spawn(n_replicates)[r]``); ``path`` is
    the study folder; ``status`` is ``"failed_checks"`` when a replicate raised, else ``"ok"``.
    """


def summarise_sse(estimates: pd.DataFrame, *, n_replicates: int, n_subjects: int) -> pd.DataFrame:
    """SSE metrics per parameter from the gathered estimates.

    Parameters
    ----------
    estimates : pandas.DataFrame
        ``replicate, parameter, ID, estimate, lower, upper, converged, identified, true``.
    n_replicates, n_subjects : int
        Study size: the denominators of the convergence rate.

    Returns
    -------
    pandas.DataFrame
        ``parameter, level, true, n, n_converged, convergence_pct, mean_estimate, bias,
        rel_bias_pct, rmse, rel_rmse_pct, median_abs_rel_error_pct, n_ci, coverage_pct,
        identified_pct``.

    Notes
    -----
    ``level`` is ``"typical"`` (one estimate per replicate) or ``"individual"`` (one per
    subject and replicate, compared to that subject's simulated value). Over the ``n``
    converged, finite estimates :math:`\\hat\\theta_r` of true values :math:`\\theta_r`:

    ============================  ===============================================================
    ``bias``                      :math:`\\overline{\\hat\\theta - \\theta}`
    ``rel_bias_pct``              :math:`100\\,\\overline{(\\hat\\theta - \\theta)/\\theta}`
    ``rmse``                      :math:`\\sqrt{\\overline{(\\hat\\theta - \\theta)^2}}`
    ``rel_rmse_pct``              :math:`100\\sqrt{\\overline{((\\hat\\theta - \\theta)/\\theta)^2}}`
    ``median_abs_rel_error_pct``  median of :math:`100\\,|\\hat\\theta - \\theta|/\\theta`
    ``coverage_pct``              % of the ``n_ci`` finite intervals holding :math:`\\theta`
    ``convergence_pct``           converged estimates / (replicates x subjects per replicate)
    ``identified_pct``            mean of ``identified`` over the converged estimates
    ============================  ===============================================================

    ``true`` is the simulated value at the typical level and NaN at the individual level.
    """
    import pandas as pd

    rows = []
    est = estimates.copy()
    est["level"] = np.where(est["ID"].astype(str) != "", "individual", "typical")
    for (level, name), g in est.groupby(["level", "parameter"], sort=False):
        per = n_subjects if level == "individual" else 1
        ok = g[g["converged"].astype(bool) & np.isfinite(g["estimate"])]
        err = ok["estimate"] - ok["true"]
        rel = err / ok["true"]
        ci = ok[np.isfinite(ok["lower"]) & np.isfinite(ok["upper"])]
        covered = (ci["lower"] <= ci["true"]) & (ci["true"] <= ci["upper"])
        n = len(ok)
        ident = ok["identified"].to_numpy(dtype=float)
        ident = ident[np.isfinite(ident)]
        rows.append(
            {
                "parameter": name,
                "level": level,
                "true": float(g["true"].iloc[0]) if level == "typical" else math.nan,
                "n": n,
                "n_converged": int(g["converged"].astype(bool).sum()),
                "convergence_pct": 100.0
                * int(g["converged"].astype(bool).sum())
                / (n_replicates * per),
                "mean_estimate": float(ok["estimate"].mean()) if n else math.nan,
                "bias": float(err.mean()) if n else math.nan,
                "rel_bias_pct": 100.0 * float(rel.mean()) if n else math.nan,
                "rmse": float(np.sqrt((err**2).mean())) if n else math.nan,
                "rel_rmse_pct": 100.0 * float(np.sqrt((rel**2).mean())) if n else math.nan,
                "median_abs_rel_error_pct": 100.0 * float(rel.abs().median()) if n else math.nan,
                "n_ci": len(ci),
                "coverage_pct": 100.0 * float(covered.mean()) if len(ci) else math.nan,
                "identified_pct": 100.0 * float(ident.mean()) if ident.size else math.nan,
            }
        )
    return pd.DataFrame(rows)


def _describe_callable(obj: Any) -> str:
    if hasattr(obj, "__dataclass_fields__") or not callable(obj):
        return repr(obj)
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _check_study(
    n_replicates: Any, n_subjects: Any, seed: Any, estimator: Any, workers: Any
) -> None:
    problems = study_size_violations(n_replicates, n_subjects, seed)
    if not callable(estimator):
        problems.append(
            Violation(
                "estimator_invalid",
                "`estimator` is not callable",
                value=repr(estimator),
                expected="estimator(dataset, model) -> DataFrame",
                fix="pass e.g. cartpk.batch.IndividualFitEstimator()",
            )
        )
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        problems.append(
            Violation("workers_invalid", "`workers` must be an integer >= 1", value=repr(workers))
        )
    if problems:
        raise SpecError("Invalid study settings.", problems)


def sse(
    model: Model | str,
    design: Sequence[float] | Mapping[str, Sequence[float]],
    n_replicates: int,
    estimator: Estimator | Callable[[Dataset, Model], pd.DataFrame],
    *,
    seed: int,
    n_subjects: int,
    out: str | os.PathLike[str],
    lloq: float | Mapping[str, float] | None = None,
    dose: float | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    client: Any = None,
    quiet: bool = False,
    spec_file: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> SSEResult:
    """Run a stochastic simulation-estimation study on Dask; resume it if interrupted.

    Parameters
    ----------
    model : Model or str
        The model that simulates the trials (a catalogue name is loaded); also passed to
        the estimator.
    design : sequence of float or mapping DVID -> sequence
        Sampling days after infusion (``cartpk.simulate``'s ``days``).
    n_replicates : int
        Number of simulated trials.
    estimator : callable
        ``estimator(dataset, model) -> DataFrame`` (see :class:`Estimator`); picklable.
    seed : int
        Master seed; replicate ``r`` uses ``SeedSequence(seed).spawn(n_replicates)[r]``.
    n_subjects : int
        Subjects per simulated trial.
    out : path
        Study folder. Rerunning the same study into it skips finished replicates; a rerun
        with a larger ``n_replicates`` only adds the new ones.
    lloq : float or mapping DVID -> float, optional
        Lower limit of quantification of the simulated assay (values below are censored).
    dose : float, optional
        Dose (CAR+ cells); default the model's ``default_dose``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://HOST:PORT``); default a
        ``LocalCluster`` of ``workers`` processes.
    workers : int, optional
        Worker processes of the local cluster (default: CPU cores).
    client : distributed.Client, optional
        An existing client to use instead (``scheduler`` and ``workers`` are ignored).
    quiet : bool, default False
        No progress bar and no cluster messages on stderr.
    spec_file : path, optional
        The specification file the study came from; its SHA-256 goes into the manifest.
    force : bool, default False
        Discard an existing study in ``out`` and start afresh (only a cartpk study
        folder; see :class:`cartpk.batch.StudyFolder`).

    Returns
    -------
    SSEResult
        Summary, estimates and per-replicate status; also written to ``out`` as
        ``summary.csv``, ``estimates.csv``, ``replicates.csv`` and ``manifest.json``.

    Raises
    ------
    SpecError
        Invalid settings (``n_replicates_invalid``, ``n_subjects_invalid``,
        ``seed_invalid``, ``estimator_invalid``, ``workers_invalid``), or ``out`` holds a
        different study (``study_mismatch``) or one started from other input files (the
        estimator's source: ``input_changed``).
    FitError
        ``all_replicates_failed``: every replicate raised (the first error is quoted).

    See Also
    --------
    summarise_sse : the metrics.
    cartpk.batch.IndividualFitEstimator : the estimator built on per-patient fits.

    Notes
    -----
    Results do not depend on the number of workers: each replicate draws from its own
    seed, the estimator is deterministic given its data, and results are gathered in
    replicate order. Replicates that raise are recorded (``replicates.csv``) and make the
    status ``"failed_checks"``.
    """
    import pandas as pd

    from cartpk.model import Model, load_model

    _check_study(n_replicates, n_subjects, seed, estimator, workers)
    if isinstance(model, str):
        model = load_model(model)
    if not isinstance(model, Model):
        raise SpecError(
            "Invalid study settings.",
            [Violation("model_invalid", "`model` is not a cartpk model", value=repr(model))],
        )
    days = (
        {k: [float(x) for x in v] for k, v in design.items()}
        if isinstance(design, Mapping)
        else [float(x) for x in design]
    )
    spec = {
        "model": model.name,
        "model_values": model.initial_values(),
        "design": days,
        "n_subjects": int(n_subjects),
        "seed": int(seed),
        "lloq": lloq,
        "dose": dose,
        "estimator": _describe_callable(estimator),
    }
    # n_replicates is not part of the study's identity: replicate r's seed does not depend
    # on it, so rerunning with more replicates extends the study (and fewer summarise the
    # first ones)
    folder = StudyFolder(
        out,
        kind="sse",
        spec=spec,
        seed=int(seed),
        extent={"n_replicates": int(n_replicates)},
        inputs=code_inputs(estimator),
        spec_file=spec_file,
        force=force,
    )
    seeds = spawn_seeds(int(seed), int(n_replicates))
    task = _SSETask(model, days, int(n_subjects), lloq, dose, estimator)
    results = run_study(task, seeds, folder, "SSE", client, scheduler, workers, quiet)

    frames = []
    reps = []
    for r, res in results.items():
        reps.append(status_row(r, res))
        if res.status == "ok":
            frames.append(pd.DataFrame(res.result).assign(replicate=r))
    replicates = pd.DataFrame(reps)
    cols = [
        "replicate",
        "parameter",
        "ID",
        "estimate",
        "lower",
        "upper",
        "converged",
        "identified",
        "true",
    ]
    estimates = pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
    summary = summarise_sse(estimates, n_replicates=int(n_replicates), n_subjects=int(n_subjects))
    status = folder.finish_replicates(
        {"summary.csv": summary, "estimates.csv": estimates},
        replicates,
        replicates_file="replicates.csv",
        what="SSE",
        fix="run the estimator on one simulated trial to debug it",
    )
    return SSEResult(summary, estimates, replicates, folder.path, status)
