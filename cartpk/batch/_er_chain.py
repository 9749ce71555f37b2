"""Simulation-estimation of the exposure-response chain: are the E-R slopes recovered?

Each replicate simulates a whole trial: the cellular kinetics of ``n_subjects`` patients
from a *truth* declaration (with IIV, residual error and BLQ records on the trial's
sampling days) and, from each patient's *true* exposure, four outcomes with known
exposure slopes (:class:`EROutcomes`): an ordinal CRS grade, a binary response, a
log-normal cytokine peak and progression-free survival with censoring. It then runs the
analysis chain a sponsor would run,

1. population fit of the *fitted* declaration (:func:`cartpk.fit_population`, cheap
   sampler settings, :class:`ChainFit`),
2. model-based exposure per subject (:func:`cartpk.calibrated_exposure`, the posterior
   mean of the log exposure) - the **model** route,
3. observed exposure by NCA (:func:`cartpk.nca`) - the **nca** route,
4. exposure-response fits of every endpoint (:func:`cartpk.er.fit_er`) on each route,
   and on the simulated true exposure - the **true** route, the reference,

and stores each slope with its 95 % interval in ``tasks/<replicate>.json``. The gathered
slopes give, per route and endpoint, the median and mean relative bias, the coverage of
the intervals with its Monte-Carlo error, and the mean interval width
(:func:`summarise_er_chain`). A study is resumable and can be grown like
:func:`cartpk.sse`: replicate ``r`` draws from ``SeedSequence(seed).spawn(n)[r]`` whatever
``n`` is.

Random streams of replicate ``r`` (``s = SeedSequence(seed).spawn(n)[r]``):
``default_rng(s)`` simulates the kinetics (and, restarted, the same subjects' true
parameters), exactly as a parameter SSE with the same seed does; the outcomes draw from
the child ``SeedSequence(seed, spawn_key=(r, 0))``; the sampler's seed is the first word
of the child ``(r, 1)``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.batch._er_chain_options import EXPOSURES, ChainFit, EROutcomes, _finite
from cartpk.batch._replicates import (
    ReplicateStudyResult,
    is_count,
    run_study,
    simulate_trial,
    status_row,
    study_size_violations,
)
from cartpk.batch._runner import StudyFolder, spawn_seeds
from cartpk.errors import SpecError, Violation

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from cartpk.model import Model

__all__ = [
    "ENDPOINTS",
    "EXPOSURES",
    "ROUTES",
    "ChainFit",
    "ERChainResult",
    "EROutcomes",
    "er_chain_sse",
    "summarise_er_chain",
]

#: endpoint -> (E-R model of :func:`cartpk.er.fit_er`, event column or None)
ENDPOINTS: dict[str, tuple[str, str | None]] = {
    "crs_grade": ("ordinal", None),
    "orr": ("logistic", None),
    "il6_cmax": ("loglinear", None),
    "pfs_time": ("cox", "pfs_event"),
}
#: exposure routes, in the order of the tables
ROUTES = ("model", "nca", "true")

ESTIMATE_COLUMNS = [
    "replicate",
    "route",
    "endpoint",
    "model",
    "exposure",
    "truth",
    "estimate",
    "lower",
    "upper",
    "se",
    "calibration_sd",
    "status",
    "n",
    "n_events",
    "exposure_lambda",
    "exposure_r",
    "message",
]
REPLICATE_COLUMNS = [
    "replicate",
    "status",
    "error",
    "message",
    "seconds",
    "blq_fraction",
    "fit_converged",
    "rhat_max",
    "ess_bulk_min",
    "ess_tail_min",
    "divergences",
    "compile_s",
    "sample_s",
    "sampler_seed",
]
SUMMARY_COLUMNS = [
    "route",
    "endpoint",
    "model",
    "exposure",
    "truth",
    "n_replicates",
    "n_replicates_ok",
    "median_estimate",
    "sd_estimate",
    "median_rel_bias_pct",
    "mean_rel_bias_pct",
    "mean_rel_bias_mcse_pct",
    "rmse",
    "n_ci",
    "coverage_pct",
    "coverage_mcse_pct",
    "mean_width",
    "mean_exposure_lambda",
]


# ---------------------------------------------------------------------------------------
# one replicate


def _child(seed: np.random.SeedSequence, k: int) -> np.random.SeedSequence:
    """Child ``k`` of a replicate's seed, independent of how often it was spawned before."""
    return np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, k))


