"""``cartpk demo [--out DIR]``: the whole analysis on the bundled simulated trial.

Stages, each a run folder of its own inside ``DIR`` (so that any stage can be rerun or
reported alone), then one self-contained report:

1. ``data``            validate the trial, summary, exclusions, qPCR spaghetti plot
2. ``nca``             NCA of qPCR (CDISC long table, wide view, summary by target antigen)
3. ``fit_population``  hierarchical Bayesian fit (PyMC + nutpie), M3, with diagnostics/VPC
4. ``fit_individual``  per-patient Stein 2019 fits, M3 censored likelihood, MAP with the
                       population estimates as priors (empirical Bayes)
5. ``exposure``        model-based Cmax, Tmax, AUC0-28d/0-90d vs NCA
6. ``recist``          RECIST 1.1 time-point and best overall responses
7. ``er``              exposure-response models (CRS grade, ORR, IL-6 peak, PFS) on the
                       population fit's model-based exposure, side by side with NCA's
                       (NCA's alone with ``--skip-population``)
8. ``report.html``     the report of all stages

The fit and E-R stages run through the same code as ``cartpk fit`` / ``cartpk er``; their
specifications are written to ``DIR/specs/`` so every stage can be rerun by hand.
Exit 0 when every stage passed its checks, 1 when a stage ran but failed a check (e.g. the
population fit missed a convergence threshold: the report says which).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run", "spaghetti_plot"]

_INDIVIDUAL_SPEC = """\
# Per-patient fits of the Stein 2019 model (written by `cartpk demo`).
name = "demo_individual"
model = "stein2019"
data = "example:trial.csv"
method = "individual"
seed = {seed}
blq = "m3"
dvid = "QPCR"
"""

_POPULATION_SPEC = """\
# Hierarchical Bayesian fit (written by `cartpk demo`; well under a few minutes on 2 cores).
model = "stein2019_smooth"
data = "example:trial.csv"
method = "bayes"
seed = {seed}

[options]
dvid = "QPCR"
# days 7-90 only and a third BLQ: IIV of foldx, tmax, fb and beta is not identifiable from
# 32 subjects (see fits/stein2019_bayes.toml); random effects on cmax and alpha
drop_iiv = ["foldx", "tmax", "fb", "beta"]
blq = "m3"
priors = "weak"
sampler = "nutpie"
chains = 4
tune = {tune}
# 2,000 draws per chain by default: subject 114's random effects mix slowly (chains move
# between regions rarely); longer chains mix them (1,000 draws converged with 1-2 of 3 seeds, 2,000 with 3 of 3)
draws = {draws}
target_accept = 0.95
vpc_replicates = 100
"""

_ER_SPEC = """\
# Exposure-response analyses (written by `cartpk demo`).
title = "Exposure-response, simulated example trial"
seed = {seed}
data = "example:trial.csv"
lesions = "example:lesions.csv"
{fit_line}log = "ln"
level = 0.95
interval = [0, 28]

[[analysis]]
endpoint = "crs_grade"
model = "ordinal"
exposure = ["cmax", "auc_0_28d"]
covariates = ["SLD0"]

[[analysis]]
endpoint = "orr"
model = "logistic"
exposure = ["cmax", "auc_0_28d"]
covariates = ["SLD0"]

[[analysis]]
endpoint = "il6_cmax"
model = "loglinear"
exposure = "cmax"
covariates = ["SLD0"]

