"""Step-wise covariate search (PsN's SCM) by SAEM fits on Dask, resumable.

:func:`scm` runs the search of :mod:`cartpk.batch._scm_search`: every fit is one task of
the batch runner (:func:`cartpk.batch._runner.run_tasks`), stored in the study folder as
``tasks/fit_<candidates>.json`` under the set of candidates it includes, so a model is
fitted once however many steps need it, and a rerun into the same folder reuses every
finished fit (the thresholds may change between runs: the fits do not depend on them).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cartpk.batch._replicates import is_count
from cartpk.batch._runner import StudyFolder, TaskResult, dask_client, run_tasks
from cartpk.batch._scm_search import STEP_COLUMNS, FitRecord, Search, run_search, threshold
from cartpk.batch._scm_spec import Candidate, candidate_problems
from cartpk.errors import SpecError, Violation

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from cartpk.data import Dataset
    from cartpk.model import CovariateEffect, Model

__all__ = ["ScmResult", "scm"]

#: files the search writes next to ``study.json`` and ``tasks/``
FILES = ("scm_steps.csv", "scm_result.json", "population.csv")


@dataclass(frozen=True)
class _ScmFit:
    """One SAEM fit of the search: the base model with the candidates ``included``."""

    model: Any
    data: Any
    effects: tuple[Any, ...]
    options: Mapping[str, Any]
    seed: int

    def __call__(self, included: Sequence[int]) -> dict[str, Any]:
        import warnings

        from cartpk.errors import CartpkWarning
        from cartpk.fit.saem import fit_saem

        effects = [self.effects[int(i)] for i in included]
        model = self.model.with_covariates(*effects) if effects else self.model
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CartpkWarning)
            fit = fit_saem(model, self.data, seed=self.seed, **self.options)
        s = fit.summary
        keys = ("minus2ll", "minus2ll_mc_se", "aic", "bic", "n_parameters", "sa_drift")
        return {
            "included": [int(i) for i in included],
            **{k: s[k] for k in keys},
            "converged": fit.converged,
            "why": _why(s),
            "warnings": [str(w.message) for w in caught if isinstance(w.message, CartpkWarning)],
            "parameters": fit.parameters.to_dict(orient="list"),
        }


def _why(summary: Mapping[str, Any]) -> str:
    """Why a SAEM fit is not converged (empty when it is)."""
    why = []
    if not summary["fim_positive_definite"]:
        why.append("Fisher information not positive definite")
    if summary["at_bound"]:
        why.append(f"{', '.join(summary['at_bound'])} at the edge of the search box")
    if summary["sa_drift"] > 0.25:
        why.append(f"SAEM not settled (drift {summary['sa_drift']:.2f} SE)")
    return "; ".join(why)


def _record(key: str, included: tuple[int, ...], res: TaskResult) -> FitRecord:
    if res.status != "ok":
        return FitRecord(key, included, False, message=f"{res.error}: {res.message}")
    r = res.result
    return FitRecord(
        key,
        included,
        True,
        ofv=float(r["minus2ll"]),
        mc_se=float(r["minus2ll_mc_se"]),
        converged=bool(r["converged"]),
        message=r["why"],
        result=r,
    )


@dataclass
class _Fits:
    """The ``evaluate`` of :func:`run_search`: runs a step's fits as Dask tasks."""

    task: _ScmFit
    folder: StudyFolder
    client: Any
    quiet: bool
    progress: Callable[[list[str]], AbstractContextManager[Any]] | None
    ran: int = 0

    def __call__(self, label: str, todo: Mapping[str, tuple[int, ...]]) -> dict[str, FitRecord]:
        done = {k for k in todo if self.folder.task_path(k).is_file()}
        fits = "1 fit" if len(todo) == 1 else f"{len(todo)} fits"
        _say(f"{label}: {fits} ({len(done)} already done)", self.quiet)
        with self.progress(list(todo)) if self.progress else nullcontext():
            results = run_tasks(
                self.task,
                {k: list(v) for k, v in todo.items()},
                self.folder,
                client=self.client,
                quiet=self.quiet,
                desc=label,
            )
        self.ran += len(todo) - len(done)
        return {k: _record(k, todo[k], results[k]) for k in todo}


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"cartpk: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ScmResult:
    """Outcome of :func:`scm`.

    Attributes
    ----------
    steps : pandas.DataFrame
        ``scm_steps.csv``: ``step, direction, candidate, parameter, covariate, df, ofv,
        dofv, p_value, converged, chosen``, then ``threshold``, ``dofv_mc_se``,
        ``reference_ofv``, ``fit`` (its task) and ``note``. Step 0 is the base model;
        ``dofv`` is the model's OFV minus the reference's (the current model).
    forward, final : list of str
        Candidates in the forward model and in the final model (labels).
    population : pandas.DataFrame
        The final model's population table (``population.csv``, as ``cartpk fit``).
    result : dict
        ``scm_result.json``: base, forward and final models (effects, OFVs, estimates).
    path : Path
        The study folder.
    fits_run, fits_reused : int
        Fits computed by this call, and fits found finished in the folder.
    """

    steps: pd.DataFrame
    forward: list[str]
    final: list[str]
    population: pd.DataFrame
    result: dict[str, Any]
    path: Path
    fits_run: int
    fits_reused: int

    @property
    def notes(self) -> list[str]:
        """Every row's note (failed or non-converged fits, MC-close decisions)."""
        return list(self.result["notes"])


