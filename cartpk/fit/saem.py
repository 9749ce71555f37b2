"""Population maximum likelihood by SAEM from the same declaration (``method = "saem"``).

:func:`fit_saem` estimates typical values, covariate coefficients, IIV SDs and residual
error of a closed-form declaration by the stochastic approximation EM algorithm (Kuhn &
Lavielle 2005, as Monolix), with left- and right-censored records in the likelihood (M3;
Samson, Lavielle & Mentré 2006) or discarded (M1), then computes -2LL by importance
sampling with its Monte-Carlo error, AIC and BIC, standard errors from the observed Fisher
information (:mod:`cartpk.fit._saem_likelihood`), each subject's conditional mode and
mean (EBEs) and eta-shrinkage. The algorithm is in :mod:`cartpk.fit._saem`.

Residual error: log-additive, additive, proportional or combined (variances adding).
Not yet: ODE models (see ``docs/saem.md``), block IIV (cartpk declarations are diagonal).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from cartpk.errors import CartpkWarning, SpecError, Violation
from cartpk.fit._population_graph import _design
from cartpk.fit._predictive import PredictiveDraws, draw_index
from cartpk.fit._saem import SaemSettings, SaemState
from cartpk.fit._saem_likelihood import (
    Conditional,
    _Draws,
    ebe_modes,
    fisher,
    maximum,
    psi_names,
    shrinkage,
    summary_numbers,
    to_psi,
)
from cartpk.fit._saem_problem import SaemProblem, check_saem_model
from cartpk.fit._saem_profile import check_profile, profile_intervals, profileable
from cartpk.model import Model
from cartpk.model._transforms import transform_of

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.data import Dataset

__all__ = ["SaemFit", "fit_saem"]

POPULATION_COLUMNS = [
    "parameter",
    "estimate",
    "se",
    "rse_pct",
    "lower",
    "upper",
    "unit",
    "cv_pct",
    "shrinkage_pct",
    "role",
    "fixed",
]


@dataclass
class SaemFit(PredictiveDraws):
    """A population fit by SAEM.

    Attributes
    ----------
    model : Model
        The declaration fitted.
    subjects : list of str
        Subject IDs in table order.
    parameters : pandas.DataFrame
        ``population.csv``: ``parameter, estimate, se, rse_pct, lower, upper, unit``
        (Wald intervals on the estimation scale, back-transformed), ``cv_pct`` (IIV as a
        CV for log-transformed parameters), ``shrinkage_pct``, ``role``, ``fixed``.
    individual : pandas.DataFrame
        ``individual.csv``: per subject, each parameter's conditional mode (EBE; natural
        scale), ``<P>_mean`` (conditional mean), ``<P>_lower``/``<P>_upper`` (conditional
        quantiles at ``level``) and ``eta_<P>`` (the mode's random effect).
    summary : dict
        ``minus2ll``, ``minus2ll_mc_se``, ``aic``, ``bic``, ``n_parameters``, ``n_subjects``,
        ``n_observations``, iterations, ``converged`` (the stochastic approximation settled:
        ``sa_drift``), ``fim_positive_definite``, seconds per step, settings.
    trace : pandas.DataFrame
        The population parameters at every iteration (estimation scale).
    covariance : pandas.DataFrame
        Covariance of the estimates in the estimation parameterisation.
    excluded : pandas.DataFrame
        Records not used (M1: ``ROW, ID, code, reason``).
    observations, covariates, dose
        The records used (``ROW, ID, TIME, DV, CENS, LLOQ, LIMIT, DVID, SUBJ``), the
        covariates per subject and the dose per subject, as for
        :class:`cartpk.fit.PopulationFit`.

    Notes
    -----
    :meth:`predict`, :meth:`simulate` and :meth:`individual_draws` work as the Bayesian
    fit's, with the estimates in place of posterior draws: every draw holds the maximum-
    likelihood population values and, for ``eta="posterior"``, one draw of each subject's
    conditional distribution of its random effects. So VPCs simulate new subjects at the
    estimates (no parameter uncertainty, as NONMEM/PsN and Monolix do by default), and the
    diagnostics of :mod:`cartpk.diagnostics` (``vpc``, ``predictions``, ``plot_individual``)
    take either fit.
    """

    model: Model
    subjects: list[str]
    parameters: pd.DataFrame
    individual: pd.DataFrame
    summary: dict[str, Any]
    trace: pd.DataFrame
    covariance: pd.DataFrame
    excluded: pd.DataFrame = field(default_factory=pd.DataFrame)
    observations: pd.DataFrame = field(default_factory=pd.DataFrame)
    covariates: pd.DataFrame = field(default_factory=pd.DataFrame)
    dose: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    conditional_draws: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def draws(self, n: int | None = None) -> dict[str, np.ndarray]:
        """The estimates and the subjects' conditional random-effect draws as parameter
        draws ``{name: (n_draws, ...)}``: ``n`` evenly spaced, all with ``None``; more than
        the conditional draws held (200 sweeps x chains) cycles through them (the population
        values are the same in every draw)."""
        d = self.conditional_draws
        if not d:
            raise ValueError("this SaemFit holds no conditional draws (built by hand?)")
        idx = draw_index(next(iter(d.values())).shape[0], n, cycle=True)
        return {k: v[idx] for k, v in d.items()}

    @property
    def converged(self) -> bool:
        """Whether the SA phase settled and the Fisher information is positive definite."""
        return bool(self.summary.get("converged"))


def fit_saem(
    model: Model,
    dataset: Dataset,
    *,
    dvid: str | Sequence[str] | None = None,
    blq: Literal["m3", "m1"] = "m3",
    drop_iiv: Sequence[str] = (),
    explore: int = 300,
    smooth: int = 200,
    chains: int | None = None,
    is_samples: int = 2000,
    fim_samples: int = 500,
    level: float = 0.95,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    profile: Sequence[str] = (),
) -> SaemFit:
    """Fit a closed-form population model by maximum likelihood (SAEM).

    Parameters
    ----------
    model : Model
        A closed-form declaration (``log_additive``, ``additive`` or ``proportional``
        residual error); random effects, covariate effects and fixed parameters as declared.
        The declared values are the starting point.
    dataset : Dataset
        Validated data (:func:`cartpk.read_dataset`).
    dvid : str or sequence of str, optional
        Outputs to fit (default every output of the model).
    blq : {"m3", "m1"}, default "m3"
        Censored records in the likelihood (Beal's M3; in the E-step's conditional
        densities, and drawn from their truncated distribution to complete the data) or
        discarded (M1; listed in :attr:`SaemFit.excluded`).
    drop_iiv : sequence of str, default ()
        Parameters fitted without a random effect (``model.with_iiv(drop=...)``).
    explore, smooth : int, default 300, 200
        Iterations of the exploratory (step 1) and smoothing (step ``1/k``) phases.
    chains : int, optional
        Chains per subject in the E-step (default: enough for 50 subject-chains, 1-10).
    is_samples : int, default 2000
        Importance samples per subject for -2LL.
    fim_samples : int, default 500
        Importance samples per subject for the Fisher information (common random numbers);
        when the information is not positive definite it is recomputed once with 4x as
        many (``summary["fim_samples"]`` says how many were used).
    level : float, default 0.95
        Probability of the Wald intervals and of the conditional quantiles.
    seed : int, default 0
        Seed of every random draw (same seed, data and options: same result).
    progress : callable, optional
        Called as ``progress(iteration, total)`` after each SAEM iteration.
    profile : sequence of str, default ()
        Typical values without random or covariate effects to give a profile-likelihood
        interval at ``level`` as well (``profile_lower``/``profile_upper`` in
        :attr:`SaemFit.parameters`, details in ``summary["profile"]``): each side refits the
        model with the parameter fixed, about 3-6 refits per side
        (:mod:`cartpk.fit._saem_profile`). For parameters the design barely informs, whose
        Wald interval undercovers.

    Returns
    -------
    SaemFit

    Raises
    ------
    FitError
        ``saem_model_kind`` (an ODE model), ``saem_error_model``,
        ``saem_covariate_on_fixed``, ``no_observations``.
    SpecError
        ``saem_option`` for invalid settings (every problem at once).

    Warns
    -----
    CartpkWarning
        ``fim_not_positive_definite`` (standard errors NaN) and ``saem_not_settled`` (the
        parameters still drift over the smoothing phase).

    References
    ----------
    Kuhn E, Lavielle M. Comput Stat Data Anal 2005;49:1020-1038.
    Samson A, Lavielle M, Mentré F. Comput Stat Data Anal 2006;51:1562-1574.
    Savic RM, Karlsson MO. AAPS J 2009;11:558-569 (shrinkage).

    Examples
    --------
    >>> import cartpk as ck                                                # doctest: +SKIP
    >>> model = ck.load_model("stein2019_smooth")                          # doctest: +SKIP
    >>> model = model.with_iiv(drop=["foldx", "tmax", "fb", "beta"])       # doctest: +SKIP
    >>> data = ck.read_dataset(ck.simulate(model, n=100, seed=1, lloq=50))  # doctest: +SKIP
    >>> fit = ck.fit.fit_saem(model, data)                                 # doctest: +SKIP
    >>> fit.parameters[["parameter", "estimate", "rse_pct"]]               # doctest: +SKIP
    """
    import time

    _check_options(blq, explore, smooth, chains, is_samples, fim_samples, level)
    if drop_iiv:
        model = model.with_iiv(drop=[str(p) for p in drop_iiv])
    check_saem_model(model)
    design = _design(model, dataset, dvid, blq)
    problem = SaemProblem(model, design)
    check_profile(problem, [str(p) for p in profile])
    settings = SaemSettings(explore=int(explore), smooth=int(smooth), chains=chains, seed=seed)
    state, info, cond, ll, mc, rng, t_ll = maximum(problem, settings, blq, is_samples, progress)
    q = len(problem.iiv)
    t0 = time.perf_counter()
    # the importance-sampled curvature of a weakly determined omega is noisy: a Fisher
    # information that is not positive definite is recomputed once with 4x the samples
    for samples in (int(fim_samples), 4 * int(fim_samples)):
        info_matrix = fisher(problem, state, cond, _Draws.make(samples, problem.n, q, rng), blq)
        cov, pd_ok = _covariance(info_matrix)
        if pd_ok:
            break
    t_fim = time.perf_counter() - t0
    modes = ebe_modes(problem, state, cond, blq)
    shrink = shrinkage(problem, state, modes)
    names = psi_names(problem)
    logged = {f"omega_{p}" for p in problem.iiv} | set(problem.error_params)
    drift = _drift(pd.DataFrame(state.trace), settings, names, cov, logged)
    at_bound = _at_bound(problem, state)
    poorly = _poorly_identified(problem, names, cov)
    summary = {
        **summary_numbers(ll, mc, len(names), problem.n),
        "n_subjects": problem.n,
        "n_observations": int(len(design.obs)),
        "blq": blq,
        "method": "saem",
        "seed": int(seed),
        **{k: v for k, v in info.items() if k != "seconds"},
        "saem_s": info["seconds"],
        "loglik_s": round(t_ll, 2),
        "fim_s": round(t_fim, 2),
        "is_samples": int(is_samples),
        "fim_samples": samples,
        "fim_positive_definite": pd_ok,
        "sa_drift": drift,
        "sa_drift_max": _DRIFT_MAX,
        "at_bound": at_bound,
        "poorly_identified": poorly,
        "identified_se_max": _SE_MAX,
        "profile_suggested": [p for p in profileable(problem) if p not in poorly] if poorly else [],
        "converged": bool(pd_ok and drift <= _DRIFT_MAX and not at_bound),
        "shrinkage": shrink,
    }
    _warn(summary)
    fit = SaemFit(
        model=model,
        subjects=list(design.subjects),
        parameters=_population_table(problem, state, cov, shrink, level),
        individual=_individual_table(problem, state, cond, modes, level),
        summary=summary,
        trace=pd.DataFrame(state.trace),
        covariance=pd.DataFrame(cov, index=names, columns=names),
        excluded=design.excluded,
        observations=design.obs,
        covariates=design.covariates,
        dose=design.dose,
        conditional_draws=_parameter_draws(problem, state, cond),
    )
    if not profile:
        return fit
    run = dict(dvid=dvid, blq=blq, chains=chains, is_samples=int(is_samples), seed=seed)
    return _with_profiles(fit, problem, dataset, [str(p) for p in profile], level, run)


def _with_profiles(
    fit: SaemFit,
    problem: SaemProblem,
    dataset: Dataset,
    names: list[str],
    level: float,
    run: dict[str, Any],
) -> SaemFit:
    """``fit`` with the profile-likelihood intervals of ``names`` added."""
    import dataclasses

    table = fit.parameters.set_index("parameter")
    free = table.loc[~table["fixed"].astype(bool), "estimate"]
    warm = fit.model.with_ini(**{str(p): float(v) for p, v in free.items()})
    cov = fit.covariance
    se = {n: math.sqrt(cov.loc[f"mu_{n}", f"mu_{n}"]) for n in names}
    lo, hi = problem.noiiv_bounds()
    found = profile_intervals(
        warm,
        dataset,
        names,
        estimates={n: float(table.loc[n, "estimate"]) for n in names},
        se=se,
        box={n: (float(lo[n][0]), float(hi[n][0])) for n in names},
        minus2ll=float(fit.summary["minus2ll"]),
        level=level,
        run=run,
    )
    out = fit.parameters.copy()
    out["profile_lower"] = out["parameter"].map({n: r["lower"] for n, r in found.items()})
    out["profile_upper"] = out["parameter"].map({n: r["upper"] for n, r in found.items()})
    summary = {**fit.summary, "profile": found}
    return dataclasses.replace(fit, parameters=out, summary=summary)


def _parameter_draws(
    problem: SaemProblem, state: SaemState, cond: Conditional
) -> dict[str, np.ndarray]:
    """The estimates repeated per conditional draw, and the draws' random effects, keyed as
    the Bayesian fit's posterior (``mu_<P>``, coefficients, ``omega_<P>``, sigmas,
    ``eta_<P>`` of shape ``(draws, subjects)``)."""
    k = cond.draws.shape[0]
    out: dict[str, np.ndarray] = {}
    for p in problem.free:
        out[f"mu_{p}"] = np.full(k, float(state.beta[p][0]))
        for c, v in zip(problem.coefs[p], state.beta[p][1:], strict=True):
            out[c] = np.full(k, float(v))
    mean = problem.mean(state.beta)
    for j, p in enumerate(problem.iiv):
        out[f"omega_{p}"] = np.full(k, math.sqrt(state.omega2[p]))
        out[f"eta_{p}"] = cond.draws[:, :, j] - mean[None, :, problem.free.index(p)]
    for name in problem.error_params:
        out[name] = np.full(k, float(state.sigma[name]))
    return out


#: largest change of any parameter between the means of the two halves of the smoothing
#: phase, in standard errors (estimation scale), that counts as settled
_DRIFT_MAX = 0.25


def _drift(
    trace: pd.DataFrame,
    settings: SaemSettings,
    names: list[str],
    cov: np.ndarray,
    logged: set[str],
) -> float:
    """How far the estimates still moved over the smoothing phase, in standard errors.

    The means of the first and second half of the smoothing phase are compared on the
    estimation scale (log for omegas and sigmas); ``inf`` when a standard error is unknown.
    """
    tail = trace.iloc[settings.explore :]
    if len(tail) < 4:
        return math.inf
    half = len(tail) // 2
    worst = 0.0
    for k, name in enumerate(names):
        col = tail[name].to_numpy(dtype=float)
        if name in logged:
            col = np.log(col)
        se = math.sqrt(cov[k, k]) if np.isfinite(cov[k, k]) and cov[k, k] > 0 else math.nan
        if not math.isfinite(se):
            return math.inf
        worst = max(worst, abs(col[half:].mean() - col[:half].mean()) / se)
    return float(worst)


def _at_bound(problem: SaemProblem, state: SaemState) -> list[str]:
    """Typical values without IIV that ended on the edge of their search box."""
    lo, hi = problem.noiiv_bounds()
    return [
        p
        for p in problem.noiiv
        if min(abs(state.beta[p][0] - lo[p][0]), abs(state.beta[p][0] - hi[p][0])) < 1e-6
    ]


#: standard error on the estimation scale (log, logit; log omega, log sigma) above which a
#: parameter counts as poorly identified: its 95 % interval spans more than a factor of 7
#: (exp(1.96)) either way
_SE_MAX = 1.0


def _poorly_identified(problem: SaemProblem, names: list[str], cov: np.ndarray) -> list[str]:
    """Parameters the data barely determine: estimation-scale SE above :data:`_SE_MAX`.

    Typical values with a log or logit transform, omegas and residual SDs; covariate
    coefficients and untransformed typical values are not judged (a coefficient near 0 has
    a large relative error by nature).
    """
    model = problem.model
    out = []
    for k, name in enumerate(names):
        if name.startswith("mu_"):
            p = name[3:]
            if model.thetas[p].transform is None:
                continue
        elif not (name.startswith("omega_") or name in problem.error_params):
            continue
        if np.isfinite(cov[k, k]) and math.sqrt(max(cov[k, k], 0.0)) > _SE_MAX:
            out.append(name[3:] if name.startswith("mu_") else name)
    return out


def _covariance(info: np.ndarray) -> tuple[np.ndarray, bool]:
    try:
        np.linalg.cholesky(info)
        return np.linalg.inv(info), True
    except np.linalg.LinAlgError:
        return np.full_like(info, np.nan), False


def _warn(summary: dict[str, Any]) -> None:
    """One :class:`CartpkWarning` per check the fit failed, each saying what to do."""
    import warnings

    for code, message, details in _failed_checks(summary):
        warnings.warn(CartpkWarning(message, code=code, details=details), stacklevel=3)


def _failed_checks(summary: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(code, message, details)`` of every check in ``summary`` that failed."""
    out = []
    if not summary["fim_positive_definite"]:
        message = (
            "the observed Fisher information is not positive definite: standard errors "
            "are NaN. A parameter is not identified by these data: fix it or drop its "
            "random effect (`drop_iiv`), then refit."
        )
        out.append(("fim_not_positive_definite", message, {}))
    if summary["at_bound"]:
        message = (
            f"{', '.join(summary['at_bound'])} ran to the edge of the search box (the data "
            "do not bound them): fix them at literature values (`model.fix(...)`) or add "
            "data that inform them (later samples for a terminal rate), then refit."
        )
        out.append(("saem_at_bound", message, {"parameters": summary["at_bound"]}))
    if summary["poorly_identified"]:
        message = (
            f"{', '.join(summary['poorly_identified'])}: standard error above {_SE_MAX:g} on "
            "the estimation scale (the 95 % interval spans more than a factor of 7 either "
            "way): these data barely determine them. Fix them at literature values "
            "(`model.fix(...)`) or drop their random effect, or add samples that inform them, "
            "then refit. SAEM may also have stopped short of the maximum along them: a refit "
            "with `explore` and `smooth` doubled (e.g. 600 and 400) shows it by a lower -2LL."
        )
        if summary.get("profile_suggested"):
            names = summary["profile_suggested"]
            message += (
                " Until then the Wald intervals of the other typical values assume these "
                "parameters are where SAEM left them and can be too narrow: for those you "
                "report, ask for profile-likelihood intervals (`profile="
                f"{names!r}`, spec `profile = {_toml_list(names)}`)."
            )
        out.append(
            ("saem_poorly_identified", message, {"parameters": summary["poorly_identified"]})
        )
    if summary["sa_drift"] > _DRIFT_MAX:
        message = (
            f"SAEM's parameters still drift over the smoothing phase (largest change "
            f"{summary['sa_drift']:.2f} standard errors > {_DRIFT_MAX}): raise `explore` "
            "and `smooth` (e.g. 600 and 300) and refit."
        )
        out.append(("saem_not_settled", message, {"sa_drift": summary["sa_drift"]}))
    return out


