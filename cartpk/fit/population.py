"""Hierarchical Bayesian population fits in PyMC, generated from the model declaration.

:func:`fit_population` reads the declaration (thetas with their transforms, IIV, residual
error, covariate effects) *by name* and builds a PyMC model from it; the equations are the
declaration's own ``predict``, evaluated with ``xp=pytensor.tensor``, and the observation
likelihood is :func:`cartpk.fit.loglik`, the censored likelihood every cartpk engine uses.

The generated model
-------------------
For every structural parameter ``P`` with transform ``h`` (``log``, ``logit`` or none):

==================== ==================================================================
name                  meaning
==================== ==================================================================
``mu_<P>``            typical value on the transformed scale, ``h(P_tv)`` (free)
``<P>``               typical value on the natural scale, ``h^-1(mu_<P>)`` (Deterministic)
``omega_<P>``         SD of the random effect on the transformed scale (HalfNormal)
``z_<P>``             standard-normal innovations, dim ``subject`` (not stored)
``eta_<P>``           random effect ``omega_<P> * z_<P>``, dim ``subject`` (non-centred);
                      for ``<P>`` in ``centered``: ``Normal(0, omega_<P>)`` (free, no z)
``sigma`` ...         residual-error parameters, named as the declaration names them
``cov_<P>_<cov>``     covariate coefficients (Normal)
``loglik_<DVID>``     Potential: sum of :func:`~cartpk.fit.loglik` over the records
==================== ==================================================================

and per subject ``i``: ``h(P_i) = mu_<P> + sum(covariate shifts) + eta_<P>[i]``. Fixed
parameters of the declaration enter as constants.

Priors (``priors=``)
--------------------
==================== ============================ ===================================
parameter            ``"weak"`` (default)          ``"literature"``
==================== ============================ ===================================
``mu_<P>``            Normal(h(declared), 1.5)      Normal(h(declared), 0.5)
``omega_<P>``         HalfNormal(2 x declared SD)   HalfNormal(declared SD)
``sigma`` ...         HalfNormal(2 x declared)      HalfNormal(declared)
``cov_...``           Normal(declared, 1.0)         Normal(declared, 0.5)
==================== ============================ ===================================

``mu`` SDs are on the transformed scale (1.5 on the log scale: a factor 4.5 either way at
one SD; 0.5: a factor 1.65). An untransformed theta gets SD ``1.5 x max(|value|, 1)`` (weak)
or ``0.5 x max(|value|, 1)``. Declared ``lower``/``upper`` bounds narrower than the
transform's range truncate the ``mu`` prior. HalfNormal scales have a floor of 0.05.
``HalfNormal(s)`` puts 68 % of its mass below ``s``: the literature prior puts the declared
SD at its 68th percentile, the weak prior at its 38th.

**Prior sets a model declares.** A model may declare further sets by name
(``prior_sets = {"solid_tumour": prior_set(base="weak", cmax=typical_prior(...), ...)}``,
:func:`cartpk.model.prior_set`) and which set a fit uses when ``priors`` is not given
(``default_priors``; ``"weak"`` unless declared). Such a set replaces the ``mu_<P>`` prior of
the typical values it lists by Normal(h(its centre), its SD), each with its cited source in
the ``source`` column of :func:`population_priors`; every other row takes the numbers of its
``base`` set. ``stein2019_covariates`` (the originating solid-tumour trial's covariate model)
declares ``"solid_tumour"`` and uses it by default: see ``docs/priors.md``.

**The omega vs omega^2 reading is the declaration's, never this module's.** Every model
states whether its published variability numbers are SDs or variances (``omega(sd=...)``
or ``omega(var=...)``); the SD it stores is what the priors above scale. For Stein 2019
(``models/stein2019.py``) Table 1's random-effect column is read as variances, so e.g.
``omega_foldx`` gets HalfNormal(3.10) (weak) or HalfNormal(1.55) (literature); with the SD
reading, ``model.omega_reading("sd")``, HalfNormal(4.8) or HalfNormal(2.4). Named prior sets
never carry omega numbers of their own, so they follow the reading too. The prior table of a fit
(:attr:`PopulationFit.priors`) lists every prior with its numbers.

How much of an interval is prior
--------------------------------
With sparse designs (qPCR from day 7 only, after most peaks) some typical values, ``tmax``
and ``foldx`` first, are weakly identified and their posterior interval is largely the
prior's. Every row of the parameter table with a prior therefore carries

``prior_width_ratio = width of the posterior ci-interval / width of the prior ci-interval``

(equal-tailed, ``level`` of the fit, 95 % by default), both on the scale the prior is declared
on (the ``on`` column of :func:`population_priors`: ``log(tmax)`` for a typical value, the SD
itself for ``omega_<P>`` and ``sigma``, the shift for a covariate effect). Prior quantiles are
exact (``scipy.stats``: ``norm``, ``truncnorm`` for bounded thetas, ``halfnorm``).
``prior_dominated`` is ``prior_width_ratio >`` :data:`PRIOR_DOMINATED_RATIO` (0.5): the data
did not even halve the prior's interval. For a normal prior and a normal likelihood the ratio
is ``sqrt(prior precision / posterior precision)``, so above 0.5 the prior supplies more than
a quarter of the posterior precision. Fixed parameters have no prior: ratio NaN, ``False``.
The fit's summary (and the CLI's ``diagnostics.json``) lists them as ``prior_dominated``.
This is information, not a convergence check: a prior-dominated parameter does not fail
the fit.

Gradient samplers and hard switches
-----------------------------------
A closed form with a hard switch (``stein2019`` at ``tmax``) is not differentiable in the
switch time; prefer the catalogue's smooth variant (``stein2019_smooth``). A model that has
a ``<name>_smooth`` sibling in the catalogue triggers a ``CartpkWarning``
(``non_smooth_model``); any closed-form model is accepted.

Where chains start (``init=``)
------------------------------
By default (``init="ebe"``) every chain starts at the subjects' empirical Bayes estimates
(MAP given the declared population values) with the population-level variables at the
declared values, so that each subject starts in its best local mode of a sparse design;
jittered starts leave chains in different modes (R-hat 1.5-2.5 on the trial design).
``summary["init_ebe"]`` records it; ``docs/population_convergence.md`` has the numbers.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from cartpk.errors import CartpkWarning, SpecError, Violation
from cartpk.fit._conditional import SubjectResampler
from cartpk.fit._convergence import ConvergenceThresholds, missed_thresholds
from cartpk.fit._options import accepts_renamed, check_choice
from cartpk.fit._population_graph import (
    _build,
    _constant_values,
    _Design,
    _individual_transformed,
    _spec_error,
    population_model,
)
from cartpk.fit._population_priors import (
    _SCALE_FLOOR,
    PRIOR_DOMINATED_RATIO,
    PriorChoice,
    population_priors,
    prior_set_name,
    prior_set_names,
)
from cartpk.fit._population_result import (
    PopulationFit,
    _assemble,
    _attach_data,
)
from cartpk.fit._sampling import SamplingPlan, advice, sample_rounds
from cartpk.model import Model, OdeModel
from cartpk.ode._options import default_ode_engine, ode_option_problems

if TYPE_CHECKING:  # pragma: no cover
    import pymc

    from cartpk.data import Dataset

__all__ = [
    "PRIOR_DOMINATED_RATIO",
    "PopulationFit",
    "fit_population",
    "population_model",
    "population_priors",
    "prior_set_name",
    "prior_set_names",
]

Sampler = Literal["nutpie", "pymc"]
Init = Literal["ebe", "jitter", "declared"]
MassMatrix = Literal["diag", "low_rank"]

# ---------------------------------------------------------------------------------------
# sampling


def _smooth_sibling(model: Model) -> str | None:
    from cartpk.model._catalogue import catalogue_names

    try:
        names = catalogue_names()
    except Exception:  # pragma: no cover - catalogue unavailable: nothing to suggest
        return None
    sibling = f"{model.name}_smooth"
    return sibling if sibling in names else None


_EBE_Z_MAX = 5.0  # an EBE further out than 5 declared SDs starts at the bound


def _ebe_starts(
    pmm: pymc.Model,
    model: Model,
    dataset: Dataset,
    design: _Design,
    *,
    dvid: str | Sequence[str] | None,
    blq: str,
    seed: int,
    centered: Sequence[str],
) -> dict[str, Any]:
    """``init="ebe"``: start every chain at the subjects' empirical Bayes estimates.

    Each subject's random effects are its MAP given the declared typical values, IIV SDs,
    covariate effects and residual error (``fit_individual(prior="population")``, a
    multi-start optimisation, with the parameters that have no IIV fixed at their typical
    values); the population-level variables start at those declared values. Sets the
    initial values of ``pmm`` in place and returns what was done (``summary["init_ebe"]``).
    """
    from cartpk.fit.individual import fit_individual

    t0 = time.perf_counter()
    names = [n for n in model.iiv.names if f"z_{n}" in pmm.named_vars or n in centered]
    if not names:
        return {"subjects": 0, "not_converged": [], "seconds": 0.0}
    init = model.initial_values()
    fixed = {
        n: float(t.value)
        for n, t in model.thetas.items()
        if not t.fixed and n not in model.iiv.names
    }
    ebe = fit_individual(
        model.fix(**fixed) if fixed else model,
        dataset,
        dvid=dvid,
        blq=blq,  # type: ignore[arg-type]
        prior="population",
        interval="wald",
        seed=seed,
        workers=1,
        progress=False,
    )
    estimates = {str(f.id): f.estimate for f in ebe.fits}
    mu = model.to_transformed({n: float(t.value) for n, t in model.thetas.items()})
    coefs = {c: float(init.get(c, 0.0)) for eff in model.covariates for c in eff.coefficients}
    centre = _individual_transformed(np, model, mu, {}, coefs, design.covariates)
    for n, t in model.thetas.items():
        if not t.fixed and f"mu_{n}" in pmm.named_vars:
            pmm.set_initval(pmm[f"mu_{n}"], float(mu[n]))
    for n in names:
        h = np.array(
            [
                float(model.to_transformed({n: estimates[s][n]})[n])
                if s in estimates and math.isfinite(estimates[s].get(n, math.nan))
                else math.nan
                for s in design.subjects
            ]
        )
        eta = np.nan_to_num(h - np.broadcast_to(centre[n], h.shape), nan=0.0)
        omega = max(float(init[f"omega_{n}"]), _SCALE_FLOOR)
        eta = np.clip(eta, -_EBE_Z_MAX * omega, _EBE_Z_MAX * omega)
        if n in centered:
            pmm.set_initval(pmm[f"eta_{n}"], eta)
        else:
            pmm.set_initval(pmm[f"z_{n}"], eta / omega)
    failed = [str(f.id) for f in ebe.fits if not f.converged]
    return {
        "subjects": len(ebe.fits),
        "not_converged": failed,
        "seconds": round(time.perf_counter() - t0, 2),
    }


@accepts_renamed
def fit_population(
    model: Model,
    dataset: Dataset,
    *,
    dvid: str | Sequence[str] | None = None,
    blq: Literal["m3", "m4", "m1"] = "m3",
    priors: PriorChoice | str | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = 1,
    sampler: Sampler = "nutpie",
    target_accept: float = 0.9,
    workers: int | None = None,
    thresholds: ConvergenceThresholds | None = None,
    level: float = 0.95,
    progress: bool = False,
    init: Init = "ebe",
    ode_engine: str | None = None,
    ode_method: str | None = None,
    mass_matrix: MassMatrix = "diag",
    centered: Sequence[str] = (),
    drop_iiv: Sequence[str] = (),
    extend: int = 2,
    resample: bool = True,
) -> PopulationFit:
    """Fit a hierarchical Bayesian population model generated from a declaration.

    Parameters
    ----------
    model : Model
        A closed-form catalogue or user model (``cartpk.load_model("stein2019_smooth")``);
        every name in the result is the declaration's name.
    dataset : Dataset
        Validated data (:func:`cartpk.read_dataset`); baseline covariates as needed by the
        declaration's covariate effects (``DOSE`` defaults to the dose records' ``AMT``).
    dvid : str or sequence of str, optional
        Outputs to fit (default: every output of the model).
    blq : {"m3", "m4", "m1"}, default "m3"
        Censoring method for records with ``CENS != 0`` (see :func:`cartpk.fit.loglik`);
        ``"m1"`` discards them and lists them in :attr:`PopulationFit.excluded`.
    priors : {"weak", "literature"} or a set the model declares, optional
        Prior set (module documentation; the table is :attr:`PopulationFit.priors`).
        ``None`` (default): the model's ``default_priors``, ``"weak"`` unless the model
        declares another (``stein2019_covariates``: ``"solid_tumour"``).
    draws, tune : int, default 1000
        Draws kept and warm-up iterations per chain.
    chains : int, default 4
        Number of chains.
    seed : int, default 1
        Seed of the sampler; the same seed, data and options give the same draws. (The
        per-patient fits' default is 0; each default is kept so that fits repeat.)
    sampler : {"nutpie", "pymc"}, default "nutpie"
        nutpie (model compiled with numba; fast) or PyMC's NUTS (``pm.sample``).
    target_accept : float, default 0.9
        Target acceptance rate of NUTS (higher: smaller steps, fewer divergences).
    workers : int, optional
        Chains run in parallel (default ``min(chains, CPU count)``; deprecated alias:
        ``cores``).
    thresholds : ConvergenceThresholds, optional
        Convergence thresholds (default R-hat <= 1.01, ESS >= 400, 0 divergences,
        BFMI >= 0.3).
    level : float, default 0.95
        Probability of the equal-tailed intervals in the tables (deprecated alias:
        ``ci``).
    progress : bool, default False
        Show the sampler's progress bar.
    init : {"ebe", "jitter", "declared"}, default "ebe"
        Chains' starting points. ``"ebe"``: every chain starts at each subject's empirical
        Bayes estimate, the MAP of its random effects given the declared typical values,
        IIV SDs, covariate effects and residual error (:func:`cartpk.fit_individual` with
        ``prior="population"``, multi-start, parameters without IIV fixed; about 2 s for
        150 subjects), and the population-level variables at those declared values, without
        jitter; recorded in ``summary["init_ebe"]`` (subjects, those whose MAP did not
        converge, seconds). The sparse trial design leaves local modes of each subject's
        peak time between sampling days: jittered starts put chains in different ones and
        the chains then disagree (R-hat 2.5 on ``sigma``, 150 subjects,
        ``docs/population_convergence.md``); the EBE starts every chain in the subject's
        best one. ``"jitter"``: the sampler's default, every free variable
        jittered by U(-1, 1) on the unconstrained scale around its initial value.
        ``"declared"``: typical values, IIV SDs, covariate effects and residual errors start
        at the declaration's values (``model.with_ini``) and only the random-effect
        innovations are jittered. Use it when the likelihood has local modes the jitter can
        reach, e.g. a peak time between two sampling days of a sparse design.
    ode_engine : {"jax", "scipy"}, optional
        For ODE models: the engine that integrates each subject and its parameter
        derivatives at every gradient evaluation (:meth:`cartpk.model.OdeModel.evaluate`).
        Default: ``"jax"`` for declarations solved by an explicit method when JAX and
        diffrax are installed (compiled, hundreds of times faster per gradient), ``"scipy"``
        for stiff ones (``BDF``/``Radau``) and without JAX (``docs/ode_engine.md``).
        Ignored for closed-form models.
    ode_method : str, optional
        Solver of the ODE engine instead of the declaration's ``solver["method"]``: SciPy
        names, or for JAX also ``"Tsit5"``, ``"Dopri5"``, ``"Dopri8"``, ``"Kvaerno5"``,
        ``"Rosenbrock23"``. A declaration marked stiff for extreme values (``cartmath_illustration``
        at its preclinical scale) can be non-stiff at a data set's values: an explicit
        method there is 20x faster per gradient (the default engine follows the method).
    mass_matrix : {"diag", "low_rank"}, default "diag"
        nutpie's mass-matrix adaptation: ``"diag"`` (a diagonal from the draws and their
        gradients) or ``"low_rank"`` (``low_rank_modified_mass_matrix``: the diagonal plus
        the leading directions of the posterior's correlation), for posteriors whose
        parameters trade off against each other, as the rate constants of a mechanistic
        model do (``docs/ode_engine.md``). nutpie only.
    centered : sequence of str, default ()
        Random effects sampled in the centred parameterisation (``eta_P ~ N(0, omega_P)``)
        instead of the default non-centred one (``eta_P = omega_P z_P``). Centre the ones
        each subject's data determine well (many informative records per subject, e.g. a
        tumour-size series); keep sparse ones non-centred (the funnel).
    drop_iiv : sequence of str, default ()
        Parameters fitted without a random effect (every subject at the typical value),
        as ``model.with_iiv(drop=...)``; the fit specification's ``drop_iiv`` key.
    extend : int, default 2
        Extra rounds of sampling when the chains miss an R-hat or ESS threshold: each round
        samples ``chains`` more chains from the same start (seeds derived from ``seed``) and
        pools them with the others, until every threshold is met or ``extend`` rounds are
        spent, so the budget is ``(1 + extend) x chains`` chains of ``tune + draws``
        iterations (one compile). No round is added when it cannot help: divergences, a low
        E-BFMI, an R-hat above 1.05 (chains in different modes) or an ESS shortfall the rounds
        left could not close. ``summary["rounds"]`` lists each round (chains, failed checks,
        seconds), ``summary["sampling_stopped"]`` why sampling ended and
        ``summary["chains"]`` the chains pooled. ``0``: one round, as ``pm.sample`` does.
    resample : bool, default True
        When after a round only some subjects' random effects miss an R-hat or ESS threshold
        (the population-level variables pass), resample those subjects' random effects from
        their conditional posterior given each pooled draw, then check again (an
        independence Metropolis-Hastings kernel, 40 steps per draw; closed-form models;
        :mod:`cartpk.fit._conditional`). A subject whose few samples fit two curve shapes
        has a bimodal posterior that NUTS crosses rarely and more chains do not mix; the
        kernel targets exactly that subject's conditional posterior, so the joint posterior
        is unchanged and the population-level draws are untouched. The subjects and their
        acceptance rates are in ``summary["resampled"]``. ``False``: NUTS draws only.

    Returns
    -------
    PopulationFit
        Posterior, tables, diagnostics and ``summary``; ``converged`` is False when any
        threshold is missed.

    Raises
    ------
    FitError
        ``population_model_kind`` (not a closed-form model), ``no_observations``.
    SpecError
        ``blq_method``, ``priors``, ``sampler``, ``init``, ``unknown_output``, ``covariate_missing``,
        ``covariate_time_varying``, ``covariate_value`` - every problem at once;
        ``option_renamed`` when a deprecated name (``cores``, ``ci``) is passed with its
        new one (alone it works, with a ``FutureWarning``).

    Warns
    -----
    CartpkWarning
        ``not_converged`` when a convergence threshold is missed (the checks are listed);
        ``non_smooth_model`` when the catalogue has a smooth variant of ``model``.

    Notes
    -----
    Random effects are non-centred (``eta = omega * z``, ``z ~ N(0, 1)``), which samples
    well when the data say little about individual values (sparse designs, high shrinkage).
    Typical values are reported on the natural scale (posterior median of ``<P>``); IIV as
    ``omega_<P>`` (SD on the transformed scale) with ``cv_pct = 100 sqrt(exp(omega^2) - 1)``
    for log-transformed parameters, and eta-shrinkage ``1 - SD(E[eta_i]) / E[omega]``.

    References
    ----------
    Beal SL. Ways to fit a PK model with some data below the quantification limit.
    J Pharmacokinet Pharmacodyn 2001;28:481-504.
    Vehtari A et al. Rank-normalization, folding, and localization: an improved R-hat for
    assessing convergence of MCMC. Bayesian Anal 2021;16:667-718.

    See Also
    --------
    population_model : the PyMC model without sampling.
    cartpk.diagnostics.vpc : censoring-aware visual predictive check of the fit.

    Examples
    --------
    >>> import cartpk as ck                                      # doctest: +SKIP
    >>> model = ck.load_model("stein2019_smooth")                # doctest: +SKIP
    >>> data = ck.read_dataset(ck.simulate(model, n=40, seed=1, lloq=50))  # doctest: +SKIP
    >>> fit = ck.fit_population(model, data, seed=1)             # doctest: +SKIP
    >>> fit.summary["converged"], fit.parameters.head()          # doctest: +SKIP
    """
    _check_options(
        model,
        sampler=sampler,
        ode_engine=ode_engine,
        ode_method=ode_method,
        mass_matrix=mass_matrix,
        init=init,
        draws=draws,
        tune=tune,
        chains=chains,
        extend=extend,
        target_accept=target_accept,
        level=level,
    )
    _warn_if_not_smooth(model)
    centered = [centered] if isinstance(centered, str) else list(centered)
    model = _without_iiv(model, drop_iiv)
    priors = prior_set_name(model, priors)  # the model's default when None; checked here
    pmm, design = _build(
        model,
        dataset,
        dvid=dvid,
        blq=blq,
        priors=priors,
        ode_engine=ode_engine,
        ode_method=ode_method,
        centered=centered,
        data_inputs=sampler == "nutpie",  # one compiled model for data sets of one shape
    )
    engine = _resolved_ode_engine(model, ode_engine, ode_method)
    init_ebe = (
        _ebe_starts(
            pmm, model, dataset, design, dvid=dvid, blq=blq, seed=int(seed), centered=centered
        )
        if init == "ebe"
        else None
    )
    plan = SamplingPlan(
        sampler=sampler,
        keep=_kept_names(pmm),
        draws=int(draws),
        tune=int(tune),
        chains=int(chains),
        cores=workers or max(1, min(chains, os.cpu_count() or 1)),
        seed=int(seed),
        target_accept=float(target_accept),
        progress=progress,
        init=init,
        low_rank=mass_matrix == "low_rank",
        spawn=engine == "jax",
        extend=int(extend),
        thresholds=thresholds or ConvergenceThresholds(),
        resampler=_resampler(model, design, seed=int(seed)) if resample else None,
    )
    idata, sampled = sample_rounds(pmm, plan)
    _attach_data(
        idata, design, model, blq=blq, priors=priors, sampler=sampler, seed=seed, init=init
    )
    fit = _assemble(
        model,
        design,
        idata,
        priors=priors,
        thresholds=thresholds,
        level=level,
        sampler=sampler,
        draws=int(draws),
        tune=int(tune),
        chains=sampled["chains"],
        chains_per_round=int(chains),
        extend=int(extend),
        rounds=sampled["rounds"],
        sampling_stopped=sampled["stopped"],
        resampled=sampled["resampled"],
        seed=int(seed),
        target_accept=float(target_accept),
        init=init,
        **({"init_ebe": init_ebe} if init_ebe is not None else {}),
        mass_matrix=mass_matrix,
        centered=centered,
        ode_engine=engine,
        ode_method=ode_method,
        compile_s=round(sampled["compile_s"], 2),
        sample_s=round(sampled["sample_s"], 2),
    )
    _warn_if_not_converged(model, fit.summary, sampled["stopped"], int(draws))
    return fit


def _without_iiv(model: Model, drop_iiv: str | Sequence[str]) -> Model:
    """``model`` with the random effects of ``drop_iiv`` removed (``model`` when none)."""
    if not drop_iiv:
        return model
    drop = [drop_iiv] if isinstance(drop_iiv, str) else [str(p) for p in drop_iiv]
    return model.with_iiv(drop=drop)


def _resolved_ode_engine(
    model: Model, ode_engine: str | None, ode_method: str | None
) -> str | None:
    """The ODE engine that integrates ``model`` (``None`` for a closed-form model)."""
    if not isinstance(model, OdeModel):
        return None
    return default_ode_engine(ode_engine, model, ode_method)


def _resampler(model: Model, design: _Design, *, seed: int) -> SubjectResampler | None:
    """The conditional kernel of the subjects' random effects, where it serves ``model``."""
    if not SubjectResampler.applies(model):
        return None
    return SubjectResampler(model, design, _constant_values(model), seed=seed)


