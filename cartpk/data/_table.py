"""Reading a user's table as text cells, the first step of every validator.

Validators (the long-table reader, the RECIST lesion reader) parse and check text cells
themselves so that every problem can be reported with the value as the user wrote it.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartpk.errors import DatasetError, Violation

__all__ = ["TextTable", "cell_text", "read_table", "read_text_table"]


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


@dataclass
class TextTable:
    """A table read as text cells, with what reading it found and changed.

    Attributes
    ----------
    frame : pandas.DataFrame
        Every cell as stripped text (missing -> ``""``), default index. Duplicate column
        names are kept (the validators report them).
    name : str
        The file name, or ``"table"`` for a DataFrame.
    rows : numpy.ndarray
        The 1-based data-record number of each row: for a CSV file, the line number minus
        one (blank lines are skipped, so row N stays on line N + 1).
    conversions : list of dict
        Changes made while reading (``ROW, code, message``): encoding, separator, decimal
        commas, blank lines skipped.
    violations : list of Violation
        Problems of shape: rows with more or fewer fields than the header.
    """

    frame: pd.DataFrame
    name: str
    rows: np.ndarray
    conversions: list[dict[str, Any]] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)


_DECIMAL_COMMA = re.compile(r"^[-+]?[0-9]*,[0-9]+(?:[eE][-+]?[0-9]+)?$")
_SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}
_RESAVE = "re-save it from the spreadsheet as 'CSV UTF-8 (comma delimited)'"


def _unreadable(
    path: Path, message: str, value: str | None, expected: str, fix: str = _RESAVE
) -> DatasetError:
    return DatasetError(
        f"{path.name} could not be read as a CSV table",
        [Violation("unreadable", message, value=value, expected=expected, fix=fix)],
        code="unreadable",
    )


def _decode(path: Path, data: bytes, expected: str) -> tuple[str, str | None]:
    """The file's text and, when it was not UTF-8, the encoding it was read with."""
    if data[:4] == b"PK\x03\x04" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise _unreadable(
            path,
            "the file is a spreadsheet workbook (Excel .xlsx/.xls), not a CSV text file",
            f"first bytes {data[:4]!r}",
            expected,
        )
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError as err:
            raise _unreadable(
                path, "the file starts like UTF-16 text but is not", str(err), expected
            ) from None
    if b"\x00" in data:
        nul = data.index(b"\x00")
        raise _unreadable(
            path,
            "the file contains NUL bytes: a binary file, or UTF-16 text without a byte-order mark",
            f"first NUL byte at offset {nul}",
            expected,
        )
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "Windows-1252 (Latin-1)"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "Latin-1 (ISO-8859-1)"


def _separator(header: str) -> str:
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] > counts[","] else ","


