"""Read the CDISC datasets of a folder: SAS transport, SAS7BDAT, CSV, Dataset-JSON, R data.

One :class:`Domain` per file; the domain name is the file's stem in upper case (``dm.xpt``
-> ``DM``, ``ADSL.csv`` -> ``ADSL``; a stem that is not a domain name but a table with one
value in its ``DOMAIN`` column is named by that value, so ``tu_onco.csv`` is ``TU``). Column
names are upper-cased; character cells are stripped and blank cells are missing (``NaN``),
as SAS stores a missing character value as blanks. Every file that cannot be read, and two
files for one domain, are :class:`~cartpk.errors.Violation` objects raised together.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartpk.errors import DatasetError, Violation

__all__ = ["FORMATS", "Domain", "one_problem", "read_domain_file", "read_domains"]


@dataclass(frozen=True)
class Domain:
    """One CDISC dataset as read from its file.

    Attributes
    ----------
    name : str
        Domain or dataset name in upper case (``DM``, ``PC``, ``ADSL``).
    frame : pandas.DataFrame
        The records in file order, upper-case column names, character cells stripped with
        blanks as ``NaN``; numeric columns as read (``float``).
    path : pathlib.Path
        The file it was read from.
    """

    name: str
    frame: pd.DataFrame
    path: Path

    def row(self, i: int) -> int:
        """1-based record number of the ``i``-th record (0-based position) in the file."""
        return i + 1


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.columns = [str(c).strip().upper() for c in out.columns]
    for c in out.columns:
        s = out[c]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            s = s.map(lambda v: v.decode("latin-1") if isinstance(v, bytes) else v)
            s = s.map(lambda v: v.strip() if isinstance(v, str) else v)
            out[c] = s.map(lambda v: np.nan if v is None or v == "" else v).astype(object)
    return out.reset_index(drop=True)


def _dataset_json(path: Path) -> pd.DataFrame:
    """A Dataset-JSON 1.0 (``clinicalData``/``referenceData``) or 1.1 (``columns``/``rows``)."""
    if path.suffix.lower() == ".ndjson":
        lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        meta, rows = lines[0], lines[1:]
        names = [c["name"] for c in meta["columns"]]
        return pd.DataFrame(rows, columns=names)
    doc = json.loads(path.read_text(encoding="utf-8"))
    if "columns" in doc and "rows" in doc:  # 1.1
        names = [c["name"] for c in doc["columns"]]
        return pd.DataFrame(doc["rows"], columns=names)
    for key in ("clinicalData", "referenceData"):  # 1.0
        if key in doc:
            groups = doc[key]["itemGroupData"]
            if len(groups) != 1:
                raise ValueError(f"{len(groups)} item groups in one file; expected 1")
            group = next(iter(groups.values()))
            names = [item["name"] for item in group["items"]]
            frame = pd.DataFrame(group["itemData"], columns=names)
            return frame.drop(columns=["ITEMGROUPDATASEQ"], errors="ignore")
    raise ValueError("neither Dataset-JSON 1.1 (columns, rows) nor 1.0 (clinicalData)")


def _r_data(path: Path) -> pd.DataFrame:
    try:
        import pyreadr
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError("reading R data needs pyreadr: pip install pyreadr") from exc
    objects = pyreadr.read_r(str(path))
    if len(objects) != 1:
        raise ValueError(f"{len(objects)} objects in the file; expected one data frame")
    return next(iter(objects.values()))


def _xpt(path: Path) -> pd.DataFrame:
    return pd.read_sas(path, format="xport", encoding="latin-1")


def _sas7bdat(path: Path) -> pd.DataFrame:
    return pd.read_sas(path, format="sas7bdat", encoding="latin-1")


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


#: file suffix -> what it is and its reader (the order also decides which suffixes are
#: looked for)
_READERS: dict[str, tuple[str, Callable[[Path], pd.DataFrame]]] = {
    ".xpt": ("SAS transport (XPORT v5)", _xpt),
    ".sas7bdat": ("SAS dataset", _sas7bdat),
    ".csv": ("CSV", _csv),
    ".json": ("CDISC Dataset-JSON (1.0 or 1.1)", _dataset_json),
    ".ndjson": ("CDISC Dataset-JSON 1.1 (NDJSON)", _dataset_json),
    ".rda": ("R data (pyreadr)", _r_data),
    ".rds": ("R data (pyreadr)", _r_data),
}
#: file suffix -> what it is (the order also decides which suffixes are looked for)
FORMATS: dict[str, str] = {suffix: what for suffix, (what, _) in _READERS.items()}


def one_problem(title: str, code: str, message: str, **fields: Any) -> DatasetError:
    """A :class:`~cartpk.errors.DatasetError` ``title`` of one
    :class:`~cartpk.errors.Violation` (``code``, ``message`` and ``fields``)."""
    return DatasetError(title, [Violation(code, message, **fields)])


def read_domain_file(path: str | os.PathLike[str]) -> Domain:
    """Read one dataset file (any of :data:`FORMATS`).

    Raises
    ------
    DatasetError
        ``cdisc_unreadable``: the file is not of its suffix's format.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix not in _READERS:
            raise ValueError(f"suffix {p.suffix!r} is not one of {', '.join(FORMATS)}")
        frame = _READERS[suffix][1](p)
    except Exception as exc:  # noqa: BLE001 - every reader's failure is the user's file
        raise one_problem(
            f"cannot read {p}",
            "cdisc_unreadable",
            f"`{p.name}` could not be read: {exc}",
            value=str(p),
            expected=FORMATS.get(suffix, "one of " + ", ".join(FORMATS)),
            fix="export the dataset again in one of these formats",
        ) from None
    frame = _tidy(frame)
    name = p.stem.upper()
    if "DOMAIN" in frame.columns and name not in _KNOWN:
        values = frame["DOMAIN"].dropna().unique()
        if len(values) == 1:
            name = str(values[0]).upper()
    return Domain(name, frame, p)


