"""Export a long table in the dataset conventions of NONMEM, Monolix and nlmixr2.

Every record of the input appears once in the export, in the order the tools need (subjects
in input order, each subject's records by ``TIME``, ties in input order), with its input
record number in ``ROW``. Records cartpk does not use (``EVID=2``, ``MDV=1``, pre-dose
observations; with a model, observations of endpoints the model does not predict) are kept
with ``MDV=1`` and a nonzero ``EXCL`` code. Every change to a record is listed in the
export's ``changes`` table: the reader's conversions (``<50`` read as censored at 50, records
sorted by time, ...) and the export's own (a pre-dose observation set to ``MDV=1``, text in
``DV`` of a record not used written as missing, a subject's records brought together).
The conventions of each tool are in ``docs/export.md``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cartpk.errors import DatasetError, Violation
from cartpk.export._dataset_model import (
    EXCLUSION_CODES,
    EXCLUSION_TEXT,
    apply_model,
    change,
    model_facts,
)

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.data import Dataset
    from cartpk.model import Model

__all__ = [
    "EXCLUSION_CODES",
    "TARGETS",
    "check_outputs",
    "export_dataset",
    "format_table",
    "sidecar_paths",
    "write_dataset",
    "write_export",
]

#: the tools a table is exported for
TARGETS = ("nonmem", "monolix", "nlmixr2")
#: the text of a missing value in each tool's CSV (NONMEM reads "." as 0; R reads "NA")
MISSING = {"nonmem": ".", "monolix": ".", "nlmixr2": "NA"}
_NUMERIC = ("TIME", "DV", "EVID", "AMT", "MDV", "CENS", "LLOQ", "LIMIT", "OCC")
#: names NONMEM's abbreviated code reserves (a data item may not take them)
_NONMEM_RESERVED = frozenset(
    "A ALAG DADT DEN DO ELSE ENDDO ENDIF EPS ERR ETA EXIT EXP F G H IF LOG LOG10 MTIME "
    "OMEGA PHI SIGMA SQRT T THEN THETA WHILE Y".split()
)
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_WHOLE = re.compile(r"^[1-9][0-9]{0,8}$")


# ---------------------------------------------------------------------------------------
# the records: used ones from the Dataset, the others from the input table


def _excluded_records(source: Any, ds: Dataset, default_dvid: str) -> pd.DataFrame:
    """The records the reader did not use, parsed as the reader parses used ones.

    They passed every check of the reader (it lists every problem of every record before it
    excludes any), so their cells are numbers where the reader needs numbers, except ``DV``
    (checked on observations used only) and ``DVID`` spelling.
    """
    from cartpk.data._cells import Collector, is_missing, to_num
    from cartpk.data._read import _canonical_columns, _load, _unique_columns

    text = _load(source)
    raw = _canonical_columns(_unique_columns(text.frame, Collector()), Collector())
    raw.index = pd.Index(text.rows, name="ROW")
    rows = ds.exclusions["ROW"].astype(int).to_list()
    sub = raw.loc[rows]
    out = pd.DataFrame({"ROW": rows, "ID": sub["ID"].astype(str).str.strip().to_numpy()})
    for c in _NUMERIC:
        cells = sub[c] if c in sub.columns else pd.Series("", index=sub.index)
        out[c] = to_num(cells.astype(str), allow_inf=c == "LIMIT")[0].to_numpy()
    out["DV_TEXT"] = (sub["DV"].astype(str).str.strip() if "DV" in sub.columns else "").to_numpy()
    out["EVID"] = out["EVID"].fillna(0)
    out["MDV"] = out["MDV"].where(out["MDV"].notna(), (out["EVID"] != 0).astype(float))
    out["CENS"] = out["CENS"].fillna(0)
    out["OCC"] = out["OCC"].fillna(1)
    inf = np.isinf(out["LIMIT"].to_numpy(dtype=float))
    out["LIMIT"] = out["LIMIT"].where((out["CENS"] != 0) & ~inf)
    known = {d.upper(): d for d in ds.endpoints}
    dvid = sub["DVID"].astype(str).str.strip() if "DVID" in sub.columns else None
    if dvid is None:
        out["DVID"] = default_dvid
    else:
        dvid = dvid.where(~is_missing(dvid), default_dvid)
        out["DVID"] = [known.get(d.upper(), d) for d in dvid]
    for c in ds.table.columns:
        if c in out.columns or c not in sub.columns:
            continue
        cells = sub[c].astype(str).str.strip()
        if pd.api.types.is_numeric_dtype(ds.table[c]):
            out[c] = to_num(cells)[0].to_numpy()
        else:
            out[c] = cells.where(~is_missing(cells)).to_numpy()
    return out


def _records(
    data: Any, default_dvid: str, time_varying: Sequence[str] | None
) -> tuple[Dataset, pd.DataFrame, list[dict[str, Any]]]:
    """The Dataset, every record (``EXCL`` set) and the changes the reader made or noted."""
    from cartpk.data import Dataset, read_dataset

    if isinstance(data, Dataset):
        ds, source = data, None
    elif isinstance(data, str | os.PathLike | pd.DataFrame):
        ds = read_dataset(data, default_dvid=default_dvid, time_varying=time_varying)
        source = data
    else:
        raise TypeError("data must be a cartpk Dataset, a CSV path or a pandas DataFrame")
    changes = [
        {k: c[k] for k in ("ROW", "ID", "code", "message")}
        for c in ds.conversions.to_dict("records")
    ]
    used = ds.table.assign(EXCL=0)
    if len(ds.exclusions) == 0:
        return ds, used.assign(DV_TEXT=""), changes
    if source is None:  # a Dataset holds the records it uses only
        for e in ds.exclusions.to_dict("records"):
            changes.append(
                {
                    "ROW": int(e["ROW"]),
                    "ID": e["ID"],
                    "code": "record_not_exported",
                    "message": f"not in the Dataset ({e['reason']}); export the file "
                    "itself to keep it (with MDV=1)",
                }
            )
        return ds, used.assign(DV_TEXT=""), changes
    other = _excluded_records(source, ds, default_dvid)
    code = dict(zip(ds.exclusions["ROW"], ds.exclusions["code"], strict=True))
    other["EXCL"] = [EXCLUSION_CODES[code[r]] for r in other["ROW"]]
    for r, sid, excl, mdv in zip(
        other["ROW"], other["ID"], other["EXCL"], other["MDV"], strict=True
    ):
        if excl == EXCLUSION_CODES["pre_dose"] and mdv == 0:
            changes.append(change(r, sid, "mdv_set", "MDV 0 -> 1: " + EXCLUSION_TEXT["pre_dose"]))
    other.loc[other["EXCL"] > 0, "MDV"] = 1
    return ds, pd.concat([used.assign(DV_TEXT=""), other], ignore_index=True), changes


def _grouped(ds: Dataset, rec: pd.DataFrame, changes: list[dict[str, Any]]) -> None:
    """Note the subjects whose records are not next to each other in the input."""
    by_row = rec.sort_values("ROW", kind="stable")
    runs = by_row["ID"].ne(by_row["ID"].shift()).groupby(by_row["ID"], sort=False).sum()
    for sid in runs.index[(runs > 1).to_numpy()]:
        first = int(by_row.loc[by_row["ID"] == sid, "ROW"].iloc[0])
        changes.append(
            change(
                first,
                sid,
                "subject_grouped",
                "the subject's records were not next to each other in the input: written "
                "together (the tools start a new subject at every change of ID)",
            )
        )


def _ordered(ds: Dataset, rec: pd.DataFrame) -> pd.DataFrame:
    """Subjects in input order (each one's records together), then TIME, then input order."""
    order = {sid: k for k, sid in enumerate(ds.subjects)}
    rec = rec.assign(_s=rec["ID"].map(order).fillna(len(order)))
    out = rec.sort_values(["_s", "TIME", "_KEY"], kind="stable").drop(columns="_s")
    return out.reset_index(drop=True)


def _note_changes(rec: pd.DataFrame, changes: list[dict[str, Any]]) -> None:
    """Text in ``DV`` of records not used (written as missing); an input ``CMT`` replaced."""
    text_dv = (rec["DV_TEXT"] != "") & rec["DV"].isna() & (rec["EXCL"] > 0)
    text_dv &= ~rec["DV_TEXT"].str.upper().isin({".", "NA", "NULL", "NONE"})
    for r, sid, t in zip(
        rec.loc[text_dv, "ROW"], rec.loc[text_dv, "ID"], rec.loc[text_dv, "DV_TEXT"], strict=True
    ):
        message = f"DV {t!r} of a record not used written as missing"
        changes.append(change(r, sid, "dv_text_missing", message))
    if "CMT" in rec.columns:
        message = "the input's CMT column is replaced by the export's compartments"
        changes.append(change(rec["ROW"].iat[0], rec["ID"].iat[0], "cmt_replaced", message))


# ---------------------------------------------------------------------------------------
# the table of each tool


def _codes(values: pd.Series, declared: Sequence[str] | None) -> dict[str, int]:
    """Integer codes of text values: declared levels in order, else sorted values, from 1."""
    present = sorted({str(v) for v in values.dropna()})
    if declared is not None:
        return {str(v): k + 1 for k, v in enumerate(declared)}
    return {v: k + 1 for k, v in enumerate(present)}


def _dvid_order(rec: pd.DataFrame, outputs: Sequence[str]) -> list[str]:
    """The model's outputs first, then the other DVIDs observed, in order of appearance."""
    seen = pd.unique(rec.loc[rec["EVID"] == 0, "DVID"].astype(str))
    return [*outputs, *(d for d in seen if d not in outputs)]


def _text_columns(rec: pd.DataFrame, skip: set[str]) -> list[str]:
    return [
        c
        for c in rec.columns
        if c not in skip and not pd.api.types.is_numeric_dtype(rec[c]) and rec[c].notna().any()
    ]


def _check_labels(columns: Sequence[str], to: str) -> None:
    """Column names the tool reads: NONMEM labels (<= 20 characters, not reserved)."""
    problems = []
    for c in columns:
        reserved = to == "nonmem" and c.upper() in _NONMEM_RESERVED
        long = to == "nonmem" and len(c) > 20
        if _LABEL.match(c) and not reserved and not long:
            continue
        problems.append(
            Violation(
                "column_name",
                f"column `{c}` is not a name {to} reads as a data item"
                + (" (reserved in NONMEM code)" if reserved else ""),
                column=c,
                value=c,
                expected="a letter, then letters, digits or underscores"
                + (", at most 20 characters, not a NONMEM reserved word" if to == "nonmem" else ""),
                fix="rename the column in the input table",
            )
        )
    if problems:
        raise DatasetError(f"column names that {to} cannot read", problems)


def _base(rec: pd.DataFrame, facts: Mapping[str, Any], to: str) -> pd.DataFrame:
    """The columns every tool gets, before each one's coding of IDs, DVIDs and text."""
    obs = rec["EVID"] == 0
    dose = rec["EVID"] == 1
    out = pd.DataFrame(
        {
            "ID": rec["ID"].astype(str),
            "TIME": rec["TIME"].astype(float),
            "DV": rec["DV"].where(~dose).astype(float),
            "EVID": rec["EVID"].astype(int),
            "AMT": rec["AMT"].astype(float),
            "MDV": rec["MDV"].astype(int),
            "CENS": rec["CENS"].astype(int),
        }
    )
    if rec["LLOQ"].notna().any() or facts["nonmem_columns"]:
        out["LLOQ"] = rec["LLOQ"].astype(float)
    out["DVID"] = rec["DVID"].astype(str).where(obs)
    first = float(facts["doses"][0][0])  # the (first) dose compartment
    cmt = rec["_CMT"].where(dose, first)
    cmt[obs] = rec.loc[obs, "DVID"].map(facts["obs_cmt"]).fillna(first)
    out["CMT"] = cmt.astype(int)
    if rec["LIMIT"].notna().any():
        limit = rec["LIMIT"].astype(float)
        if to == "nlmixr2":  # an open side is -Inf (CENS=1) or Inf (CENS=-1) in R
            open_side = limit.isna() & (rec["CENS"] != 0)
            limit = limit.where(~open_side, np.where(rec["CENS"] == 1, -np.inf, np.inf))
        out["LIMIT"] = limit
        if to == "nonmem":  # "." reads as 0 in NONMEM: say which records hold a bound
            out["LIMFL"] = rec["LIMIT"].notna().astype(int)
    if (rec["OCC"] != 1).any():
        out["OCC"] = rec["OCC"].astype(int)
    skip = {*out.columns, *_NUMERIC, "ROW", "ID", "DVID", "EXCL", "DV_TEXT", "CMT", "LIMFL"}
    skip |= {"_CMT", "_KEY"}
    for c in rec.columns:
        if c not in skip:
            out[c] = rec[c]
    out["ROW"] = rec["ROW"].astype(float)  # missing on a record the export adds
    out["EXCL"] = rec["EXCL"].astype(int)
    if to == "nonmem" and facts["nonmem_columns"]:  # the control stream's $INPUT first
        # with LIMIT: the $INPUT of to_nonmem(..., interval=True), LIMIT LIMFL last
        lead = list(facts["nonmem_interval_columns" if "LIMFL" in out else "nonmem_columns"])
        out = out[lead + [c for c in out.columns if c not in lead]]
    if to == "monolix":  # ADMINISTRATION ID and OBSERVATION ID instead of CMT
        adm = pd.Series(np.where(dose, 1.0, np.nan), index=out.index)
        out.insert(out.columns.get_loc("AMT") + 1, "ADM", adm)
        out = out.drop(columns="CMT").rename(columns={"DVID": "YTYPE"})
    return out


def export_dataset(
    data: Dataset | str | os.PathLike[str] | pd.DataFrame,
    to: str = "nonmem",
    *,
    model: Model | str | None = None,
    default_dvid: str = "QPCR",
    time_varying: Sequence[str] | None = None,
) -> pd.DataFrame:
    """A long table in the dataset conventions of NONMEM, Monolix or nlmixr2.

    Parameters
    ----------
    data : Dataset, path or pandas.DataFrame
        A :class:`cartpk.data.Dataset` (from :func:`cartpk.read_dataset`), or the table
        itself (read with :func:`cartpk.read_dataset`). Given the table, the records cartpk
        does not use are exported too (``MDV=1``, ``EXCL`` > 0); a Dataset holds the records
        it uses only, and those it left out are listed in the changes.
    to : {"nonmem", "monolix", "nlmixr2"}
        The tool.
    model : Model or str, optional
        A declaration (or catalogue name) whose conventions the table follows: its outputs
        are the first DVID codes, its categorical covariates are coded in their declared
        order, observations of other endpoints get ``MDV=1`` (``EXCL`` 4), and ``CMT``
        follows its compartments.
    default_dvid : str, default "QPCR"
        DVID of records with a blank DVID (as in :func:`cartpk.read_dataset`).
    time_varying : sequence of str, optional
        Time-varying covariate columns of a table (as in :func:`cartpk.read_dataset`).

    Returns
    -------
    pandas.DataFrame
        One row per record, values as numbers (NaN: missing; NONMEM: every column numeric).
        ``attrs`` holds ``"target"``, ``"codes"`` (``COLUMN, CODE, VALUE``: the integer code
        of each text value for NONMEM; of a model's categorical covariates for nlmixr2),
        ``"ids"`` (``ID, SOURCE_ID``; NONMEM) and ``"changes"``
        (``ROW, ID, code, message``: every change to a record).

    Raises
    ------
    DatasetError
        The table's violations (nothing exported); a column name the tool cannot read
        (``column_name``); with a model, a categorical level it does not declare
        (``covariate_level``).
    ValueError
        ``to`` is not one of :data:`TARGETS`.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"ID": ["a", "a", "a"], "TIME": [0, 7, 14],
    ...                       "DV": [None, 350, 20], "EVID": [1, 0, 0], "AMT": [1e8, 0, 0],
    ...                       "CENS": [0, 0, 1]})
    >>> out = export_dataset(table, to="nonmem")
    >>> out[["ID", "TIME", "DV", "MDV", "EVID", "CMT", "DVID", "CENS"]].to_dict("list")
    {'ID': [1, 1, 1], 'TIME': [0.0, 7.0, 14.0], 'DV': [nan, 350.0, 20.0], 'MDV': [1, 0, 0], \
'EVID': [1, 0, 0], 'CMT': [1, 1, 1], 'DVID': [nan, 1.0, 1.0], 'CENS': [0, 0, 1]}
    >>> out.attrs["ids"].to_dict("records")
    [{'ID': 1, 'SOURCE_ID': 'a'}]
    """
    if to not in TARGETS:
        raise ValueError(f"unknown target {to!r}: one of {', '.join(TARGETS)}")
    ds, rec, changes = _records(data, default_dvid, time_varying)
    _grouped(ds, rec, changes)
    _note_changes(rec, changes)
    facts = model_facts(model)
    rec = _ordered(ds, apply_model(rec, facts, to, changes))
    out = _base(rec, facts, to)
    out.attrs["target"] = to
    out.attrs["changes"] = pd.DataFrame(changes, columns=["ROW", "ID", "code", "message"])
    codes: list[dict[str, Any]] = []
    if to == "nonmem":
        out, codes, ids = _nonmem_coding(out, facts, ds.subjects)
        out.attrs["ids"] = ids
    elif to == "nlmixr2":  # the model's categorical covariates as its numeric codes
        for c, levels in facts["levels"].items():
            table = _codes(out[c], levels)
            out[c] = out[c].map(lambda v, t=table: np.nan if pd.isna(v) else t[str(v)])
            codes += [{"COLUMN": c, "CODE": k, "VALUE": v} for v, k in table.items()]
    out.attrs["codes"] = pd.DataFrame(codes, columns=["COLUMN", "CODE", "VALUE"])
    _check_labels([str(c) for c in out.columns], to)
    return out


def _nonmem_coding(
    out: pd.DataFrame, facts: Mapping[str, Any], subjects: Sequence[str]
) -> tuple[pd.DataFrame, list[dict[str, Any]], pd.DataFrame]:
    """Numbers only: integer IDs (kept when every ID is one), DVID and text as codes."""
    attrs = dict(out.attrs)
    present = list(pd.unique(out["ID"]))
    order = [s for s in subjects if s in set(present)] + [s for s in present if s not in subjects]
    keep = all(_WHOLE.match(s) for s in order)
    id_map = {s: (int(s) if keep else k + 1) for k, s in enumerate(order)}
    ids = pd.DataFrame({"ID": [id_map[s] for s in order], "SOURCE_ID": order})
    out = out.assign(ID=out["ID"].map(id_map).astype(int))
    codes: list[dict[str, Any]] = []
    dvid = {d: k + 1 for k, d in enumerate(_dvid_order(out, facts["outputs"]))}
    out["DVID"] = out["DVID"].map(dvid).astype(float)
    codes += [{"COLUMN": "DVID", "CODE": k, "VALUE": d} for d, k in dvid.items()]
    for c in _text_columns(out, {"ID", "DVID"}):
        table = _codes(out[c], facts["levels"].get(c))
        out[c] = out[c].map(lambda v, t=table: np.nan if pd.isna(v) else t[str(v)]).astype(float)
        codes += [{"COLUMN": c, "CODE": k, "VALUE": v} for v, k in table.items()]
    used = {k: v for k, v in EXCLUSION_TEXT.items() if EXCLUSION_CODES[k] in set(out["EXCL"])}
    codes += [{"COLUMN": "EXCL", "CODE": EXCLUSION_CODES[k], "VALUE": v} for k, v in used.items()]
    out.attrs = attrs
    return out, codes, ids


def _cell(v: Any, missing: str) -> str:
    """A value as the text the tools read: whole numbers without ``.0``, shortest decimals."""
    if v is None or v is pd.NA or (isinstance(v, float | np.floating) and np.isnan(v)):
        return missing
    if isinstance(v, bool | np.bool_):
        return "1" if v else "0"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        f = float(v)
        if np.isinf(f):
            return "Inf" if f > 0 else "-Inf"
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)
    return str(v)


