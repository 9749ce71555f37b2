"""Writing a study specification (tests/batch/test_batch_cli.py, test_sse_er_chain.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_spec(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    """``text`` dedented, leading blank lines dropped, as ``tmp_path/name``."""
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip())
    return p
