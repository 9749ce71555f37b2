"""``cartpk run FITS_DIR|SPEC.toml... --out DIR``: run benchmark fit specifications in one go.

Each specification's kind is read from its keys (``method`` -> ``cartpk fit``,
``[[analysis]]`` -> ``cartpk er``, ``n_replicates`` + ``[estimator]`` -> ``cartpk sse``,
``n_bootstrap`` -> ``cartpk bootstrap``, ``[[candidate]]`` -> ``cartpk scm``); every spec is validated by its command before
anything of it runs. Each spec writes its own run folder ``DIR/<spec name>/``; the summary
table (spec, kind, status, runtime, convergence, key results) is printed and written to
``DIR/summary.csv``. Exit 0 when every spec succeeded, 1 when any ran but failed its checks
(or any failed), 2 for a usage error (no spec found, unreadable spec).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run", "spec_kind"]

_STATUS = {0: "ok", 1: "failed_checks", 2: "invalid"}


def add_arguments(p: Any) -> None:
    """Add the options of ``cartpk run`` to its parser."""
    p.add_argument("--out", required=True, help="folder receiving one run folder per spec")
    p.add_argument(
        "--force", action="store_true", help="replace DIR if it is an earlier cartpk run folder"
    )
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--quiet", action="store_true", help="no progress display")


def spec_kind(spec: dict[str, Any]) -> str | None:
    """The command that runs a specification (``fit``, ``er``, ``sse``, ``bootstrap``,
    ``scm``)."""
    if "analysis" in spec:
        return "er"
    if "candidate" in spec:
        return "scm"
    if "n_replicates" in spec and ("estimator" in spec or spec.get("kind") == "er_chain"):
        return "sse"
    if "n_bootstrap" in spec or spec.get("kind") == "bootstrap" or "bootstrap" in spec:
        return "bootstrap"
    if "method" in spec:
        return "fit"
    return None


def _collect(paths: list[str]) -> list[Path]:
    from cartpk.cli._common import UsageError

    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(p.glob("*.toml")))
        elif p.is_file():
            found.append(p)
        else:
            raise UsageError(f"no such file or folder: {p}")
    if not found:
        raise UsageError("no *.toml specification found in " + ", ".join(paths))
    return found


def _check(path: Path, kind: str) -> None:
    """Validate one specification with its command's reader (raises ``SpecError``)."""
    if kind == "fit":
        from cartpk.fit._spec import read_fit_spec

        read_fit_spec(path)
    elif kind == "er":
        from cartpk.er import read_er_spec

        read_er_spec(path)
    elif kind == "scm":
        from cartpk.batch._scm_spec import scm_from_spec

        scm_from_spec(path)
    else:
        from cartpk.batch import load_spec

        load_spec(path, kind=kind)


def _plan(specs: list[Path]) -> list[tuple[Path, str]]:
    """Each specification's kind, every one validated before anything runs.

    Every problem of every specification is printed at once (each with its file, line
    and text); an invalid specification's kind is ``"invalid:<kind>"`` and it does not run.

    Raises
    ------
    UsageError
        A specification whose kind cannot be told from its keys.
    """
    from cartpk.cli._common import UsageError
    from cartpk.errors import SpecError
    from cartpk.spec import read_toml

    plan: list[tuple[Path, str]] = []
    problems = []
    for p in specs:
        kind = None
        try:
            kind = spec_kind(read_toml(p).raw)
            if kind is None:
                raise UsageError(
                    f"{p}: cannot tell what this specification runs; it needs `method` (fit), "
                    "`[[analysis]]` (er), `n_replicates` + `[estimator]` (sse), `n_bootstrap` "
                    "or `[[candidate]]` (scm)"
                )
            _check(p, kind)
        except SpecError as err:
            problems += list(err.violations)
            kind = f"invalid:{kind or 'unknown'}"
        plan.append((p, kind))
    if problems:  # every problem of every spec, before anything runs; those specs do not run
        bad = SpecError(f"{len(problems)} problem(s) in the specifications", problems)
        print(f"error [{bad.code}]: {bad}", file=sys.stderr)
    return plan