def format_table(table: pd.DataFrame, to: str | None = None) -> str:
    """The CSV text of an exported table (header line, then one line per record).

    Parameters
    ----------
    table : pandas.DataFrame
        A table from :func:`export_dataset`.
    to : str, optional
        The tool (default: ``table.attrs["target"]``): it sets the text of a missing value
        (``.`` for NONMEM and Monolix, ``NA`` for nlmixr2).

    Returns
    -------
    str

    Examples
    --------
    >>> t = pd.DataFrame({"ID": [1, 1], "DV": [float("nan"), 2.5], "AMT": [1e8, 0.0]})
    >>> print(format_table(t, "nonmem"), end="")
    ID,DV,AMT
    1,.,100000000
    1,2.5,0
    """
    import csv
    import io

    to = to or str(table.attrs.get("target", "nonmem"))
    missing = MISSING[to]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([str(c) for c in table.columns])
    for row in table.itertuples(index=False, name=None):
        writer.writerow([_cell(v, missing) for v in row])
    return buf.getvalue()


def sidecar_paths(out: str | os.PathLike[str], to: str) -> dict[str, Path]:
    """The files :func:`write_dataset` writes for ``out``: the table and its tables.

    ``<stem>.changes.csv`` always; NONMEM also ``<stem>.codes.csv`` (integer codes of text
    values, DVIDs and ``EXCL``) and ``<stem>.ids.csv`` (``ID`` -> the input's ID); nlmixr2
    also ``<stem>.codes.csv`` (the codes of a model's categorical covariates).

    Parameters
    ----------
    out : path
        The table's file.
    to : str
        The tool.

    Returns
    -------
    dict of str to Path
        ``table``, ``changes`` and, per tool, ``codes``, ``ids``.

    Examples
    --------
    >>> sorted(p.name for p in sidecar_paths("run/trial_nm.csv", "nonmem").values())
    ['trial_nm.changes.csv', 'trial_nm.codes.csv', 'trial_nm.csv', 'trial_nm.ids.csv']
    """
    path = Path(out)
    stem = path.with_suffix("") if path.suffix else path
    files = {"table": path, "changes": Path(f"{stem}.changes.csv")}
    if to in ("nonmem", "nlmixr2"):
        files["codes"] = Path(f"{stem}.codes.csv")
    if to == "nonmem":
        files["ids"] = Path(f"{stem}.ids.csv")
    return files