def _settings_problems(
    forward_p: Any, backward_p: Any, seed: Any, options: Mapping[str, Any]
) -> list[Violation]:
    """The problems of the search's settings (thresholds, seed, SAEM options)."""
    from cartpk.fit._spec import SAEM_OPTIONS
    from cartpk.spec import check_fields

    problems = [
        Violation(
            "scm_p_value",
            f"`{name}` must be a number in (0, 1)",
            column=name,
            value=repr(value),
            fix=f"e.g. {name} = {default}",
        )
        for name, value, default in (
            ("forward_p", forward_p, 0.05),
            ("backward_p", backward_p, 0.01),
        )
        if not (isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1)
    ]
    if not is_count(seed, 0):
        problems.append(
            Violation("seed_invalid", "`seed` must be an integer >= 0", value=repr(seed))
        )
    return problems + check_fields(dict(options), SAEM_OPTIONS, prefix="options")


def _saem_arguments(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options :func:`cartpk.fit_saem` takes (a fit specification's run-folder options,
    e.g. ``vpc_replicates``, mean nothing to a search's fits)."""
    import inspect

    from cartpk.fit.saem import fit_saem

    taken = set(inspect.signature(fit_saem).parameters)
    return {k: v for k, v in options.items() if k in taken}


def _load(model: Any, data: Any) -> tuple[Model, Dataset, list[str], dict[str, Any]]:
    """The model and data, the input files and how the study names the data."""
    import hashlib

    from cartpk.data import Dataset, read_dataset
    from cartpk.model import load_model

    model = load_model(model) if isinstance(model, str) else model
    if isinstance(data, Dataset):
        digest = hashlib.sha256(data.table.to_csv(index=False).encode()).hexdigest()
        return model, data, [], {"data": "Dataset", "data_sha256": digest}
    path = str(Path(data).resolve())
    return model, read_dataset(data), [path], {"data": path}


def _study(
    model: Model, cands: Sequence[Candidate], options: Mapping[str, Any], seed: int
) -> dict[str, Any]:
    """What identifies the search (a rerun with other values is refused)."""
    p = model.parameters
    return {
        "model": model.name,
        "parameters": [
            [str(n), float(v), bool(f)]
            for n, v, f in zip(p["name"], p["initial"], p["fixed"], strict=True)
        ],
        "base_covariates": [repr(e) for e in model.covariates],
        "candidates": [c.describe() for c in cands],
        "options": dict(options),
        "seed": int(seed),
    }


@contextmanager
def _client(client: Any, scheduler: str | None, workers: int | None, quiet: bool) -> Iterator[Any]:
    if client is not None:
        yield client
        return
    with dask_client(scheduler, workers, quiet=quiet) as cl:
        yield cl


def scm(
    model: Model | str,
    data: Dataset | str | os.PathLike[str],
    candidates: Sequence[Candidate | CovariateEffect],
    *,
    out: str | os.PathLike[str],
    forward_p: float = 0.05,
    backward_p: float = 0.01,
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
    scheduler: str | None = None,
    workers: int | None = None,
    client: Any = None,
    quiet: bool = False,
    force: bool = False,
    spec_file: str | os.PathLike[str] | None = None,
    progress: Callable[[list[str]], AbstractContextManager[Any]] | None = None,
) -> ScmResult:
    """Step-wise covariate search (forward inclusion, backward elimination) by SAEM.

    Parameters
    ----------
    model : Model or str
        The base model (a catalogue name or a declaration; its own covariate effects stay
        in every model of the search).
    data : Dataset or path
        The data (a CSV file is an input of the study: a rerun after it changed is refused).
    candidates : sequence of Candidate or CovariateEffect
        The candidate effects (:func:`cartpk.model.power`, :func:`cartpk.model.categorical`;
        an effect is labelled ``<parameter>-<covariate>``).
    out : path
        Study folder; a rerun of the same search into it reuses the finished fits.
    forward_p, backward_p : float, default 0.05, 0.01
        Levels of the likelihood-ratio tests (dOFV 3.84 and 6.63 on 1 df).
    options : mapping, optional
        Options of :func:`cartpk.fit_saem` for every fit (``explore``, ``smooth``,
        ``is_samples``, ``fim_samples``, ``drop_iiv``, ``blq``, ``dvid``, ``chains``,
        ``level``).
    seed : int, default 0
        Seed of every fit (the same draws for every model: common random numbers).
    scheduler, workers, client, quiet, force
        As in :func:`cartpk.batch.sse` (``force`` discards an existing study in ``out``).
    spec_file : path, optional
        The specification file, recorded in the manifest.
    progress : callable, optional
        ``progress(task names)`` returns a context manager wrapped around each step's
        fits (the CLI's ``k/N fits done`` lines).

    Returns
    -------
    ScmResult
        Also written to ``out``: ``scm_steps.csv``, ``scm_result.json``, the final model's
        ``population.csv`` and ``manifest.json``.

    Raises
    ------
    SpecError
        Every invalid setting or candidate at once (``scm_p_value``, ``seed_invalid``,
        ``spec_option_value``, ``scm_candidate_*``, ``scm_no_candidates``),
        ``study_mismatch`` / ``input_changed`` (``out`` holds another search).
    FitError
        ``scm_step_failed``: every fit of a step (or the base model's fit) raised.
    """
    options = {k: v for k, v in dict(options or {}).items() if v is not None}
    cands = [Candidate.of(c) for c in candidates]
    model, dataset, inputs, named = _load(model, data)
    problems = _settings_problems(forward_p, backward_p, seed, options)
    problems += candidate_problems(cands, model, dataset)
    if problems:
        raise SpecError("Invalid covariate search.", problems)
    options = _saem_arguments(options)
    drop = options.pop("drop_iiv", None)
    if drop:  # in the model, so that the study is the same however the IIV was dropped
        model = model.with_iiv(drop=[str(p) for p in drop])
    folder = StudyFolder(
        out,
        kind="scm",
        spec={**_study(model, cands, options, seed), **named},
        seed=int(seed),
        extent={"forward_p": float(forward_p), "backward_p": float(backward_p)},
        inputs=inputs,
        spec_file=spec_file,
        force=force,
    )
    task = _ScmFit(model, dataset, tuple(c.effect for c in cands), options, int(seed))
    with _client(client, scheduler, workers, quiet) as cl:
        fits = _Fits(task, folder, cl, quiet, progress)
        search = run_search(
            fits,
            cands,
            forward_p=float(forward_p),
            backward_p=float(backward_p),
            say=lambda m: _say(m, quiet),
        )
    return _finish(folder, search, cands, model, fits, (float(forward_p), float(backward_p)))


def _model_entry(
    search: Search, included: tuple[int, ...], cands: Sequence[Candidate]
) -> dict[str, Any]:
    """A model of ``scm_result.json``: its effects (with estimates), OFV and verdict."""
    from cartpk.batch._scm_search import fit_key

    rec = search.records[fit_key(included)]
    params = rec.result.get("parameters") or {}
    table = {
        name: {k: params[k][j] for k in ("estimate", "se", "lower", "upper")}
        for j, name in enumerate(params.get("parameter", []))
    }
    effects = []
    for i in included:
        entry = cands[i].describe()
        entry["estimates"] = {c: table.get(c) for c in cands[i].effect.coefficients}
        effects.append(entry)
    r = rec.result
    return {
        "fit": rec.key,
        "effects": effects,
        "ofv": rec.ofv,
        "ofv_mc_se": rec.mc_se,
        "converged": rec.converged,
        **{k: r.get(k) for k in ("n_parameters", "aic", "bic")},
    }


def _clean(obj: Any) -> Any:
    """NaN and infinities as ``null`` (JSON has no NaN)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def _finish(
    folder: StudyFolder,
    search: Search,
    cands: Sequence[Candidate],
    model: Model,
    fits: _Fits,
    levels: tuple[float, float],
) -> ScmResult:
    """Write the tables, ``scm_result.json`` and the manifest; the result."""
    import pandas as pd

    from cartpk.batch._scm_search import fit_key
    from cartpk.run import write_atomic

    steps = pd.DataFrame(search.rows).reindex(columns=STEP_COLUMNS)
    final = search.records[fit_key(search.final)]
    population = pd.DataFrame(final.result["parameters"])
    notes = [
        f"step {r.step} {r.direction} {r.candidate or 'base'}: {r.note}"
        for r in steps.itertuples(index=False)
        if isinstance(r.note, str) and r.note
    ]
    result = {
        "forward_p": levels[0],
        "backward_p": levels[1],
        "thresholds_1df": {"forward": threshold(levels[0], 1), "backward": threshold(levels[1], 1)},
        "base": {
            **_model_entry(search, (), cands),
            "base_effects": [repr(e) for e in model.covariates],
        },
        "forward": _model_entry(search, search.forward, cands),
        "final": _model_entry(search, search.final, cands),
        "fits": len(search.records),
        "notes": notes,
    }
    folder.write_csv("scm_steps.csv", steps)
    folder.write_csv("population.csv", population)
    write_atomic(folder.path / "scm_result.json", json.dumps(_clean(result), indent=2) + "\n")
    recs = list(search.records.values())
    counts = {
        "fits": len(recs),
        "failed": sum(not r.ran for r in recs),
        "not_converged": sum(r.ran and not r.converged for r in recs),
        "run_now": fits.ran,
        "reused": len(recs) - fits.ran,
    }
    folder.finish(status="ok", counts=counts, files=list(FILES))
    return ScmResult(
        steps=steps,
        forward=[cands[i].label for i in search.forward],
        final=[cands[i].label for i in search.final],
        population=population,
        result=result,
        path=folder.path,
        fits_run=fits.ran,
        fits_reused=len(recs) - fits.ran,
    )
