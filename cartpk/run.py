"""Run folders: results written atomically with a manifest that makes a run reproducible.

A run folder is built in a temporary sibling (``.<name>.tmp-<random>``) and renamed to its
final name only when the work has finished. An interrupted run therefore never leaves a
half-written folder under the final name. ``manifest.json`` records cartpk's and its
dependencies' versions, the command or spec, the seed, the SHA-256 of every input file,
start and end times and the status.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["RunFolder", "dependency_versions", "run_folder", "sha256_file", "write_atomic"]

_TRACKED = (
    "cartpk",
    "numpy",
    "scipy",
    "pandas",
    "lmfit",
    "pymc",
    "pytensor",
    "nutpie",
    "arviz",
    "matplotlib",
    "statsmodels",
    "dask",
    "distributed",
)


def dependency_versions() -> dict[str, str | None]:
    """Installed versions of cartpk and its main dependencies (``None`` if absent)."""
    from cartpk import __version__

    out: dict[str, str | None] = {"python": platform.python_version(), "cartpk": __version__}
    for name in _TRACKED[1:]:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass
class RunFolder:
    """A run folder under construction; files go under :attr:`path`.

    Attributes
    ----------
    path : Path
        The temporary folder being written (renamed to :attr:`final` on success).
    final : Path
        The folder's final name.
    manifest : dict
        The manifest; add entries (e.g. ``manifest["results"]``) before the run ends.
    status : str
        ``"ok"`` by default; set ``"failed_checks"`` when the work ran but checks failed.
    """

    path: Path
    final: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"

    def file(self, name: str) -> Path:
        """Path of a file inside the run folder (parent folders are created)."""
        p = self.path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write_text(self, name: str, text: str) -> Path:
        """Write a text file inside the run folder."""
        p = self.file(name)
        p.write_text(text, encoding="utf-8")
        return p

    def write_csv(self, name: str, frame: Any, **kwargs: Any) -> Path:
        """Write a pandas DataFrame as CSV inside the run folder (no index by default)."""
        kwargs.setdefault("index", False)
        p = self.file(name)
        frame.to_csv(p, **kwargs)
        return p

    def write_json(self, name: str, obj: Any) -> Path:
        """Write a JSON file inside the run folder."""
        return self.write_text(name, json.dumps(obj, indent=2, default=str) + "\n")


@contextmanager
def run_folder(
    out: str | os.PathLike[str],
    *,
    command: str | Iterable[str] | None = None,
    spec: Mapping[str, Any] | None = None,
    seed: int | None = None,
    inputs: Iterable[str | os.PathLike[str]] = (),
    overwrite: bool = False,
) -> Iterator[RunFolder]:
    """Build a run folder atomically.

    Parameters
    ----------
    out : path
        Final folder name.
    command : str or sequence of str, optional
        Command line that produced the run (defaults to ``sys.argv``).
    spec : mapping, optional
        Fit or study specification, stored verbatim in the manifest.
    seed : int, optional
        Master random seed of the run.
    inputs : iterable of path
        Input files; their SHA-256 digests go into the manifest.
    overwrite : bool, default False
        Replace an existing folder at ``out`` (only once the new run has succeeded).

    Yields
    ------
    RunFolder
        Write files under ``run.path``. On normal exit the manifest is written and the
        folder renamed to ``out``; on an exception the temporary folder is removed and
        nothing appears under ``out``.

    Raises
    ------
    FileExistsError
        ``out`` exists and ``overwrite`` is false (checked before any work is done).
    """
    final = Path(out).resolve()
    if final.exists() and not overwrite:
        raise FileExistsError(
            f"run folder `{final}` already exists; choose another `--out` or pass overwrite"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    if command is None:
        command = list(sys.argv)
    elif isinstance(command, str):
        command = [command]
    manifest: dict[str, Any] = {
        "cartpk_run": 1,
        "command": list(command),
        "spec": dict(spec) if spec is not None else None,
        "seed": seed,
        "inputs": {str(Path(p)): sha256_file(p) for p in inputs},
        "versions": dependency_versions(),
        "platform": platform.platform(),
        "started": _now(),
    }
    run = RunFolder(path=tmp, final=final, manifest=manifest)
    try:
        yield run
        run.manifest["finished"] = _now()
        run.manifest["status"] = run.status
        run.manifest["files"] = sorted(
            str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()
        )
        run.write_json("manifest.json", run.manifest)
        if final.exists():
            trash = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, trash)
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