def _toml_list(names: list[str]) -> str:
    return "[" + ", ".join(f'"{n}"' for n in names) + "]"


def _check_options(
    blq: str,
    explore: Any,
    smooth: Any,
    chains: Any,
    is_samples: Any,
    fim_samples: Any,
    level: Any,
) -> None:
    """Raise :class:`SpecError` listing every invalid option (code ``saem_option``)."""

    def count(v: Any, low: int) -> bool:
        return isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= low

    number = isinstance(level, float | int) and not isinstance(level, bool)
    checks = [
        ("blq", blq, blq in ("m3", "m1"), "'m3' or 'm1'"),
        ("explore", explore, count(explore, 1), "an integer >= 1"),
        ("smooth", smooth, count(smooth, 4), "an integer >= 4"),
        ("chains", chains, chains is None or count(chains, 1), "an integer >= 1 or None"),
        ("is_samples", is_samples, count(is_samples, 10), "an integer >= 10"),
        ("fim_samples", fim_samples, count(fim_samples, 10), "an integer >= 10"),
        ("level", level, number and 0 < level < 1, "a number in (0, 1)"),
    ]
    problems = [
        Violation(
            "saem_option",
            f"`{name}` must be {expected}",
            column=name,
            value=repr(given),
            expected=expected,
            fix=f"give `{name}` as {expected}",
        )
        for name, given, ok, expected in checks
        if not ok
    ]
    if problems:
        raise SpecError("Invalid SAEM options.", problems)


