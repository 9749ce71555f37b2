"""``method = "saem"`` of ``cartpk fit``: population maximum likelihood by SAEM.

Spec keys (all optional besides ``model``/``data``; rules in
:data:`cartpk.fit._spec.SAEM_OPTIONS`): ``dvid``, ``drop_iiv``, ``blq`` ("m3" or "m1"),
``explore`` (300), ``smooth`` (200), ``chains``, ``is_samples`` (2000), ``fim_samples``
(500), ``level`` (0.95), ``vpc_replicates`` (200), ``profile`` (typical values without IIV
that also get a profile-likelihood interval: ``profile_lower``/``profile_upper`` in
``population.csv``).

Files written to the run folder: ``population.csv`` (``parameter, estimate, se, rse_pct,
lower, upper, unit``, then ``cv_pct``, ``shrinkage_pct``, ``role``, ``fixed``),
``individual.csv`` (conditional modes = EBEs, conditional means and quantiles, random
effects), ``diagnostics.json`` (-2LL and its Monte-Carlo error, AIC, BIC, number of
parameters, iterations, the stochastic approximation's drift, Fisher information positive
definite, shrinkage, seconds), ``covariance.csv`` (estimation parameterisation),
``trace.csv`` and ``trace.png`` (the parameters at every iteration), ``excluded.csv`` (M1),
and the same checks as the Bayesian fit, from the same functions of
:mod:`cartpk.diagnostics` (``vpc_replicates`` new trials simulated at the estimates):
``predictions.csv`` (PRED, IPRED over the conditional distributions, NPD), ``vpc.csv``,
``vpc_blq.csv``, ``pcvpc.csv``, ``vpc.png``, ``pcvpc.png``, ``gof.png``,
``individual_fits.png`` (24 subjects per page). The run's status is ``failed_checks`` and
the exit code 1 when SAEM did not settle, the Fisher information is not positive definite or
a parameter ran to its bound.
"""

from __future__ import annotations

import math
import sys
import warnings
from typing import Any

from cartpk.cli._fit import FitJob, FitMethod
from cartpk.errors import CartpkWarning
from cartpk.fit._spec import SAEM_OPTIONS

__all__ = ["OPTIONS", "SAEM"]

OPTIONS: dict[str, tuple[str, Any]] = {k: (f.kind, f.default) for k, f in SAEM_OPTIONS.items()}


def _run(job: FitJob) -> bool:
    """Fit by SAEM and write the run folder; returns whether every check passed."""
    from cartpk.cli._fit_outputs import write_checks
    from cartpk.fit.saem import fit_saem

    model, dataset, quiet = job.model, job.dataset, job.quiet
    opt = job.settings(OPTIONS)
    seed = 0 if job.seed is None else int(job.seed)
    say = (lambda *_: None) if quiet else (lambda m: print(f"cartpk: {m}", file=sys.stderr))
    # said when SAEM starts, after fit_saem has checked the model, data and options
    start = (
        f"SAEM fit of {model.name} on {len(dataset.subjects)} subjects: {opt['explore']} + "
        f"{opt['smooth']} iterations, then -2LL by importance sampling ({opt['is_samples']} "
        f"samples per subject) and standard errors"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CartpkWarning)
        fit = fit_saem(
            model,
            dataset,
            dvid=opt["dvid"],
            blq=str(opt["blq"]),  # type: ignore[arg-type]
            drop_iiv=[str(p) for p in opt["drop_iiv"] or ()],
            explore=int(opt["explore"]),
            smooth=int(opt["smooth"]),
            chains=None if opt["chains"] is None else int(opt["chains"]),
            is_samples=int(opt["is_samples"]),
            fim_samples=int(opt["fim_samples"]),
            level=float(opt["level"]),
            seed=seed,
            progress=_progress(quiet, start),
            profile=[str(p) for p in opt["profile"] or ()],
        )
    notes = [str(w.message) for w in caught if isinstance(w.message, CartpkWarning)]
    for note in notes:
        print(f"warning {note}", file=sys.stderr)
    _write(job.folder, fit, notes)
    write_checks(job.folder, fit, n=int(opt["vpc_replicates"]), seed=seed)
    s = fit.summary
    say(
        f"-2LL {s['minus2ll']:.2f} (Monte-Carlo SE {s['minus2ll_mc_se']:.2f}), AIC "
        f"{s['aic']:.2f}, BIC {s['bic']:.2f}, {s['n_parameters']} parameters; SAEM "
        f"{s['saem_s']:.0f} s, -2LL {s['loglik_s']:.0f} s, standard errors {s['fim_s']:.0f} s"
    )
    for name, r in s.get("profile", {}).items():
        ends = [
            f"{v:.4g}" + ("" if closed else " (open)")
            for v, closed in ((r["lower"], r["closed_lower"]), (r["upper"], r["closed_upper"]))
        ]
        say(f"profile-likelihood interval of {name}: [{ends[0]}, {ends[1]}] ({r['refits']} refits)")
    say(
        ("converged" if fit.converged else "NOT converged (see the warnings above)")
        + "; population.csv, individual.csv, diagnostics.json, trace.png, gof.png and "
        "vpc.png in the run folder"
    )
    return fit.converged


