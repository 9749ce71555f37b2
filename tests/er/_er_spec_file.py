"""Writing an E-R specification (the tests of tests/er that read or run one)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any


def write_er_spec(tmp_path: Path, text: str, name: str = "er.toml") -> Path:
    """``text`` dedented as ``tmp_path/name`` (a leading newline stays line 1)."""
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def analysis(endpoint: str, model: str, exposure: Any = "cmax", **keys: Any) -> str:
    """One ``[[analysis]]`` table of an E-R specification, as TOML text.

    Parameters
    ----------
    endpoint, model : str
        The analysis' ``endpoint`` and ``model``.
    exposure : str or list of str, default "cmax"
        Its ``exposure``.
    **keys
        Further keys (``covariates``, ``threshold``, ``event``, ``residual``...), written in
        the order given.

    Returns
    -------
    str
        ``[[analysis]]`` and one ``key = value`` line a key (strings, numbers and lists of
        them written as JSON, which TOML reads alike).

    Examples
    --------
    >>> print(analysis("orr", "logistic", covariates=["SLD0"]), end="")
    [[analysis]]
    endpoint = "orr"
    model = "logistic"
    exposure = "cmax"
    covariates = ["SLD0"]
    """
    values = {"endpoint": endpoint, "model": model, "exposure": exposure, **keys}
    return "[[analysis]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