def _population_table(
    problem: SaemProblem,
    state: SaemState,
    cov: np.ndarray,
    shrink: dict[str, float],
    level: float,
) -> pd.DataFrame:
    from scipy.stats import norm

    model = problem.model
    z = float(norm.ppf(0.5 + level / 2))
    psi = to_psi(problem, state)
    index = {n: k for k, n in enumerate(psi_names(problem))}
    meta = model.parameters.set_index("name")
    rows = []
    for name in meta.index:
        row: dict[str, Any] = dict(
            parameter=name,
            unit=meta.loc[name, "unit"],
            role=meta.loc[name, "role"],
            fixed=True,
        )
        key = f"mu_{name}" if name in model.thetas else name
        if key in index:
            k = index[key]
            se_h = math.sqrt(cov[k, k]) if np.isfinite(cov[k, k]) and cov[k, k] >= 0 else math.nan
            back, dnat = _scale(model, name)
            est = back(psi[k])
            row.update(
                estimate=est,
                se=abs(dnat(est)) * se_h,
                lower=back(psi[k] - z * se_h),
                upper=back(psi[k] + z * se_h),
                fixed=False,
            )
            row["rse_pct"] = 100 * row["se"] / abs(est) if est else math.nan
        else:
            row.update(estimate=_fixed_value(problem, state, name))
        if name.startswith("omega_"):
            p = name[len("omega_") :]
            om = float(row["estimate"])
            if model.thetas[p].transform == "log":
                row["cv_pct"] = 100 * math.sqrt(math.expm1(om * om))
            row["shrinkage_pct"] = 100 * shrink.get(p, math.nan)
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=POPULATION_COLUMNS)


