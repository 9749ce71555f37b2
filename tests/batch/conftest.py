"""Fixtures of the batch tests: one local Dask cluster shared by a module's tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.fixture(scope="module")
def client():
    """A 2-worker LocalCluster client; workers import `batch_helpers` from this folder."""
    from cartpk.batch import dask_client

    with dask_client(workers=2, quiet=True, dashboard_address=None) as cl:
        yield cl


@pytest.fixture
def helper_env() -> dict[str, str]:
    """Environment of a subprocess that can import cartpk and `batch_helpers`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["PYTHONWARNINGS"] = "ignore::FutureWarning"
    env.pop("PYTEST_CURRENT_TEST", None)
    return env