def _progress(quiet: bool, start: str) -> Any:
    """Progress lines: ``start`` at the first iteration, then every tenth of the way."""
    if quiet:
        return None
    shown = {"last": -1}

    def progress(k: int, total: int) -> None:
        if shown["last"] < 0:
            print(f"cartpk: {start}", file=sys.stderr, flush=True)
        tenth = 10 * k // total
        if tenth != shown["last"]:
            shown["last"] = tenth
            print(f"cartpk: SAEM iteration {k}/{total}", file=sys.stderr, flush=True)

    return progress


def _write(folder: Any, fit: Any, notes: list[str]) -> None:
    from cartpk.cli._fit_outputs import jsonable

    folder.write_csv("population.csv", fit.parameters)
    folder.write_csv("individual.csv", fit.individual)
    folder.write_csv("covariance.csv", fit.covariance.reset_index(names="parameter"))
    folder.write_csv("trace.csv", fit.trace.reset_index(names="iteration"))
    if len(fit.excluded):
        folder.write_csv("excluded.csv", fit.excluded)
    summary = {**fit.summary, "warnings": notes}
    folder.write_json("diagnostics.json", jsonable(summary))
    _plot_trace(fit, folder.file("trace.png"))
    s = fit.summary
    folder.manifest["results"] = {
        "method": "saem",
        "converged": fit.converged,
        "minus2ll": s["minus2ll"],
        "minus2ll_mc_se": s["minus2ll_mc_se"],
        "aic": s["aic"],
        "bic": s["bic"],
        "n_parameters": s["n_parameters"],
        "n_subjects": s["n_subjects"],
        "n_observations": s["n_observations"],
        "blq": s["blq"],
    }


def _plot_trace(fit: Any, path: Any) -> None:
    """The parameters at every iteration (estimation scale), the phases marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trace = fit.trace
    cols = list(trace.columns)
    ncol = 3
    nrow = max(1, math.ceil(len(cols) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 2.6 * nrow), squeeze=False)
    explore = fit.summary["explore"]
    for ax, name in zip(axes.ravel(), cols, strict=False):
        ax.plot(trace.index + 1, trace[name], lw=0.8)
        ax.axvline(explore, color="grey", ls=":", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("SAEM iteration")
        ax.set_ylabel(_label(fit, name))
    for ax in axes.ravel()[len(cols) :]:
        ax.set_visible(False)
    fig.suptitle("SAEM: exploration (step 1) | smoothing (step 1/k)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _label(fit: Any, name: str) -> str:
    model = fit.model
    if name.startswith("mu_") and name[3:] in model.thetas:
        t = model.thetas[name[3:]]
        return f"{t.transform}({name[3:]} / {t.unit})" if t.transform else f"{name[3:]} ({t.unit})"
    if name.startswith("omega_"):
        return "SD of the random effect"
    if name in {s for e in model.error.values() for s in e.names}:
        return "residual SD"
    return "coefficient"


SAEM = FitMethod(run=_run)