def _scale(model: Model, name: str) -> tuple[Callable[[float], float], Callable[[float], float]]:
    """The back-transform of ``name``'s estimation scale and ``d natural / d h``."""
    if name in model.thetas:
        t = transform_of(model.thetas[name].transform)
        return (lambda h: _quiet(t.backward, h)), (lambda v: float(t.dnat_dh(v)))
    if name.startswith("omega_") or name in {s for e in model.error.values() for s in e.names}:
        return (lambda h: _quiet(lambda xp, x: xp.exp(x), h)), (lambda v: v)
    return (lambda h: float(h)), (lambda v: 1.0)


def _quiet(backward: Callable[[Any, Any], Any], h: float) -> float:
    """A back-transformed interval end; beyond the float range it is ``inf`` (or 0)."""
    with np.errstate(over="ignore", under="ignore"):
        return float(backward(np, np.float64(h)))


def _fixed_value(problem: SaemProblem, state: SaemState, name: str) -> float:
    init = problem.model.initial_values()
    if name.startswith("omega_") and name[6:] in state.omega2:
        return math.sqrt(state.omega2[name[6:]])
    if name in state.sigma:
        return state.sigma[name]
    return float(init.get(name, math.nan))


def _individual_table(
    problem: SaemProblem,
    state: SaemState,
    cond: Conditional,
    modes: np.ndarray,
    level: float,
) -> pd.DataFrame:
    mean = problem.mean(state.beta)
    phi = mean.copy()
    cols = [problem.free.index(p) for p in problem.iiv]
    if cols:
        phi[:, cols] = modes
    nat = problem.natural(phi)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    out = pd.DataFrame({"ID": problem.design.subjects})
    for p in problem.free:
        out[p] = np.broadcast_to(nat[p], (problem.n,))
        draws = cond.natural[p]
        out[f"{p}_mean"] = draws.mean(axis=0)
        out[f"{p}_lower"] = np.quantile(draws, lo_q, axis=0)
        out[f"{p}_upper"] = np.quantile(draws, hi_q, axis=0)
    for j, p in enumerate(problem.iiv):
        out[f"eta_{p}"] = modes[:, j] - mean[:, problem.free.index(p)]
    return out
