"""A batch of fit specifications on Dask, each in its own run folder, resumable."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cartpk.batch._runner import StudyFolder, dask_client, run_tasks
from cartpk.batch._sse import _describe_callable
from cartpk.errors import SpecError, Violation
from cartpk.spec import read_toml

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["FitManyResult", "fit_many", "run_individual_spec"]

Runner = Callable[[Mapping[str, Any], Path], Mapping[str, Any]]


def run_individual_spec(spec: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """Default runner of :func:`fit_many`: per-patient fits of one specification.

    Parameters
    ----------
    spec : mapping
        A ``fits/`` specification with ``method = "individual"``: ``model`` (catalogue
        name), ``data`` (CSV path, relative to the spec file, or ``example:<file>``),
        optional ``seed``, ``name``, ``description``, ``[ini]``, ``fix`` and options of
        :func:`cartpk.fit_individual` (``blq``, ``dvid``, ``prior``, ``sigma``,
        ``n_starts``, ``level``...), at the top level or in an ``[options]`` table.
        ``workers`` is ignored: each fit runs on one Dask worker.
    out : Path
        The run folder to create (atomically, with a manifest).

    Returns
    -------
    dict
        ``subjects``, ``converged`` and ``converged_pct``.

    Raises
    ------
    SpecError
        Any problem of :func:`cartpk.fit._spec.parse_fit_spec` (the reader of
        ``cartpk fit``: ``[ini]`` and ``fix`` are applied as there), or ``spec_method``;
        raised before the data are read.
    """
    from cartpk.batch._estimators import fit_table
    from cartpk.data import read_dataset
    from cartpk.fit._spec import parse_fit_spec
    from cartpk.model import load_model
    from cartpk.run import run_folder

    base = Path(spec["_base"]) if spec.get("_base") else Path(".")
    raw = {k: v for k, v in spec.items() if k != "_base"}
    # the reader of `cartpk fit`: the same keys (`[ini]`, `fix`, options) mean the same
    parsed = parse_fit_spec(raw, base=base, method="individual")
    options = dict(parsed.options)
    options.pop("workers", None)
    if options.get("prior") == "none":
        options["prior"] = None
    if "bounds" in options:
        options["bounds"] = {k: tuple(v) for k, v in options["bounds"].items()}
    data_path = str(parsed.data)
    model = load_model(parsed.model)
    if parsed.ini:
        model = model.with_ini(**parsed.ini)
    if parsed.fix:
        model = model.fix(*parsed.fix)
    data = read_dataset(data_path)
    seed = parsed.seed
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
        spec = read_toml(path).raw
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
