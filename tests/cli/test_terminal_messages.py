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
