"""``cartpk nca DATA.csv --out OUT.csv``: observed NCA, CDISC long table.

The long table goes to ``OUT.csv`` (and to stdout with ``--format csv``); the terminal
shows a per-subject summary of the main parameters, with their units.

The table is read and validated by the data layer (:func:`cartpk.read_dataset`) with one
difference that NCA needs: a concentration of exactly 0 (pre-dose, or after the last
measurable sample in a classic PK table) is a real value, as in :func:`cartpk.nca` on a
DataFrame; the data layer's rule for model fits (DV > 0 on a log-scale endpoint unless
censored) is unchanged, and a negative concentration stays a violation. How many zeros
were read as values is said on stderr. ``--time-unit`` labels the times (``PPSTINT``,
``PPENINT``, wide names) and ``--interval``; ``--force`` replaces an existing ``--out``.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from pathlib import Path
from typing import Any

from cartpk.cli._common import UsageError

__all__ = ["TIME_UNITS", "add_arguments", "read_for_nca", "run"]

#: units of TIME ``--time-unit`` accepts (those of :func:`cartpk.nca`)
TIME_UNITS = ("day", "h", "week", "min")


def add_arguments(parser: Any) -> None:
    """Add the options of ``cartpk nca`` to its parser."""
    parser.add_argument(
        "--out", required=True, metavar="OUT.csv", help="CSV to write the CDISC long table to"
    )
    parser.add_argument(
        "--force", action="store_true", help="replace OUT.csv if it exists (never an input)"
    )
    parser.add_argument("--dvid", default=None, metavar="NAME", help="endpoint to analyse")
    parser.add_argument(
        "--auc-method",
        choices=("linear", "linuplogdown"),
        default="linear",
        help="trapezoid rule (default: linear)",
    )
    parser.add_argument(
        "--time-unit",
        choices=TIME_UNITS,
        default="day",
        help="unit of TIME (default: day; h for classic hour-based PK tables)",
    )
    parser.add_argument(
        "--conc-unit",
        default=None,
        metavar="UNIT",
        help="unit of DV in the output (default: the endpoint's, e.g. copies/ug for QPCR)",
    )
    parser.add_argument(
        "--interval",
        default=None,
        metavar="START,END",
        help="AUC interval in --time-unit (default: 0,28 for days, none for other units)",
    )
    parser.add_argument(
        "--format",
        choices=("csv", "table"),
        default="table",
        help="stdout: table, the per-subject summary (default), or csv, the long table "
        "written to --out",
    )


def _interval(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        a, b = (float(p) for p in parts)
    except ValueError:
        raise UsageError(
            f"`--interval` must be START,END in --time-unit, e.g. 0,28 (got {text!r})"
        ) from None
    if not (math.isfinite(a) and math.isfinite(b) and 0 <= a < b):
        raise UsageError(f"`--interval` needs 0 <= START < END (got {text!r})")
    return a, b


def _dvids(path: str, default: str) -> list[str]:
    """The DVIDs of a table's records as the data layer resolves them (blank: default)."""
    from cartpk.data._table import read_text_table

    raw, _ = read_text_table(path, expected="a CSV table", fix="re-save the table as CSV")
    names = {str(c).strip().upper(): c for c in raw.columns}
    col = next((names[k] for k in ("DVID", "YTYPE", "CMT_NAME") if k in names), None)
    if col is None:
        return [default]
    values = raw[col].astype(str).str.strip()
    return sorted({v if v and v.upper() not in ("NA", "NAN", ".") else default for v in values})


