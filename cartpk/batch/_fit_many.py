"""A batch of fit specifications on Dask, each in its own run folder, resumable."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cartpk.batch._runner import StudyFolder, dask_client, run_tasks
from cartpk.batch._sse import _describe_callable
from cartpk.errors import SpecError, Violation

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["FitManyResult", "fit_many", "run_individual_spec"]

Runner = Callable[[Mapping[str, Any], Path], Mapping[str, Any]]


def _resolve(spec: Mapping[str, Any], key: str, base: Path | None) -> str:
    raw = str(spec[key])
    if raw.startswith("example:"):
        from cartpk.examples import path as example_path

        return str(example_path(raw.split(":", 1)[1]))
    p = Path(raw)
    if not p.is_absolute() and base is not None:
        p = base / p
    return str(p)


def run_individual_spec(spec: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """Default runner of :func:`fit_many`: per-patient fits of one specification.

    Parameters
    ----------
    spec : mapping
        A ``fits/`` specification with ``method = "individual"``: ``model`` (catalogue
        name), ``data`` (CSV path, relative to the spec file, or ``example:<file>``),
        optional ``seed``, ``name``, ``description`` and options of
        :func:`cartpk.fit_individual` (``blq``, ``dvid``, ``prior``, ``sigma``,
        ``n_starts``, ``ci_level``...), at the top level or in an ``[options]`` table.
        ``n_jobs`` is ignored: each fit runs on one Dask worker.
    out : Path
        The run folder to create (atomically, with a manifest).

    Returns
    -------
    dict
        ``subjects``, ``converged`` and ``converged_pct``.

    Raises
    ------
    SpecError
        ``spec_unknown_key`` (naming the valid keys) or ``spec_method``.
    """
    import inspect

    from cartpk.batch._estimators import fit_table
    from cartpk.data import read_dataset
    from cartpk.fit import fit_individual
    from cartpk.model import load_model
    from cartpk.run import run_folder

    fit_options = set(inspect.signature(fit_individual).parameters) - {
        "model",
        "dataset",
        "progress",
        "seed",
    }
    known = {"model", "data", "method", "seed", "name", "description", "options", "_base"}
    options = {k: v for k, v in spec.items() if k in fit_options}
    options.update(dict(spec.get("options", {})))
    unknown = sorted((set(spec) - known - fit_options) | (set(options) - fit_options))
    problems = [
        Violation(
            "spec_unknown_key",
            f"unknown key `{k}`",
            value=k,
            expected=f"one of {', '.join(sorted((known | fit_options) - {'_base'}))}",
            fix=f"remove `{k}` or correct its spelling",
        )
        for k in unknown
    ]
    if spec.get("method", "individual") != "individual":
        problems.append(
            Violation(
                "spec_method",
                f"`method = {spec.get('method')!r}` cannot run in `fit_many`'s default runner",
                expected="method = 'individual'",
                fix="pass `runner=` for other kinds of fits",
            )
        )
    if problems:
        raise SpecError("This fit specification cannot run in `fit_many`.", problems)
    options.pop("n_jobs", None)
    if options.get("prior") == "none":
        options["prior"] = None
    base = Path(spec["_base"]) if spec.get("_base") else None
    data_path = _resolve(spec, "data", base)
    model = load_model(str(spec["model"]))
    data = read_dataset(data_path)
    seed = spec.get("seed")
    record = {k: v for k, v in spec.items() if k != "_base"}
    with run_folder(out, command=["fit_many"], spec=record, seed=seed, inputs=[data_path]) as run:
        table = fit_table(model, data, seed=seed, **options)
        run.write_csv("individual.csv", table)
        n_conv = int(table["converged"].astype(bool).sum())
        if n_conv < len(table):
            run.status = "failed_checks"
    return {
        "subjects": len(table),
        "converged": n_conv,
        "converged_pct": 100.0 * n_conv / max(len(table), 1),
    }


@dataclass(frozen=True)
class _FitTask:
    runner: Runner

    def __call__(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        out = Path(payload["folder"])
        return dict(self.runner(payload["spec"], out))


@dataclass(frozen=True)
class FitManyResult:
    """Outcome of :func:`fit_many`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per specification: ``name, status, error, message, seconds, folder`` and
        what the runner returned (e.g. ``subjects, converged, converged_pct``).
    path : Path
        The batch folder; the fits are in ``runs/<name>/``.
    """

    table: pd.DataFrame
    path: Path


def _name_of(item: Any, index: int) -> str:
    if isinstance(item, str | os.PathLike):
        return Path(item).stem
    if isinstance(item, Mapping) and item.get("name"):
        return str(item["name"])
    return f"fit{index:03d}"


def _load(item: Any) -> dict[str, Any]:
    if isinstance(item, str | os.PathLike):
        path = Path(item)
        try:
            spec = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise SpecError(
                f"{path.name} is not valid TOML.",
                [Violation("spec_unreadable", str(err), value=str(path), fix="correct the TOML")],
            ) from None
        spec["_base"] = str(path.resolve().parent)
        return spec
    if isinstance(item, Mapping):
        return dict(item)
    raise SpecError(
        "Invalid fit specification.",
        [
            Violation(
                "spec_type",
                "a specification must be a TOML path or a mapping",
                value=repr(item),
            )
        ],
    )


def fit_many(
    specs: Sequence[str | os.PathLike[str] | Mapping[str, Any]]
    | Mapping[str, str | os.PathLike[str] | Mapping[str, Any]],
    *,
    out: str | os.PathLike[str],
    runner: Runner | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    client: Any = None,
    quiet: bool = False,
) -> FitManyResult:
    """Run a batch of fit specifications on Dask, each into its own run folder.

    Parameters
    ----------
    specs : sequence or mapping
        TOML paths or mappings; a mapping ``name -> spec`` names the fits (otherwise the
        file stem or the spec's ``name``). Names must be unique.
    out : path
        Batch folder; fit ``name`` writes ``out/runs/<name>/`` (a run folder with its own
        manifest). Rerunning the same batch skips finished fits.
    runner : callable, optional
        ``runner(spec, folder) -> mapping`` run on a worker: fits one specification into the
        run folder ``folder`` and returns summary fields. Picklable. Default
        :func:`run_individual_spec` (per-patient fits).
    scheduler, workers, client, quiet
        As in :func:`cartpk.batch.sse`.

    Returns
    -------
    FitManyResult
        Also written to ``out/fits.csv`` and ``out/manifest.json``.

    Raises
    ------
    SpecError
        ``spec_unreadable``, ``spec_type``, ``duplicate_name``, or ``study_mismatch``.
    """
    import pandas as pd

    items = (
        list(specs.items())
        if isinstance(specs, Mapping)
        else [(_name_of(s, i), s) for i, s in enumerate(specs)]
    )
    names = [n for n, _ in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    bad = [n for n in names if not re.fullmatch(r"[A-Za-z0-9_.\-]+", n)]
    problems = [
        Violation("duplicate_name", f"two fits are named `{n}`", value=n, fix="rename one")
        for n in dupes
    ] + [
        Violation(
            "spec_name",
            f"`{n}` cannot name a folder",
            value=n,
            expected="letters, digits, `_`, `-`, `.`",
        )
        for n in bad
    ]
    if problems:
        raise SpecError("Invalid batch of fits.", problems)
    loaded = {n: _load(s) for n, s in items}
    run = runner or run_individual_spec
    folder = StudyFolder(
        out,
        kind="fit_many",
        spec={"specs": loaded, "runner": _describe_callable(run)},
        seed=None,
    )
    payloads = {
        n: {"spec": spec, "folder": str(folder.path / "runs" / n)} for n, spec in loaded.items()
    }
    task = _FitTask(run)
    if client is not None:
        results = run_tasks(task, payloads, folder, client=client, quiet=quiet, desc="fits")
    else:
        with dask_client(scheduler, workers, quiet=quiet) as cl:
            results = run_tasks(task, payloads, folder, client=cl, quiet=quiet, desc="fits")
    rows = []
    for n, res in results.items():
        rows.append(
            {
                "name": n,
                "status": res.status,
                "error": res.error,
                "message": res.message,
                "seconds": res.seconds,
                "folder": str(Path("runs") / n),
                **(res.result or {}),
            }
        )
    table = pd.DataFrame(rows)
    n_failed = int((table["status"] != "ok").sum())
    files = [folder.write_csv("fits.csv", table).name]
    folder.finish(
        status="ok" if n_failed == 0 else "failed_checks",
        counts={"total": len(table), "ok": len(table) - n_failed, "failed": n_failed},
        files=files,
    )
    return FitManyResult(table, folder.path)
