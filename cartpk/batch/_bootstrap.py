"""Nonparametric bootstrap: resample subjects with replacement, refit, percentile intervals."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.batch._replicates import is_count, run_study, status_row
from cartpk.batch._runner import StudyFolder, TaskResult, code_inputs, spawn_seeds
from cartpk.batch._spec import StudySpec, estimator_from_spec, load_spec
from cartpk.batch._sse import _describe_callable, _records, estimates_frame
from cartpk.errors import FitError, SpecError, Violation

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from cartpk.data import Dataset
    from cartpk.model import Model

__all__ = ["BootstrapResult", "bootstrap", "percentile_intervals", "resample_subjects"]


def resample_subjects(dataset: Dataset, seed: Any) -> Dataset:
    """A bootstrap sample of a dataset: subjects drawn with replacement.

    Parameters
    ----------
    dataset : Dataset
        The original data.
    seed : int, numpy.random.SeedSequence or None
        Seed of the draw; ``None`` returns the original subjects (renumbered the same way).

    Returns
    -------
    Dataset
        As many subjects as ``dataset``; the ``k``-th drawn subject gets ``ID`` ``"k"``
        (1-based), so a subject drawn twice enters the fit as two subjects.
    """
    import pandas as pd

    from cartpk.data import read_dataset

    ids = list(dataset.subjects)
    if seed is None:
        drawn = ids
    else:
        rng = np.random.default_rng(seed)
        drawn = [ids[i] for i in rng.integers(0, len(ids), size=len(ids))]
    table = dataset.table.drop(columns=["ROW"])
    groups = {k: g for k, g in table.groupby("ID", sort=False)}
    parts = [groups[sid].assign(ID=str(k)) for k, sid in enumerate(drawn, start=1)]
    tv = [c for c in dataset.time_varying.columns if c not in ("ROW", "ID", "TIME")]
    return read_dataset(
        pd.concat(parts, ignore_index=True),
        endpoints=dict(dataset.endpoints),
        time_varying=tv or None,
    )


@dataclass(frozen=True)
class _BootTask:
    dataset: Any
    model: Any
    estimator: Callable[..., Any]

    def __call__(self, seed: np.random.SeedSequence | None) -> dict[str, list[Any]]:
        data = self.dataset if seed is None else resample_subjects(self.dataset, seed)
        est = estimates_frame(self.estimator(data, self.model))
        if (est["ID"] != "").any():
            raise ValueError(
                "a bootstrap needs typical-value estimates (no `ID` column); the estimator "
                "returned per-subject rows"
            )
        return _records(est.drop(columns=["ID"]))


@dataclass(frozen=True)
class BootstrapResult:
    """Outcome of :func:`bootstrap`.

    Attributes
    ----------
    intervals : pandas.DataFrame
        ``parameter, estimate, lower, upper, level, boot_median, boot_se, n_ok, n``:
        the estimate on the original data and the percentile interval.
    replicates : pandas.DataFrame
        ``replicate, parameter, estimate, lower, upper, converged`` of every bootstrap
        sample (``replicate`` -1 is the original data).
    status : pandas.DataFrame
        ``replicate, status, error, message, seconds``; sample ``b`` drew its subjects
        from ``SeedSequence(seed).spawn(n)[b]``.
    path : Path
        The study folder.
    """

    intervals: pd.DataFrame
    replicates: pd.DataFrame
    status: pd.DataFrame
    path: Path

    @property
    def problems(self) -> list[str]:
        """Why the intervals cannot be trusted: failed samples, and parameters whose
        interval rests on fewer than :data:`MIN_CONVERGED_FRACTION` of the samples
        (unconverged fits are left out of the percentiles). Empty when all is well."""
        out = []
        failed = int((self.status["status"] != "ok").sum())
        if failed:
            out.append(f"{failed} of {len(self.status)} fits raised an error (status.csv)")
        for row in self.intervals.itertuples(index=False):
            n_ok, n = int(row.n_ok), int(row.n)
            if n and n_ok < MIN_CONVERGED_FRACTION * n:
                what = "no interval" if n_ok == 0 else "an interval"
                out.append(f"{row.parameter}: {what} from {n_ok} converged of {n} bootstrap fits")
        return out


#: below this fraction of converged samples a parameter's bootstrap interval is not trusted
MIN_CONVERGED_FRACTION = 0.8


def percentile_intervals(
    replicates: pd.DataFrame, original: pd.DataFrame, *, level: float = 0.95
) -> pd.DataFrame:
    """Percentile bootstrap intervals per parameter.

    Parameters
    ----------
    replicates : pandas.DataFrame
        ``parameter, estimate, converged`` of the bootstrap samples.
    original : pandas.DataFrame
        ``parameter, estimate`` on the original data.
    level : float, default 0.95
        Interval level.

    Returns
    -------
    pandas.DataFrame
        ``parameter, estimate, lower, upper, level, boot_median, boot_se, n_ok, n``.

    Notes
    -----
    ``lower`` and ``upper`` are the ``(1 - level)/2`` and ``(1 + level)/2`` quantiles
    (``numpy.quantile``, linear interpolation) of the converged, finite bootstrap
    estimates (Efron & Tibshirani 1993, ch. 13); ``boot_se`` is their standard deviation.
    """
    import pandas as pd

    a = (1.0 - level) / 2.0
    rows = []
    orig = dict(zip(original["parameter"], original["estimate"], strict=True))
    for name in original["parameter"]:
        g = replicates[replicates["parameter"] == name]
        ok = g.loc[g["converged"].astype(bool), "estimate"].to_numpy(dtype=float)
        ok = ok[np.isfinite(ok)]
        rows.append(
            {
                "parameter": name,
                "estimate": float(orig[name]),
                "lower": float(np.quantile(ok, a)) if ok.size else math.nan,
                "upper": float(np.quantile(ok, 1.0 - a)) if ok.size else math.nan,
                "level": level,
                "boot_median": float(np.median(ok)) if ok.size else math.nan,
                "boot_se": float(np.std(ok, ddof=1)) if ok.size > 1 else math.nan,
                "n_ok": int(ok.size),
                "n": len(g),
            }
        )
    return pd.DataFrame(rows)


def bootstrap(
    fit: Callable[[Dataset, Model], pd.DataFrame]
    | StudySpec
    | Mapping[str, Any]
    | str
    | os.PathLike[str],
    n: int,
    *,
    seed: int,
    out: str | os.PathLike[str],
    data: Dataset | str | os.PathLike[str] | None = None,
    model: Model | str | None = None,
    level: float = 0.95,
    scheduler: str | None = None,
    workers: int | None = None,
    client: Any = None,
    quiet: bool = False,
    force: bool = False,
) -> BootstrapResult:
    """Nonparametric bootstrap of a typical-value fit on Dask, resumable.

    Parameters
    ----------
    fit : callable, StudySpec, mapping or path
        An estimator ``fit(dataset, model) -> DataFrame`` of typical values (see
        :class:`cartpk.batch.Estimator`), or a bootstrap specification (a TOML file, its
        mapping or :func:`cartpk.batch.load_spec`'s result: ``model``, ``data``, ``seed``,
        ``[estimator]``) from which the estimator, model and data are taken.
    n : int
        Bootstrap samples.
    seed : int
        Master seed; sample ``b`` draws its subjects with ``SeedSequence(seed).spawn(n)[b]``.
    out : path
        Study folder; rerunning the same bootstrap into it skips finished samples (a larger
        ``n`` adds samples).
    data : Dataset or path, optional
        The data (required with a callable ``fit``).
    model : Model or str, optional
        The model (required with a callable ``fit``).
    level : float, default 0.95
        Level of the percentile intervals.
    scheduler, workers, client, quiet
        As in :func:`cartpk.batch.sse`.
    force : bool, default False
        Discard an existing study in ``out`` and start afresh (only a cartpk study
        folder).

    Returns
    -------
    BootstrapResult
        Also written to ``out``: ``intervals.csv``, ``replicates.csv``, ``status.csv``,
        ``manifest.json``.

    Raises
    ------
    SpecError
        ``bootstrap_n``, ``seed_invalid``, ``level_invalid``, ``data_missing``,
        ``model_missing``, ``study_mismatch`` (``out`` holds another study) or
        ``input_changed`` (the data file, or the estimator's source, changed since the
        study in ``out`` started: resuming would mix samples of two datasets).
    FitError
        ``original_fit_failed``: the estimator fails on the original data.
    """
    estimator, data, model, described, spec_file = _settings(fit, n, seed, level, data, model)
    model, data, inputs = _load(model, data)
    study = {
        "fit": described,
        "model": model.name,
        "model_values": model.initial_values(),
        "data": inputs or f"Dataset of {len(data.subjects)} subjects",
        "subjects": list(data.subjects),
        "seed": int(seed),
    }
    # like an SSE, a bootstrap can be extended: sample b's seed does not depend on n
    folder = StudyFolder(
        out,
        kind="bootstrap",
        spec=study,
        seed=int(seed),
        extent={"n": int(n)},
        inputs=[*inputs, *code_inputs(estimator)],
        spec_file=spec_file,
        force=force,
    )
    seeds = spawn_seeds(int(seed), int(n))
    payloads: dict[int | str, Any] = {"original": None, **dict(enumerate(seeds))}
    task = _BootTask(data, model, estimator)
    results = run_study(task, payloads, folder, "bootstrap", client, scheduler, workers, quiet)
    status, reps = _tables(results)
    boot = reps[reps["replicate"] >= 0]
    intervals = percentile_intervals(boot, reps[reps["replicate"] < 0], level=float(level))
    n_failed = int((status["status"] != "ok").sum())
    files = [
        folder.write_csv("intervals.csv", intervals).name,
        folder.write_csv("replicates.csv", reps).name,
        folder.write_csv("status.csv", status).name,
    ]
    result = BootstrapResult(intervals, reps, status, folder.path)
    folder.finish(
        status="ok" if not result.problems else "failed_checks",
        counts={"total": len(status), "ok": len(status) - n_failed, "failed": n_failed},
        files=files,
    )
    return result


def _settings(
    fit: Any, n: Any, seed: Any, level: Any, data: Any, model: Any
) -> tuple[Callable[..., Any], Any, Any, Any, Path | None]:
    """The estimator, data, model, study description and spec file of a bootstrap;
    ``SpecError`` listing every invalid setting."""
    problems = []
    if not is_count(n, 2):
        problems.append(Violation("bootstrap_n", "`n` must be an integer >= 2", value=repr(n)))
    if not is_count(seed, 0):
        problems.append(
            Violation("seed_invalid", "`seed` must be a non-negative integer", value=repr(seed))
        )
    if not 0.0 < float(level) < 1.0:
        problems.append(Violation("level_invalid", "`level` must lie in (0, 1)", value=repr(level)))
    if not callable(fit):
        spec = fit if isinstance(fit, StudySpec) else load_spec(fit, kind="bootstrap")
        estimator = estimator_from_spec(spec)
        data = data if data is not None else spec.data
        model = model if model is not None else spec.model
        described: Any = spec.as_dict()
        spec_file = spec.path
    else:
        spec_file = None
        estimator = fit
        described = _describe_callable(fit)
    if data is None:
        problems.append(Violation("data_missing", "no data to bootstrap", fix="pass `data=`"))
    if model is None:
        problems.append(Violation("model_missing", "no model", fix="pass `model=`"))
    if problems:
        raise SpecError("Invalid bootstrap settings.", problems)
    return estimator, data, model, described, spec_file


def _load(
    model: Model | str, data: Dataset | str | os.PathLike[str]
) -> tuple[Model, Dataset, list[str]]:
    """The model (loaded by name) and the data (read from a file, listed as an input)."""
    from cartpk.data import Dataset, read_dataset
    from cartpk.model import load_model

    assert data is not None and model is not None
    if isinstance(model, str):
        model = load_model(model)
    inputs: list[str] = []
    if not isinstance(data, Dataset):
        inputs.append(str(Path(data).resolve()))
        data = read_dataset(data)
    return model, data, inputs


def _tables(results: Mapping[int | str, TaskResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The status table and every sample's estimates (``replicate`` -1: the original data);
    ``FitError`` when the fit on the original data failed."""
    import pandas as pd

    status_rows, frames = [], []
    for key, res in results.items():
        rep = -1 if key == "original" else int(key)
        status_rows.append(status_row(rep, res))
        if res.status == "ok":
            frames.append(pd.DataFrame(res.result).assign(replicate=rep))
    status = pd.DataFrame(status_rows)
    first = results["original"]
    if first.status != "ok":
        raise FitError(
            "The fit failed on the original data; there is nothing to bootstrap.",
            [
                Violation(
                    "original_fit_failed",
                    f"{first.error}: {first.message}",
                    fix="check that the estimator runs on the data",
                )
            ],
        )
    cols = ["replicate", "parameter", "estimate", "lower", "upper", "converged"]
    reps = pd.concat(frames, ignore_index=True)[cols]
    return status, reps