def _exposure_link(est: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """Regression-calibration factor (slope of ln true on ln est) and correlation."""
    ok = np.isfinite(est) & np.isfinite(true) & (est > 0) & (true > 0)
    if ok.sum() < 3:
        return math.nan, math.nan
    a, b = np.log(est[ok]), np.log(true[ok])
    va = float(np.var(a))
    if va == 0:
        return math.nan, math.nan
    lam = float(np.cov(a, b, bias=True)[0, 1] / va)
    r = float(np.corrcoef(a, b)[0, 1])
    return lam, r


@dataclass(frozen=True)
class _ERChainTask:
    """One replicate: simulate kinetics and outcomes, fit, derive exposure, fit E-R."""

    truth: Any
    fitted: Any
    days: Any
    n_subjects: int
    lloq: Any
    dose: Any
    outcomes: EROutcomes
    fit: ChainFit
    level: float

    def __call__(self, seed: np.random.SeedSequence) -> dict[str, Any]:
        import pandas as pd

        from cartpk.data import read_dataset
        from cartpk.exposure import calibrated_exposure, model_exposure
        from cartpk.fit.population import fit_population
        from cartpk.noncompartmental import nca

        dvid = next(iter(self.truth.outputs))
        metric = self.outcomes.exposure
        table, params = simulate_trial(
            self.truth, self.n_subjects, seed, days=self.days, lloq=self.lloq, dose=self.dose
        )
        true = model_exposure(self.truth, params, interval_ends=(28,), dvid=dvid).wide
        true = true.assign(ID=true["ID"].astype(str))[["ID", metric]]
        out = self.outcomes.generate(
            true[metric].to_numpy(), np.random.default_rng(_child(seed, 0))
        )
        subjects = pd.concat([true[["ID"]].reset_index(drop=True), out], axis=1)

        dataset = read_dataset(table)
        obs = dataset.observations(dvid)
        sampler_seed = int(_child(seed, 1).generate_state(1)[0])
        with warnings.catch_warnings():
            # the cheap settings miss the ESS thresholds by design; the numbers are recorded
            warnings.simplefilter("ignore")
            pop = fit_population(
                self.fitted,
                dataset,
                dvid=dvid,
                blq=self.fit.blq,  # type: ignore[arg-type]
                priors=self.fit.priors,  # type: ignore[arg-type]
                chains=self.fit.chains,
                tune=self.fit.tune,
                draws=self.fit.draws,
                target_accept=self.fit.target_accept,
                init=self.fit.init,  # type: ignore[arg-type]
                workers=self.fit.cores,
                seed=sampler_seed,
                extend=self.fit.extend,
            )
            cal = calibrated_exposure(pop, n_draws=self.fit.n_draws, interval_ends=(28,), dvid=dvid)
            observed = nca(dataset, dvid=dvid, interval=(0, 28)).wide
        s = pop.summary
        exposures = {
            "model": cal.assign(ID=cal["ID"].astype(str))[["ID", metric]],
            "nca": observed.assign(ID=observed["ID"].astype(str))[["ID", metric]],
            "true": true,
        }
        rows = []
        true_by_id = true.set_index("ID")[metric]
        # the model route's intervals hold the calibration's shared uncertainty, as in `cartpk er`
        sd = {"model": float(cal.attrs["calibration_sd"][metric]), "nca": 0.0, "true": 0.0}
        for route in ROUTES:
            # left merge: a subject without a route's exposure stays, with NaN (fit_er
            # lists it among its exclusions)
            merged = subjects.merge(exposures[route], on="ID", how="left", validate="1:1")
            lam, r = _exposure_link(
                merged[metric].to_numpy(dtype=float),
                true_by_id.reindex(merged["ID"]).to_numpy(dtype=float),
            )
            for endpoint, (er_model, event) in ENDPOINTS.items():
                rows.append(
                    {
                        "route": route,
                        "endpoint": endpoint,
                        "model": er_model,
                        "exposure": metric,
                        "truth": self.outcomes.truth[endpoint],
                        **_slope(merged, endpoint, metric, er_model, event, self.level, sd[route]),
                        "exposure_lambda": lam,
                        "exposure_r": r,
                    }
                )
        replicate = {
            "blq_fraction": float((obs["CENS"] != 0).mean()) if len(obs) else math.nan,
            "fit_converged": bool(s["converged"]),
            "rhat_max": float(s["rhat_max"]),
            "ess_bulk_min": float(s["ess_bulk_min"]),
            "ess_tail_min": float(s["ess_tail_min"]),
            "divergences": int(s["divergences"]),
            "compile_s": float(s.get("compile_s", math.nan)),
            "sample_s": float(s.get("sample_s", math.nan)),
            "sampler_seed": sampler_seed,
        }
        return {"slopes": rows, "replicate": replicate}


def _slope(
    table: pd.DataFrame,
    endpoint: str,
    exposure: str,
    model: str,
    event: str | None,
    level: float,
    calibration_sd: float,
) -> dict[str, Any]:
    """The exposure row of one E-R fit (its interval widened by ``calibration_sd``,
    :func:`cartpk.er.widen_for_calibration`); a fit that raises is a row with status "error"."""
    from cartpk.er import fit_er, widen_for_calibration
    from cartpk.errors import CartpkError

    try:
        with warnings.catch_warnings():
            # a fit's problems are in its status and message, recorded per row
            warnings.simplefilter("ignore")
            fit = fit_er(table, endpoint, exposure=exposure, model=model, event=event, level=level)  # type: ignore[arg-type]
        row = widen_for_calibration(fit, calibration_sd).slope
        return {
            "estimate": float(row["estimate"]),
            "lower": float(row["lower"]),
            "upper": float(row["upper"]),
            "se": float(row["se"]),
            "calibration_sd": float(calibration_sd),
            "status": str(row["status"]),
            "n": int(row["n"]),
            "n_events": float(row["n_events"]),
            "message": str(row["message"]) if isinstance(row["message"], str) else "",
        }
    except (CartpkError, ValueError, ArithmeticError, np.linalg.LinAlgError) as err:
        return {
            "estimate": math.nan,
            "lower": math.nan,
            "upper": math.nan,
            "se": math.nan,
            "calibration_sd": float(calibration_sd),
            "status": "error",
            "n": 0,
            "n_events": math.nan,
            "message": f"{type(err).__name__}: {err}",
        }


# ---------------------------------------------------------------------------------------
# the summary


#: E-R statuses whose slope is an estimate (Firth-penalised ones included)
USABLE = ("ok", "separation_firth")


def summarise_er_chain(estimates: pd.DataFrame, *, n_replicates: int) -> pd.DataFrame:
    """Bias and coverage of every exposure slope, per route and endpoint.

    Parameters
    ----------
    estimates : pandas.DataFrame
        ``route, endpoint, model, exposure, truth, estimate, lower, upper, status`` and
        ``exposure_lambda``, one row per replicate, route and endpoint.
    n_replicates : int
        Replicates of the study (the denominator of nothing but reported beside
        ``n_replicates_ok``).

    Returns
    -------
    pandas.DataFrame
        :data:`SUMMARY_COLUMNS`, one row per route and endpoint, routes in the order
        model, nca, true.

    Notes
    -----
    Over the ``n = n_replicates_ok`` slopes :math:`\\hat b_r` with a usable status
    (``ok`` or ``separation_firth``) and a finite value, of truth :math:`b`:

    ==========================  ==========================================================
    ``median_rel_bias_pct``     :math:`100\\,\\mathrm{median}_r (\\hat b_r - b)/b`
    ``mean_rel_bias_pct``       :math:`100\\,\\overline{(\\hat b - b)/b}`
    ``mean_rel_bias_mcse_pct``  :math:`100\\,\\mathrm{sd}((\\hat b - b)/b)/\\sqrt n`
    ``rmse``                    :math:`\\sqrt{\\overline{(\\hat b - b)^2}}`
    ``coverage_pct``            :math:`100\\,\\hat p`, the share of the ``n_ci`` finite
                                intervals that hold :math:`b`
    ``coverage_mcse_pct``       :math:`100\\sqrt{\\hat p (1 - \\hat p)/n_{ci}}`
    ``mean_width``              mean of ``upper - lower``
    ``mean_exposure_lambda``    mean slope of ln(true exposure) on ln(route's exposure):
                                1 means no attenuation expected from the exposure error
    ==========================  ==========================================================

    Relative biases are NaN when the truth is 0.
    """
    import pandas as pd

    rows = []
    order = {r: i for i, r in enumerate(ROUTES)}
    ep_order = {e: i for i, e in enumerate(ENDPOINTS)}
    est = estimates.copy()
    est["_r"] = est["route"].map(order).fillna(len(order))
    est["_e"] = est["endpoint"].map(ep_order).fillna(len(ep_order))
    for (route, endpoint), g in est.sort_values(["_r", "_e"]).groupby(
        ["route", "endpoint"], sort=False
    ):
        b = float(g["truth"].iloc[0])
        ok = g[g["status"].isin(USABLE) & np.isfinite(g["estimate"].astype(float))]
        e = ok["estimate"].to_numpy(dtype=float)
        n = e.size
        rel = (e - b) / b if b != 0 else np.full(n, math.nan)
        lo, hi = ok["lower"].to_numpy(dtype=float), ok["upper"].to_numpy(dtype=float)
        has = np.isfinite(lo) & np.isfinite(hi)
        n_ci = int(has.sum())
        p = float(np.mean((lo[has] <= b) & (b <= hi[has]))) if n_ci else math.nan
        lam = ok["exposure_lambda"].to_numpy(dtype=float)
        lam = lam[np.isfinite(lam)]
        rows.append(
            {
                "route": route,
                "endpoint": endpoint,
                "model": g["model"].iloc[0],
                "exposure": g["exposure"].iloc[0],
                "truth": b,
                "n_replicates": int(n_replicates),
                "n_replicates_ok": n,
                "median_estimate": float(np.median(e)) if n else math.nan,
                "sd_estimate": float(np.std(e, ddof=1)) if n > 1 else math.nan,
                "median_rel_bias_pct": 100.0 * float(np.median(rel)) if n else math.nan,
                "mean_rel_bias_pct": 100.0 * float(np.mean(rel)) if n else math.nan,
                "mean_rel_bias_mcse_pct": 100.0 * float(np.std(rel, ddof=1) / math.sqrt(n))
                if n > 1
                else math.nan,
                "rmse": float(np.sqrt(np.mean((e - b) ** 2))) if n else math.nan,
                "n_ci": n_ci,
                "coverage_pct": 100.0 * p,
                "coverage_mcse_pct": 100.0 * math.sqrt(p * (1.0 - p) / n_ci) if n_ci else math.nan,
                "mean_width": float(np.mean(hi[has] - lo[has])) if n_ci else math.nan,
                "mean_exposure_lambda": float(lam.mean()) if lam.size else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


# ---------------------------------------------------------------------------------------
# the study


@dataclass(frozen=True)
class ERChainResult(ReplicateStudyResult):
    """Outcome of :func:`er_chain_sse`: ``summary``, ``estimates``, ``replicates``, ``path``,
    ``status``.

    ``summary`` has :data:`SUMMARY_COLUMNS` (``er_sse_summary.csv``); ``estimates``
    :data:`ESTIMATE_COLUMNS`, every slope of every replicate (``er_sse_estimates.csv``);
    ``replicates`` :data:`REPLICATE_COLUMNS`, status, wall time, BLQ fraction and the
    population fit's convergence per replicate (``er_sse_replicates.csv``); ``path`` is the
    study folder; ``status`` is ``"failed_checks"`` when a replicate raised, else ``"ok"``.
    """


def _check_study(
    n_replicates: Any, n_subjects: Any, seed: Any, level: Any, workers: Any
) -> list[Violation]:
    problems = study_size_violations(n_replicates, n_subjects, seed)
    if not (_finite(level) and 0 < level < 1):
        problems.append(Violation("level_invalid", "`level` must lie in (0, 1)", value=repr(level)))
    if workers is not None and not is_count(workers, 1):
        problems.append(
            Violation("workers_invalid", "`workers` must be an integer >= 1", value=repr(workers))
        )
    return problems


def _identity(model: Model) -> dict[str, Any]:
    free = set(model.parameter_names(free=True))
    return {
        "name": model.name,
        "values": model.initial_values(),
        "fixed": sorted(set(model.parameter_names()) - free),
    }


def er_chain_sse(
    truth: Model,
    fitted: Model,
    design: Sequence[float],
    n_replicates: int,
    *,
    seed: int,
    n_subjects: int,
    out: str | os.PathLike[str],
    outcomes: EROutcomes | None = None,
    fit: ChainFit | None = None,
    lloq: float | None = None,
    dose: float | None = None,
    level: float = 0.95,
    scheduler: str | None = None,
    workers: int | None = None,
    client: Any = None,
    quiet: bool = False,
    spec_file: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> ERChainResult:
    """Simulation-estimation of the population-fit -> exposure -> E-R chain, on Dask.

    Parameters
    ----------
    truth : Model
        Declaration that simulates the kinetics (typical values, IIV SDs, residual error).
    fitted : Model
        Declaration fitted to each replicate (:func:`cartpk.fit_population`).
    design : sequence of float
        Sampling days after infusion.
    n_replicates : int
        Number of simulated trials.
    seed : int
        Master seed; replicate ``r`` uses ``SeedSequence(seed).spawn(n_replicates)[r]``.
    n_subjects : int
        Subjects per trial.
    out : path
        Study folder. Rerunning the same study into it skips finished replicates; a rerun
        with a larger ``n_replicates`` only adds the new ones.
    outcomes : EROutcomes, optional
        Outcome generator and true slopes (default ``EROutcomes()``).
    fit : ChainFit, optional
        Population-fit settings (default ``ChainFit()``: 2 chains x 300 + 300).
    lloq : float, optional
        Assay limit (copies/ug); records below are censored.
    dose : float, optional
        Dose (CAR+ cells); default the model's ``default_dose``.
    level : float, default 0.95
        Confidence level of the E-R intervals.
    scheduler, workers, client, quiet, spec_file, force
        As for :func:`cartpk.sse` (the study reads no input file but its specification,
        whose settings are part of the study's identity).

    Returns
    -------
    ERChainResult
        Also written to ``out``: ``er_sse_summary.csv``, ``er_sse_estimates.csv``,
        ``er_sse_replicates.csv``, ``manifest.json``.

    Raises
    ------
    SpecError
        Invalid settings (``n_replicates_invalid``, ``n_subjects_invalid``,
        ``seed_invalid``, ``level_invalid``, ``workers_invalid``, ``model_invalid``), or
        ``out`` holds a different study (``study_mismatch``).
    FitError
        ``all_replicates_failed``: every replicate raised (the first error is quoted).

    See Also
    --------
    summarise_er_chain : the metrics.
    cartpk.sse : simulation-estimation of model parameters.

    Notes
    -----
    Results do not depend on the number of workers: each replicate draws its data,
    outcomes and sampler seed from its own seed, and results are gathered in replicate
    order. An E-R fit that fails is a row with its status (not an estimate); a replicate
    that raises is recorded in ``er_sse_replicates.csv`` and makes the status
    ``"failed_checks"``.
    """
    import pandas as pd

    from cartpk.model import Model

    outcomes = EROutcomes() if outcomes is None else outcomes
    fit = ChainFit() if fit is None else fit
    problems = _check_study(n_replicates, n_subjects, seed, level, workers)
    for name, m in (("truth", truth), ("fitted", fitted)):
        if not isinstance(m, Model):
            problems.append(
                Violation("model_invalid", f"`{name}` is not a cartpk model", value=repr(m))
            )
    for name, obj, cls in (("outcomes", outcomes, EROutcomes), ("fit", fit, ChainFit)):
        if not isinstance(obj, cls):
            problems.append(
                Violation(
                    f"{name}_invalid",
                    f"`{name}` must be a {cls.__name__}",
                    value=repr(obj),
                    fix=f"pass cartpk.batch.{cls.__name__}(...)",
                )
            )
    if problems:
        raise SpecError("Invalid study settings.", problems)
    days = [float(x) for x in design]
    spec = {
        "study": "er_chain",
        "truth": _identity(truth),
        "fitted": _identity(fitted),
        "design": days,
        "n_subjects": int(n_subjects),
        "seed": int(seed),
        "lloq": lloq,
        "dose": dose,
        "level": float(level),
        "outcomes": dataclasses.asdict(outcomes),
        # `cores` changes how fast, not what is drawn: a study may resume with another
        "fit": {k: v for k, v in dataclasses.asdict(fit).items() if k != "cores"},
    }
    # n_replicates is not part of the study's identity (replicate r's seed does not depend
    # on it): rerunning with more replicates grows the study
    folder = StudyFolder(
        out,
        kind="er_chain",
        spec=spec,
        seed=int(seed),
        extent={"n_replicates": int(n_replicates), "cores": int(fit.cores)},
        spec_file=spec_file,
        force=force,
    )
    seeds = spawn_seeds(int(seed), int(n_replicates))
    task = _ERChainTask(truth, fitted, days, int(n_subjects), lloq, dose, outcomes, fit, level)
    results = run_study(task, seeds, folder, "E-R SSE", client, scheduler, workers, quiet)

    frames, reps = [], []
    for r, res in results.items():
        rec: dict[str, Any] = status_row(r, res)
        if res.status == "ok":
            rec.update(res.result["replicate"])
            frames.append(pd.DataFrame(res.result["slopes"]).assign(replicate=r))
        reps.append(rec)
    replicates = pd.DataFrame(reps).reindex(columns=REPLICATE_COLUMNS)
    estimates = (
        pd.concat(frames, ignore_index=True).reindex(columns=ESTIMATE_COLUMNS)
        if frames
        else pd.DataFrame(columns=ESTIMATE_COLUMNS)
    )
    summary = summarise_er_chain(estimates, n_replicates=int(n_replicates))
    status = folder.finish_replicates(
        {"er_sse_summary.csv": summary, "er_sse_estimates.csv": estimates},
        replicates,
        replicates_file="er_sse_replicates.csv",
        what="E-R chain SSE",
        fix="run one replicate in a Python session to debug it",
    )
    return ERChainResult(summary, estimates, replicates, folder.path, status)
