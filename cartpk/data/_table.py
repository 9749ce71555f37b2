"""Reading a user's table as text cells, the first step of every validator.

Validators (the long-table reader, the RECIST lesion reader) parse and check text cells
themselves so that every problem can be reported with the value as the user wrote it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartpk.errors import DatasetError, Violation

__all__ = ["cell_text", "read_text_table"]


def cell_text(v: Any) -> str:
    """A DataFrame cell as the text a CSV file would hold (integral floats without ``.0``).

    Examples
    --------
    >>> [cell_text(x) for x in (101.0, 0.5, float("nan"), None, True, " GD2 ")]
    ['101', '0.5', '', '', '1', 'GD2']
    """
    if v is None or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, bool | np.bool_):
        return "1" if v else "0"
    if isinstance(v, float | np.floating):
        if np.isnan(v):
            return ""
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    return str(v).strip()


def read_text_table(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    expected: str,
    fix: str,
) -> tuple[pd.DataFrame, str]:
    """Read a CSV file or a DataFrame as stripped text cells, index reset.

    Parameters
    ----------
    source : path or pandas.DataFrame
        The table.
    expected, fix : str
        What the table should look like and how to fix an unreadable file (for the error).

    Returns
    -------
    table : pandas.DataFrame
        Every cell as text (missing -> ``""``); column names stripped, case kept.
    name : str
        The file name, or ``"table"`` for a DataFrame.

    Raises
    ------
    FileNotFoundError
        ``source`` is a path that does not exist.
    DatasetError
        ``unreadable``: the file is not a comma-separated table.
    TypeError
        ``source`` is neither a path nor a DataFrame.
    """
    if isinstance(source, pd.DataFrame):
        raw = source.reset_index(drop=True).astype(object).map(cell_text)
        raw.columns = [str(c).strip() for c in raw.columns]
        return raw, "table"
    if not isinstance(source, str | os.PathLike):
        raise TypeError("the table must be a CSV path or a pandas DataFrame")
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DatasetError(
            f"{path.name} could not be read as a CSV table",
            [
                Violation(
                    "unreadable",
                    "the file is not a comma-separated table",
                    value=str(err).splitlines()[0] if str(err) else None,
                    expected=expected,
                    fix=fix,
                )
            ],
        ) from None
    raw = raw.map(lambda s: s.strip())
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw, path.name
