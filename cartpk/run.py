"""Run folders: results written atomically with a manifest that makes a run reproducible.

A run folder is built in a temporary sibling (``.<name>.tmp-<random>``) and renamed to its
final name only when the work has finished. An interrupted run therefore never leaves a
half-written folder under the final name. ``manifest.json`` records cartpk's and its
dependencies' versions, the command or spec, the seed, the SHA-256 of every input file,
start and end times and the status.

Replacing (``--force``, ``overwrite=True``) is allowed only for a folder that is a cartpk
run folder (its ``manifest.json`` says so), holds nothing cartpk did not write there and
does not hold the run's own inputs or the working directory (:func:`check_out`). Two runs
into the same folder never both succeed without ``--force``: the final rename fails when
the folder appeared meanwhile (:class:`OutputExistsError`). Temporary siblings left by
killed runs (``.<name>.tmp-*``) are removed by the next run into the same place when their
process is gone, and reported otherwise.
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import errno
import hashlib
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "OutputExistsError",
    "RunFolder",
    "check_out",
    "cache_dir",
    "csv_header",
    "is_recorded_output",
    "retarget_manifests",
    "dependency_versions",
    "invoked_command",
    "run_folder",
    "sha256_file",
    "typed_command",
    "write_atomic",
]

#: the command line as typed, set by the ``cartpk`` entry point while a command runs
_TYPED: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "cartpk_typed_command", default=None
)
#: marker inside a run's temporary folder: which process on which host writes it
_TMP_MARKER = ".cartpk-tmp.json"


class OutputExistsError(FileExistsError):
    """``--out`` exists (or appeared while the run worked) and may not be replaced.

    A :class:`FileExistsError`, so the command line reports it as a user error (exit 2).
    """


@contextmanager
def invoked_command(argv: Sequence[str]) -> Iterator[None]:
    """Record ``argv`` as the command typed while the block runs (see :func:`typed_command`).

    Parameters
    ----------
    argv : sequence of str
        The command line as typed, program name first (``["cartpk", "fit", ...]``).

    Yields
    ------
    None
        Run folders and study manifests written inside the block record ``argv``.
    """
    token = _TYPED.set(tuple(str(a) for a in argv))
    try:
        yield
    finally:
        _TYPED.reset(token)


def typed_command() -> list[str]:
    """The command line as typed: the running ``cartpk`` command's, else ``sys.argv``.

    Returns
    -------
    list of str
        What the manifest records as ``command``.
    """
    typed = _TYPED.get()
    return list(typed) if typed is not None else list(sys.argv)


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
    "jax",
    "jaxlib",
    "diffrax",
    "equinox",
    "sympy",
    "numba",
    "tqdm",
    "threadpoolctl",
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


def write_atomic(
    path: str | os.PathLike[str],
    data: str | bytes,
    *,
    replace: bool = True,
    record: bool = False,
) -> Path:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename.

    Parameters
    ----------
    path : path
        File to write (its folder is created).
    data : str or bytes
        The content (text is encoded as UTF-8).
    replace : bool, default True
        Replace an existing file. ``False``: the file is created only if it does not
        exist when the write completes (a hard link, atomic), else
        :class:`OutputExistsError` and nothing is changed.
    record : bool, default False
        Record the content's SHA-256 among the outputs cartpk wrote (see
        :func:`is_recorded_output`), so that ``--force`` may later replace this file, and
        only while it is unchanged.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    if record:
        _record_output(data.encode() if isinstance(data, str) else data)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        if replace:
            os.replace(tmp, path)
        else:
            _link_new(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _link_new(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` only if ``path`` does not exist (then drop ``tmp``)."""
    try:
        os.link(tmp, path)  # fails with EEXIST: atomic "create if absent"
    except FileExistsError:
        raise OutputExistsError(
            f"`{path}` was written by another process meanwhile; nothing was replaced "
            "(pass --force to replace it)"
        ) from None
    except OSError:  # no hard links on this file system: best effort
        if path.exists():
            raise OutputExistsError(
                f"`{path}` exists; nothing was replaced (pass --force to replace it)"
            ) from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; :class:`FileExistsError` when ``dst`` exists.

    Uses ``renameat2(RENAME_NOREPLACE)`` where the C library and file system offer it
    (a plain rename would replace an empty folder), else checks first and renames.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            renameat2 = libc.renameat2
        except (OSError, AttributeError):
            renameat2 = None
        if renameat2 is not None:
            at_fdcwd, noreplace = -100, 1
            rc = renameat2(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), noreplace)
            if rc == 0:
                return
            err = ctypes.get_errno()
            if err == errno.EEXIST:
                raise FileExistsError(err, os.strerror(err), str(dst))
            if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
                raise OSError(err, os.strerror(err), str(src), None, str(dst))
    if dst.exists() or dst.is_symlink():
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)  # a non-empty folder at dst makes this fail too


