"""``--force`` is the one overwrite flag, and it replaces only what cartpk wrote.

Issue 16, class 1 and part of 12. The class is every command that writes ``--out``:
each has ``--force`` (``--overwrite`` survives as a hidden alias where it existed),
refuses an existing output without it (exit 2, naming ``--force``, before any work) and,
with it, refuses to delete anything that is not a cartpk run folder or that holds the
run's inputs or the working folder. Run folders: two runs into one place never both
succeed; temporary folders of killed runs are swept by the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from cartpk import examples
from cartpk.cli import build_parser, main
from cartpk.errors import CartpkWarning
from cartpk.run import OutputExistsError, check_out, run_folder

ROOT = Path(__file__).resolve().parents[2]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in p._actions for s in a.option_strings}


def _write_inputs(where: Path) -> dict[str, Path]:
    """Valid inputs of every command, written into ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    trial = where / "trial.csv"
    trial.write_bytes(examples.path("trial.csv").read_bytes())
    lesions = where / "lesions.csv"
    lesions.write_bytes(examples.path("lesions.csv").read_bytes())
    fit = where / "fit.toml"
    fit.write_text('model = "stein2019"\ndata = "trial.csv"\nmethod = "individual"\nseed = 1\n')
    er = where / "er.toml"
    er.write_text(
        'seed = 1\ndata = "trial.csv"\nlesions = "lesions.csv"\n\n'
        '[[analysis]]\nendpoint = "orr"\nmodel = "logistic"\nexposure = "cmax"\n'
    )
    sse = where / "sse.toml"
    sse.write_text(
        'model = "stein2019"\ndays = [7, 14, 28]\nn_subjects = 3\nn_replicates = 2\nseed = 1\n'
    )
    scm = where / "scm.toml"
    scm.write_text(
        'model = "stein2019_smooth"\ndata = "trial.csv"\nseed = 1\n\n[[candidate]]\n'
        'parameter = "cmax"\ncovariate = "DOSE"\nkind = "power"\nreference = 3e7\n'
    )
    boot = where / "boot.toml"
    boot.write_text('model = "stein2019"\ndata = "trial.csv"\nseed = 1\nn_bootstrap = 2\n')
    # a run folder of an SAEM fit, as `cartpk compare` reads it (beside `where`: the tests
    # compare the files in `where` before and after)
    run = where.parent / f"{where.name}_saem_run"
    run.mkdir()
    results = {"method": "saem", "minus2ll": 100.0, "minus2ll_mc_se": 0.1, "aic": 104.0}
    results.update(bic=106.0, n_parameters=2, n_observations=10, blq="m3", converged=True)
    (run / "manifest.json").write_text(json.dumps({"cartpk_run": 1, "results": results}))
    (run / "population.csv").write_text("parameter,estimate,fixed\ncl,1,False\nsigma,1,False\n")
    return {
        "trial": trial,
        "lesions": lesions,
        "fit": fit,
        "er": er,
        "sse": sse,
        "boot": boot,
        "scm": scm,
        "run": run,
        "population": run / "population.csv",
    }


# command -> argv without --out/--force, from the inputs; "file" commands write one file
ARGV: dict[str, Callable[[dict[str, Path]], list[str]]] = {
    "fit": lambda i: ["fit", str(i["fit"])],
    "er": lambda i: ["er", str(i["er"])],
    "recist": lambda i: ["recist", str(i["lesions"])],
    "run": lambda i: ["run", str(i["fit"])],
    "demo": lambda i: ["demo", "--skip-population", "--quiet"],
    "sse": lambda i: ["sse", str(i["sse"]), "--quiet", "--workers", "1"],
    "bootstrap": lambda i: ["bootstrap", str(i["boot"]), "--quiet", "--workers", "1"],
    "nca": lambda i: ["nca", str(i["trial"])],
    "simulate": lambda i: ["simulate", "stein2019", "--n", "2", "--seed", "1"],
    "report": lambda i: ["report", str(i["trial"].parent)],
    "export": lambda i: ["export", "stein2019", "--to", "nonmem"],
    "export-data": lambda i: ["export-data", str(i["trial"]), "--to", "nonmem"],
    "compare": lambda i: ["compare", str(i["run"])],
    "scm": lambda i: ["scm", str(i["scm"]), "--quiet", "--workers", "1"],
}
FILE_COMMANDS = {"nca", "simulate", "report", "export", "export-data", "compare"}
# the input each command reads (simulate and demo read none: a file of the user's instead)
OWN_INPUT = {
    "fit": "fit",
    "er": "er",
    "recist": "lesions",
    "run": "fit",
    "demo": "lesions",
    "sse": "sse",
    "bootstrap": "boot",
    "nca": "trial",
    "simulate": "lesions",
    "report": "trial",
    "export": "lesions",  # reads no file of the user's: another file of theirs instead
    "export-data": "trial",
    "compare": "population",  # a file inside the run folder it reads
    "scm": "scm",
}
STUDY_COMMANDS = {"sse", "bootstrap", "scm"}


