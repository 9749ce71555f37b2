"""``cartpk demo [--out DIR]``: the main job on the bundled simulated trial.

Stages run in order and each writes into one run folder: validate the trial and summarise
it, plot the qPCR data, and the later analysis stages.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register the ``demo`` command."""
    p = sub.add_parser(
        "demo",
        help="run the whole analysis on the bundled (simulated) example trial",
        description="Validate the bundled simulated trial and run every analysis stage "
        "into one run folder.",
    )
    p.add_argument("--out", default=None, help="run folder (default: ./cartpk-demo-<time>)")
    p.add_argument("--seed", type=int, default=20261125, help="master random seed")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def _say(args: argparse.Namespace, msg: str) -> None:
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


def spaghetti_plot(ds: Any, path: Path, dvid: str = "QPCR") -> None:
    """Individual profiles on a log axis, LLOQ line, censored points marked at the LLOQ."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    obs = ds.observations(dvid)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for _, g in obs.groupby("ID", sort=False):
        ax.plot(g["TIME"], g["DV"], color="0.6", lw=0.8, alpha=0.8)
    q = obs[obs["CENS"] == 0]
    c = obs[obs["CENS"] == 1]
    ax.scatter(q["TIME"], q["DV"], s=12, color="tab:blue", label="quantified", zorder=3)
    ax.scatter(
        c["TIME"], c["DV"], s=22, marker="v", facecolors="none", edgecolors="tab:red",
        label="BLQ (at LLOQ)", zorder=3,
    )
    lloq = obs["LLOQ"].dropna()
    if len(lloq):
        ax.axhline(float(lloq.median()), color="tab:red", ls="--", lw=1, label="LLOQ")
    ax.set_yscale("log")
    unit = ds.endpoints[dvid].unit
    ax.set_xlabel("days since infusion")
    ax.set_ylabel(f"{dvid} ({unit.replace('ug', 'µg')})")
    ax.set_title(f"{dvid}: {obs['ID'].nunique()} subjects (simulated example trial)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk demo``."""
    from cartpk import examples
    from cartpk.cli._validate import format_summary
    from cartpk.data import read_dataset
    from cartpk.run import run_folder

    out = Path(args.out or f"cartpk-demo-{_dt.datetime.now():%Y%m%d-%H%M%S}")
    trial = examples.path("trial.csv")
    inputs = [trial]
    try:
        inputs.append(examples.path("lesions.csv"))
    except FileNotFoundError:
        pass
    with run_folder(out, command=["cartpk", "demo"], seed=args.seed, inputs=inputs) as rf:
        _say(args, "[1] validate the bundled simulated trial")
        ds = read_dataset(trial)
        summary = ds.summary()
        rf.write_json("data_summary.json", summary)
        rf.write_text("data_summary.txt", format_summary(summary) + "\n")
        rf.write_csv("exclusions.csv", ds.exclusions)
        print(format_summary(summary))
        if "QPCR" in ds.endpoints:
            spaghetti_plot(ds, rf.file("qpcr_spaghetti.png"))
        rf.manifest["stages"] = ["validate"]
    print(f"\nrun folder: {out.resolve()}")
    return 0
