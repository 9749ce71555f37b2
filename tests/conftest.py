"""Shared fixtures: seeded random generator, writing small tables to CSV."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


@pytest.fixture
def write_csv(tmp_path: Path):
    """Write a CSV text (dedented) to a temporary file and return its path."""

    def _write(text: str, name: str = "data.csv") -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text).strip() + "\n")
        return p

    return _write
