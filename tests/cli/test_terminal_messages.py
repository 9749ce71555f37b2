"""Terminal messages of the commands: each said once, options checked before any work,
progress of batch studies, compact summaries that fit 100 columns."""

from __future__ import annotations

import logging

from cartpk.cli import _compile_messages


def test_compile_messages_are_printed_once_when_a_command_runs_inside_another(capsys):
    # `cartpk demo` runs `cartpk fit` through main(): both set up the message handler
    log = logging.getLogger("cartpk.fit._compiled")
    with _compile_messages(quiet=False), _compile_messages(quiet=False):
        log.info("compiling the model...")
    with _compile_messages(quiet=True), _compile_messages(quiet=False):
        log.info("model loaded from the compile cache in 0.9 s")
    err = capsys.readouterr().err
    assert err.count("cartpk: compiling the model...") == 1
    assert err.count("cartpk: model loaded from the compile cache") == 1
    assert not logging.getLogger("cartpk.fit").handlers  # nothing left behind


def test_demo_checks_its_options_before_any_stage(tmp_path, capsys):
    from cartpk.cli import main

    for flag, value in (("--draws", "-5"), ("--draws", "0"), ("--tune", "-1"), ("--seed", "-3")):
        out = tmp_path / "d"
        assert main(["demo", flag, value, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"error [usage]: `{flag}` must be >=" in err
        assert "[1/8]" not in err
        assert list(tmp_path.iterdir()) == []  # nothing written


def test_demo_individual_stage_says_why_there_are_no_priors(tmp_path, monkeypatch, capsys):
    import argparse

    from cartpk.cli import _demo

    monkeypatch.setattr(_demo._Stages, "cli", lambda self, *a, **k: 0)
    (tmp_path / "specs").mkdir()
    st = _demo._Stages(argparse.Namespace(quiet=False))
    _demo._individual_stage(st, {}, 1, tmp_path, [], skipped=False)
    err = capsys.readouterr().err
    assert "--skip-population" not in err and "population fit left no estimates" in err
    _demo._individual_stage(st, {}, 1, tmp_path, [], skipped=True)
    assert "run without --skip-population" in capsys.readouterr().err


def _task(folder, name, status="ok"):
    import json

    (folder / "tasks" / f"{name}.json").write_text(json.dumps({"index": name, "status": status}))


def test_task_progress_prints_a_line_per_tenth_with_failures_and_time_left(tmp_path, capsys):
    import time

    from cartpk.cli._common import task_progress

    (tmp_path / "tasks").mkdir()
    names = [f"{i:05d}" for i in range(20)]
    _task(tmp_path, "00000")  # resumed: done before this run
    _task(tmp_path, "00099")  # not one of this study's tasks
    with task_progress(tmp_path, names, noun="replicates", poll_s=0.02):
        for i in range(1, 20):
            _task(tmp_path, names[i], "ok" if i != 5 else "error")
            time.sleep(0.03)
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("cartpk: 20/20 replicates done (") and "1 failed" in lines[-1]
    assert 3 <= len(lines) <= 11  # one line per tenth (2 tasks) at most, not one per task
    assert all(line.startswith("cartpk: ") and "/20 replicates done" for line in lines)
    assert any("left" in line for line in lines[:-1])


def test_task_progress_is_silent_when_quiet_and_counts_only_new_files_with_force(tmp_path, capsys):
    from cartpk.cli._common import task_progress

    (tmp_path / "tasks").mkdir()
    _task(tmp_path, "00000")
    with task_progress(tmp_path, ["00000", "00001"], quiet=True, poll_s=0.01):
        _task(tmp_path, "00001")
    assert capsys.readouterr().err == ""
    import os

    os.utime(tmp_path / "tasks" / "00000.json", (1, 1))  # an old study's file
    with task_progress(tmp_path, ["00000", "00001"], force=True, poll_s=0.01):
        _task(tmp_path, "00001")
    assert capsys.readouterr().err.strip().startswith("cartpk: 1/2 replicates done")


SSE_SPEC = """\
model = "stein2019"
days = [1, 3, 7, 14, 28, 60, 90]
n_subjects = 3
n_replicates = 2
seed = 5
lloq = 20.0

[estimator]
kind = "individual_fits"
summary = "median"
blq = "m3"
ci = "wald"
"""


def test_sse_says_what_runs_shows_progress_and_a_table_within_100_columns(tmp_path, capsys):
    import pandas as pd

    from cartpk.cli import main

    spec = tmp_path / "sse.toml"
    spec.write_text(SSE_SPEC)
    out = tmp_path / "o"
    assert main(["sse", str(spec), "--out", str(out), "--workers", "1"]) in (0, 1)
    printed, err = capsys.readouterr()
    assert "simulation-estimation of stein2019: 2 trials of 3 subjects" in err
    assert "cartpk: 2/2 replicates done" in err
    table = printed.splitlines()[:-1]  # the last line names the file (a long tmp path)
    assert max(len(line) for line in table) <= 100 and len(table) == 7
    header = printed.splitlines()[0].split("  ")
    assert header[0] == "parameter" and "bias %" in printed and "coverage %" in printed
    assert "…" not in printed  # key columns only: no value cut short
    assert f"{out / 'summary.csv'}" in printed
    # the files keep every column
    assert "median_abs_rel_error_pct" in pd.read_csv(out / "summary.csv").columns
    # --quiet: the table only
    assert main(["sse", str(spec), "--out", str(out), "--workers", "1", "--quiet"]) in (0, 1)
    assert capsys.readouterr().err == ""


def test_batch_quiet_help_says_what_it_turns_off(capsys):
    from cartpk.cli import main

    for command in ("sse", "bootstrap"):
        assert main([command, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "a bar on a terminal, else a 'cartpk: 12/200 replicates done' line" in text


def test_models_table_shows_first_author_and_year_uncut(capsys):
    import re

    import cartpk as ck
    from cartpk.cli import main

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100 and "…" not in "\n".join(lines)
    rows = lines[1 : 1 + len(ck.list_models())]
    assert all(re.search(r"\b[A-Z][\w'-]+ (19|20)\d\d\b", row) for row in rows), rows
    assert next(r for r in rows if r.startswith("stein2019 ")).split()[2:4] == ["Stein", "2019"]
    assert "--format csv" in lines[-1]


ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_er_summary_has_a_header_the_emax_model_and_the_threshold(tmp_path, capsys):
    from cartpk.cli import main

    out = tmp_path / "er"
    assert main(["er", str(ROOT / "fits" / "er_example.toml"), "--out", str(out)]) in (0, 1)
    printed = capsys.readouterr().out.splitlines()
    header = printed[0].split()
    assert header[:5] == ["endpoint", "exposure", "source", "model", "effect"]
    assert "95%" in header and header[-1] == "status"
    table = printed[:-2]
    assert max(len(line) for line in table) <= 100 and "…" not in "\n".join(table)
    emax = [line for line in table if " emax " in line]
    assert [line.split()[4] for line in emax] == ["Emax", "EC50"]
    assert any(line.startswith("crs_grade ≥ 3 ") and "logistic" in line for line in table)
    assert any("OR per 2-fold" in line for line in table)
    assert printed[-2].endswith("er_estimates.csv") and printed[-1].startswith("run folder:")


def test_er_overwrite_still_works_and_says_to_use_force(tmp_path, capsys):
    from cartpk.cli import build_parser

    args = build_parser().parse_args(["er", "x.toml", "--out", "o", "--overwrite"])
    err = capsys.readouterr().err
    assert args.force is True
    assert err.count("\n") == 1 and "deprecated" in err and "use `--force`" in err
    assert build_parser().parse_args(["er", "x.toml", "--out", "o"]).force is False
    assert capsys.readouterr().err == ""


def test_nca_help_says_what_it_prints_and_where_the_long_table_goes(capsys):
    from cartpk.cli import main

    assert main(["nca", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "and prints it" not in text
    assert "to --out and prints a per-subject summary" in text
    assert "--format csv prints the long table instead" in text
    assert "CSV to write the CDISC long table to" in text