def check_outputs(
    out: str | os.PathLike[str],
    to: str,
    *,
    force: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> dict[str, Path]:
    """The files an export to ``out`` writes, after checking each may be written.

    Parameters
    ----------
    out : path
        The table's file.
    to : str
        The tool (see :func:`sidecar_paths`).
    force : bool, default False
        Files that exist may be replaced if they are unchanged earlier outputs of an
        export (:func:`cartpk.run.check_out`).
    inputs : sequence of path
        Files never to replace (the input table).

    Returns
    -------
    dict of str to Path

    Raises
    ------
    FileExistsError
        A file exists and may not be replaced.
    """
    from cartpk.run import check_out

    files = sidecar_paths(out, to)
    for path in files.values():
        check_out(
            path,
            force=force,
            inputs=inputs,
            kind="file",
            written_by_cartpk=lambda head: True,  # the record of the bytes decides
            recorded=True,
            what="a file cartpk export-data wrote",
        )
    return files


def write_export(
    table: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    force: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> dict[str, Path]:
    """Write a table from :func:`export_dataset` and its tables (:func:`sidecar_paths`).

    Parameters
    ----------
    table : pandas.DataFrame
        The export (its ``attrs`` give the tool and the tables written alongside).
    out : path
        The table's file.
    force, inputs
        As in :func:`check_outputs`.

    Returns
    -------
    dict of str to Path
        The files written (``table``, ``changes``; NONMEM also ``codes``, ``ids``).
    """
    from cartpk.run import write_atomic

    to = str(table.attrs["target"])
    files = check_outputs(out, to, force=force, inputs=inputs)
    texts = {"table": format_table(table, to)}
    for key in ("changes", "codes", "ids"):
        if key in files:
            texts[key] = table.attrs[key].to_csv(index=False, lineterminator="\n")
    for key, path in files.items():
        write_atomic(path, texts[key], replace=force, record=True)
    return files


def write_dataset(
    data: Dataset | str | os.PathLike[str] | pd.DataFrame,
    out: str | os.PathLike[str],
    to: str = "nonmem",
    *,
    model: Model | str | None = None,
    force: bool = False,
    default_dvid: str = "QPCR",
    time_varying: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Export ``data`` for ``to`` and write the table and its tables next to ``out``.

    Parameters
    ----------
    data, to, model, default_dvid, time_varying
        As in :func:`export_dataset`.
    out : path
        The table's file (CSV). Its tables: :func:`sidecar_paths`.
    force : bool, default False
        Replace files that exist, if they are unchanged earlier outputs of an export
        (:func:`cartpk.run.check_out`).

    Returns
    -------
    dict of str to Path
        The files written (``table``, ``changes``; NONMEM also ``codes``, ``ids``).

    Raises
    ------
    FileExistsError
        A file exists and ``force`` is false, or (with ``force``) it is not an unchanged
        earlier output of an export; checked before anything is read (nothing written).
    DatasetError
        As :func:`export_dataset`.
    """
    inputs = [data] if isinstance(data, str | os.PathLike) else []
    check_outputs(out, to, force=force, inputs=inputs)
    table = export_dataset(
        data, to, model=model, default_dvid=default_dvid, time_varying=time_varying
    )
    return write_export(table, out, force=force, inputs=inputs)