[[analysis]]
endpoint = "pfs_time"
model = "cox"
event = "pfs_event"
exposure = "cmax"
covariates = ["SLD0"]
"""


def add_arguments(p: Any) -> None:
    """Add the options of ``cartpk demo`` to its parser."""
    p.add_argument("--out", default=None, help="run folder (default: ./cartpk-demo-<time>)")
    p.add_argument(
        "--force", action="store_true", help="replace --out if it is an earlier cartpk run folder"
    )
    p.add_argument("--seed", type=int, default=20261125, help="master random seed")
    p.add_argument(
        "--draws",
        type=int,
        default=2000,
        help="posterior draws per chain (population fit; 2,000 converge on the bundled trial "
        "whatever the seed, 1,000 in 1-2 of 3 seeds: one subject's random effects mix slowly)",
    )
    p.add_argument("--tune", type=int, default=1000, help="tuning steps per chain")
    p.add_argument(
        "--skip-population",
        action="store_true",
        help="leave out the Bayesian population fit (the slowest stage)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")


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
        c["TIME"],
        c["DV"],
        s=22,
        marker="v",
        facecolors="none",
        edgecolors="tab:red",
        label="BLQ (at LLOQ)",
        zorder=3,
    )
    lloq = obs["LLOQ"].dropna()
    if len(lloq):
        ax.axhline(float(lloq.median()), color="tab:red", ls="--", lw=1, label="LLOQ")
    ax.set_yscale("log")
    from cartpk.data._endpoints import display_unit

    unit = ds.endpoints[dvid].unit
    ax.set_xlabel("days since infusion")
    ax.set_ylabel(f"{dvid} ({display_unit(unit)})")
    ax.set_title(f"{dvid}: {obs['ID'].nunique()} subjects (simulated example trial)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


class _Stages:
    """Runs the stages, times them and keeps their status."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: list[dict[str, Any]] = []
        #: (temporary folder, final folder): stage messages name the final one
        self.rename: tuple[str, str] | None = None

    def say(self, msg: str) -> None:
        if not self.args.quiet:
            print(msg, file=sys.stderr, flush=True)

    def cli(self, name: str, argv: list[str], log: Path) -> int:
        """Run a cartpk command as a stage; its stdout goes to a log file."""
        from cartpk.cli import main

        t0 = time.perf_counter()
        buf = io.StringIO()
        from cartpk.cli._common import Renaming

        err = Renaming(sys.stderr, self.rename) if self.rename else sys.stderr
        with redirect_stdout(buf), redirect_stderr(err):
            code = main(argv)
        log.write_text(buf.getvalue(), encoding="utf-8")
        self.done(name, code, time.perf_counter() - t0)
        return code

    def done(self, name: str, code: int, seconds: float) -> None:
        status = {0: "ok", 1: "failed_checks"}.get(code, f"error (exit {code})")
        self.rows.append({"stage": name, "status": status, "seconds": round(seconds, 1)})
        self.say(f"    {name}: {status} ({seconds:.1f} s)")


def _nca_stage(ds: Any, folder: Path, seed: int) -> None:
    from cartpk import examples
    from cartpk.noncompartmental import nca, nca_summary
    from cartpk.run import run_folder

    with run_folder(
        folder, command=["cartpk", "demo", "nca"], seed=seed, inputs=[examples.path("trial.csv")]
    ) as rf:
        # the same method as `cartpk nca` and nca()'s default: linear trapezoid, BLQ after
        # Tlast as 0 (the CAR-T reporting convention, docs/nca_blq.md)
        res = nca(ds, dvid="QPCR", interval=(0, 28))
        rf.write_csv("nca.csv", res.long)
        rf.write_csv("nca_wide.csv", res.wide)
        rf.write_csv("nca_rules.csv", res.rules)
        groups = ds.covariates[["ID", "TARGET"]] if "TARGET" in ds.covariates else None
        summ = nca_summary(res, by="TARGET", groups=groups) if groups is not None else None
        rf.write_csv("nca_summary.csv", summ if summ is not None else nca_summary(res))
        rf.manifest["results"] = {
            "subjects": int(res.wide["ID"].nunique()),
            "auc_method": "linear",
            "interval": [0, 28],
        }


def _exposure_stage(ind_dir: Path, nca_dir: Path, folder: Path, seed: int, lloq: float) -> None:
    import pandas as pd

    from cartpk.exposure import compare_exposure, model_exposure
    from cartpk.model import load_model
    from cartpk.run import run_folder

    model = load_model("stein2019")
    table = pd.read_csv(ind_dir / "individual.csv", dtype={"ID": str})
    names = model.parameter_names("structural")
    ok = table[table["converged"].astype(bool)] if "converged" in table else table
    params = ok[["ID", *[n for n in names if n in ok.columns]]]
    with run_folder(
        folder,
        command=["cartpk", "demo", "exposure"],
        seed=seed,
        inputs=[ind_dir / "individual.csv", nca_dir / "nca_wide.csv"],
    ) as rf:
        res = model_exposure(model, params, interval_ends=(28, 90), lloq=lloq, dvid="QPCR")
        rf.write_csv("exposure_model.csv", res.wide)
        rf.write_csv("exposure_model_long.csv", res.long)
        nca_wide = pd.read_csv(nca_dir / "nca_wide.csv", dtype={"ID": str})
        cmp = compare_exposure(res.wide, nca_wide, metrics=("cmax", "auc_0_28d"))
        rf.write_csv("exposure_vs_nca.csv", cmp.table)
        rf.write_csv("exposure_pairs.csv", cmp.pairs)
        units = res.long.drop_duplicates("metric").set_index("metric")["unit"].to_dict()
        cmp.plot(rf.file("exposure_vs_nca.png"), units=units)
        rf.manifest["results"] = {
            "subjects": int(res.wide["ID"].nunique()),
            "source": "individual fits (converged subjects)",
            "not_used": sorted(set(table["ID"]) - set(ok["ID"])),
        }