def test_every_command_writing_out_has_force_and_no_visible_overwrite():
    with_out = {name for name, p in _subcommands().items() if "--out" in _options(p)}
    assert with_out == set(ARGV)
    for name in with_out:
        opts = _options(_subcommands()[name])
        assert "--force" in opts, name
        if "--overwrite" in opts:  # the old spelling: same destination, hidden
            assert opts["--overwrite"].dest == opts["--force"].dest == "force"
            assert opts["--overwrite"].help == argparse.SUPPRESS
        assert "--overwrite" not in _subcommands()[name].format_help()
    assert build_parser().parse_args(["er", "x.toml", "--out", "o", "--overwrite"]).force


@pytest.mark.parametrize("command", sorted(ARGV))
def test_existing_out_is_refused_without_force(tmp_path, monkeypatch, capsys, command):
    inputs = _write_inputs(tmp_path / "in")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / ("out.csv" if command in FILE_COMMANDS else "out")
    if command in FILE_COMMANDS:
        out.write_text("mine\n")
    else:
        out.mkdir()
        (out / "mine.txt").write_text("mine\n")
    rc = main([*ARGV[command](inputs), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and "overwrite" not in err
    # a study folder resumes; a folder that is no study is refused, --force would not help
    hint = "choose another `--out`" if command in STUDY_COMMANDS else "--force"
    assert hint in err
    if command in FILE_COMMANDS:
        assert out.read_text() == "mine\n"
    else:
        assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]


@pytest.mark.parametrize("command", sorted(ARGV))
@pytest.mark.parametrize("target", ["cwd_with_inputs", "folder_of_user_files", "input_file"])
def test_force_never_deletes_what_cartpk_did_not_write(
    tmp_path, monkeypatch, capsys, command, target
):
    inputs = _write_inputs(tmp_path / "work")
    (tmp_path / "work" / "notes.txt").write_text("precious\n")
    monkeypatch.chdir(tmp_path / "work")
    out = {
        "cwd_with_inputs": ".",
        "folder_of_user_files": str(tmp_path / "work"),
        "input_file": str(inputs[OWN_INPUT[command]]),
    }[target]
    before = {p.name: p.read_bytes() for p in (tmp_path / "work").iterdir()}
    rc = main([*ARGV[command](inputs), "--out", out, "--force"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and err.startswith("error [")
    assert {p.name: p.read_bytes() for p in (tmp_path / "work").iterdir()} == before


def _run_folder_with(tmp_path: Path, state: str) -> tuple[Path, list[Path]]:
    """A folder in one of the states --force must check; returns it and the run's inputs."""
    spec = tmp_path / "spec.toml"
    spec.write_text("x = 1\n")
    out = tmp_path / "out"
    if state == "a_file":
        out.write_text("x")
        return out, [spec]
    if state == "no_manifest":
        out.mkdir()
        (out / "a.csv").write_text("x")
        return out, [spec]
    if state == "foreign_manifest":
        out.mkdir()
        (out / "manifest.json").write_text(json.dumps({"name": "not cartpk"}))
        return out, [spec]
    with run_folder(out, command="x") as rf:
        rf.write_text("result.csv", "a\n")
    if state == "holds_input":
        inside = out / "spec.toml"
        inside.write_text("x = 1\n")
        return out, [inside]
    if state == "holds_user_file":
        (out / "sub").mkdir()
        (out / "sub" / "notes.txt").write_text("mine")
        return out, [spec]
    if state == "holds_cwd":
        (out / "sub").mkdir()
        os.chdir(out / "sub")
        return out, [spec]
    assert state == "run_folder"
    return out, [spec]


@pytest.mark.parametrize(
    "state",
    [
        "a_file",
        "no_manifest",
        "foreign_manifest",
        "holds_input",
        "holds_user_file",
        "holds_cwd",
        "run_folder",
    ],
)
def test_force_replaces_only_a_plain_cartpk_run_folder(tmp_path, monkeypatch, state):
    monkeypatch.chdir(tmp_path)
    out, inputs = _run_folder_with(tmp_path, state)
    with pytest.raises(OutputExistsError, match="--force"):
        check_out(out, force=False, inputs=inputs)
    if state != "run_folder":
        with pytest.raises(OutputExistsError, match="--force refused"):
            with run_folder(out, command="y", inputs=inputs, overwrite=True):
                pytest.fail("the refusal comes before any work")
        assert out.exists()
        return
    with run_folder(out, command="y", inputs=inputs, overwrite=True) as rf:
        rf.write_text("new.csv", "b\n")
    # new.csv and its data dictionary (columns.csv)
    assert sorted(p.name for p in out.iterdir()) == ["columns.csv", "manifest.json", "new.csv"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []


def test_concurrent_runs_second_refused_at_the_end(tmp_path):
    out = tmp_path / "out"
    second = run_folder(out, command="second")
    rf2 = second.__enter__()
    rf2.write_text("who.txt", "second")
    with pytest.warns(CartpkWarning, match="is writing"):
        with run_folder(out, command="first") as rf1:
            rf1.write_text("who.txt", "first")
    with pytest.raises(OutputExistsError, match="another run"):
        second.__exit__(None, None, None)
    assert (out / "who.txt").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # the loser left nothing


def test_an_empty_folder_created_meanwhile_is_not_silently_replaced(tmp_path):
    out = tmp_path / "out"
    ctx = run_folder(out, command="x")
    ctx.__enter__().write_text("a.txt", "a")
    out.mkdir()
    with pytest.raises(OutputExistsError):
        ctx.__exit__(None, None, None)
    assert list(out.iterdir()) == []


def test_concurrent_force_runs_last_one_wins(tmp_path):
    out = tmp_path / "out"
    with run_folder(out, command="0") as rf:
        rf.write_text("who.txt", "0")
    late = run_folder(out, command="late", overwrite=True)
    late.__enter__().write_text("who.txt", "late")
    with pytest.warns(CartpkWarning, match="is writing"):
        with run_folder(out, command="early", overwrite=True) as rf:
            rf.write_text("who.txt", "early")
    late.__exit__(None, None, None)
    assert (out / "who.txt").read_text() == "late"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_stale_temporary_folders_of_killed_runs_are_swept(tmp_path):
    out = tmp_path / "out"
    script = textwrap.dedent(
        f"""
        import os, signal
        from cartpk.run import run_folder
        with run_folder({str(out)!r}, command="killed") as rf:
            rf.write_text("half.csv", "x")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, check=False)
    assert proc.returncode == -signal.SIGKILL
    stale = [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")]
    assert len(stale) == 1 and not out.exists()
    # a folder of the same pattern that says nothing about its owner is only reported
    unknown = tmp_path / ".out.tmp-handmade"
    unknown.mkdir()
    with pytest.warns(CartpkWarning) as caught:
        with run_folder(out, command="next") as rf:
            rf.write_text("done.csv", "y")
    codes = sorted(w.message.code for w in caught)  # type: ignore[union-attr]
    assert codes == ["stale_tmp", "stale_tmp_removed"]
    assert not stale[0].exists() and unknown.is_dir()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["removed_stale"] == [stale[0].name]
    assert ".cartpk-tmp.json" not in manifest["files"]


def test_cli_reports_a_stale_folder_as_a_warning_line(tmp_path, capsys):
    (tmp_path / ".out.tmp-handmade").mkdir()
    rc = main(["recist", str(examples.path("lesions.csv")), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 0 and "warning [stale_tmp]:" in err and "Traceback" not in err


def test_manifest_records_the_command_as_typed(tmp_path):
    out = tmp_path / "out"
    argv = ["recist", str(examples.path("lesions.csv")), "--out=" + str(out), "--min-sd-days=42.0"]
    assert main(argv) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == ["cartpk", *argv]
    assert manifest["cwd"] == os.getcwd()