#: SDTM and ADaM dataset names cartpk converts (others are read and reported as not used)
_KNOWN = {
    "DM", "EX", "PC", "LB", "AE", "DS", "TU", "TR", "RS", "SUPPDM",
    "ADSL", "ADEX", "ADPC", "ADAE", "ADTR", "ADRS", "ADTTE", "ADLB", "ADPP",
}  # fmt: skip


def read_domains(folder: str | os.PathLike[str]) -> dict[str, Domain]:
    """Every dataset file of ``folder`` (not its sub-folders), by upper-case domain name.

    Raises
    ------
    DatasetError
        Listing every problem at once: ``cdisc_no_folder`` (not a folder),
        ``cdisc_no_datasets`` (no file of a known format), ``cdisc_unreadable`` (one per
        file that cannot be read) and ``cdisc_duplicate_domain`` (two files for one domain,
        e.g. ``dm.xpt`` and ``DM.csv``).
    """
    root = Path(folder)
    if not root.is_dir():
        raise one_problem(
            f"{root} is not a folder",
            "cdisc_no_folder",
            f"`{root}` is not a folder",
            value=str(root),
            expected="a folder holding SDTM or ADaM datasets (dm.xpt, pc.xpt, ...)",
            fix="give the folder the datasets are in",
        )
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in FORMATS)
    problems: list[Violation] = []
    out: dict[str, Domain] = {}
    for p in files:
        try:
            d = read_domain_file(p)
        except DatasetError as exc:
            problems.extend(exc.violations)
            continue
        if d.name in out:
            problems.append(
                Violation(
                    "cdisc_duplicate_domain",
                    f"two files hold domain {d.name}: `{out[d.name].path.name}` and `{p.name}`",
                    value=d.name,
                    expected="one file per domain",
                    fix="remove or move one of the two files",
                )
            )
            continue
        out[d.name] = d
    if not files:
        problems.append(
            Violation(
                "cdisc_no_datasets",
                f"no dataset file in `{root}`",
                value=str(root),
                expected="files named after their domain: " + ", ".join(FORMATS),
                fix="put dm.xpt, ex.xpt, pc.xpt, ... (or .csv, .json, .sas7bdat) in the folder",
            )
        )
    if problems:
        raise DatasetError(f"the datasets in {root} cannot be read", problems)
    return out
