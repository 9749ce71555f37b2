"""``cartpk simulate MODEL --n N --seed S --out FILE.csv``: simulate a virtual trial.

Writes the long table (``ID, TIME, DV, EVID, AMT, MDV, CENS, LLOQ, DVID``) that
``cartpk validate`` and :func:`cartpk.read_dataset` read. Exit 0 done, 2 for a usage error
(unknown model - the valid names are listed - or bad options).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cartpk.cli._common import UsageError

__all__ = ["QPCR_LLOQ", "add_arguments", "run"]

#: default LLOQ of simulated qPCR outputs (copies/ug gDNA): the limit quoted for
#: tisagenlecleucel's assay, top of the 10-50 range of pivotal CAR-T qPCR assays
#: (shared/reference/data_conventions.md, section 7)
QPCR_LLOQ = 50.0


def add_arguments(p: Any) -> None:
    """Add the options of ``cartpk simulate`` to its parser."""
    p.add_argument("--n", type=int, required=True, help="number of subjects")
    p.add_argument("--seed", type=int, required=True, help="random seed (reproducible)")
    p.add_argument("--out", required=True, help="output CSV file")
    p.add_argument(
        "--days",
        default="7,14,21,28,60,90",
        help="comma-separated sampling days after infusion (default: 7,14,21,28,60,90)",
    )
    p.add_argument(
        "--lloq",
        type=float,
        default=None,
        help=f"lower limit of quantification of every output (default: {QPCR_LLOQ:g} copies/ug "
        "for qPCR outputs, the usual CAR-T assay limit, none for others; 0: no LLOQ)",
    )
    p.add_argument("--dose", type=float, default=None, help="dose (AMT), CAR+ cells")
    p.add_argument("--no-iiv", action="store_true", help="all subjects typical")
    p.add_argument("--no-residual", action="store_true", help="no residual error")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")


def _lloq(model: Any, given: float | None) -> dict[str, float]:
    """LLOQ per output: ``--lloq`` for every output (0: none), else the qPCR default."""
    outputs = dict(model.outputs)
    if given is not None:
        return {k: float(given) for k in outputs} if given > 0 else {}
    return {k: QPCR_LLOQ for k, unit in outputs.items() if str(unit).startswith("copies/")}


def _days(text: str) -> tuple[float, ...]:
    try:
        days = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"`--days` must be comma-separated numbers, got {text!r}") from None
    if not days:
        raise UsageError("`--days` is empty; e.g. --days 7,14,21,28,60,90")
    return days


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from cartpk.model import load_model
    from cartpk.simulation import simulate

    if args.n < 1:
        raise UsageError(f"`--n` must be >= 1, got {args.n}")
    if args.lloq is not None and not args.lloq >= 0:
        raise UsageError(f"`--lloq` must be >= 0 (0: no LLOQ), got {args.lloq}")
    from cartpk.run import check_out, csv_header, write_atomic

    out = Path(args.out)
    check_out(
        out,
        force=args.force,
        kind="file",
        written_by_cartpk=csv_header("ID", "TIME", "DV", "EVID", "AMT"),
        recorded=True,  # a user's NONMEM-style data file has the same header
        what="a simulated long table (ID,TIME,DV,EVID,AMT,...) written by cartpk",
    )
    if not out.parent.exists():
        raise UsageError(f"the folder of `--out` does not exist: {out.parent}")
    model = load_model(args.model)
    lloq = _lloq(model, args.lloq)
    table = simulate(
        model,
        n=args.n,
        seed=args.seed,
        days=_days(args.days),
        lloq=lloq or None,
        dose=args.dose,
        iiv=not args.no_iiv,
        residual=not args.no_residual,
    )
    write_atomic(out, table.to_csv(index=False), replace=args.force, record=True)
    obs = table[table["EVID"] == 0]
    from cartpk.data._endpoints import display_unit

    limits = (
        ", ".join(f"{k} {v:g} {display_unit(model.outputs.get(k, ''))}" for k, v in lloq.items())
        or "none"
    )
    print(
        f"{out}: {args.n} subjects, {len(obs)} observations "
        f"({int((obs['CENS'] != 0).sum())} below LLOQ; LLOQ: {limits}) from {model.name}, "
        f"seed {args.seed}"
    )
    return 0
