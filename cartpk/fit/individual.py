"""Per-subject maximum-likelihood (or MAP) fits of a model declaration, with censoring.

Each subject is fitted on its own with lmfit on the parameters' transformed scale
(``log``/``logit`` as declared), evaluating the declaration through ``model.evaluate`` and
the censored likelihood of :mod:`cartpk.fit._likelihood`. :func:`fit_subject` is the
picklable unit of work (what :func:`fit_individual` runs in worker processes, and what a
Dask study calls); :func:`fit_individual` turns a :class:`~cartpk.data.Dataset` into
subjects, fits them (in parallel) and returns tidy tables.

The steps live in their own modules: the subjects' inputs (:mod:`cartpk.fit._subjects`),
one subject's objective (:mod:`cartpk.fit._subject_problem`), its local optimisation
(:mod:`cartpk.fit._subject_optimise`) and its intervals (:mod:`cartpk.fit._subject_intervals`);
closed-form subjects with fixed sigma are optimised together (:mod:`cartpk.fit._batch`).
The statuses and results are :mod:`cartpk.fit._individual_result`; this module holds the
two entry points.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from cartpk.errors import FitError, SpecError, Violation
from cartpk.fit._individual_result import FitStatus, IndividualFit, SubjectFit
from cartpk.fit._likelihood import BlqMethod, check_blq
from cartpk.fit._options import accepts_renamed, check_choice, choice_problem
from cartpk.fit._subject_intervals import (
    ProfileFn,
    _best,
    _Curvature,
    _curvature,
    _profile_bound,
)
from cartpk.fit._subject_optimise import (
    _minimize,
    _seed_for,
    _starts,
)
from cartpk.fit._subject_problem import (
    _BIG,
    _dnat_dh,
    _Problem,
    _Spec,
    _spec,
    _to_nat,
)
from cartpk.fit._subjects import SubjectData, subjects_from_dataset

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.data import Dataset
    from cartpk.model import Model

__all__ = [
    "FitStatus",
    "IndividualFit",
    "SubjectData",
    "SubjectFit",
    "fit_individual",
    "fit_subject",
    "subjects_from_dataset",
]

PriorKind = Literal["population"] | None
SigmaKind = Literal["fixed", "estimate"]
CiKind = Literal["auto", "wald", "profile"]
GradientKind = Literal["auto", "exact", "fd"]

_SE_HUGE = 1.0  # SE on the transformed scale above which a parameter is not identified
_PRIOR_DOMINATED = 0.8  # SE / omega above which a MAP estimate is mostly the prior


# ---------------------------------------------------------------------------------------
# data preparation


# ---------------------------------------------------------------------------------------
# the per-subject problem


def _empty_fit(
    subject: SubjectData, status: FitStatus, model: Model, blq: str, prior: str, n_discarded: int
) -> SubjectFit:
    nan = {t: math.nan for t in model.thetas}
    return SubjectFit(
        id=subject.id,
        status=status,
        message=status.message,
        blq=blq,
        prior=prior,
        estimate=dict(nan),
        se=dict(nan),
        lower=dict(nan),
        upper=dict(nan),
        ci_method={t: "none" for t in model.thetas},
        at_bound={t: False for t in model.thetas},
        identifiable={t: False for t in model.thetas},
        notes={t: "not estimated" for t in model.thetas},
        objective=math.nan,
        n_obs=subject.n_obs,
        n_censored=int(np.sum(subject.cens != 0)),
        n_discarded=n_discarded,
        n_starts=0,
        n_starts_agree=0,
        ipred=np.full(subject.n_obs, np.nan),
        pred=np.full(subject.n_obs, np.nan),
    )


def _exact_engine(
    model: Model, gradient: str, ode_engine: str | None, ode_method: str | None
) -> str | None:
    """The ODE engine of exact derivatives, or None for finite differences; every problem
    of the three options raised at once (``spec_option_value``, ``ode_engine``,
    ``ode_method``, ``gradient_exact``)."""
    from cartpk.model import OdeModel
    from cartpk.ode._options import default_ode_engine, ode_option_problems

    ode = isinstance(model, OdeModel)
    problems = []
    wrong = choice_problem(
        "gradient",
        gradient,
        ("auto", "exact", "fd"),
        code="gradient_kind",
        fix='use gradient="auto"',
    )
    if wrong is not None:
        problems.append(wrong)
    elif gradient == "exact" and not ode:
        problems.append(
            Violation(
                "gradient_exact",
                f"exact derivatives come from the ODE engine; `{model.name}` is a closed form",
                value="'exact'",
                fix='use gradient="auto" (finite differences of the vectorised closed form)',
            )
        )
    if ode:
        problems += ode_option_problems(model, ode_engine, ode_method)
    elif ode_engine is not None or ode_method is not None:
        problems.append(
            Violation(
                "ode_engine",
                f"`ode_engine`/`ode_method` apply to ODE models; `{model.name}` is a closed form",
                fix="omit them",
            )
        )
    if problems:
        raise SpecError("Invalid derivative options.", problems)
    if not ode or gradient == "fd":
        return None
    return default_ode_engine(ode_engine, model, ode_method)


@accepts_renamed
def fit_subject(
    model: Model,
    subject: SubjectData,
    *,
    blq: BlqMethod = "m3",
    prior: PriorKind = None,
    sigma: SigmaKind = "fixed",
    n_starts: int = 4,
    seed: int | None = 0,
    level: float = 0.95,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    max_nfev: int = 4000,
    interval: CiKind = "auto",
    gradient: GradientKind = "auto",
    ode_engine: str | None = None,
    ode_method: str | None = None,
) -> SubjectFit:
    """Fit one subject by maximum likelihood (or MAP), on the transformed parameter scale.

    A module-level function of picklable arguments: :func:`fit_individual` runs it in
    worker processes, and a Dask study may call it directly.

    Parameters
    ----------
    model : Model
        The declaration (``cartpk.load_model("stein2019")``); fixed thetas stay fixed.
    subject : SubjectData
        One subject's observations (:func:`subjects_from_dataset`).
    blq : {"m3", "m4", "m1"}, default "m3"
        Censoring method (see :func:`cartpk.fit.loglik`); ``"m1"`` discards censored
        records (counted in ``n_discarded``).
    prior : {None, "population"}, default None
        ``None``: maximum likelihood. ``"population"``: MAP with a normal prior on the
        transformed scale centred at the typical value (covariates applied) with SD
        ``omega_<name>``; parameters without IIV keep a flat prior.
    sigma : {"fixed", "estimate"}, default "fixed"
        Residual-error parameters fixed at the declaration's values (the usual choice with
        a handful of samples per subject) or estimated per subject (log scale).
    n_starts : int, default 4
        Local optimisations: from the typical values and from the best points of a
        seeded screen of the population distribution.
    seed : int, default 0
        Master seed; the subject's stream is derived from ``(seed, ID)`` (the default
        differs from :func:`cartpk.fit_population`'s, 1, and is kept so that fits repeat).
    level : float, default 0.95
        Confidence level of ``lower``/``upper`` (deprecated alias: ``ci_level``).
    bounds : mapping of str to (float, float), optional
        Natural-scale search range per parameter, replacing the default (typical value
        +- max(8 omega, log 1000) on the transformed scale, within declared bounds).
    max_nfev : int, default 4000
        Objective evaluations per start.
    interval : {"auto", "wald", "profile"}, default "auto"
        Interval method (deprecated alias: ``ci``). ``"auto"``: Wald intervals where the
        Hessian is positive definite, profile likelihood otherwise (and for parameters on
        a bound). ``"wald"`` never profiles (fast; where the Hessian is not positive
        definite the interval is NaN and the parameter flagged). ``"profile"`` profiles
        every parameter.
    gradient : {"auto", "exact", "fd"}, default "auto"
        Derivatives given to the optimiser. ``"exact"``: the ODE engine's forward
        sensitivities chained with the likelihood's derivatives (JAX), as the Jacobian of
        the residuals (``least_squares``) or the gradient of ``-2 log L`` (``lbfgsb``);
        ODE models only. ``"fd"``: finite differences (lmfit's default). ``"auto"``:
        exact for ODE models, finite differences for closed forms (cheap and vectorised).
    ode_engine : {"jax", "scipy"}, optional
        ODE engine of the exact derivatives (default: JAX for explicit solvers, SciPy for
        stiff ones; ``docs/ode_engine.md``).
    ode_method : str, optional
        Solver instead of the declaration's (as for :func:`cartpk.fit_population`).

    Returns
    -------
    SubjectFit

    Notes
    -----
    Standard errors come from a central-difference Hessian of ``-log L`` on the transformed
    scale where it is positive definite, mapped to the natural scale by the delta method;
    the CI is the Wald interval on the transformed scale, back-transformed (asymmetric,
    inside the parameter's domain). Otherwise each parameter gets a profile-likelihood
    interval (``-2 log L`` rising by ``chi2(1).ppf(level)``, other parameters
    re-optimised) and an SE of NaN.

    The deprecated names ``ci_level`` and ``ci`` still work, with a ``FutureWarning``;
    passing one with its new name raises :class:`~cartpk.errors.SpecError`
    (``option_renamed``).

    A parameter is flagged ``identifiable=False`` when its estimate lies on the search
    range's bound, its profile does not close inside the range, its transformed-scale SE
    exceeds 1 (a 95 % CI wider than x/÷ 7), its CI covers more than half of the search
    range, or, for MAP, its SE exceeds 0.8 ``omega`` (the data add little to the prior).
    """
    method, prior_name = _check_options(blq, prior, sigma, interval)
    engine = _exact_engine(model, gradient, ode_engine, ode_method)
    prepared = _prepare(model, subject, method, prior_name, sigma, bounds, engine, ode_method)
    if isinstance(prepared, SubjectFit):
        return prepared
    problem, sub, keep = prepared
    rng = _seed_for(seed, subject.id)
    starts = _starts(problem, rng, max(int(n_starts), 1))
    results = [_minimize(problem, s, max_nfev=max_nfev) for s in starts]
    return _finish(problem, subject, sub, keep, results, interval=interval, level=level)


def _check_options(blq: str, prior: Any, sigma: Any, interval: Any) -> tuple[BlqMethod, str]:
    """The censoring method and prior name; a :class:`SpecError` for an unknown option."""
    method = check_blq(blq)
    prior_name = "population" if prior == "population" else "none"
    check_choice(
        "prior",
        prior,
        (None, "population"),
        code="prior_kind",
        fix='use prior="population" for MAP',
    )
    check_choice("sigma", sigma, ("fixed", "estimate"), code="sigma_kind", fix='use sigma="fixed"')
    check_choice(
        "interval",
        interval,
        ("auto", "wald", "profile"),
        code="ci_kind",
        fix='use interval="auto"',
    )
    return method, prior_name


def _prepare(
    model: Model,
    subject: SubjectData,
    method: BlqMethod,
    prior_name: str,
    sigma: SigmaKind,
    bounds: Mapping[str, tuple[float, float]] | None,
    engine: str | None,
    ode_method: str | None,
) -> tuple[_Problem, SubjectData, np.ndarray] | SubjectFit:
    """The subject's problem (records kept by the censoring method), or the empty fit of a
    subject that cannot be fitted (no observations; every one censored, without prior)."""
    keep = np.ones(subject.n_obs, dtype=bool) if method != "m1" else subject.cens == 0
    n_disc = int((~keep).sum())
    sub = SubjectData(
        id=subject.id,
        time=subject.time[keep],
        dv=subject.dv[keep],
        cens=subject.cens[keep],
        lloq=subject.lloq[keep],
        dvid=subject.dvid[keep],
        output=subject.output[keep],
        rows=subject.rows[keep],
        covariates=subject.covariates,
        dose=subject.dose,
        limit=None if subject.limit is None else subject.other_bound[keep],
    )
    if sub.n_obs == 0:
        return _empty_fit(subject, FitStatus.no_observations, model, method, prior_name, n_disc)
    spec = _spec(model, sub, sigma=sigma, bounds=bounds)
    problem = _Problem(
        model,
        sub,
        spec,
        blq=method,
        prior=prior_name == "population",
        engine=engine,
        method=ode_method,
    )
    if prior_name == "none" and np.all(sub.cens != 0):
        return _empty_fit(subject, FitStatus.all_censored, model, method, prior_name, n_disc)
    return problem, sub, keep


def _finish(
    problem: _Problem,
    subject: SubjectData,
    sub: SubjectData,
    keep: np.ndarray,
    results: Sequence[tuple[np.ndarray, float, bool]],
    *,
    interval: CiKind,
    level: float,
    curvature: _Curvature | None = None,
    profile: ProfileFn | None = None,
) -> SubjectFit:
    """A :class:`SubjectFit` from the local optimisations ``(h, objective, success)`` of
    every start: intervals, identifiability flags, status and predictions.

    ``curvature`` and ``profile`` let a caller that computed them for many subjects at
    once pass them in (default: :func:`_curvature` and :func:`_profile_bound` here).
    """
    from scipy.stats import chi2

    model, spec, method = problem.model, problem.spec, problem.blq
    prior_name = "population" if problem.prior else "none"
    n_disc = int((~keep).sum())
    h, best, ok, agree = _best(results)
    if best >= _BIG:
        return _empty_fit(subject, FitStatus.nonfinite, model, method, prior_name, n_disc)

    q = float(chi2.ppf(level, 1))
    cur = curvature if curvature is not None else _curvature(problem, h, q)
    if profile is None:

        def profile(j: int, direction: int, step: float) -> tuple[float, bool]:
            return _profile_bound(problem, h, j, best, q, direction, step)

    iv = _intervals(spec, h, cur, interval, math.sqrt(q), profile)
    tables = _parameter_tables(spec, h, cur, iv, population=prior_name == "population")
    est, se, lower, upper, ci_map, bound_flag, ident, notes = tables
    status, message = _status(spec, sub, ok, cur.at_bound, prior_name, ident, notes)
    ipred, pred = _predictions(problem, subject, keep, h, n_disc)
    return SubjectFit(
        id=subject.id,
        status=status,
        message=message,
        blq=method,
        prior=prior_name,
        estimate=est,
        se=se,
        lower=lower,
        upper=upper,
        ci_method=ci_map,
        at_bound=bound_flag,
        identifiable=ident,
        notes=notes,
        objective=best,
        n_obs=subject.n_obs,
        n_censored=int(np.sum(subject.cens != 0)),
        n_discarded=n_disc,
        n_starts=len(results),
        n_starts_agree=agree,
        ipred=ipred,
        pred=pred,
    )


@dataclass(frozen=True)
class _Intervals:
    """Each free parameter's interval on the transformed scale and how it was found."""

    lo: np.ndarray
    hi: np.ndarray
    method: list[str]  # "profile", "wald" or "none"
    closed: np.ndarray  # whether the profile closed inside the search range


def _intervals(
    spec: _Spec,
    h: np.ndarray,
    cur: _Curvature,
    interval: CiKind,
    zq: float,
    profile: ProfileFn,
) -> _Intervals:
    """Profile-likelihood or Wald intervals of the free parameters at the optimum ``h``."""
    n_free = len(spec.names)
    lo_h = np.full(n_free, np.nan)
    hi_h = np.full(n_free, np.nan)
    ci_method = ["none"] * n_free
    closed = np.ones(n_free, dtype=bool)
    profiled = cur.profiled(interval)
    se_h = cur.se_h
    for j in range(n_free):
        if j in profiled:
            lo_h[j], c1 = profile(j, -1, float(cur.step0[j]))
            hi_h[j], c2 = profile(j, +1, float(cur.step0[j]))
            closed[j] = c1 and c2
            ci_method[j] = "profile"
        elif cur.wald(j):
            lo_h[j] = max(h[j] - zq * se_h[j], spec.lo[j])
            hi_h[j] = min(h[j] + zq * se_h[j], spec.hi[j])
            ci_method[j] = "wald"
        # else: no interval (interval="wald" where the Hessian is not positive definite), flagged
    return _Intervals(lo_h, hi_h, ci_method, closed)


def _not_identified(
    spec: _Spec, j: int, h: np.ndarray, cur: _Curvature, iv: _Intervals, *, population: bool
) -> list[str]:
    """Why free parameter ``j`` is not identified (empty when it is)."""
    se_h, t = cur.se_h, spec.transforms[j]
    why = []
    if cur.at_bound[j]:
        side = "lower" if abs(h[j] - spec.lo[j]) < abs(spec.hi[j] - h[j]) else "upper"
        why.append(f"at the {side} bound of the search range")
    if not iv.closed[j]:
        why.append("profile likelihood does not close inside the search range")
    if iv.method[j] == "none":
        why.append("Hessian not positive definite: no Wald interval (interval='auto' profiles)")
    if np.isfinite(se_h[j]) and se_h[j] > _SE_HUGE:
        why.append(f"SE on the {t or 'natural'} scale is {se_h[j]:.2g} (> {_SE_HUGE:g})")
    if np.isfinite(iv.lo[j]) and (iv.hi[j] - iv.lo[j]) > 0.5 * (spec.hi - spec.lo)[j]:
        why.append("confidence interval covers more than half of the search range")
    if (
        population
        and np.isfinite(spec.omega[j])
        and np.isfinite(se_h[j])
        and se_h[j] > _PRIOR_DOMINATED * spec.omega[j]
    ):
        why.append("estimate is mostly the prior (SE > 0.8 omega)")
    return why


def _parameter_tables(
    spec: _Spec, h: np.ndarray, cur: _Curvature, iv: _Intervals, *, population: bool
) -> tuple[dict[str, Any], ...]:
    """Per parameter on the natural scale: estimate, SE, bounds, interval method, at-bound
    flag, identifiability and notes (fixed parameters last)."""
    est, se, lower, upper, ident, notes, bound_flag = {}, {}, {}, {}, {}, {}, {}
    se_h = cur.se_h
    for j, (n, t) in enumerate(zip(spec.names, spec.transforms, strict=True)):
        v = float(_to_nat(t, h[j]))
        est[n] = v
        se[n] = float(abs(_dnat_dh(t, v)) * se_h[j]) if np.isfinite(se_h[j]) else math.nan
        lower[n] = float(_to_nat(t, iv.lo[j]))
        upper[n] = float(_to_nat(t, iv.hi[j]))
        bound_flag[n] = bool(cur.at_bound[j])
        why = _not_identified(spec, j, h, cur, iv, population=population)
        ident[n] = not why
        notes[n] = "; ".join(why)
    ci_method = list(iv.method)
    for n, v in spec.fixed.items():
        est[n], se[n], lower[n], upper[n] = v, math.nan, v, v
        ci_method.append("fixed")
        bound_flag[n], ident[n], notes[n] = False, True, "fixed in the model"
    ci_map = dict(zip(list(spec.names) + list(spec.fixed), ci_method, strict=True))
    return est, se, lower, upper, ci_map, bound_flag, ident, notes


def _status(
    spec: _Spec,
    sub: SubjectData,
    ok: bool,
    at_bound: np.ndarray,
    prior_name: str,
    ident: Mapping[str, bool],
    notes: Mapping[str, str],
) -> tuple[FitStatus, str]:
    """The fit's status and its message, naming the parameters that are not identified."""
    n_free = len(spec.names)
    n_struct_free = n_free - len(spec.sigma_names)
    # censored records only bound the curve: identifiability needs quantified ones
    n_quant = int(np.sum(sub.cens == 0))
    if prior_name == "none" and n_quant < n_struct_free + len(spec.sigma_names):
        status = FitStatus.underdetermined
    elif not ok:
        status = FitStatus.not_converged
    elif at_bound.any():
        status = FitStatus.at_bound
    else:
        status = FitStatus.converged
    flagged = [f"`{n}` {notes[n]}" for n in spec.names if not ident[n]]
    message = status.message + ("; not identified: " + "; ".join(flagged) if flagged else "")
    return status, message


def _predictions(
    problem: _Problem, subject: SubjectData, keep: np.ndarray, h: np.ndarray, n_disc: int
) -> tuple[np.ndarray, np.ndarray]:
    """Individual (``h``) and typical (sigma at ``h``) predictions at every record of the
    subject, the discarded ones included."""
    spec = problem.spec
    n_struct_free = len(spec.names) - len(spec.sigma_names)
    hb = h[None, :]
    with np.errstate(all="ignore"):
        ipred_k = problem.predict(hb)[0]
        typ = spec.centre.copy()
        typ[n_struct_free:] = h[n_struct_free:]
        pred_k = problem.predict(typ[None, :])[0]
    ipred = np.full(subject.n_obs, np.nan)
    pred = np.full(subject.n_obs, np.nan)
    ipred[keep], pred[keep] = ipred_k, pred_k
    if n_disc:  # discarded records still get predictions (for plots and diagnostics)
        full = SubjectData(**{**subject.__dict__})
        p_all = _Problem(
            problem.model,
            full,
            spec,
            blq=problem.blq,
            prior=False,
            engine=problem.engine,
            method=problem.method,
        )
        with np.errstate(all="ignore"):
            ipred = p_all.predict(hb)[0]
            pred = p_all.predict(typ[None, :])[0]
    return ipred, pred


def _n_workers(workers: int | None, n: int) -> int:
    cpu = os.cpu_count() or 1
    if workers is None or workers < 0:
        workers = cpu
    return max(1, min(int(workers), n))


@accepts_renamed
def fit_individual(
    model: Model,
    dataset: Dataset | pd.DataFrame | str | os.PathLike[str],
    *,
    dvid: str | Sequence[str] | None = None,
    blq: BlqMethod = "m3",
    prior: PriorKind = None,
    sigma: SigmaKind = "fixed",
    n_starts: int | None = None,
    seed: int | None = 0,
    workers: int | None = None,
    progress: bool | None = None,
    level: float = 0.95,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    interval: CiKind = "auto",
    gradient: GradientKind = "auto",
    ode_engine: str | None = None,
    ode_method: str | None = None,
) -> IndividualFit:
    """Fit every subject of a dataset separately, by maximum likelihood or MAP.

    Parameters
    ----------
    model : Model
        The declaration (``cartpk.load_model("stein2019")``).
    dataset : Dataset, DataFrame or path
        Validated data, or anything :func:`cartpk.read_dataset` reads.
    dvid : str or sequence of str, optional
        Data DVIDs to fit (default: the model's outputs).
    blq : {"m3", "m4", "m1"}, default "m3"
        Censoring method; recorded in every output table. ``"m1"`` (discard) only when
        asked for; discarded records are listed in :attr:`IndividualFit.excluded`.
    prior : {None, "population"}, default None
        ``"population"``: MAP with the typical values (covariates applied) and ``omega`` as
        a normal prior on the transformed scale: what sparse designs (no sample before
        day 7) need for ``tmax`` and ``foldx``.
    sigma : {"fixed", "estimate"}, default "fixed"
        Residual error fixed at the declaration's value (default: a handful of samples
        cannot estimate it per subject) or estimated per subject.
    n_starts : int, optional
        Local optimisations per subject (deterministic given ``seed``). Default 8 where
        the subjects are optimised in one stack (closed-form models with fixed sigma and
        additive or log-additive error: starts are cheap there), else 4. On a rich
        design 8 starts end at an objective at least as low as a Nelder-Mead fit from
        the typical values for 99 % of subjects (4 starts: 96 %; the hard switch at
        ``tmax`` makes the objective kinked where ``tmax`` equals a sampling day).
    seed : int, default 0
        Master seed; each subject's stream derives from ``(seed, ID)``, so results do not
        depend on subject order or on ``workers``. (:func:`cartpk.fit_population`'s
        default is 1; each default is kept so that fits repeat.)
    workers : int, optional
        Worker processes (default: all cores; 1 runs in this process; deprecated alias:
        ``n_jobs``).
    progress : bool, optional
        Progress bar on stderr; default only when stderr is a terminal.
    level : float, default 0.95
        Confidence level (deprecated alias: ``ci_level``).
    bounds : mapping of str to (float, float), optional
        Natural-scale search range per parameter (see :func:`fit_subject`).
    interval : {"auto", "wald", "profile"}, default "auto"
        Interval method (see :func:`fit_subject`; deprecated alias: ``ci``); ``"wald"``
        skips the profile likelihoods, which dominate the run time for sparse designs.
    gradient, ode_engine, ode_method
        Exact derivatives for ODE models through the ODE engine (see :func:`fit_subject`).
        Worker processes are spawned, not forked, when the JAX engine runs.

    Returns
    -------
    IndividualFit
        ``.parameters`` (long), ``.table()`` (one row per ID), ``.predictions``,
        ``.status``, ``.excluded``, ``.plot_fits()``, ``.plot_residuals()``.

    Raises
    ------
    SpecError
        ``blq_method``, ``prior_kind``, ``sigma_kind``, ``dvid_*``, ``covariate_missing``,
        ``gradient_kind``, ``gradient_exact``, ``ode_engine``, ``ode_method``;
        ``option_renamed`` when a deprecated name (``n_jobs``, ``ci_level``, ``ci``) is
        passed with its new one (alone it works, with a ``FutureWarning``).
    DatasetError
        When ``dataset`` is a table or path that does not validate.

    See Also
    --------
    fit_subject : the per-subject unit of work.
    cartpk.fit.loglik : the censored likelihood.

    Examples
    --------
    >>> import cartpk as ck
    >>> model = ck.load_model("stein2019")
    >>> days = [1, 2, 3, 5, 7, 10, 14, 21, 28, 42, 60, 90, 180, 365]
    >>> sim = ck.simulate(model, n=2, seed=4, lloq=50, days=days)
    >>> fit = ck.fit_individual(model, sim, workers=1, n_starts=1)
    >>> fit.table()[["ID", "converged"]].shape
    (2, 2)
    """
    from tqdm.auto import tqdm

    from cartpk.data import Dataset as _Dataset
    from cartpk.data import read_dataset

    method, prior_name = _check_options(blq, prior, sigma, interval)
    engine = _exact_engine(model, gradient, ode_engine, ode_method)  # checked before any work
    ds = dataset if isinstance(dataset, _Dataset) else read_dataset(dataset)
    subjects = subjects_from_dataset(model, ds, dvid=dvid)
    if not subjects:
        raise FitError(
            "The dataset has no subjects to fit.",
            [Violation("no_subjects", "no subject found", fix="check the data")],
        )
    work = partial(
        fit_subject,
        model,
        blq=method,
        prior=prior,
        sigma=sigma,
        n_starts=4 if n_starts is None else n_starts,
        seed=seed,
        level=level,
        bounds=dict(bounds) if bounds else None,
        interval=interval,
        gradient=gradient,
        ode_engine=ode_engine,
        ode_method=ode_method,
    )
    show = sys.stderr.isatty() if progress is None else bool(progress)
    n_workers = _n_workers(workers, len(subjects))
    bar = tqdm(
        total=len(subjects),
        desc="fit_individual",
        unit="subject",
        file=sys.stderr,
        disable=not show,
    )
    try:
        fits = None
        if engine is None:  # closed form, sum of squares: every subject in one stack
            from cartpk.fit._batch import fit_stacked

            fits = fit_stacked(
                model,
                subjects,
                blq=method,
                prior_name=prior_name,
                sigma=sigma,
                bounds=dict(bounds) if bounds else None,
                n_starts=8 if n_starts is None else n_starts,
                seed=seed,
                interval=interval,
                level=level,
                done=bar.update,
            )
        if fits is not None:
            pass
        elif n_workers == 1:
            fits = []
            for s in subjects:
                fits.append(work(s))
                bar.update(1)
        else:
            chunk = max(1, len(subjects) // (n_workers * 8))
            # JAX runs threads of its own: forked workers could deadlock in it
            ctx = multiprocessing.get_context("spawn") if engine == "jax" else None
            with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as ex:
                fits = []
                for f in ex.map(work, subjects, chunksize=chunk):
                    fits.append(f)
                    bar.update(1)
    finally:
        bar.close()
    return IndividualFit(
        model=model,
        subjects=subjects,
        fits=fits,
        blq=method,
        prior="population" if prior == "population" else "none",
        sigma=sigma,
        seed=seed,
    )
