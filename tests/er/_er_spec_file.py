"""Writing an E-R specification (the tests of tests/er that read or run one)."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_er_spec(tmp_path: Path, text: str, name: str = "er.toml") -> Path:
    """``text`` dedented as ``tmp_path/name`` (a leading newline stays line 1)."""
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p