def _warn_if_not_smooth(model: Model) -> None:
    """Warn ``non_smooth_model`` when the catalogue has a smooth variant of ``model``."""
    sibling = _smooth_sibling(model)
    if sibling is not None:
        warnings.warn(
            CartpkWarning(
                f"`{model.name}` switches phases with a hard gate, which gradient-based samplers "
                f"handle poorly; the catalogue has a smooth variant: load_model({sibling!r}).",
                code="non_smooth_model",
                details={"suggested": sibling},
            ),
            stacklevel=3,
        )


def _kept_names(pmm: pymc.Model) -> list[str]:
    """The free and deterministic variables stored in the posterior (not the ``z_`` innovations)."""
    return [
        v.name
        for v in [*pmm.free_RVs, *pmm.deterministics]
        if v.name is not None and not v.name.startswith("z_")
    ]


def _warn_if_not_converged(model: Model, summary: dict[str, Any], stopped: str, draws: int) -> None:
    """Warn ``not_converged`` listing the missed thresholds and why sampling stopped."""
    if not summary["converged"]:
        missed, shown = missed_thresholds(summary["failed"])
        warnings.warn(
            CartpkWarning(
                f"population fit of `{model.name}` did not meet {missed} with "
                f"{summary['chains']} chains x {draws:,} draws in "
                f"{len(summary['rounds'])} round(s): {shown}. "
                f"Sampling stopped: {stopped}. {_levels_said(summary)}{advice(stopped)} "
                "Do not use these estimates as converged.",
                code="not_converged",
                details={
                    "failed": summary["failed"],
                    "stopped": stopped,
                    "subjects_not_mixed": summary.get("subjects_not_mixed", []),
                },
            ),
            stacklevel=3,
        )