# ---------------------------------------------------------------------------------------
# what --force may replace


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _refusal(final: Path, inputs: Iterable[str | os.PathLike[str]]) -> str | None:
    """Why the run folder ``final`` may not be replaced (``None``: it may)."""
    if not final.is_dir():
        return "it is a file, not a run folder"
    try:
        manifest = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "it is not a cartpk run folder (no readable manifest.json)"
    if not isinstance(manifest, dict) or "cartpk_run" not in manifest:
        return "its manifest.json is not a cartpk run's"
    cwd = Path.cwd().resolve()
    if _inside(cwd, final):
        return "it holds the current working folder"
    for p in inputs:
        if _inside(Path(p).resolve(), final):
            return f"it holds an input of this run ({p})"
    listed = {str(f) for f in manifest.get("files") or []} | {"manifest.json"}
    foreign = sorted(
        str(p.relative_to(final))
        for p in final.rglob("*")
        if (p.is_file() or p.is_symlink()) and str(p.relative_to(final)) not in listed
    )
    if foreign:
        more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        return "it holds files cartpk did not write there: " + ", ".join(foreign[:5]) + more
    return None


def check_out(
    out: str | os.PathLike[str],
    *,
    force: bool,
    inputs: Iterable[str | os.PathLike[str]] = (),
    kind: Literal["folder", "file"] = "folder",
    written_by_cartpk: Callable[[bytes], bool] | None = None,
    recorded: bool = False,
    what: str = "",
) -> Path:
    """Check, before any work, that ``out`` may be written (replaced with ``force``).

    Parameters
    ----------
    out : path
        The run folder or output file a command will write.
    force : bool
        ``--force`` was given: an existing ``out`` may be replaced, if it is replaceable.
    inputs : iterable of path
        The run's inputs (spec, data): never replaced, never inside a replaced folder.
    kind : {"folder", "file"}
        ``"folder"``: a run folder, replaceable only when it is a cartpk run folder
        holding nothing else (``manifest.json`` lists every file); ``"file"``: an output
        file, replaceable unless it is a folder or one of ``inputs`` and, with
        ``written_by_cartpk``, only when that says cartpk wrote it.
    written_by_cartpk : callable, optional
        ``written_by_cartpk(first_bytes) -> bool`` on the file's first 64 KiB: whether it
        is an output of this command (e.g. its header line), for ``kind="file"``.
    recorded : bool, default False
        ``kind="file"``: replace only a file whose exact bytes cartpk recorded when it wrote
        them (:func:`is_recorded_output`): a header alone cannot tell a user's NONMEM-style
        data file from a simulated one.
    what : str
        What such a file looks like, for the refusal message (e.g. "an NCA table").

    Returns
    -------
    Path
        ``out``, resolved.

    Raises
    ------
    OutputExistsError
        ``out`` exists and ``force`` is false, or it may not be replaced (the message
        says why and what to do).
    """
    final = Path(out).resolve()
    if not (final.exists() or final.is_symlink()):
        return final
    if not force:
        raise OutputExistsError(
            f"`{out}` already exists; choose another `--out`, or pass --force to replace "
            f"{'it' if kind == 'file' else 'it (a cartpk run folder only)'}"
        )
    if kind == "file":
        if final.is_dir():
            raise OutputExistsError(
                f"--force refused: `{out}` is a folder; give the file to write as `--out`"
            )
        for p in inputs:
            if Path(p).resolve() == final:
                raise OutputExistsError(
                    f"--force refused: `{out}` is an input of this command; write the "
                    "result to another file"
                )
        if written_by_cartpk is not None:
            try:
                with open(final, "rb") as fh:
                    head = fh.read(1 << 16)
            except OSError:
                head = b""
            if not written_by_cartpk(head) or (recorded and not is_recorded_output(final)):
                raise OutputExistsError(
                    f"--force refused: `{out}` is not {what or 'a file this command wrote'}"
                    f"{' (cartpk has no record of writing these bytes)' if recorded else ''}; "
                    "--force replaces only an earlier, unchanged output of the command. "
                    "Choose another `--out`"
                )
        return final
    why = _refusal(final, inputs)
    if why is not None:
        raise OutputExistsError(
            f"--force refused: `{out}` may not be replaced because {why}. --force replaces "
            "only a cartpk run folder; choose another `--out` (a new folder)"
        )
    return final


