"""The helpers the commands share (issue 18): run-folder arguments, cluster options, spec rules."""

from __future__ import annotations

import argparse

import pytest

from cartpk.cli._common import UsageError, add_run_folder_arguments
from cartpk.cli._sse import cluster_options
from cartpk.spec import COMMON, Field


def test_cluster_options_without_force_attribute() -> None:
    args = argparse.Namespace(out="o", scheduler=None, workers=2, quiet=True)
    assert cluster_options(args) == {
        "out": "o",
        "scheduler": None,
        "workers": 2,
        "quiet": True,
        "force": False,
    }


def test_cluster_options_rejects_zero_workers() -> None:
    args = argparse.Namespace(out="o", scheduler=None, workers=0, quiet=False, force=True)
    with pytest.raises(UsageError, match=r"`--workers` must be >= 1"):
        cluster_options(args)


def test_run_folder_arguments_out_required_and_force() -> None:
    p = argparse.ArgumentParser()
    add_run_folder_arguments(p)
    assert vars(p.parse_args(["--out", "d"])) == {"out": "d", "force": False}
    assert p.parse_args(["--out", "d", "--force"]).force is True


def test_open_unit_rules_of_common_keys() -> None:
    level = Field(
        "number",
        "confidence level, e.g. 0.95",
        low=0,
        high=1,
        low_open=True,
        high_open=True,
        default=0.95,
    )
    assert COMMON["level"] == level
    assert COMMON["target_accept"] == Field(
        "number",
        "NUTS target acceptance",
        low=0,
        high=1,
        low_open=True,
        high_open=True,
        default=0.9,
    )
