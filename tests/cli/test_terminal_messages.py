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