def read_for_nca(path: str) -> tuple[Any, int]:
    """Read a table for NCA: the data layer's checks, but a DV of exactly 0 is a value.

    Parameters
    ----------
    path : str
        CSV file.

    Returns
    -------
    dataset : Dataset
        The validated data.
    zeros : int
        Quantified concentrations of exactly 0 kept as values (0 when the data layer
        accepted the table as it is).

    Raises
    ------
    DatasetError
        Every problem of the table but zero concentrations; a negative quantified
        concentration is ``dv_negative``.
    FileNotFoundError
        No such file.
    """
    from dataclasses import replace

    from cartpk.data import check_dataset
    from cartpk.data._endpoints import endpoint_for
    from cartpk.errors import DatasetError
    from cartpk.noncompartmental._nca_input import negative_concentrations

    ds, problems = check_dataset(path)
    if not problems:
        return ds, 0
    other = [v for v in problems if v.code != "dv_nonpositive_log"]
    if other:  # zeros are no problem for NCA: report the rest
        raise DatasetError(
            f"{Path(path).name} has {len(other)} problem(s); nothing was analysed", other
        )
    # only DV <= 0 on log-scale endpoints: read them on a linear scale, refuse negatives
    endpoints = {}
    for d in _dvids(path, "QPCR"):
        e = endpoint_for(d)
        endpoints[d] = replace(e, scale="linear") if e.scale == "log" else e
    ds, problems = check_dataset(path, endpoints=endpoints)
    if problems:
        raise DatasetError(
            f"{Path(path).name} has {len(problems)} problem(s); nothing was analysed", problems
        )
    obs = ds.table
    quantified = (obs["EVID"] == 0) & (obs["MDV"] == 0) & (obs["CENS"] == 0)
    negative = negative_concentrations(
        obs[quantified & (obs["DV"] < 0)],
        expected="DV >= 0 (0 is a real value for NCA)",
        fix="correct DV, or mark a sample below the limit CENS=1 with DV=LLOQ",
    )
    if negative:
        raise DatasetError(
            f"{Path(path).name} has negative concentrations; nothing was analysed", negative
        )
    return ds, int((quantified & (obs["DV"] == 0)).sum())


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from cartpk.noncompartmental import nca
    from cartpk.run import check_out, csv_header, write_atomic

    unit = getattr(args, "time_unit", "day")
    text = args.interval if args.interval is not None else ("0,28" if unit == "day" else None)
    interval = _interval(text) if text is not None else None
    force = bool(getattr(args, "force", False))
    check_out(
        args.out,
        force=force,
        inputs=[args.data],
        kind="file",
        written_by_cartpk=csv_header("ID", "DVID", "PPTESTCD"),
        what="an NCA table (ID,DVID,PPTESTCD,...)",
    )
    data, zeros = read_for_nca(args.data)
    if zeros:
        print(
            f"note [zero_concentration]: {zeros} concentration(s) of exactly 0 (pre-dose or "
            "after the last measurable sample) analysed as real values",
            file=sys.stderr,
        )
    result = nca(
        data,
        dvid=args.dvid,
        auc_method=args.auc_method,
        interval=interval,
        time_unit=unit,
        conc_unit=getattr(args, "conc_unit", None),
    )
    buf = io.StringIO()
    result.long.to_csv(buf, index=False)
    write_atomic(args.out, buf.getvalue(), replace=force)
    if args.format == "csv":
        print(buf.getvalue(), end="")
    else:
        from cartpk.cli._common import terminal_table

        # one row per subject, the main parameters; the whole CDISC table is in OUT
        main = ("ID", "DVID", "cmax", "tmax", "tlast", "auclast", "aucinf_obs", "lambda_z")
        keep = [c for c in main if c in result.wide]
        keep[-1:-1] = [c for c in result.wide.columns if str(c).startswith("auc_")]
        print(units_line(result, keep[2:]))
        print(terminal_table(result.wide[keep], max_rows=20, file_hint=str(args.out)))
    return 0


def units_line(result: Any, columns: list[str], width: int = 100) -> str:
    """The units of the table's columns, wrapped to ``width``, per DVID where they differ.

    ``units: tmax, tlast: day; cmax: QPCR copies/µg, IFNG/IL6 pg/mL; ...`` (display
    spelling; the CSV keeps ``PPORRESU`` in ASCII).
    """
    from cartpk.data._endpoints import display_unit
    from cartpk.noncompartmental._registry import PARAMETERS, unit_for

    kinds = {p.name: p.unit for p in PARAMETERS if not p.interval}
    long = result.long
    conc = long[long["PPTESTCD"] == "CMAX"].drop_duplicates("DVID")
    conc_units = dict(zip(conc["DVID"].astype(str), conc["PPORRESU"].fillna(""), strict=True))
    time_unit = str(result.options.get("time_unit", "day"))
    groups: dict[str, list[str]] = {}
    for c in columns:
        kind = "auc" if str(c).startswith("auc_") else kinds.get(str(c))
        if kind is None:
            continue
        by_unit: dict[str, list[str]] = {}
        for dvid, cu in conc_units.items():
            u = display_unit(unit_for(kind, str(cu), time_unit)) or "no unit"
            by_unit.setdefault(u, []).append(dvid)
        text = (
            next(iter(by_unit))
            if len(by_unit) == 1
            else ", ".join(f"{'/'.join(d)} {u}" for u, d in by_unit.items())
        )
        groups.setdefault(text, []).append(str(c))
    lines = ["units:"]
    for text, cols in groups.items():  # a "columns: unit" item is not split
        item = f"{', '.join(cols)}: {text};"
        if len(lines[-1]) + 1 + len(item) > width and lines[-1].strip():
            lines.append(" ")
        lines[-1] += " " + item
    return "\n".join(lines).rstrip(";")