def _population_ini(path: Path) -> dict[str, float]:
    """Posterior estimates (typical values, omega, sigma) of a population fit, by name.

    They become the individual fits' MAP priors (empirical Bayes, as NONMEM's POSTHOC
    step); names the individual model does not have are left out.
    """
    import pandas as pd

    from cartpk.model import load_model

    if not path.is_file():
        return {}
    table = pd.read_csv(path)
    names = set(load_model("stein2019").parameters["name"].astype(str))
    out: dict[str, float] = {}
    for _, row in table.iterrows():
        name, value = str(row["parameter"]), float(row["estimate"])
        if name in names and value == value and value > 0:
            out[name] = value
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk demo``."""
    from cartpk import examples
    from cartpk.run import check_out, run_folder

    _check_options(args)  # before any stage: a bad value exits 2 with nothing written
    out = Path(args.out or f"cartpk-demo-{_dt.datetime.now():%Y%m%d-%H%M%S}")
    force = bool(getattr(args, "force", False))
    check_out(out, force=force)
    trial = examples.path("trial.csv")
    lesions = examples.path("lesions.csv")
    st = _Stages(args)
    seed = args.seed
    q = ["--quiet"] if args.quiet else []
    with run_folder(
        out,
        command=["cartpk", "demo", *sys.argv[2:]],
        seed=seed,
        inputs=[trial, lesions],
        overwrite=force,
    ) as rf:
        root = rf.path
        st.rename = (str(root), str(out))
        specs = root / "specs"
        specs.mkdir()
        logs = root / "logs"
        logs.mkdir()

        ds = _data_stage(st, trial, root, seed)

        st.say("[2/8] NCA of qPCR (AUC0-28d, linear trapezoid as `cartpk nca`)")
        t0 = time.perf_counter()
        _nca_stage(ds, root / "nca", seed)
        st.done("nca", 0, time.perf_counter() - t0)

        stages = ["data", "nca"]
        ini: dict[str, float] = {}
        if not args.skip_population:
            ini = _population_stage(st, args, root, q)
            stages.append("fit_population")
        else:
            st.say("[3/8] population fit skipped (--skip-population)")

        _individual_stage(st, ini, seed, root, q, skipped=args.skip_population)
        stages.append("fit_individual")

        st.say("[5/8] model-based exposure vs NCA")
        t0 = time.perf_counter()
        lloq = float(ds.observations("QPCR")["LLOQ"].median())
        if (root / "fit_individual" / "individual.csv").is_file():
            _exposure_stage(root / "fit_individual", root / "nca", root / "exposure", seed, lloq)
            st.done("exposure", 0, time.perf_counter() - t0)
            stages.append("exposure")
        else:
            st.done("exposure", 1, 0.0)

        st.say("[6/8] RECIST 1.1")
        st.cli(
            "recist", ["recist", str(lesions), "--out", str(root / "recist")], logs / "recist.log"
        )
        _er_cli_stage(st, seed, root, q)
        stages += ["recist", "er"]

        _report_stage(st, root, out, stages)
        import pandas as pd

        table = pd.DataFrame(st.rows)
        rf.write_csv("stages.csv", table)
        failed = [r["stage"] for r in st.rows if r["status"] != "ok"]
        rf.status = "ok" if not failed else "failed_checks"
        rf.manifest["stages"] = st.rows
    from cartpk.cli._common import terminal_table

    print("\n" + terminal_table(table, max_rows=None))
    print(f"\nreport: {(out / 'report.html').resolve()}")
    print(f"to rerun a stage by hand: its spec in {out / 'specs'}, its output in {out / 'logs'}")
    return 0 if not failed else 1


def _check_options(args: argparse.Namespace) -> None:
    """The demo's options against the limits its stages' specifications put on them."""
    from cartpk.cli._common import UsageError

    for flag, value, low in (("--seed", args.seed, 0), ("--draws", args.draws, 1)):
        if value < low:
            raise UsageError(f"`{flag}` must be >= {low} (got {value})")
    if args.tune < 0:
        raise UsageError(f"`--tune` must be >= 0 (got {args.tune})")


def _data_stage(st: _Stages, trial: Path, root: Path, seed: int) -> Any:
    """Stage 1: validate the bundled trial into ``root/data``; returns the dataset."""
    from cartpk.cli._validate import format_summary
    from cartpk.data import read_dataset
    from cartpk.run import run_folder

    st.say("[1/8] validate the bundled simulated trial")
    t0 = time.perf_counter()
    ds = read_dataset(trial)
    with run_folder(
        root / "data", command=["cartpk", "demo", "data"], seed=seed, inputs=[trial]
    ) as d:
        summary = ds.summary()
        d.write_json("data_summary.json", summary)
        d.write_text("data_summary.txt", format_summary(summary) + "\n")
        d.write_csv("exclusions.csv", ds.exclusions)
        spaghetti_plot(ds, d.file("qpcr_spaghetti.png"))
    st.say(format_summary(summary) if not st.args.quiet else "")
    st.done("data", 0, time.perf_counter() - t0)
    return ds


def _population_stage(
    st: _Stages, args: argparse.Namespace, root: Path, q: list[str]
) -> dict[str, float]:
    """Stage 3: the population fit through ``cartpk fit``; returns its typical values."""
    specs, logs = root / "specs", root / "logs"
    st.say("[3/8] population fit (PyMC + nutpie, M3; a few minutes on 2 cores)")
    (specs / "population.toml").write_text(
        _POPULATION_SPEC.format(seed=args.seed, draws=args.draws, tune=args.tune)
    )
    st.cli(
        "fit_population",
        ["fit", str(specs / "population.toml"), "--out", str(root / "fit_population"), *q],
        logs / "fit_population.log",
    )
    return _population_ini(root / "fit_population" / "population.csv")


def _individual_stage(
    st: _Stages,
    ini: dict[str, float],
    seed: int,
    root: Path,
    q: list[str],
    *,
    skipped: bool = True,
) -> None:
    """Stage 4: per-patient fits through ``cartpk fit``, MAP on the population values if any."""
    specs, logs = root / "specs", root / "logs"
    ml = (
        "; maximum likelihood: samples from day 7 leave most subjects underdetermined, so "
        "expect failed_checks - "
    )
    st.say(
        "[4/8] per-patient fits (Stein 2019, M3 for BLQ"
        + (
            ", MAP with the population estimates as priors)"
            if ini
            else ml + "run without --skip-population for fits with the population "
            "estimates as priors)"
            if skipped
            else ml + "the population fit left no estimates to use as priors: see "
            "logs/fit_population.log)"
        )
    )
    spec_text = _INDIVIDUAL_SPEC.format(seed=seed)
    if ini:
        spec_text += 'prior = "population"\n\n[ini]\n' + "".join(
            f"{k} = {v!r}\n" for k, v in ini.items()
        )
    (specs / "individual.toml").write_text(spec_text)
    st.cli(
        "fit_individual",
        ["fit", str(specs / "individual.toml"), "--out", str(root / "fit_individual"), *q],
        logs / "fit_individual.log",
    )


def _er_cli_stage(st: _Stages, seed: int, root: Path, q: list[str]) -> None:
    """Stage 7: exposure-response through ``cartpk er``, on the population fit's exposure if any."""
    specs, logs = root / "specs", root / "logs"
    fitted = (root / "fit_population" / "manifest.json").is_file()
    fit_line = (
        "# model-based exposure (posterior mean log exposure) from the population fit;\n"
        "# every analysis is also fitted on NCA exposure for comparison\n"
        'fit = "../fit_population"\n'
        if fitted
        else "# no population fit (--skip-population): exposure from NCA\n"
    )
    st.say(
        "[7/8] exposure-response ("
        + ("model-based exposure from the population fit, and NCA's)" if fitted else "NCA)")
    )
    (specs / "er.toml").write_text(_ER_SPEC.format(seed=seed, fit_line=fit_line))
    st.cli("er", ["er", str(specs / "er.toml"), "--out", str(root / "er"), *q], logs / "er.log")


def _report_stage(st: _Stages, root: Path, out: Path, stages: list[str]) -> None:
    """Stage 8: the report of every stage that left a manifest, paths named as in ``out``."""
    st.say("[8/8] report")
    # the stages ran in the demo's temporary folder, renamed to OUT at the end: their
    # manifests (and so the report) name the paths as the user will find them
    from cartpk.run import retarget_manifests

    retarget_manifests(root, root, out.resolve())
    runs = [str(root / s) for s in stages if (root / s / "manifest.json").is_file()]
    st.cli(
        "report",
        [
            "report",
            *runs,
            "--out",
            str(root / "report.html"),
            "--title",
            "cartpk demo: simulated cervical-cancer CAR-T trial",
        ],
        (root / "logs") / "report.log",
    )
