"""An interrupted study resumes without recomputing; a study runs on a separate scheduler."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import batch_helpers as bh
import pandas as pd
import pytest

import cartpk as ck
from cartpk.cli import main

DAYS = (7, 14, 21, 28, 60, 90)
N = 10
PYTHON = sys.executable
ROOT = Path(__file__).resolve().parents[2]

KILL_SCRIPT = """
import sys
import batch_helpers as bh
import cartpk as ck

if __name__ == "__main__":
    out, counter = sys.argv[1], sys.argv[2]
    ck.sse("stein2019", {days!r}, {n}, bh.SlowPeak(0.5, counter), seed=3, n_subjects=8,
           lloq=50.0, out=out, workers=1, quiet=True)
"""


def _task_files(folder: Path) -> dict[str, int]:
    tasks = folder / "tasks"
    if not tasks.is_dir():
        return {}
    return {p.name: p.stat().st_mtime_ns for p in tasks.glob("[0-9]*.json")}


@pytest.mark.slow
def test_killed_study_resumes_without_recomputing(tmp_path, client, helper_env):
    out, counter = tmp_path / "study", tmp_path / "calls"
    script = tmp_path / "run_study.py"
    script.write_text(textwrap.dedent(KILL_SCRIPT.format(days=DAYS, n=N)))
    proc = subprocess.Popen(
        [PYTHON, str(script), str(out), str(counter)],
        cwd=ROOT,
        env=helper_env,
        start_new_session=True,  # its own process group: the kill takes the workers too
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while len(_task_files(out)) < 3:
            assert proc.poll() is None, "the study ended before it could be killed"
            assert time.monotonic() < deadline, "no task finished in 90 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # as abrupt as a crash: no cleanup runs
        proc.wait(timeout=30)
    done = _task_files(out)
    assert 3 <= len(done) < N, "kill came too late to test a resume"
    assert not (out / "manifest.json").exists()

    def study(estimator, folder):
        """The killed script's study, on the test's cluster."""
        return ck.sse(
            "stein2019",
            DAYS,
            N,
            estimator,
            seed=3,
            n_subjects=8,
            lloq=50.0,
            out=folder,
            client=client,
            quiet=True,
        )

    for p in counter.iterdir():
        p.unlink()
    resumed = study(bh.SlowPeak(0.5, str(counter)), out)
    after = _task_files(out)
    assert {k: after[k] for k in done} == done, "finished tasks were rewritten"
    assert len(after) == N
    assert len(list(counter.iterdir())) == N - len(done), "finished tasks were recomputed"

    fresh = study(bh.SlowPeak(0.5), tmp_path / "fresh")
    pd.testing.assert_frame_equal(resumed.summary, fresh.summary, check_exact=True)
    pd.testing.assert_frame_equal(resumed.estimates, fresh.estimates, check_exact=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()  # SIGTERM: dask shuts down gracefully
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.slow
def test_study_through_a_separate_scheduler_and_worker(tmp_path, client, helper_env, capsys):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = (tmp_path / "dask.log").open("w")
    procs = []

    def start(command: str, *args: str) -> None:
        """``python -m distributed.cli.COMMAND ARGS`` (dashboard on a free port), logged."""
        argv = [PYTHON, "-m", f"distributed.cli.{command}", *args]
        procs.append(
            subprocess.Popen(
                [*argv, "--dashboard-address", "127.0.0.1:0"],
                cwd=tmp_path,
                env=helper_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    try:
        start("dask_scheduler", "--host", "127.0.0.1", "--port", str(port))
        start("dask_worker", address, "--host", "127.0.0.1", "--nworkers", "2", "--nthreads", "1")
        from distributed import Client

        with Client(address, timeout="60s") as probe:
            probe.wait_for_workers(2, timeout=90)

        spec = tmp_path / "study.toml"
        spec.write_text(
            textwrap.dedent(
                f"""
                model = "stein2019"
                days = {list(DAYS)}
                n_subjects = 10
                n_replicates = 6
                seed = 5
                lloq = 50.0

                [estimator]
                kind = "import"
                target = "batch_helpers:observed_peak"
                """
            )
        )
        argv = ["sse", str(spec), "--out", str(tmp_path / "remote"), "--quiet", "--format", "csv"]
        rc = main([*argv, "--scheduler", address])
        captured = capsys.readouterr()
        assert rc == 0, captured.err
        remote = pd.read_csv(tmp_path / "remote" / "summary.csv")
        local = ck.sse(
            "stein2019",
            DAYS,
            6,
            bh.observed_peak,
            seed=5,
            n_subjects=10,
            lloq=50.0,
            out=tmp_path / "local",
            client=client,
            quiet=True,
        )
        pd.testing.assert_frame_equal(
            remote, pd.read_csv(tmp_path / "local" / "summary.csv"), check_exact=True
        )
        assert list(remote["parameter"]) == list(local.summary["parameter"])
        assert captured.out.startswith("parameter,level,true")
    finally:
        for proc in reversed(procs):  # workers first, then the scheduler
            _stop(proc)
        log.close()
    assert all(p.returncode is not None for p in procs)
