"""The package docstring's quick start runs as written, its skipped lines included (slow:
a population fit). A user who copies it must not meet an error (new-user walk)."""

from __future__ import annotations

import doctest
import warnings

import pytest

import cartpk

pytestmark = pytest.mark.slow


def test_quick_start_runs_as_written():
    examples = doctest.DocTestParser().get_examples(cartpk.__doc__ or "")
    assert len(examples) >= 8
    namespace: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", cartpk.CartpkWarning)  # no warning on the quick start
        for ex in examples:
            exec(compile(ex.source, "<quick start>", "exec"), namespace)  # noqa: S102
    pop = namespace["pop"]
    assert pop.summary["divergences"] == 0
    assert set(namespace["exposure"].columns) >= {"ID"}
