"""``method = "population"`` of ``cartpk fit``: a hierarchical Bayesian fit and its checks.

Spec keys (all optional besides ``model``/``data``, validated with the specification by
:data:`cartpk.fit._spec.POPULATION_OPTIONS` before anything runs):
``dvid``, ``drop_iiv`` (random effects to remove, e.g. ``["foldx"]``), ``blq`` ("m3"),
``priors`` (the model's ``default_priors``: "weak" unless the model declares a set, e.g.
"solid_tumour" for ``stein2019_covariates``), ``sampler`` ("nutpie"), ``draws`` (1000),
``tune`` (1000), ``chains`` (4), ``target_accept`` (0.9), ``init`` ("ebe": every chain
starts at the subjects' empirical Bayes estimates; "jitter"; "declared": chains start at the
declared values), ``ode_engine`` ("jax" or "scipy"; default jax for explicit solvers, scipy for stiff ones), ``ode_method`` (solver instead of the declaration's, e.g. "Tsit5"),
``mass_matrix`` ("diag"; "low_rank" with nutpie), ``centered`` (random effects sampled
centred, e.g. ``["gamma"]``), ``vpc_replicates`` (200),
``rhat_max``, ``ess_bulk_min``, ``ess_tail_min``, ``divergences_max``, ``bfmi_min``.

Registered in :data:`cartpk.cli._fit.METHODS` as ``"population"``. Files written to the run folder: ``posterior.nc`` (ArviZ NetCDF), ``population.csv``,
``individual_parameters.csv`` (also as ``individual.csv``), ``diagnostics.csv`` and
``diagnostics.json``, ``priors.csv``, ``predictions.csv``, ``vpc.csv``, ``vpc_blq.csv``,
``pcvpc.csv``, ``vpc.png``, ``pcvpc.png``, ``gof.png``, ``individual_fits.png``. The run's status
is ``failed_checks`` and the exit code 1 when a convergence threshold is missed.

``population.csv`` ends with ``prior_width_ratio`` (posterior / prior 95 % interval width on the
prior's scale) and ``prior_dominated`` (ratio > 0.5); ``diagnostics.json`` lists those parameters
as ``prior_dominated`` (information only: they do not fail the run). See
:mod:`cartpk.fit.population`, "How much of an interval is prior".
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Mapping
from typing import Any

from cartpk.cli._fit import FitJob, FitMethod
from cartpk.cli._fit_outputs import jsonable, write_checks
from cartpk.errors import CartpkWarning
from cartpk.fit._spec import POPULATION_OPTIONS

__all__ = ["OPTIONS", "POPULATION"]

#: spec key -> (kind, default), from the shared rules (:data:`cartpk.fit._spec.POPULATION_OPTIONS`)
OPTIONS: dict[str, tuple[str, Any]] = {
    k: (f.kind, f.default) for k, f in POPULATION_OPTIONS.items()
}


def _run(job: FitJob) -> bool:
    """Fit, check and write a population fit into an open run folder.

    Parameters
    ----------
    job : cartpk.cli._fit.FitJob
        The model, the data, the master seed (sampler and simulations; 1 when the spec
        gives none), the spec's options (keys of :data:`OPTIONS`, validated by
        :func:`cartpk.cli._fit.load_spec`), the open run folder and ``quiet`` (hide the
        sampler's progress bar, shown only on a terminal otherwise).

    Returns
    -------
    bool
        Whether every convergence threshold was met.
    """
    opt = job.settings(OPTIONS)
    seed = 1 if job.seed is None else int(job.seed)
    thresholds = _thresholds(opt)
    say = _Say(job.quiet)
    fit, notes = _sample(job, opt, seed=seed, thresholds=thresholds, say=say)
    _write_results(job.folder, fit, notes)
    write_checks(job.folder, fit, n=int(opt["vpc_replicates"]), seed=seed)
    job.folder.manifest["results"] = _manifest_results(fit)
    say(convergence_line(fit.summary, thresholds))
    return fit.converged


def _thresholds(opt: Mapping[str, Any]) -> Any:
    """The convergence thresholds the spec's options set."""
    from cartpk import diagnostics as dg

    return dg.ConvergenceThresholds(
        rhat_max=float(opt["rhat_max"]),
        ess_bulk_min=float(opt["ess_bulk_min"]),
        ess_tail_min=float(opt["ess_tail_min"]),
        divergences_max=int(opt["divergences_max"]),
        bfmi_min=float(opt["bfmi_min"]),
    )


def _fit_arguments(opt: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's options as the arguments of :func:`cartpk.fit_population` they are."""
    given = {k: opt[k] for k in ("dvid", "blq", "priors", "sampler", "ode_engine", "ode_method")}
    counts = {k: int(opt[k]) for k in ("draws", "tune", "chains", "extend")}
    return {
        **given,
        **counts,
        "target_accept": float(opt["target_accept"]),
        "init": str(opt["init"]),
        "resample": bool(opt["resample"]),
        "mass_matrix": str(opt["mass_matrix"]),
        "centered": list(opt["centered"] or ()),
        "drop_iiv": [str(p) for p in opt["drop_iiv"] or ()],
    }


def _sample(
    job: FitJob, opt: Mapping[str, Any], *, seed: int, thresholds: Any, say: _Say
) -> tuple[Any, list[str]]:
    """Sample the posterior, saying what runs and what ran; the fit and its warnings (printed)."""
    import cartpk as ck
    from cartpk.cli._common import wants_progress

    say(
        f"population fit of {job.model.name} on {len(job.dataset.subjects)} subjects: building "
        f"the model and compiling it (numba: 20-70 s, about 1 s from the compile cache), then "
        f"sampling "
        f"{int(opt['chains'])} chains x ({int(opt['tune'])} warm-up + {int(opt['draws'])} draws)"
        f" (up to {int(opt['extend'])} more rounds of {int(opt['chains'])} chains while a "
        f"threshold is missed); {_INIT_SAID.get(str(opt['init']), str(opt['init']))}"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CartpkWarning)
        fit = ck.fit_population(
            job.model,
            job.dataset,
            **_fit_arguments(opt),
            seed=seed,
            thresholds=thresholds,
            progress=wants_progress(job.quiet),
        )
    say.newline()  # the sampler's progress row ends without one
    _say_sampled(say, fit.summary, n=int(opt["vpc_replicates"]))
    notes = [str(w.message) for w in caught if isinstance(w.message, CartpkWarning)]
    for note in notes:
        print(f"warning {note}", file=sys.stderr)
    return fit, notes


def _say_sampled(say: _Say, summary: Mapping[str, Any], *, n: int) -> None:
    """Status lines after sampling: EBE starts, resampled subjects, times, what comes next."""
    ebe = summary.get("init_ebe")
    if ebe:
        bad = len(ebe["not_converged"])
        say(
            f"started every chain at {ebe['subjects']} subjects' empirical Bayes estimates "
            f"({ebe['seconds']:.1f} s; {bad} of the subject fits did not converge: those "
            f"start at the best point found)"
        )
    resampled = summary.get("resampled") or {}
    if resampled:
        rates = ", ".join(f"{k} ({v:.0%} accepted)" for k, v in list(resampled.items())[:5])
        say(
            f"the random effects of {len(resampled)} subject(s) did not mix under NUTS and "
            f"were resampled from their conditional posterior given each draw: {rates}"
            f"{', ...' if len(resampled) > 5 else ''} (`resample = false` turns this off)"
        )
    say(
        f"sampled in {_secs(summary.get('sample_s'))} (compiled in "
        f"{_secs(summary.get('compile_s'))}); writing the posterior, diagnostics and "
        f"{n} VPC replicates"
    )


def _write_results(folder: Any, fit: Any, notes: list[str]) -> None:
    """The posterior, the estimates, the diagnostics (with ``notes``) and the priors."""
    fit.idata.to_netcdf(str(folder.file("posterior.nc")))
    folder.write_csv("population.csv", fit.parameters)
    folder.write_csv("individual_parameters.csv", fit.individual)
    folder.write_csv("individual.csv", fit.individual)
    folder.write_csv("diagnostics.csv", fit.diagnostics)
    folder.write_csv("priors.csv", fit.priors)
    if len(fit.excluded):
        folder.write_csv("excluded.csv", fit.excluded)
    summary = dict(fit.summary)
    summary["warnings"] = notes
    folder.write_json("diagnostics.json", jsonable(summary))


def _manifest_results(fit: Any) -> dict[str, Any]:
    """The ``results`` of the run's manifest."""
    s = fit.summary
    return {
        "method": "population",
        "converged": fit.converged,
        "failed": s["failed"],
        "blq": s["blq"],
        "priors": s["priors"],
        "sampler": s["sampler"],
        "init": s["init"],
        "init_ebe": s.get("init_ebe"),
        "chains": s["chains"],
        "rounds": s["rounds"],
        "sampling_stopped": s["sampling_stopped"],
        "resampled": s.get("resampled", {}),
    }


_INIT_SAID = {
    "ebe": 'chains start at each subject\'s empirical Bayes estimate (init = "ebe")',
    "declared": 'chains start at the declared values (init = "declared")',
    "jitter": 'chains start jittered around the declared values (init = "jitter")',
}


class _Say:
    """Status lines on stderr (not with ``--quiet``), each on its own line."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, text: str) -> None:
        if not self.quiet:
            print(f"cartpk: {text}", file=sys.stderr, flush=True)

    def newline(self) -> None:
        if not self.quiet and sys.stderr.isatty():
            print(file=sys.stderr, flush=True)


def _secs(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "?"
    return f"{v:.0f} s" if math.isfinite(v) else "?"


def convergence_line(summary: Mapping[str, Any], thresholds: Any) -> str:
    """One line for the end of a population fit: the checks, their thresholds, what next.

    Examples
    --------
    >>> from cartpk.diagnostics import ConvergenceThresholds
    >>> s = {"rhat_max": 1.004, "ess_bulk_min": 812.0, "ess_tail_min": 650.0,
    ...      "divergences": 0, "converged": True, "failed": []}
    >>> print(convergence_line(s, ConvergenceThresholds()))
    converged: R-hat max 1.004 (<= 1.01), ESS bulk min 812 (>= 400), ESS tail min 650 (>= 400), divergences 0 (<= 0); diagnostics.csv, vpc.png and gof.png in the run folder
    """
    t = thresholds
    parts = (
        f"R-hat max {float(summary.get('rhat_max', math.nan)):.3f} (<= {t.rhat_max:g}), "
        f"ESS bulk min {float(summary.get('ess_bulk_min', math.nan)):.0f} (>= {t.ess_bulk_min:g}), "
        f"ESS tail min {float(summary.get('ess_tail_min', math.nan)):.0f} (>= {t.ess_tail_min:g}), "
        f"divergences {int(summary.get('divergences', 0))} (<= {t.divergences_max:g})"
    )
    where = "diagnostics.csv, vpc.png and gof.png in the run folder"
    if summary.get("converged"):
        return f"converged: {parts}; {where}"
    failed = ", ".join(str(f) for f in summary.get("failed", [])) or "see diagnostics.csv"
    stopped = summary.get("sampling_stopped")
    after = (
        f" after {summary.get('chains')} chains ({len(summary.get('rounds', []))} round(s); "
        f"stopped: {stopped})"
        if stopped
        else ""
    )
    return (
        f"NOT converged ({failed}){after}: {parts}; exit code 1. Raise `extend` or "
        f"`draws`/`tune`, or simplify the model (`drop_iiv`); {where}"
    )


POPULATION = FitMethod(run=_run)