@dataclass
class _Records:
    """The records of a CSV text, with the line of each and the lines found odd."""

    header: list[str]
    records: list[list[str]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    blank: list[int] = field(default_factory=list)
    long_rows: list[tuple[int, int]] = field(default_factory=list)
    short_rows: list[tuple[int, int]] = field(default_factory=list)


def _from_frame(source: pd.DataFrame) -> TextTable:
    """A DataFrame's cells as the text a CSV file would hold, rows numbered from 1."""
    raw = source.reset_index(drop=True).astype(object)
    raw = pd.DataFrame(
        {k: raw.iloc[:, k].map(cell_text) for k in range(raw.shape[1])}, index=raw.index
    )
    raw.columns = [str(c).strip() for c in source.columns]
    return TextTable(raw, "table", np.arange(1, len(raw) + 1))


def _file_text(
    source: str | os.PathLike[str], expected: str, fix: str
) -> tuple[Path, str, str | None, str]:
    """The file's path, text, encoding (when not UTF-8) and field separator."""
    if not isinstance(source, str | os.PathLike):
        raise TypeError("the table must be a CSV path or a pandas DataFrame")
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    text, encoding = _decode(path, path.read_bytes(), expected)
    lines = text.splitlines()
    start = next((k for k, line in enumerate(lines) if line.strip()), None)
    if start is None:
        raise _unreadable(path, "the file is empty (no header line)", None, expected, fix)
    return path, text, encoding, _separator(lines[start])


def _split_records(path: Path, text: str, sep: str, expected: str, fix: str) -> _Records:
    """The header and records of a CSV text, each record cut or padded to the header."""
    reader = csv.reader(io.StringIO(text), delimiter=sep, skipinitialspace=True)
    found: _Records | None = None
    previous = 0
    try:
        for rec in reader:
            line = previous + 1
            previous = reader.line_num
            if not "".join(rec).strip():
                if found is not None:
                    found.blank.append(line)
                continue
            if found is None:
                found = _Records([c.strip() for c in rec])
                continue
            header = found.header
            cells = rec  # stripped below, column by column
            if len(cells) > len(header):
                if "".join(cells[len(header) :]).strip():
                    found.long_rows.append((line - 1, len(cells)))
                cells = cells[: len(header)]
            elif len(cells) < len(header):
                found.short_rows.append((line - 1, len(cells)))
                cells += [""] * (len(header) - len(cells))
            found.records.append(cells)
            found.rows.append(line - 1)
    except csv.Error as err:
        raise _unreadable(path, f"the CSV text is malformed: {err}", None, expected, fix) from None
    assert found is not None
    return found


def _decimal_commas(out: TextTable) -> None:
    """Read decimal commas (``1,5``) as decimal points in place, recording it."""
    frame = out.frame
    dec = frame.apply(lambda s: s.str.match(_DECIMAL_COMMA)) if len(frame) else None
    if dec is not None and bool(dec.to_numpy().any()):
        hit = dec.any(axis=1).to_numpy()
        cols = [str(c) for c, m in zip(frame.columns, dec.any(axis=0), strict=True) if m]
        n_cells = int(dec.to_numpy().sum())
        frame[:] = np.where(dec.to_numpy(), frame.apply(lambda s: s.str.replace(",", ".")), frame)
        out.conversions.append(
            {
                "ROW": int(out.rows[hit][0]),
                "code": "decimal_comma",
                "message": f"{n_cells} decimal comma(s) read as decimal points (columns "
                + ", ".join(cols)
                + ")",
            }
        )


def _note_format(out: TextTable, encoding: str | None, sep: str, first: int) -> None:
    """Record an encoding other than UTF-8 and a separator other than the comma."""
    if encoding is not None:
        out.conversions.append(
            {
                "ROW": first,
                "code": "encoding",
                "message": f"the file is {encoding} text, not UTF-8: read as {encoding}",
            }
        )
    if sep != ",":
        out.conversions.append(
            {
                "ROW": first,
                "code": "separator",
                "message": f"fields are separated by {_SEPARATORS[sep]}s, not commas: read as such",
            }
        )
        _decimal_commas(out)


def _note_blank_lines(out: TextTable, blank: list[int], rows: list[int]) -> None:
    """Record the blank lines skipped between records (not those after the last)."""
    if blank and rows and blank[0] - 1 < rows[-1]:
        mid = [b for b in blank if b - 1 < rows[-1]]
        out.conversions.append(
            {
                "ROW": mid[0] - 1,
                "code": "blank_lines",
                "message": f"{len(mid)} blank line(s) skipped (line "
                + ", ".join(map(str, mid[:10]))
                + (", ..." if len(mid) > 10 else "")
                + "); row numbers stay those of the file",
            }
        )


def _field_counts(out: TextTable, found: _Records, sep: str) -> None:
    """Report the rows with more or fewer fields than the header."""
    ncol = len(found.header)
    for rows, code, word in (
        (found.long_rows, "too_many_fields", "more"),
        (found.short_rows, "too_few_fields", "fewer"),
    ):
        if rows:
            out.violations.append(
                Violation(
                    code,
                    f"row has {word} fields than the header ({ncol})",
                    rows=tuple(r for r, _ in rows),
                    value="; ".join(f"line {r + 1}: {k} fields" for r, k in rows[:5])
                    + (f"; ... ({len(rows)} rows)" if len(rows) > 5 else ""),
                    expected=f"{ncol} fields on every line, separated by {_SEPARATORS[sep]}s",
                    fix='quote values that contain the separator ("1,250"), remove stray '
                    "separators, or fill the missing fields (empty is allowed: ',,')",
                )
            )


def read_table(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    expected: str,
    fix: str,
) -> TextTable:
    """Read a CSV file or a DataFrame as stripped text cells, recording what was changed.

    A CSV file may be UTF-8 (with or without BOM), UTF-16 with a byte-order mark or
    Windows-1252/Latin-1; comma-, semicolon- or tab-separated. Any encoding other than
    UTF-8, a separator other than the comma and decimal commas (``1,5`` in a semicolon- or
    tab-separated file) are read and recorded in :attr:`TextTable.conversions`. Rows with
    more or fewer fields than the header are :attr:`TextTable.violations`.

    Parameters
    ----------
    source : path or pandas.DataFrame
        The table.
    expected, fix : str
        What the table should look like and how to fix an unreadable file (for the error).

    Returns
    -------
    TextTable

    Raises
    ------
    FileNotFoundError
        ``source`` is a path that does not exist.
    DatasetError
        ``unreadable``: a binary file, a spreadsheet workbook, or no header line.
    TypeError
        ``source`` is neither a path nor a DataFrame.
    """
    if isinstance(source, pd.DataFrame):
        return _from_frame(source)
    path, text, encoding, sep = _file_text(source, expected, fix)
    found = _split_records(path, text, sep, expected, fix)
    frame = pd.DataFrame(found.records, columns=range(len(found.header)), dtype=object)
    frame = frame.astype("str").apply(lambda s: s.str.strip())
    frame.columns = found.header
    out = TextTable(frame, path.name, np.asarray(found.rows, dtype=int))
    _note_format(out, encoding, sep, found.rows[0] if found.rows else 1)
    _note_blank_lines(out, found.blank, found.rows)
    _field_counts(out, found, sep)
    return out


def read_text_table(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    expected: str,
    fix: str,
) -> tuple[pd.DataFrame, str]:
    """Read a CSV file or a DataFrame as stripped text cells, index reset.

    :func:`read_table` for readers that number rows from 1 themselves; problems of shape
    are raised. Parameters are those of :func:`read_table`.

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
        ``unreadable``: the file is not a table, or not a plain comma-separated UTF-8
        table without blank lines; or rows with more or fewer fields than the header.
    TypeError
        ``source`` is neither a path nor a DataFrame.
    """
    t = read_table(source, expected=expected, fix=fix)
    if t.conversions:  # this reader numbers rows itself and records no conversions
        raise DatasetError(
            f"{t.name} could not be read as a CSV table",
            [
                Violation(
                    "unreadable",
                    "the file is not a plain comma-separated UTF-8 table: " + c["message"],
                    rows=(int(c["ROW"]),),
                    expected=expected,
                    fix=_RESAVE + "; remove blank lines between the records",
                )
                for c in t.conversions
            ],
            code="unreadable",
        )
    if t.violations:
        raise DatasetError(f"{t.name} has rows of the wrong length", t.violations)
    return t.frame, t.name