#: environment variable of the folder where cartpk keeps its caches and output records
CACHE_ENV = "CARTPK_CACHE_DIR"


def cache_dir() -> Path:
    """cartpk's cache folder: ``$CARTPK_CACHE_DIR``, else ``$XDG_CACHE_HOME/cartpk``, else
    ``~/.cache/cartpk`` (``%LOCALAPPDATA%\\cartpk\\Cache`` on Windows)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):  # pragma: no cover
        return Path(os.environ["LOCALAPPDATA"]) / "cartpk" / "Cache"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cartpk"


def _output_record(digest: str) -> Path:
    return cache_dir() / "outputs" / digest[:2] / digest


def _record_output(data: bytes) -> None:
    """Remember that cartpk wrote a file with this content (best effort)."""
    entry = _output_record(hashlib.sha256(data).hexdigest())
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.touch()
    except OSError:  # an unwritable cache: --force will then refuse to replace the file
        pass


def is_recorded_output(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds exactly the bytes of a file cartpk wrote with ``record=True``
    (:func:`write_atomic`): its SHA-256 is among the recorded outputs. A file a user wrote,
    or edited after cartpk wrote it, is not."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return False
    return _output_record(digest.hexdigest()).is_file()


def retarget_manifests(root: str | os.PathLike[str], old: Path, new: Path) -> int:
    """Rewrite the ``manifest.json`` files under ``root`` so their paths name ``new``
    instead of ``old`` (a run's temporary folder and its final name).

    Every string of a manifest (command, inputs, results) containing ``old`` (absolute or
    as given) gets ``new``; each file is replaced atomically. Used by commands that run
    other commands inside their own temporary run folder (``demo``, ``run``), so the
    nested manifests name folders that exist once the run is finished.

    Returns
    -------
    int
        The number of manifests rewritten.
    """
    olds = list(dict.fromkeys([str(Path(old).resolve()), str(old)]))  # absolute first

    def swap(obj: Any) -> Any:
        if isinstance(obj, str):
            for o in olds:
                if o in obj:
                    return obj.replace(o, str(new))
            return obj
        if isinstance(obj, list):
            return [swap(v) for v in obj]
        if isinstance(obj, dict):
            return {swap(k): swap(v) for k, v in obj.items()}
        return obj

    done = 0
    for path in sorted(Path(root).rglob("manifest.json")):
        text = path.read_text(encoding="utf-8")
        if not any(o in text for o in olds):
            continue
        write_atomic(path, json.dumps(swap(json.loads(text)), indent=2) + "\n")
        done += 1
    return done


def csv_header(*columns: str) -> Callable[[bytes], bool]:
    """A ``written_by_cartpk`` test for :func:`check_out`: the CSV's header starts so.

    Parameters
    ----------
    *columns : str
        The first column names of the command's output, in order.

    Returns
    -------
    callable
        ``test(first_bytes) -> bool``.
    """
    prefix = ",".join(columns).encode()

    def test(head: bytes) -> bool:
        return head.lstrip(b"\xef\xbb\xbf").startswith(prefix)

    return test


# ---------------------------------------------------------------------------------------
# temporary folders left by killed runs


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _age(path: Path) -> str:
    try:
        seconds = max(0.0, time.time() - path.stat().st_mtime)
    except OSError:
        return "unknown age"
    if seconds < 120:
        return f"{seconds:.0f} s old"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min old"
    return f"{seconds / 3600:.1f} h old"


def _warn(message: str, code: str) -> None:
    from cartpk.errors import CartpkWarning

    warnings.warn(CartpkWarning(message, code=code), stacklevel=4)


def _sweep_siblings(final: Path) -> list[str]:
    """Remove temporary siblings of ``final`` whose run died here; report the others.

    Returns
    -------
    list of str
        Names of the removed folders (recorded in the manifest).
    """
    removed: list[str] = []
    try:
        siblings = list(final.parent.iterdir())
    except OSError:
        return removed
    host = socket.gethostname()
    for p in sorted(siblings):
        if p.name.startswith(f".{final.name}.old-"):
            _warn(
                f"`{p.name}` next to `{final.name}` holds a run folder set aside by a replace "
                f"(--force) that did not finish ({_age(p)}); delete it, or rename it back if "
                f"`{final.name}` is missing",
                "stale_tmp",
            )
            continue
        if not (p.name.startswith(f".{final.name}.tmp-") and p.is_dir()):
            continue
        try:
            owner = json.loads((p / _TMP_MARKER).read_text(encoding="utf-8"))
            pid, where = int(owner["pid"]), str(owner["host"])
        except (OSError, ValueError, KeyError, TypeError):
            _warn(
                f"`{p.name}` next to `{final.name}` ({_age(p)}) looks like the temporary "
                "folder of an interrupted run but does not say which; delete it if no run "
                "is writing there",
                "stale_tmp",
            )
            continue
        if where != host:
            _warn(
                f"`{p.name}` next to `{final.name}` ({_age(p)}) belongs to a run on host "
                f"{where} (pid {pid}); delete it if that run has ended",
                "stale_tmp",
            )
        elif pid == os.getpid() or _pid_alive(pid):
            _warn(
                f"another cartpk run (pid {pid}) is writing `{final.name}` now; whichever "
                "finishes second is refused unless it has --force",
                "concurrent_run",
            )
        else:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
            _warn(
                f"removed `{p.name}`, the temporary folder of an interrupted run "
                f"(pid {pid}, no longer running)",
                "stale_tmp_removed",
            )
    return removed


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
    columns : dict
        File -> ``(units, descriptions)`` of the tables written by :meth:`write_csv`; the
        run's ``columns.csv`` (:func:`cartpk.units.write_dictionary`) is written from them
        at the end.
    """

    path: Path
    final: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    columns: dict[str, tuple[dict[str, str], dict[str, str]]] = field(default_factory=dict)

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

    def write_csv(
        self,
        name: str,
        frame: Any,
        *,
        units: Mapping[str, str] | None = None,
        descriptions: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Path:
        """Write a pandas DataFrame as CSV inside the run folder (no index by default).

        ``units`` and ``descriptions`` (column -> text), with the frame's
        ``attrs["units"]`` and ``attrs["descriptions"]``, describe its columns in the
        run's ``columns.csv``.
        """
        kwargs.setdefault("index", False)
        p = self.file(name)
        frame.to_csv(p, **kwargs)
        attrs = getattr(frame, "attrs", {})
        known = {**dict(attrs.get("units") or {}), **dict(units or {})}
        texts = {**dict(attrs.get("descriptions") or {}), **dict(descriptions or {})}
        self.columns[name] = (
            {str(k): str(v) for k, v in known.items()},
            {str(k): str(v) for k, v in texts.items()},
        )
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
        Command line that produced the run. While a ``cartpk`` command runs, the command
        as typed (:func:`typed_command`) is recorded instead; default ``sys.argv``.
    spec : mapping, optional
        Fit or study specification, stored verbatim in the manifest.
    seed : int, optional
        Master random seed of the run.
    inputs : iterable of path
        Input files; their SHA-256 digests go into the manifest.
    overwrite : bool, default False
        Replace an existing folder at ``out`` (only once the new run has succeeded, and
        only a cartpk run folder holding nothing else, not the inputs: :func:`check_out`).

    Yields
    ------
    RunFolder
        Write files under ``run.path``. On normal exit the manifest is written and the
        folder renamed to ``out``; on an exception the temporary folder is removed and
        nothing appears under ``out``.

    Raises
    ------
    OutputExistsError
        ``out`` exists and ``overwrite`` is false, or it may not be replaced (checked
        before any work is done); or, at the end, another run created ``out`` meanwhile
        (without ``overwrite``: this run's results are discarded, nothing is replaced).

    Warns
    -----
    CartpkWarning
        ``stale_tmp_removed``, ``stale_tmp`` or ``concurrent_run`` for temporary siblings
        ``.<name>.tmp-*`` of earlier runs (removed when their process is gone).
    """
    inputs = list(inputs)
    final = check_out(out, force=overwrite, inputs=inputs, kind="folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    removed = _sweep_siblings(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700; a run folder is shared as usual
    marker = tmp / _TMP_MARKER
    marker.write_text(
        json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": _now()}),
        encoding="utf-8",
    )
    if _TYPED.get() is not None or command is None:
        command = typed_command()  # the command as typed, when a cartpk command runs
    elif isinstance(command, str):
        command = [command]
    manifest: dict[str, Any] = {
        "cartpk_run": 1,
        "command": list(command),
        "cwd": os.getcwd(),
        "folder": str(Path(final).resolve()),  # where the run lives once finished
        "spec": dict(spec) if spec is not None else None,
        "seed": seed,
        "inputs": {str(Path(p)): sha256_file(p) for p in inputs},
        "versions": dependency_versions(),
        "platform": platform.platform(),
        "started": _now(),
    }
    if removed:
        manifest["removed_stale"] = removed
    run = RunFolder(path=tmp, final=final, manifest=manifest)
    try:
        yield run
        marker.unlink(missing_ok=True)
        from cartpk.units import write_dictionary

        write_dictionary(tmp, run.columns)  # columns.csv: unit and meaning of every column
        run.manifest["finished"] = _now()
        run.manifest["status"] = run.status
        run.manifest["files"] = sorted(
            str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()
        )
        run.write_json("manifest.json", run.manifest)
        _commit(tmp, final, overwrite=overwrite, inputs=inputs)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _commit(
    tmp: Path, final: Path, *, overwrite: bool, inputs: Iterable[str | os.PathLike[str]]
) -> None:
    """Give the finished folder ``tmp`` its final name; never replace what may not be."""
    for _ in range(5):
        try:
            _rename_noreplace(tmp, final)
            return
        except FileExistsError:
            if not overwrite:
                raise OutputExistsError(
                    f"`{final}` was written by another run while this one worked; this "
                    "run's results were discarded and nothing was replaced. Rerun with "
                    "another `--out`, or with --force to replace it"
                ) from None
        why = _refusal(final, inputs)
        if why is not None:
            raise OutputExistsError(
                f"--force refused: `{final}` may not be replaced because {why} (it changed "
                "while this run worked); this run's results were discarded"
            )
        trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        try:
            os.replace(final, trash / final.name)
        except FileNotFoundError:  # another run moved it away meanwhile: try again
            trash.rmdir()
            continue
        try:
            _rename_noreplace(tmp, final)
        except FileExistsError:
            shutil.rmtree(trash, ignore_errors=True)
            continue
        shutil.rmtree(trash, ignore_errors=True)
        return
    raise OutputExistsError(f"`{final}` kept changing while this run tried to replace it")