def _levels_said(summary: dict[str, Any]) -> str:
    """A sentence for a fit whose only failures are some subjects' random effects."""
    subjects = summary.get("subjects_not_mixed", [])
    if not (summary.get("population_converged") and subjects):
        return ""
    who = ", ".join(subjects[:5]) + (", ..." if len(subjects) > 5 else "")
    return (
        "The population-level variables (typical values, IIV, residual error) met every "
        f"threshold; what failed are the random effects of subject(s) {who}, whose posterior "
        "can have two modes (two explanations of the samples) that chains visit rarely "
        "(docs/population_convergence.md): check those subjects' data and individual fits. "
    )


def _check_options(
    model: Model,
    *,
    sampler: str,
    ode_engine: str | None,
    ode_method: str | None,
    mass_matrix: str,
    init: str,
    draws: Any,
    tune: Any,
    chains: Any,
    extend: Any,
    target_accept: float,
    level: float,
) -> None:
    """The options of :func:`fit_population` that need no data: raise on the first group
    that has problems (every problem of that group listed)."""
    check_choice(
        "sampler",
        sampler,
        ("nutpie", "pymc"),
        code="sampler",
        fix='use sampler="nutpie" (default) or sampler="pymc"',
        what="sampler ",
    )
    if isinstance(model, OdeModel):
        _spec_error(
            "Invalid ODE engine options.", ode_option_problems(model, ode_engine, ode_method)
        )
    if mass_matrix not in ("diag", "low_rank") or (
        mass_matrix == "low_rank" and sampler != "nutpie"
    ):
        raise SpecError(
            f"Unsupported `mass_matrix={mass_matrix!r}` with sampler {sampler!r}.",
            [
                Violation(
                    "mass_matrix",
                    "`mass_matrix` must be 'diag', or 'low_rank' with nutpie",
                    value=repr(mass_matrix),
                    expected="'diag' or 'low_rank' (sampler='nutpie')",
                    fix='use mass_matrix="diag", or sampler="nutpie"',
                )
            ],
        )
    check_choice(
        "init",
        init,
        ("ebe", "jitter", "declared"),
        code="init",
        fix='use init="ebe" (default), init="jitter" or init="declared"',
        what="initialisation ",
    )
    bad = [
        Violation(
            "sampling_option",
            f"`{k}` must be an integer >= {low}",
            value=repr(v),
            fix=f"pass `{k}` >= {low}",
        )
        for k, v, low in (
            ("draws", draws, 1),
            ("tune", tune, 0),
            ("chains", chains, 1),
            ("extend", extend, 0),
        )
        if not (isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= low)
    ]
    if not 0 < target_accept < 1:
        bad.append(
            Violation(
                "sampling_option", "`target_accept` must lie in (0, 1)", value=repr(target_accept)
            )
        )
    if not 0 < level < 1:
        bad.append(Violation("sampling_option", "`level` must lie in (0, 1)", value=repr(level)))
    _spec_error("Invalid sampling options.", bad)