def _invalid_row(p: Path, kind: str) -> dict[str, Any]:
    """The summary row of a specification that failed validation (exit code 2)."""
    return {
        "spec": p.name,
        "kind": kind,
        "status": _STATUS[2],
        "exit_code": 2,
        "runtime_s": 0.0,
        "convergence": "",
        "key_results": "",
        "run_folder": p.stem,
    }


def _key_results(folder: Path) -> tuple[str, str]:
    """(convergence, key results) from a run folder's manifest, as short text."""
    mpath = folder / "manifest.json"
    if not mpath.is_file():
        return "", ""
    res = json.loads(mpath.read_text()).get("results") or {}
    conv = ""
    if "converged" in res and "subjects" in res:
        conv = f"{res['converged']}/{res['subjects']} subjects"
    elif isinstance(res.get("converged"), bool):
        conv = "converged" if res["converged"] else "NOT converged"
        failed = res.get("failed_checks") or []
        if failed:
            conv += " (" + ", ".join(map(str, failed))[:60] + ")"
    keys = []
    for k, v in res.items():
        if k in ("converged", "subjects", "method", "failed_checks"):
            continue
        if isinstance(v, int | float | str | bool) and len(keys) < 4:
            keys.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return conv, "; ".join(keys)


def _renamed(text: str, tmp: Path, final: Path) -> str:
    """``text`` with the run's temporary folder named as its final one."""
    for old in dict.fromkeys([str(tmp.resolve()), str(tmp)]):
        text = text.replace(old, str(final))
    return text


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk run``."""
    import pandas as pd

    from cartpk.cli import main
    from cartpk.cli._common import Renaming
    from cartpk.run import check_out, retarget_manifests, run_folder

    specs = _collect(args.specs)
    force = bool(getattr(args, "force", False))
    check_out(args.out, force=force, inputs=specs)
    plan = _plan(specs)
    rows: list[dict[str, Any]] = []
    with run_folder(
        args.out, command=["cartpk", "run", *args.specs], inputs=specs, overwrite=force
    ) as rf:
        for k, (p, kind) in enumerate(plan, 1):
            if not args.quiet:
                print(f"[{k}/{len(plan)}] cartpk {kind} {p}", file=sys.stderr, flush=True)
            sub = rf.path / p.stem
            if kind.startswith("invalid:"):  # reported above, before anything ran
                rows.append(_invalid_row(p, kind.split(":", 1)[1]))
                continue
            argv = [kind, str(p), "--out", str(sub)]
            if kind in ("fit", "sse", "bootstrap", "er", "scm") and args.quiet:
                argv.append("--quiet")
            t0 = time.perf_counter()
            buf = io.StringIO()
            # the specs run inside the run's temporary folder: messages name --out instead
            err = Renaming(sys.stderr, (str(rf.path), str(Path(args.out))))
            with redirect_stdout(buf), redirect_stderr(err):
                code = main(argv)
            dt = time.perf_counter() - t0
            final = Path(args.out).resolve()
            # the spec's manifests and log name its folder as it will be once finished
            retarget_manifests(sub, rf.path, final)
            rf.write_text(f"{p.stem}.log", _renamed(buf.getvalue(), rf.path, final))
            conv, keys = _key_results(sub)
            rows.append(
                {
                    "spec": p.name,
                    "kind": kind,
                    "status": _STATUS.get(code, f"error (exit {code})"),
                    "exit_code": code,
                    "runtime_s": round(dt, 2),
                    "convergence": conv,
                    "key_results": keys,
                    "run_folder": p.stem,
                }
            )
            if not args.quiet:
                print(f"      -> {rows[-1]['status']} in {dt:.1f} s", file=sys.stderr, flush=True)
        table = pd.DataFrame(rows)
        rf.write_csv("summary.csv", table)
        failed = [r for r in rows if r["exit_code"] != 0]
        rf.status = "ok" if not failed else "failed_checks"
        rf.manifest["results"] = {"specs": len(rows), "failed": len(failed)}
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif args.format == "csv":
        print(table.to_csv(index=False), end="")
    else:
        from cartpk.cli._common import terminal_table

        print(terminal_table(table.drop(columns=["run_folder"]), max_rows=None))
    print(f"\nrun folder: {Path(args.out).resolve()}", file=sys.stderr)
    if rows and all(r["status"] == _STATUS[2] for r in rows):
        return 2  # no spec was valid: nothing ran
    return 0 if not failed else 1
