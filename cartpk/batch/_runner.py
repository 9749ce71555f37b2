"""A resumable task runner on ``dask.distributed``.

A *study* (an SSE, a bootstrap, a batch of fits) is a list of independent tasks. Each task
runs on a Dask worker and writes its own result file, ``tasks/<index>.json``, atomically
(:func:`cartpk.run.write_atomic`) into the study folder. A task whose file exists is not
submitted again, so a study that was interrupted (Ctrl-C, a killed process, a lost
cluster) resumes where it stopped when the same call is repeated.

Why the study folder is not a :func:`cartpk.run.run_folder`: a run folder is built in a
temporary sibling that is deleted when the work is interrupted, which would throw away
every finished task. A study folder is therefore written in place; its ``study.json``
identifies the study (a rerun with a different study into the same folder is refused) and
``manifest.json`` is written, atomically, only when every task has a result.

Inputs: ``study.json`` also holds the SHA-256 of every input file the study reads (a
bootstrap's data, an imported estimator's source); a rerun after one of them changed is
refused (``input_changed``), since finished tasks were computed from the old file. The
manifest records those digests and the specification file's.

Determinism: every task receives its own :class:`numpy.random.SeedSequence`, spawned from
one master seed in task order, and results are gathered in task order, so a study gives
identical numbers on one worker or many.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cartpk._deps import require
from cartpk.errors import Outcome, SpecError, Violation
from cartpk.run import dependency_versions, sha256_file, typed_command, write_atomic

__all__ = [
    "Portable",
    "StudyFolder",
    "TaskResult",
    "TaskStatus",
    "code_inputs",
    "dask_client",
    "run_tasks",
    "spawn_seeds",
]


# ---------------------------------------------------------------------------------------
# seeds


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def spawn_seeds(seed: int, n: int) -> list[Any]:
    """Independent per-task seeds derived from one master seed.

    Parameters
    ----------
    seed : int
        Master seed (a non-negative integer).
    n : int
        Number of tasks.

    Returns
    -------
    list of numpy.random.SeedSequence
        ``SeedSequence(seed).spawn(n)``: task ``i`` draws from
        ``numpy.random.default_rng(seeds[i])``, the same stream on every worker, machine
        and run, and independent of the other tasks' streams.

    Examples
    --------
    >>> s = spawn_seeds(1, 3)
    >>> [c.spawn_key for c in s]
    [(0,), (1,), (2,)]
    """
    import numpy as np

    return list(np.random.SeedSequence(int(seed)).spawn(int(n)))


# ---------------------------------------------------------------------------------------
# objects that must travel to workers


def _restore(data: bytes) -> Any:
    """Unpickle a :class:`Portable` payload on a worker (see :class:`Portable`)."""
    try:
        return pickle.loads(data)
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith("cartpk._catalogue"):
            raise
        # A catalogue model loaded from a source tree lives in `cartpk._catalogue`, a
        # package registered at run time by the catalogue loader; a fresh worker process
        # has not registered it yet. Listing the catalogue registers it; then retry.
        from cartpk.model import list_models

        list_models()
        return pickle.loads(data)


class Portable:
    """Wrap an object (a model) so that it unpickles in a fresh worker process.

    Catalogue models loaded from a source checkout belong to the package
    ``cartpk._catalogue``, which :func:`cartpk.load_model` registers on first use. A Dask
    worker started elsewhere has not done so and could not unpickle the model; this
    wrapper registers the catalogue first. Models defined in a user's script are pickled
    by value (cloudpickle).

    Parameters
    ----------
    obj : object
        The object to carry (a model, or a task holding one).
    """

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __reduce__(self) -> tuple[Any, ...]:
        cloudpickle = require("cloudpickle", purpose="batch studies")
        return (_unwrap_portable, (cloudpickle.dumps(self.obj),))


def _unwrap_portable(data: bytes) -> Portable:
    return Portable(_restore(data))


# ---------------------------------------------------------------------------------------
# the study folder


class TaskStatus(Outcome):
    """Outcome of one task of a study (the ``status`` column of its replicates table)."""

    ok = "ok", "The task ran and stored its result.", True
    error = (
        "error",
        "The task raised an exception (the `error` and `message` columns name it); it is "
        "counted as failed and the other tasks are unaffected. Fix the cause, then rerun "
        "with `force=True` (`--force`): a rerun into the same folder keeps the stored error.",
    )


@dataclass(frozen=True)
class TaskResult:
    """The stored outcome of one task.

    Attributes
    ----------
    index : int or str
        Task key: its number (0-based, the order of the study) or its name.
    status : TaskStatus
        ``"ok"``, or ``"error"``: the task raised; ``error`` and ``message`` say what.
    result : object
        What the task returned (JSON data), ``None`` on error.
    error, message : str
        Exception class name and message of a failed task (empty when ``ok``).
    seconds : float
        Wall time of the task on its worker.
    """

    index: int | str
    status: TaskStatus
    result: Any
    error: str = ""
    message: str = ""
    seconds: float = math.nan


class StudyFolder:
    """A study folder: ``study.json``, ``tasks/<index>.json``, then tables and manifest.

    Parameters
    ----------
    out : path
        Folder of the study (created if missing).
    kind : str
        ``"sse"``, ``"bootstrap"`` or ``"fit_many"``.
    spec : mapping
        JSON-serialisable description of the study; a rerun into the same folder must
        have the same ``kind`` and ``spec``.
    seed : int, optional
        Master seed, recorded in the manifest.
    extent : mapping, optional
        Settings recorded in the manifest but free to change between runs: the number of
        tasks (task ``i``'s seed does not depend on it), so a study can be extended.
    inputs : iterable of path, optional
        Files the tasks read (data, imported code): their SHA-256 digests are part of the
        study; a rerun after one changed is refused.
    spec_file : path, optional
        The specification file, recorded with its digest in the manifest (its settings
        are compared through ``spec``; ``extent`` settings in it may change).
    force : bool, default False
        Discard an existing study in ``out`` (only a cartpk study or run folder holding
        nothing else) and start afresh.

    Raises
    ------
    FileExistsError
        ``out`` exists and is not a cartpk study folder (or, with ``force``, may not be
        discarded).
    SpecError
        ``study_mismatch``: ``out`` holds a different study; ``input_changed``: an input
        file changed since the study started.
    """

    #: tables the studies write next to ``study.json`` (a discarded study may hold them)
    TABLES = frozenset(
        {
            "columns.csv",
            "summary.csv",
            "estimates.csv",
            "replicates.csv",
            "intervals.csv",
            "status.csv",
            "er_sse_summary.csv",
            "er_sse_estimates.csv",
            "er_sse_replicates.csv",
        }
    )

    def __init__(
        self,
        out: str | os.PathLike[str],
        *,
        kind: str,
        spec: Mapping[str, Any],
        seed: int | None,
        extent: Mapping[str, Any] | None = None,
        inputs: Iterable[str | os.PathLike[str]] = (),
        spec_file: str | os.PathLike[str] | None = None,
        force: bool = False,
    ) -> None:
        self.path = Path(out).resolve()
        self.kind = kind
        self.spec = json.loads(json.dumps(dict(spec), default=str))
        self.extent = dict(extent or {})
        self.seed = seed
        self.started = _now()
        self.inputs = {str(Path(p).resolve()): sha256_file(p) for p in inputs}
        self.spec_file = (
            {str(Path(spec_file).resolve()): sha256_file(spec_file)} if spec_file else {}
        )
        ident = {"cartpk_study": 1, "kind": kind, "spec": self.spec}
        marker = self.path / "study.json"
        if force and self.path.exists():
            self._discard()
        stored: dict[str, Any] | None = None
        if self.path.exists():
            if not marker.is_file():
                if any(self.path.iterdir()):
                    raise FileExistsError(
                        f"`{self.path}` exists and is not a cartpk study folder; "
                        "choose another `--out`"
                    )
            else:
                found = json.loads(marker.read_text(encoding="utf-8"))
                stored = found.pop("inputs", None) if isinstance(found, dict) else None
                if found != ident:
                    raise SpecError(
                        f"`{self.path}` holds a different study.",
                        [
                            Violation(
                                "study_mismatch",
                                "the study folder was started with other settings",
                                value=_first_difference(found, ident),
                                expected="the settings of the interrupted study, to resume it",
                                fix="choose another `--out`, rerun with the original settings, "
                                "or pass --force to discard the study and start afresh",
                            )
                        ],
                    )
                if stored is not None:
                    self._check_inputs(stored)
        self.path.mkdir(parents=True, exist_ok=True)
        if not marker.is_file() or stored is None:  # new, or started before inputs were kept
            record = {**ident, "inputs": self.inputs}
            write_atomic(marker, json.dumps(record, indent=2, sort_keys=True) + "\n")
        self.tasks = self.path / "tasks"
        self.tasks.mkdir(exist_ok=True)

    def _check_inputs(self, stored: Mapping[str, Any]) -> None:
        """Refuse to resume when an input file differs from the one the study started with."""
        problems = []
        for name in sorted(set(stored) | set(self.inputs)):
            then, now = stored.get(name), self.inputs.get(name)
            if then == now:
                continue
            if then is None or now is None:
                what = "is new to" if then is None else "is no longer read by"
                value = f"{Path(name).name} {what} the study"
            else:
                value = f"{name}: SHA-256 {str(then)[:12]}... then, {now[:12]}... now"
            problems.append(
                Violation(
                    "input_changed",
                    "an input file changed since the study started; its finished tasks were "
                    "computed from the old file",
                    value=value,
                    expected="the input files the study started with, to resume it",
                    fix="restore the file, choose another `--out`, or pass --force to discard "
                    "the finished tasks and start afresh",
                )
            )
        if problems:
            raise SpecError(
                f"`{self.path}` was started with other input files; nothing was run.", problems
            )

    def _discard(self) -> None:
        """Remove the study in :attr:`path` (``force``) if it is cartpk's and only cartpk's."""
        import shutil
        import tempfile

        path = self.path
        why = _discard_refusal(path, [*self.inputs, *self.spec_file], self.TABLES)
        if why is not None:
            raise FileExistsError(
                f"--force refused: `{path}` may not be discarded because {why}. --force "
                "replaces only a cartpk study or run folder; choose another `--out`"
            )
        trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.replace(path, trash / path.name)
        shutil.rmtree(trash, ignore_errors=True)

    def task_path(self, index: int | str) -> Path:
        """Result file of task ``index``."""
        name = f"{index:05d}" if isinstance(index, int) else str(index)
        return self.tasks / f"{name}.json"

    def write_csv(self, name: str, frame: Any) -> Path:
        """Write a table atomically into the study folder."""
        return write_atomic(self.path / name, frame.to_csv(index=False))

    def finish(self, *, status: str, counts: Mapping[str, int], files: Sequence[str]) -> Path:
        """Write ``columns.csv`` and ``manifest.json`` (versions, spec, seed, times, status, counts)."""
        from cartpk.units import DICTIONARY_FILE, write_dictionary

        if write_dictionary(self.path, {}) is not None:  # the tables' units and meanings
            files = [*files, DICTIONARY_FILE]
        manifest = {
            "cartpk_run": 1,
            "kind": self.kind,
            "command": typed_command(),
            "cwd": os.getcwd(),
            "spec": {**self.spec, **self.extent},
            "seed": self.seed,
            "inputs": {**self.spec_file, **self.inputs},
            "versions": dependency_versions(),
            "started": self.started,
            "finished": _now(),
            "status": status,
            "tasks": dict(counts),
            "files": sorted(files),
        }
        return write_atomic(
            self.path / "manifest.json", json.dumps(manifest, indent=2, default=str) + "\n"
        )

    def finish_replicates(
        self,
        tables: Mapping[str, Any],
        replicates: Any,
        *,
        replicates_file: str,
        what: str,
        fix: str,
    ) -> str:
        """Write ``tables`` and the replicates table, finish the folder, and return the
        status (``"ok"``, or ``"failed_checks"`` when a replicate failed).

        Raises
        ------
        FitError
            ``all_replicates_failed`` when every replicate failed (the first error quoted).
        """
        from cartpk.errors import FitError

        n_failed = int((replicates["status"] != TaskStatus.ok).sum())
        status = "ok" if n_failed == 0 else "failed_checks"
        files = [self.write_csv(name, frame).name for name, frame in tables.items()]
        files.append(self.write_csv(replicates_file, replicates).name)
        total = len(replicates)
        self.finish(
            status=status,
            counts={"total": total, "ok": total - n_failed, "failed": n_failed},
            files=files,
        )
        if total and n_failed == total:
            first = replicates.iloc[0]
            raise FitError(
                f"Every replicate of the {what} failed.",
                [
                    Violation(
                        "all_replicates_failed",
                        f"replicate 0 raised {first['error']}: {first['message']}",
                        value=str(self.path / replicates_file),
                        fix=fix,
                    )
                ],
            )
        return status


def _discard_refusal(
    path: Path, inputs: Iterable[str | os.PathLike[str]], tables: frozenset[str]
) -> str | None:
    """Why the folder ``path`` may not be discarded by ``--force`` (``None``: it may)."""
    if not path.is_dir():
        return "it is a file"
    kinds = []
    for name, key in (("study.json", "cartpk_study"), ("manifest.json", "cartpk_run")):
        try:
            rec = json.loads((path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and key in rec:
            kinds.append(rec)
    if not kinds:
        return "it is not a cartpk study folder (no study.json or cartpk manifest.json)"
    cwd = Path.cwd().resolve()
    if cwd == path or path in cwd.parents:
        return "it holds the current working folder"
    for p in inputs:
        q = Path(p).resolve()
        if q == path or path in q.parents:
            return f"it holds an input of this study ({q.name})"
    listed = {"study.json", "manifest.json", *tables}
    for rec in kinds:
        listed |= {str(f) for f in rec.get("files") or []}
    foreign = []
    for f in sorted(path.rglob("*")):
        if not (f.is_file() or f.is_symlink()):
            continue
        rel = f.relative_to(path)
        ours = (
            str(rel) in listed
            or (len(rel.parts) == 2 and rel.parts[0] == "tasks" and f.suffix in (".json", ".tmp"))
            or (len(rel.parts) == 1 and f.name.startswith(".") and f.suffix == ".tmp")
        )
        if not ours:
            foreign.append(str(rel))
    if foreign:
        return "it holds files cartpk did not write there: " + ", ".join(foreign[:5])
    return None


def code_inputs(obj: Any) -> list[str]:
    """Source files of user code a study runs (an imported estimator), as study inputs.

    Parameters
    ----------
    obj : object
        A function or an instance of a class (the estimator).

    Returns
    -------
    list of str
        The ``.py`` file defining ``obj`` (or its class), unless it belongs to cartpk
        (whose version the manifest records); empty when there is no such file.
    """
    import importlib.util

    module = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", None)
    if not module or module == "__main__" or module.split(".")[0] == "cartpk":
        return []
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return []
    origin = getattr(found, "origin", None)
    if not origin or not origin.endswith(".py") or not Path(origin).is_file():
        return []
    return [origin]


def _first_difference(a: Any, b: Any, where: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{where}.{k}" if where else k)
    return f"{where}: folder has {a!r}, now {b!r}"


def read_task(path: Path) -> TaskResult:
    """Read a task result file."""
    rec = json.loads(path.read_text(encoding="utf-8"))
    return TaskResult(
        index=rec["index"],
        status=TaskStatus(rec["status"]),
        result=rec.get("result"),
        error=rec.get("error", ""),
        message=rec.get("message", ""),
        seconds=float(rec.get("seconds", math.nan)),
    )


# ---------------------------------------------------------------------------------------
# running on a worker


def _execute(func: Callable[[Any], Any], index: int | str, payload: Any, path: str) -> str:
    """Run one task on a worker and store its outcome atomically; return the status."""
    if isinstance(func, Portable):
        func = func.obj
    t0 = time.perf_counter()
    rec: dict[str, Any] = {"index": index}
    try:
        result = func(payload)
        # allow_nan: NaN estimates (e.g. no CI) round-trip as NaN
        body = json.dumps(result, allow_nan=True, default=_json_default)
        rec["status"] = TaskStatus.ok
    except Exception as err:  # a failed replicate is data (counted), not the end of the study
        body = "null"
        rec.update(status=TaskStatus.error, error=type(err).__name__, message=str(err))
    rec["seconds"] = time.perf_counter() - t0
    head = json.dumps(rec)
    write_atomic(path, head[:-1] + ', "result": ' + body + "}\n")
    return str(rec["status"])


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"task result holds a {type(obj).__name__}, which is not JSON data")


# ---------------------------------------------------------------------------------------
# the client


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


@contextmanager
def dask_client(
    scheduler: str | None = None,
    workers: int | None = None,
    *,
    quiet: bool = False,
    dashboard_address: str | None = ":0",
) -> Iterator[Any]:
    """A ``distributed.Client``: on a new ``LocalCluster`` or an existing scheduler.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://HOST:PORT``); default: start a
        ``LocalCluster``.
    workers : int, optional
        Worker processes of the ``LocalCluster`` (one thread each); default the number
        of CPU cores. Ignored with ``scheduler``.
    quiet : bool, default False
        Do not print the cluster and dashboard addresses on stderr.
    dashboard_address : str or None, default ":0"
        Dashboard of the ``LocalCluster`` (``":0"``: a free port; ``None``: no dashboard,
        the scheduler's HTTP endpoints on a free port).

    Yields
    ------
    distributed.Client
        Closed (and the cluster shut down) on exit, also on errors and interrupts.
    """
    distributed = require("distributed", purpose="batch studies on Dask")
    if scheduler:
        import dask

        # dask's connect timeout (default 30 s; `distributed.comm.timeouts.connect`)
        wait = dask.config.get("distributed.comm.timeouts.connect")
        try:
            client = distributed.Client(scheduler, timeout=wait)
        except (OSError, TimeoutError, ValueError) as err:
            raise SpecError(
                f"Cannot reach the Dask scheduler at `{scheduler}`.",
                [
                    Violation(
                        "scheduler_unreachable",
                        f"no Dask scheduler answered at `{scheduler}` within {wait} ({err})",
                        value=scheduler,
                        expected="the address a running `dask scheduler` prints, tcp://HOST:PORT",
                        fix="start the scheduler (and workers) first, or leave out "
                        "`--scheduler` to use a local cluster",
                    )
                ],
            ) from None
        with client:
            n = len(client.scheduler_info(n_workers=-1).get("workers", {}))
            _say(f"cartpk: connected to {scheduler} ({n} workers); {_dashboard(client)}", quiet)
            yield client
        return
    n_workers = int(workers) if workers else (os.cpu_count() or 1)
    with (
        distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            # never the fixed default port 8787: two clusters on a machine would clash
            dashboard_address=dashboard_address or ":0",
            scheduler_kwargs={"dashboard": dashboard_address is not None},
            host="127.0.0.1",
            silence_logs=50,  # logging.CRITICAL: shutdown chatter (closed heartbeats) is noise
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        _say(
            f"cartpk: started a local Dask cluster at {cluster.scheduler_address} "
            f"({n_workers} workers x 1 thread); {_dashboard(client)}",
            quiet,
        )
        yield client


def _dashboard(client: Any) -> str:
    import importlib.util

    services = client.scheduler_info(n_workers=0).get("services", {})
    if "dashboard" not in services:
        return "dashboard: none"
    if importlib.util.find_spec("bokeh") is None:
        # the scheduler's HTTP server runs, but its pages need bokeh
        return f"dashboard: install `bokeh` to see it at {client.dashboard_link}"
    return f"dashboard: {client.dashboard_link}"


def run_tasks(
    func: Callable[[Any], Any],
    payloads: Sequence[Any] | Mapping[int | str, Any],
    folder: StudyFolder,
    *,
    client: Any,
    quiet: bool = False,
    desc: str = "tasks",
) -> dict[int | str, TaskResult]:
    """Run the tasks that have no result file yet; return every task's result.

    Parameters
    ----------
    func : callable
        ``func(payload) -> JSON data``; picklable (module-level function or instance of a
        module-level class). An exception becomes a task with status ``"error"``.
    payloads : sequence or mapping
        One payload per task; the key (position or mapping key) names the result file.
    folder : StudyFolder
        Where results go (``folder.task_path(key)``).
    client : distributed.Client
        From :func:`dask_client`.
    quiet : bool, default False
        No progress bar (it is also hidden when stderr is not a terminal).
    desc : str
        Label of the progress bar.

    Returns
    -------
    dict
        ``key -> TaskResult`` in the order of ``payloads``.
    """
    from tqdm.auto import tqdm

    distributed = require("distributed", purpose="batch studies on Dask")
    items = list(payloads.items()) if isinstance(payloads, Mapping) else list(enumerate(payloads))
    todo = [(k, p) for k, p in items if not folder.task_path(k).is_file()]
    bar = tqdm(
        total=len(items),
        initial=len(items) - len(todo),
        desc=desc,
        unit="task",
        file=sys.stderr,
        disable=quiet or not sys.stderr.isatty(),
        dynamic_ncols=True,
    )
    futures = []
    try:
        if todo:
            # one copy of the task function per worker, not per task
            [fut] = client.scatter([Portable(func)], broadcast=True, hash=False)
            for key, payload in todo:
                path = str(folder.task_path(key))
                futures.append(
                    client.submit(
                        _execute,
                        fut,
                        key,
                        payload,
                        path,
                        key=f"cartpk-{folder.kind}-{key}-{os.urandom(4).hex()}",
                        pure=False,
                        retries=1,  # a worker lost mid-task (e.g. out of memory) is retried once
                    )
                )
            failed = 0
            for fut in distributed.as_completed(futures):
                if fut.result() != TaskStatus.ok:
                    failed += 1
                    bar.set_postfix(failed=failed)
                bar.update(1)
    finally:
        bar.close()
        if futures:
            with suppress(Exception):  # the client may already be gone (interrupt)
                client.cancel(futures)
    return {k: read_task(folder.task_path(k)) for k, _ in items}
