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

(equal-tailed, ``ci`` of the fit, 95 % by default), both on the scale the prior is declared
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from cartpk.errors import CartpkWarning, FitError, SpecError, Violation
from cartpk.fit._convergence import ConvergenceThresholds, check_convergence, eta_shrinkage
from cartpk.fit._likelihood import check_blq, loglik
from cartpk.fit._sampling import SamplingPlan, sample_rounds
from cartpk.model import ClosedFormModel, Model, OdeModel
from cartpk.model._ode_options import default_ode_engine, ode_option_problems

if TYPE_CHECKING:  # pragma: no cover
    import arviz
    import pymc

    from cartpk.data import Dataset

__all__ = [
    "PRIOR_DOMINATED_RATIO",
    "PopulationFit",
    "fit_population",
    "population_model",
    "population_priors",
    "prior_set_name",
]

PriorChoice = Literal["weak", "literature"]
Sampler = Literal["nutpie", "pymc"]
Init = Literal["ebe", "jitter", "declared"]
MassMatrix = Literal["diag", "low_rank"]

_PRIOR_SD = {"weak": 1.5, "literature": 0.5}  # SD of mu_<P> on the transformed scale
_SCALE_FACTOR = {"weak": 2.0, "literature": 1.0}  # HalfNormal scale / declared SD
_COV_SD = {"weak": 1.0, "literature": 0.5}
_SCALE_FLOOR = 0.05

#: ``prior_width_ratio`` above which a parameter is reported as ``prior_dominated``: its
#: posterior interval is more than half as wide as its prior's (module documentation).
PRIOR_DOMINATED_RATIO = 0.5


# ---------------------------------------------------------------------------------------
# priors as data


def _transform_label(transform: str | None, name: str) -> str:
    return f"{transform}({name})" if transform else name


def prior_set_names(model: Model) -> tuple[str, ...]:
    """Every prior set :func:`fit_population` accepts for ``model``: the built-in
    ``"weak"`` and ``"literature"``, then the sets the model declares."""
    return (*_PRIOR_SD, *model.prior_sets)


def prior_set_name(model: Model, priors: str | None = None) -> str:
    """The prior set a fit of ``model`` uses: ``priors``, or the model's ``default_priors``.

    Parameters
    ----------
    model : Model
        A model declaration; its ``prior_sets`` add names to ``"weak"`` and ``"literature"``.
    priors : str, optional
        A set name; ``None`` takes ``model.default_priors`` (``"weak"`` unless declared).

    Returns
    -------
    str
        The set's name.

    Raises
    ------
    SpecError
        ``priors`` when ``priors`` names no set of ``model``.

    Examples
    --------
    >>> import cartpk as ck
    >>> prior_set_name(ck.load_model("stein2019")), prior_set_name(ck.load_model("stein2019_covariates"))
    ('weak', 'solid_tumour')
    """
    name = model.default_priors if priors is None else priors
    known = prior_set_names(model)
    if name not in known:
        raise SpecError(
            f"Unknown prior choice `priors={priors!r}` for model `{model.name}`.",
            [
                Violation(
                    "priors",
                    "`priors` must name a prior set of the model",
                    value=repr(priors),
                    expected=" or ".join(map(repr, known)),
                    fix=f"use one of {', '.join(map(repr, known))}, or leave `priors` unset "
                    f"for the model's default ({model.default_priors!r})",
                )
            ],
        )
    return str(name)


def population_priors(model: Model, priors: PriorChoice | str | None = None) -> pd.DataFrame:
    """The priors :func:`fit_population` puts on every free parameter of ``model``.

    Parameters
    ----------
    model : Model
        A model declaration.
    priors : {"weak", "literature"} or a set the model declares, optional
        ``"weak"``: weakly informative, centred on the declaration's values;
        ``"literature"``: the declaration's (published) values with tighter SDs; a name in
        ``model.prior_sets`` (``"solid_tumour"`` of ``stein2019_covariates``): that set's
        typical-value priors, its base set's numbers elsewhere. ``None`` (default): the
        model's ``default_priors``. See the module documentation for the numbers.

    Returns
    -------
    pandas.DataFrame
        ``parameter, role, distribution, loc, scale, lower, upper, on, source`` with
        ``parameter`` the PyMC variable (``mu_cmax``, ``omega_cmax``, ``sigma``,
        ``cov_cmax_dose``), ``on`` the scale the numbers refer to (``log(cmax)``) and
        ``source`` where the centre comes from (the declaration, or the prior set's citation).
        ``attrs["priors"]`` holds the set's name.

    Raises
    ------
    SpecError
        ``priors`` when ``priors`` names no set of ``model``.

    Examples
    --------
    >>> import cartpk as ck
    >>> p = population_priors(ck.load_model("stein2019"), "literature")
    >>> row = p.set_index("parameter").loc["omega_foldx"]
    >>> row["distribution"], float(row["scale"])  # Table 1 variance 2.4 -> SD 1.549
    ('HalfNormal', 1.549)
    """
    set_name = prior_set_name(model, priors)
    declared = model.prior_sets.get(set_name)
    base = declared.base if declared is not None else set_name
    typical = dict(declared.typical) if declared is not None else {}
    iiv_source = (
        f"2 x the declared IIV SD ({base} set)" if base == "weak" else "the declared IIV SD"
    )
    rows: list[dict[str, Any]] = []
    fixed = model.ini.fixed
    sd = _PRIOR_SD[base]
    for t in model.thetas.values():
        if t.fixed:
            continue
        own = typical.get(t.name)
        centre = own.value if own is not None else t.value
        loc = float(model.to_transformed({t.name: centre})[t.name])
        if own is not None:
            scale = own.sd if t.transform else own.sd * max(abs(centre), 1.0)
        else:
            scale = sd if t.transform else sd * max(abs(t.value), 1.0)
        lo, hi = t.natural_bounds()
        tlo = (
            float(model.to_transformed({t.name: lo})[t.name]) if t.lower is not None else -math.inf
        )
        thi = float(model.to_transformed({t.name: hi})[t.name]) if t.upper is not None else math.inf
        rows.append(
            dict(
                parameter=f"mu_{t.name}",
                role="typical",
                distribution="Normal" if math.isinf(tlo) and math.isinf(thi) else "TruncatedNormal",
                loc=loc,
                scale=scale,
                lower=tlo,
                upper=thi,
                on=_transform_label(t.transform, t.name),
                source=own.source if own is not None else f"declared value ({base} set)",
            )
        )
    factor = _SCALE_FACTOR[base]
    for n, s in model.iiv.entries:
        if f"omega_{n}" in fixed:
            continue
        rows.append(
            dict(
                parameter=f"omega_{n}",
                role="iiv",
                distribution="HalfNormal",
                loc=0.0,
                scale=round(max(factor * s, _SCALE_FLOOR), 3),
                lower=0.0,
                upper=math.inf,
                on=f"SD of {_transform_label(model.thetas[n].transform, n)}",
                source=iiv_source,
            )
        )
    for em in model.error.values():
        for name, v in em.sigmas:
            if name in fixed:
                continue
            rows.append(
                dict(
                    parameter=name,
                    role="residual",
                    distribution="HalfNormal",
                    loc=0.0,
                    scale=round(max(factor * v, _SCALE_FLOOR), 3),
                    lower=0.0,
                    upper=math.inf,
                    on=f"{em.kind} residual SD",
                    source=f"declared value ({base} set)",
                )
            )
    for eff in model.covariates:
        for name, v in eff.coefficients.items():
            if name in fixed:
                continue
            rows.append(
                dict(
                    parameter=name,
                    role="covariate",
                    distribution="Normal",
                    loc=float(v),
                    scale=_COV_SD[base],
                    lower=-math.inf,
                    upper=math.inf,
                    on=f"shift of {_transform_label(model.thetas[eff.param].transform, eff.param)}",
                    source=f"declared value ({base} set)",
                )
            )
    cols = ["parameter", "role", "distribution", "loc", "scale", "lower", "upper", "on", "source"]
    out = pd.DataFrame(rows, columns=cols)
    out.attrs["priors"] = set_name
    return out


def _prior_interval(prior: Mapping[str, Any], ci: float) -> tuple[float, float]:
    """Equal-tailed ``ci`` interval of one row of :func:`population_priors`, exactly.

    Parameters
    ----------
    prior : mapping
        A row of :func:`population_priors` (``distribution, loc, scale, lower, upper``).
    ci : float
        Probability of the interval, in (0, 1).

    Returns
    -------
    (float, float)
        Lower and upper quantile on the prior's own scale (its ``on`` column).
    """
    from scipy import stats

    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    dist, loc, scale = str(prior["distribution"]), float(prior["loc"]), float(prior["scale"])
    if dist == "Normal":
        frozen = stats.norm(loc=loc, scale=scale)
    elif dist == "TruncatedNormal":
        a = (float(prior["lower"]) - loc) / scale  # +-inf where a side is open
        b = (float(prior["upper"]) - loc) / scale
        frozen = stats.truncnorm(a, b, loc=loc, scale=scale)
    elif dist == "HalfNormal":
        frozen = stats.halfnorm(loc=0.0, scale=scale)
    else:  # pragma: no cover - population_priors writes only the three above
        raise ValueError(f"no quantiles for prior distribution {dist!r}")
    return float(frozen.ppf(lo_q)), float(frozen.ppf(hi_q))


# ---------------------------------------------------------------------------------------
# the design: what the data contribute


@dataclass(frozen=True)
class _Design:
    subjects: list[str]
    obs: pd.DataFrame  # ROW, ID, TIME, DV, CENS, LLOQ, LIMIT, DVID, SUBJ (0-based subject)
    excluded: pd.DataFrame  # ROW, ID, code, reason
    covariates: pd.DataFrame  # one row per subject (subjects order): ID + needed columns
    dose: np.ndarray  # per subject
    outputs: list[str]
    blq: str

    @property
    def limit(self) -> np.ndarray:
        """Assay lower limit per record (simulation, VPC): LLOQ where known, else DV of
        left-censored records. The likelihood uses DV and LIMIT (:func:`cartpk.fit.censoring_interval`)."""
        lloq = self.obs["LLOQ"].to_numpy(dtype=float)
        dv = self.obs["DV"].to_numpy(dtype=float)
        cens = self.obs["CENS"].to_numpy(dtype=int)
        return np.where(np.isfinite(lloq), lloq, np.where(cens == 1, dv, np.nan))


def _spec_error(message: str, violations: list[Violation]) -> None:
    if violations:
        raise SpecError(message, violations)


def _design(model: Model, dataset: Dataset, dvid: str | Sequence[str] | None, blq: str) -> _Design:
    problems: list[Violation] = []
    if not isinstance(model, ClosedFormModel | OdeModel):
        raise FitError(
            f"`fit_population` cannot evaluate `{model.name}` (kind `{model.kind}`).",
            [
                Violation(
                    "population_model_kind",
                    f"model `{model.name}` is neither a closed-form nor an ODE model",
                    value=model.kind,
                    expected="a ClosedFormModel or an OdeModel",
                    fix="declare the model as a ClosedFormModel or OdeModel subclass",
                )
            ],
        )
    if isinstance(model, OdeModel) and model.time_varying:
        raise FitError(
            f"`fit_population` does not yet fit `{model.name}`'s time-varying covariates.",
            [
                Violation(
                    "population_time_varying",
                    f"model `{model.name}` declares time-varying covariates "
                    f"{sorted(model.time_varying)}",
                    value=", ".join(sorted(model.time_varying)),
                    expected="an ODE model without time-varying covariates",
                    fix='fit the subjects individually (`method = "individual"`), which '
                    "integrates time-varying covariates piecewise",
                )
            ],
        )
    outputs = (
        list(model.outputs) if dvid is None else [dvid] if isinstance(dvid, str) else list(dvid)
    )
    for o in outputs:
        if o not in model.outputs:
            problems.append(
                Violation(
                    "unknown_output",
                    f"`{o}` is not an output of `{model.name}`",
                    value=o,
                    expected=f"one of {list(model.outputs)}",
                    fix="pass `dvid=` naming one of the model's outputs",
                )
            )
    _spec_error("Cannot fit: unknown outputs.", problems)
    obs = dataset.observations()
    obs = obs.loc[obs["DVID"].isin(outputs)].copy()
    for o in outputs:
        if not (obs["DVID"] == o).any():
            problems.append(
                Violation(
                    "no_observations",
                    f"the dataset has no observations of `{o}`",
                    value=o,
                    expected=f"records with DVID={o}",
                    fix="check the `DVID` column or pass `dvid=` naming an endpoint with data",
                )
            )
    if problems:
        raise FitError("Cannot fit: no observations.", problems)
    cens = obs["CENS"].to_numpy(dtype=int)
    excluded = pd.DataFrame(columns=["ROW", "ID", "code", "reason"])
    if blq == "m1":
        drop = obs.loc[cens != 0]
        excluded = pd.DataFrame(
            {
                "ROW": drop["ROW"].to_numpy(),
                "ID": drop["ID"].to_numpy(),
                "code": "blq_m1",
                "reason": "censored record discarded (blq='m1')",
            }
        )
        obs = obs.loc[cens == 0].copy()
    subjects = [s for s in dataset.subjects if s in set(obs["ID"])]
    index = {s: i for i, s in enumerate(subjects)}
    obs["SUBJ"] = obs["ID"].map(index).astype(int)
    obs = obs.sort_values(["SUBJ", "DVID", "TIME"], kind="stable").reset_index(drop=True)

    doses = dataset.doses.groupby("ID")["AMT"].sum()
    dose = np.array([float(doses.get(s, np.nan)) for s in subjects])
    if np.isnan(dose).any() and model.default_dose is not None:
        dose = np.where(np.isnan(dose), float(model.default_dose), dose)

    base = dataset.covariates.set_index("ID") if "ID" in dataset.covariates else pd.DataFrame()
    cov = pd.DataFrame({"ID": subjects})
    for col in model.covariate_columns:
        if col in base.columns:
            cov[col] = [base[col].get(s, np.nan) for s in subjects]
        elif col == "DOSE":
            cov[col] = dose  # the dose records are the dose covariate
        elif col in getattr(dataset, "time_varying_covariates", []):
            problems.append(
                Violation(
                    "covariate_time_varying",
                    f"covariate `{col}` varies within subjects; population fits use baseline values",
                    column=col,
                    expected="one value per subject",
                    fix=f"declare `{col}` as a baseline covariate or derive a baseline column",
                )
            )
        else:
            problems.append(
                Violation(
                    "covariate_missing",
                    f"covariate column `{col}` is needed by `{model.name}` but missing",
                    column=col,
                    expected=f"columns {model.covariate_columns}",
                    fix=f"add `{col}` (one value per subject) or remove the covariate effect",
                )
            )
    for eff in model.covariates:
        if eff.on in cov.columns:
            col = cov[eff.on]
            missing = [s for s, v in zip(subjects, col, strict=True) if pd.isna(v)]
            if missing:
                problems.append(
                    Violation(
                        "covariate_value",
                        f"covariate `{eff.on}` is missing for {len(missing)} subject(s)",
                        id=", ".join(missing[:10]),
                        column=eff.on,
                        fix="impute the baseline value or drop those subjects",
                    )
                )
                continue
            for msg in eff.problems(col.to_numpy()):
                problems.append(
                    Violation("covariate_value", msg, column=eff.on, fix="correct the column")
                )
    _spec_error(f"Cannot fit `{model.name}`: covariates do not match the declaration.", problems)
    return _Design(
        subjects=subjects,
        obs=obs.assign(LIMIT=obs["LIMIT"] if "LIMIT" in obs.columns else np.nan)[
            ["ROW", "ID", "TIME", "DV", "CENS", "LLOQ", "LIMIT", "DVID", "SUBJ"]
        ],
        excluded=excluded,
        covariates=cov,
        dose=dose,
        outputs=outputs,
        blq=blq,
    )


# ---------------------------------------------------------------------------------------
# one parameterisation for PyMC (pytensor) and posterior evaluation (NumPy)


def _individual_transformed(
    xp: Any,
    model: Model,
    mu: Mapping[str, Any],
    eta: Mapping[str, Any],
    coefs: Mapping[str, Any],
    covariates: pd.DataFrame,
) -> dict[str, Any]:
    """``h(P_i) = mu_P + covariate shifts + eta_P`` for every structural parameter, by name."""
    out: dict[str, Any] = {}
    for name in model.thetas:
        h = mu[name]
        for eff in model.covariates:
            if eff.param == name:
                h = h + eff.shift(xp, covariates[eff.on].to_numpy(), coefs)
        if name in eta:
            h = h + eta[name]
        out[name] = h
    return out


def _natural(xp: Any, model: Model, transformed: Mapping[str, Any]) -> dict[str, Any]:
    return {k: model.from_transformed({k: v}, xp=xp)[k] for k, v in transformed.items()}


def _subject_grid(subj: np.ndarray, time: np.ndarray, n_subj: int) -> tuple[np.ndarray, np.ndarray]:
    """Each subject's sorted distinct record times, padded with its last one.

    Returns the ``(n_subjects, n_max)`` grid an ODE model is integrated on and, per record,
    its column in that grid (``grid[subj, col] == time``).
    """
    uniq = [np.unique(time[subj == i]) for i in range(n_subj)]
    width = max(len(u) for u in uniq)
    grid = np.empty((n_subj, width))
    for i, u in enumerate(uniq):
        grid[i, : len(u)] = u
        grid[i, len(u) :] = u[-1]
    col = np.array(
        [int(np.searchsorted(uniq[s], t)) for s, t in zip(subj, time, strict=True)], dtype=int
    )
    return grid, col


def _predict_records(
    xp: Any,
    model: Model,
    params: Mapping[str, Any],
    subj: np.ndarray,
    time: np.ndarray,
    dose: np.ndarray,
    ode_engine: str = "scipy",
    ode_method: str | None = None,
) -> dict[str, Any]:
    """Predictions ``{DVID: (n_records,)}`` at each record from per-subject parameters.

    ``params`` holds, by name, one value per subject (``(n_subjects,)``) or a scalar.
    A closed-form model is evaluated per record; an ODE model is integrated once per
    subject on its own time grid (:func:`_subject_grid`) and read off at each record.
    """
    if not isinstance(model, OdeModel):
        per_obs = {k: (v[subj] if getattr(v, "ndim", 0) else v) for k, v in params.items()}
        return model.evaluate(xp, time, per_obs, dose=dose[subj])
    grid, col = _subject_grid(subj, time, len(dose))
    symbolic = getattr(xp, "__name__", "").startswith("pytensor")
    kw = {"engine": ode_engine, "method": ode_method} if symbolic else {}
    out = model.evaluate(xp, grid, dict(params), dose=dose, **kw)
    return {k: v[subj, col] for k, v in out.items()}


def _predict_draws(
    model: Model,
    params: Mapping[str, np.ndarray],
    time: np.ndarray,
    dose: np.ndarray,
) -> dict[str, np.ndarray]:
    """NumPy predictions for many draws of an ODE model: ``{DVID: (n_draws, n_subj, n_t)}``.

    ``params`` is ``{name: (n_draws, n_subjects)}``; every (draw, subject) pair is one
    subject of the vectorised solver (:meth:`cartpk.model.OdeModel.evaluate_batch`) on the
    shared grid ``time``. A pair whose integration fails is NaN and counted in a
    ``ode_failed`` warning.
    """
    n_draws, n_subj = next(iter(params.values())).shape
    flat = {k: np.asarray(v, dtype=float).reshape(-1) for k, v in params.items()}
    sol = model.evaluate_batch(  # type: ignore[attr-defined]
        time, flat, dose=np.tile(dose, n_draws), throw=False
    )
    failed = sol.failed_subjects()
    if failed:
        warnings.warn(
            CartpkWarning(
                f"{len(failed)} of {n_draws * n_subj} posterior (draw, subject) integrations "
                f"of `{model.name}` failed; their predictions are NaN.",
                code="ode_failed",
                details={"failed": len(failed)},
            ),
            stacklevel=3,
        )
    return {
        k: np.asarray(v, dtype=float).reshape(n_draws, n_subj, -1) for k, v in sol.values.items()
    }


def _constant_values(model: Model) -> dict[str, float]:
    """Values of fixed non-structural parameters (omega, sigma, cov) by name."""
    init = model.initial_values()
    return {k: init[k] for k in model.ini.fixed if k in init}


def _centered_problems(model: Model, centered: Sequence[str]) -> list[Violation]:
    """Names in ``centered`` that are not random effects of ``model``."""
    return [
        Violation(
            "centered",
            f"`{n}` has no random effect to centre",
            value=repr(n),
            expected=f"names among {list(model.iiv.names)}",
            fix="list parameters with IIV (model.iiv.names)",
        )
        for n in centered
        if n not in model.iiv.names
    ]


def population_model(
    model: Model,
    dataset: Dataset,
    *,
    dvid: str | Sequence[str] | None = None,
    blq: Literal["m3", "m4", "m1"] = "m3",
    priors: PriorChoice | str | None = None,
    ode_engine: str | None = None,
    ode_method: str | None = None,
    centered: Sequence[str] = (),
) -> pymc.Model:
    """Build (without sampling) the PyMC model :func:`fit_population` samples.

    Parameters
    ----------
    model, dataset, dvid, blq, priors, ode_engine, ode_method, centered
        As for :func:`fit_population`.

    Returns
    -------
    pymc.Model
        Variables named as in the module documentation, coordinate ``subject`` holding the
        subject IDs (strings, input order).
    """
    pmm, _ = _build(
        model,
        dataset,
        dvid=dvid,
        blq=blq,
        priors=prior_set_name(model, priors),
        ode_engine=ode_engine,
        ode_method=ode_method,
        centered=centered,
    )
    return pmm


def _build(
    model: Model,
    dataset: Dataset,
    *,
    dvid: str | Sequence[str] | None,
    blq: str,
    priors: PriorChoice | str | None,
    ode_engine: str | None = None,
    ode_method: str | None = None,
    centered: Sequence[str] = (),
) -> tuple[pymc.Model, _Design]:
    from cartpk._deps import require

    centered = (centered,) if isinstance(centered, str) else tuple(centered)
    _spec_error("Invalid `centered`.", _centered_problems(model, centered))

    pm = require("pymc", purpose="population fits")
    pt = require("pytensor.tensor", purpose="population fits")
    method = check_blq(blq)
    prior_table = population_priors(model, priors).set_index("parameter")
    design = _design(model, dataset, dvid, method)
    const = _constant_values(model)
    init = model.initial_values()
    obs = design.obs
    subj = obs["SUBJ"].to_numpy()
    with pm.Model(coords={"subject": design.subjects}) as pmm:

        def rv(name: str) -> Any:
            if name in const:
                return const[name]
            p = prior_table.loc[name]
            if p["distribution"] == "HalfNormal":
                # start at the declared value (not the prior's support point), jittered by nutpie
                start = max(float(init[name]), _SCALE_FLOOR)
                return pm.HalfNormal(name, sigma=p["scale"], initval=start)
            if p["distribution"] == "TruncatedNormal":
                lo = None if math.isinf(p["lower"]) else p["lower"]
                hi = None if math.isinf(p["upper"]) else p["upper"]
                return pm.TruncatedNormal(name, mu=p["loc"], sigma=p["scale"], lower=lo, upper=hi)
            return pm.Normal(name, mu=p["loc"], sigma=p["scale"])

        mu: dict[str, Any] = {}
        for t in model.thetas.values():
            if t.fixed:
                mu[t.name] = float(model.to_transformed({t.name: t.value})[t.name])
                continue
            mu[t.name] = rv(f"mu_{t.name}")
            pm.Deterministic(t.name, model.from_transformed({t.name: mu[t.name]}, xp=pt)[t.name])
        eta: dict[str, Any] = {}
        for n in model.iiv.names:
            om = rv(f"omega_{n}")
            if n in centered:  # eta itself is sampled: for well-informed random effects
                eta[n] = pm.Normal(f"eta_{n}", 0.0, om, dims="subject")
                continue
            z = pm.Normal(f"z_{n}", 0.0, 1.0, dims="subject")
            eta[n] = pm.Deterministic(f"eta_{n}", om * z, dims="subject")
        coefs = {c: rv(c) for eff in model.covariates for c in eff.coefficients}
        sigmas = {
            dv: {s: rv(s) for s in em.names}
            for dv, em in model.error.items()
            if dv in design.outputs
        }
        h = _individual_transformed(pt, model, mu, eta, coefs, design.covariates)
        nat = _natural(pt, model, h)
        shifted = {eff.param for eff in model.covariates}
        for t in model.thetas.values():
            if t.fixed and t.name not in eta and t.name not in shifted:
                nat[t.name] = float(t.value)  # a constant, not a graph input (no gradient)
        pred = _predict_records(
            pt,
            model,
            nat,
            subj,
            obs["TIME"].to_numpy(dtype=float),
            design.dose,
            ode_engine=default_ode_engine(ode_engine, model, ode_method),
            ode_method=ode_method,
        )
        for dv in design.outputs:
            rows = np.flatnonzero(obs["DVID"].to_numpy() == dv)
            ll = loglik(
                pt,
                obs["DV"].to_numpy(dtype=float)[rows],
                pred[dv][rows],
                obs["CENS"].to_numpy(dtype=int)[rows],
                model.error[dv],
                sigmas[dv],
                blq=method,  # type: ignore[arg-type]
                limit=obs["LIMIT"].to_numpy(dtype=float)[rows],
            )
            pm.Potential(f"loglik_{dv}", ll.sum())
    return pmm, design


# ---------------------------------------------------------------------------------------
# the result


@dataclass(frozen=True)
class PopulationFit:
    """Result of :func:`fit_population`.

    Attributes
    ----------
    model : Model
        The declaration that was fitted.
    idata : arviz.InferenceData
        Posterior (dims ``chain, draw`` and ``subject``), sample statistics,
        ``observed_data`` (``DV``) and ``constant_data`` (``ID, TIME, CENS, LLOQ, DVID``) over
        the records used; attributes record the options (``blq``, ``priors``, seed...).
    parameters : pandas.DataFrame
        Population table ``parameter, estimate, lower, upper, unit, se, rse_pct, cv_pct,
        shrinkage_pct`` then ``role, fixed, rhat, ess_bulk, ess_tail, prior_width_ratio,
        prior_dominated``: posterior median, equal-tailed interval (``ci``), posterior SD as
        ``se``; posterior / prior interval width on the prior's scale and whether it exceeds
        :data:`PRIOR_DOMINATED_RATIO` (module documentation).
    individual : pandas.DataFrame
        One row per subject: ``ID``, posterior median of every structural parameter with
        ``<name>_lower``/``<name>_upper``, and the posterior mean ``eta_<name>``.
    diagnostics : pandas.DataFrame
        Convergence checks (:func:`cartpk.diagnostics.convergence_table`) plus one
        ``shrinkage`` row per random effect (not a pass/fail check).
    summary : dict
        ``converged``, ``failed`` (list of failed checks), worst R-hat/ESS, divergences,
        BFMI, data counts, options and timings; ``prior_dominated`` (parameter names whose
        ``prior_width_ratio`` exceeds ``prior_dominated_ratio``, information only).
    priors : pandas.DataFrame
        :func:`population_priors` of the fit.
    observations : pandas.DataFrame
        Records used: ``ROW, ID, TIME, DV, CENS, LLOQ, LIMIT, DVID`` (+ ``SUBJ``, 0-based
        index); ``LIMIT`` is the other bound of a censored record (NaN where none).
    excluded : pandas.DataFrame
        Records not used with ``ROW, ID, code, reason`` (e.g. ``blq_m1``).
    covariates : pandas.DataFrame
        Covariates per subject as used (``ID`` + the declaration's columns).
    dose : numpy.ndarray
        Dose (``AMT``) per subject.
    """

    model: Model
    idata: arviz.InferenceData
    parameters: pd.DataFrame
    individual: pd.DataFrame
    diagnostics: pd.DataFrame
    summary: dict[str, Any]
    priors: pd.DataFrame
    observations: pd.DataFrame
    excluded: pd.DataFrame
    covariates: pd.DataFrame
    dose: np.ndarray = field(repr=False)

    @classmethod
    def from_idata(
        cls,
        model: Model,
        dataset: Dataset,
        idata: arviz.InferenceData,
        *,
        dvid: str | Sequence[str] | None = None,
        blq: Literal["m3", "m4", "m1"] = "m3",
        priors: PriorChoice | str | None = None,
        thresholds: ConvergenceThresholds | None = None,
        ci: float = 0.95,
    ) -> PopulationFit:
        """Rebuild a fit from a posterior sample (e.g. a saved ``posterior.nc``).

        Parameters
        ----------
        model, dataset, dvid, blq, priors, thresholds, ci
            As given to :func:`fit_population`; ``dataset`` must be the one fitted.
        idata : arviz.InferenceData
            Posterior with the variables of :func:`population_model` (``mu_<P>``,
            ``omega_<P>``, ``eta_<P>`` with dim ``subject``, sigmas, ``cov_*``).

        Returns
        -------
        PopulationFit
            Tables and diagnostics recomputed from ``idata``; no warning is emitted.

        Examples
        --------
        >>> import arviz as az                                           # doctest: +SKIP
        >>> fit = PopulationFit.from_idata(model, data, az.from_netcdf("posterior.nc"))  # doctest: +SKIP
        """
        priors = prior_set_name(model, priors)
        design = _design(model, dataset, dvid, check_blq(blq))
        if "constant_data" not in idata.groups():
            _attach_data(idata, design, model, blq=blq, priors=priors)
        return _assemble(model, design, idata, priors=priors, thresholds=thresholds, ci=ci)

    @property
    def converged(self) -> bool:
        """Whether every convergence threshold was met."""
        return bool(self.summary["converged"])

    @property
    def subjects(self) -> list[str]:
        """Subject IDs in fit order (the ``subject`` coordinate)."""
        return [str(s) for s in self.idata.posterior["subject"].values]

    # -- posterior draws, evaluated with NumPy through the same declaration ------------------
    def draws(self, n: int | None = None) -> dict[str, np.ndarray]:
        """Posterior draws flattened over chains, ``{name: (n_draws, ...)}``.

        Parameters
        ----------
        n : int, optional
            Keep ``n`` draws evenly spaced over the whole sample (all by default).
        """
        post = self.idata.posterior
        total = post.sizes["chain"] * post.sizes["draw"]
        idx = (
            np.arange(total)
            if n is None or n >= total
            else np.linspace(0, total - 1, n).round().astype(int)
        )
        out = {}
        for k, da in post.data_vars.items():
            arr = np.asarray(da.values)
            out[str(k)] = arr.reshape((total, *arr.shape[2:]))[idx]
        return out

    def _mu(self, d: Mapping[str, np.ndarray]) -> dict[str, Any]:
        m = self.model
        out: dict[str, Any] = {}
        for t in m.thetas.values():
            if f"mu_{t.name}" in d:
                out[t.name] = d[f"mu_{t.name}"][:, None]
            else:
                out[t.name] = float(m.to_transformed({t.name: t.value})[t.name])
        return out

    def _value(self, d: Mapping[str, np.ndarray], name: str) -> Any:
        if name in d:
            return d[name][:, None]
        return self.model.initial_values()[name]

    def individual_draws(
        self,
        n: int | None = 200,
        *,
        eta: Literal["posterior", "zero", "new"] = "posterior",
        seed: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Individual structural parameters per draw and subject, natural scale.

        Parameters
        ----------
        n : int, optional, default 200
            Number of posterior draws (evenly spaced); all with ``None``.
        eta : {"posterior", "zero", "new"}, default "posterior"
            The subjects' posterior random effects (``IPRED``), none (``PRED``: typical
            subject with its covariates), or new ones drawn from ``N(0, omega^2)`` of each
            draw (simulated new subjects with the same design, for VPCs).
        seed : int, optional
            Seed of the random effects drawn for ``eta="new"``.

        Returns
        -------
        dict of str to numpy.ndarray
            ``{parameter: (n_draws, n_subjects)}``.
        """
        d = self.draws(n)
        m = self.model
        n_draws = next(iter(d.values())).shape[0]
        n_subj = len(self.subjects)
        etas: dict[str, Any] = {}
        rng = np.random.default_rng(seed)
        for name in m.iiv.names:
            if eta == "posterior":
                etas[name] = d[f"eta_{name}"]
            elif eta == "new":
                om = self._value(d, f"omega_{name}")
                etas[name] = om * rng.standard_normal((n_draws, n_subj))
        coefs = {c: self._value(d, c) for eff in m.covariates for c in eff.coefficients}
        h = _individual_transformed(np, m, self._mu(d), etas, coefs, self.covariates)
        return {
            k: np.broadcast_to(np.asarray(v, dtype=float), (n_draws, n_subj)).copy()
            for k, v in _natural(np, m, h).items()
        }

    def predict(
        self,
        times: Sequence[float] | np.ndarray | None = None,
        *,
        n: int | None = 200,
        eta: Literal["posterior", "zero", "new"] = "posterior",
        seed: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Model predictions per posterior draw (no residual error).

        Parameters
        ----------
        times : array, optional
            Days after infusion. Default: the records used in the fit (one column per
            record of :attr:`observations`); otherwise the same grid for every subject.
        n, eta, seed
            As for :meth:`individual_draws`.

        Returns
        -------
        dict of str to numpy.ndarray
            ``{DVID: (n_draws, n_records)}``, or ``(n_draws, n_subjects, n_times)`` for a grid.
        """
        ind = self.individual_draws(n, eta=eta, seed=seed)
        if isinstance(self.model, OdeModel):
            if times is None:
                subj = self.observations["SUBJ"].to_numpy()
                t_obs = self.observations["TIME"].to_numpy(dtype=float)
                grid = np.unique(t_obs)
                col = np.searchsorted(grid, t_obs)
                out = _predict_draws(self.model, ind, grid, self.dose)
                return {k: v[:, subj, col] for k, v in out.items()}
            return _predict_draws(self.model, ind, np.asarray(times, dtype=float), self.dose)
        if times is None:
            subj = self.observations["SUBJ"].to_numpy()
            params = {k: v[:, subj] for k, v in ind.items()}
            t = self.observations["TIME"].to_numpy(dtype=float)
            with np.errstate(over="ignore", under="ignore"):
                out = self.model.evaluate(np, t, params, dose=self.dose[subj])
            return {k: np.asarray(v, dtype=float) for k, v in out.items()}
        t = np.asarray(times, dtype=float)
        params = {k: v[:, :, None] for k, v in ind.items()}
        with np.errstate(over="ignore", under="ignore"):
            out = self.model.evaluate(np, t, params, dose=self.dose[None, :, None])
        shape = next(iter(ind.values())).shape + (t.size,)
        return {k: np.broadcast_to(np.asarray(v, dtype=float), shape) for k, v in out.items()}

    def simulate(
        self,
        n: int = 200,
        *,
        seed: int | None = None,
        new_subjects: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Replicate the observed design from the posterior (posterior predictive).

        Each replicate uses one posterior draw: new random effects (``new_subjects=True``,
        for VPCs) or the subjects' own, residual error from the declaration, and the
        records' censoring limits applied exactly as the data were censored.

        Parameters
        ----------
        n : int, default 200
            Number of replicates (posterior draws, evenly spaced).
        seed : int, optional
            Seed for random effects and residual errors.
        new_subjects : bool, default True
            Draw new random effects instead of using the subjects' posterior ones.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            Simulated ``DV`` and ``CENS`` (1 where below the record's lower limit, -1 where
            above the upper limit of a record censored above one, ``CENS=-1``), each
            ``(n, n_records)`` aligned with :attr:`observations`. Censored values hold the
            limit, as in the data.
        """
        rng = np.random.default_rng(seed)
        pred = self.predict(
            n=n, eta="new" if new_subjects else "posterior", seed=int(rng.integers(2**31))
        )
        d = self.draws(n)
        obs = self.observations
        dvids = obs["DVID"].to_numpy()
        lloq = obs["LLOQ"].to_numpy(dtype=float)
        limit = np.where(
            np.isfinite(lloq),
            lloq,
            np.where(obs["CENS"].to_numpy() == 1, obs["DV"].to_numpy(dtype=float), np.nan),
        )
        n_rep = next(iter(pred.values())).shape[0]
        sim = np.full((n_rep, len(obs)), np.nan)
        for dv in self.model.outputs:
            rows = np.flatnonzero(dvids == dv)
            if rows.size == 0:
                continue
            em = self.model.error[dv]
            values = {s: self._value(d, s) for s in em.names}
            sim[:, rows] = em.sample(rng, pred[dv][:, rows], values)
        # an upper limit is known where the data were censored above one (DV holds it)
        upper = np.where(obs["CENS"].to_numpy() == -1, obs["DV"].to_numpy(dtype=float), np.nan)
        cens = np.where(np.isfinite(limit) & (sim < limit), 1, 0)
        cens = np.where(np.isfinite(upper) & (sim > upper), -1, cens)
        sim = np.where(cens == 1, limit, np.where(cens == -1, upper, sim))
        return sim, cens


# ---------------------------------------------------------------------------------------
# tables


def _cv_pct(transform: str | None, omega: float) -> float:
    if transform == "log":
        return 100.0 * math.sqrt(math.expm1(omega * omega))
    return math.nan


def _parameter_table(
    model: Model,
    idata: arviz.InferenceData,
    conv: pd.DataFrame,
    shrink: Mapping[str, float],
    ci: float,
    prior: pd.DataFrame,
) -> pd.DataFrame:
    post = idata.posterior
    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    prior_rows = prior.set_index("parameter")
    table = model.parameters.to_dict("records")
    units = {r["name"]: r["unit"] for r in table}
    roles = {r["name"]: r["role"] for r in table}
    fixed = {r["name"]: bool(r["fixed"]) for r in table}
    init = model.initial_values()

    def conv_value(check: str, var: str) -> float:
        sel = conv.loc[(conv["check"] == check) & (conv["parameter"] == var), "value"]
        return float(sel.iloc[0]) if len(sel) else math.nan

    rows = []
    for name in model.parameter_names():
        var = name
        row: dict[str, Any] = dict(
            parameter=name, unit=units[name], role=roles[name], fixed=fixed[name]
        )
        if var in post and not fixed[name]:
            x = np.asarray(post[var].values, dtype=float).ravel()
            est = float(np.median(x))
            se = float(np.std(x, ddof=1))
            row.update(
                estimate=est,
                lower=float(np.quantile(x, lo_q)),
                upper=float(np.quantile(x, hi_q)),
                se=se,
                rse_pct=100.0 * se / abs(est) if est != 0 else math.nan,
                rhat=conv_value("rhat", var),
                ess_bulk=conv_value("ess_bulk", var),
                ess_tail=conv_value("ess_tail", var),
            )
        else:
            row.update(
                estimate=init[name], lower=math.nan, upper=math.nan, se=math.nan, rse_pct=math.nan
            )
        if name.startswith("omega_"):
            p = name[len("omega_") :]
            row["cv_pct"] = _cv_pct(model.thetas[p].transform, float(row["estimate"]))
            s = shrink.get(p, math.nan)
            row["shrinkage_pct"] = 100.0 * s if math.isfinite(s) else math.nan
        ratio = (
            _prior_width_ratio(model, post, prior_rows, name, ci) if not fixed[name] else math.nan
        )
        row["prior_width_ratio"] = ratio
        row["prior_dominated"] = bool(math.isfinite(ratio) and ratio > PRIOR_DOMINATED_RATIO)
        rows.append(row)
    cols = [
        "parameter",
        "estimate",
        "lower",
        "upper",
        "unit",
        "se",
        "rse_pct",
        "cv_pct",
        "shrinkage_pct",
        "role",
        "fixed",
        "rhat",
        "ess_bulk",
        "ess_tail",
        "prior_width_ratio",
        "prior_dominated",
    ]
    return pd.DataFrame(rows).reindex(columns=cols)


def _prior_width_ratio(
    model: Model,
    post: Any,
    prior: pd.DataFrame,
    name: str,
    ci: float,
) -> float:
    """Posterior / prior ``ci``-interval width of parameter ``name``, on the prior's scale.

    Parameters
    ----------
    model : Model
        The fitted declaration.
    post : xarray.Dataset
        Posterior group (``mu_<P>`` or ``<P>`` for a typical value, else ``name``).
    prior : pandas.DataFrame
        :func:`population_priors` indexed by ``parameter``.
    name : str
        Parameter-table name (``tmax``, ``omega_cmax``, ``sigma``, ``cov_cmax_dose``).
    ci : float
        Probability of both equal-tailed intervals.

    Returns
    -------
    float
        The ratio; NaN where the parameter has no prior or no posterior draws.
    """
    key = f"mu_{name}" if name in model.thetas else name
    if key not in prior.index:
        return math.nan
    if key in post:
        x = np.asarray(post[key].values, dtype=float).ravel()
    elif name in post:  # a posterior without mu_<P>: back to the prior's (transformed) scale
        x = np.asarray(
            model.to_transformed({name: np.asarray(post[name].values, dtype=float).ravel()})[name]
        )
    else:
        return math.nan
    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    p_lo, p_hi = _prior_interval(prior.loc[key], ci)
    width = float(np.quantile(x, hi_q) - np.quantile(x, lo_q))
    return width / (p_hi - p_lo)


def _individual_table(fit_like: PopulationFit, ci: float) -> pd.DataFrame:
    ind = fit_like.individual_draws(None)
    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    out = pd.DataFrame({"ID": fit_like.subjects})
    for name, v in ind.items():
        out[name] = np.median(v, axis=0)
        out[f"{name}_lower"] = np.quantile(v, lo_q, axis=0)
        out[f"{name}_upper"] = np.quantile(v, hi_q, axis=0)
    post = fit_like.idata.posterior
    for n in fit_like.model.iiv.names:
        out[f"eta_{n}"] = np.asarray(post[f"eta_{n}"].mean(("chain", "draw")).values, dtype=float)
    return out


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
        ci="wald",
        seed=seed,
        n_jobs=1,
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
    cores: int | None = None,
    thresholds: ConvergenceThresholds | None = None,
    ci: float = 0.95,
    progress: bool = False,
    init: Init = "ebe",
    ode_engine: str | None = None,
    ode_method: str | None = None,
    mass_matrix: MassMatrix = "diag",
    centered: Sequence[str] = (),
    drop_iiv: Sequence[str] = (),
    extend: int = 2,
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
        Seed of the sampler; the same seed, data and options give the same draws.
    sampler : {"nutpie", "pymc"}, default "nutpie"
        nutpie (model compiled with numba; fast) or PyMC's NUTS (``pm.sample``).
    target_accept : float, default 0.9
        Target acceptance rate of NUTS (higher: smaller steps, fewer divergences).
    cores : int, optional
        Chains run in parallel (default ``min(chains, CPU count)``).
    thresholds : ConvergenceThresholds, optional
        Convergence thresholds (default R-hat <= 1.01, ESS >= 400, 0 divergences,
        BFMI >= 0.3).
    ci : float, default 0.95
        Probability of the equal-tailed intervals in the tables.
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
        ``"Rosenbrock23"``. A declaration marked stiff for extreme values (``paixao2022``
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
        ``covariate_time_varying``, ``covariate_value`` - every problem at once.

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
    if sampler not in ("nutpie", "pymc"):
        raise SpecError(
            f"Unknown sampler `sampler={sampler!r}`.",
            [
                Violation(
                    "sampler",
                    "`sampler` must be 'nutpie' or 'pymc'",
                    value=repr(sampler),
                    expected="'nutpie' or 'pymc'",
                    fix='use sampler="nutpie" (default) or sampler="pymc"',
                )
            ],
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
    if init not in ("ebe", "jitter", "declared"):
        raise SpecError(
            f"Unknown initialisation `init={init!r}`.",
            [
                Violation(
                    "init",
                    "`init` must be 'ebe', 'jitter' or 'declared'",
                    value=repr(init),
                    expected="'ebe', 'jitter' or 'declared'",
                    fix='use init="ebe" (default), init="jitter" or init="declared"',
                )
            ],
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
    if not 0 < ci < 1:
        bad.append(Violation("sampling_option", "`ci` must lie in (0, 1)", value=repr(ci)))
    _spec_error("Invalid sampling options.", bad)
    sibling = _smooth_sibling(model)
    if sibling is not None:
        warnings.warn(
            CartpkWarning(
                f"`{model.name}` switches phases with a hard gate, which gradient-based samplers "
                f"handle poorly; the catalogue has a smooth variant: load_model({sibling!r}).",
                code="non_smooth_model",
                details={"suggested": sibling},
            ),
            stacklevel=2,
        )
    centered = [centered] if isinstance(centered, str) else list(centered)
    if drop_iiv:
        drop = [drop_iiv] if isinstance(drop_iiv, str) else [str(p) for p in drop_iiv]
        model = model.with_iiv(drop=drop)
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
    )
    keep = [
        v.name
        for v in [*pmm.free_RVs, *pmm.deterministics]
        if v.name is not None and not v.name.startswith("z_")
    ]
    n_cores = cores or max(1, min(chains, os.cpu_count() or 1))
    init_ebe = (
        _ebe_starts(
            pmm, model, dataset, design, dvid=dvid, blq=blq, seed=int(seed), centered=centered
        )
        if init == "ebe"
        else None
    )
    plan = SamplingPlan(
        sampler=sampler,
        keep=keep,
        draws=int(draws),
        tune=int(tune),
        chains=int(chains),
        cores=n_cores,
        seed=int(seed),
        target_accept=float(target_accept),
        progress=progress,
        init=init,
        low_rank=mass_matrix == "low_rank",
        spawn=isinstance(model, OdeModel)
        and default_ode_engine(ode_engine, model, ode_method) == "jax",
        extend=int(extend),
        thresholds=thresholds or ConvergenceThresholds(),
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
        ci=ci,
        sampler=sampler,
        draws=int(draws),
        tune=int(tune),
        chains=sampled["chains"],
        chains_per_round=int(chains),
        extend=int(extend),
        rounds=sampled["rounds"],
        sampling_stopped=sampled["stopped"],
        seed=int(seed),
        target_accept=float(target_accept),
        init=init,
        **({"init_ebe": init_ebe} if init_ebe is not None else {}),
        mass_matrix=mass_matrix,
        centered=centered,
        ode_engine=(
            default_ode_engine(ode_engine, model, ode_method)
            if isinstance(model, OdeModel)
            else None
        ),
        ode_method=ode_method,
        compile_s=round(sampled["compile_s"], 2),
        sample_s=round(sampled["sample_s"], 2),
    )
    summary = fit.summary
    if not summary["converged"]:
        n = len(summary["failed"])
        shown = "; ".join(summary["failed"][:5]) + ("; ..." if n > 5 else "")
        warnings.warn(
            CartpkWarning(
                f"population fit of `{model.name}` did not meet {n} convergence "
                f"threshold{'s' if n > 1 else ''} with {summary['chains']} chains x "
                f"{int(draws):,} draws in {len(summary['rounds'])} round(s): {shown}. "
                f"Sampling stopped: {summary['sampling_stopped']}. {_advice(summary)} "
                "Do not use these estimates as converged.",
                code="not_converged",
                details={"failed": summary["failed"], "stopped": summary["sampling_stopped"]},
            ),
            stacklevel=2,
        )
    return fit


def _advice(summary: Mapping[str, Any]) -> str:
    """What to try next after an unconverged fit, from why its sampling stopped."""
    stopped = str(summary.get("sampling_stopped", ""))
    if stopped.startswith("divergent"):
        return "Try a higher `target_accept` (0.95-0.99) or `centered` for well-informed effects."
    if stopped.startswith("R-hat"):
        return (
            "Drop the random effects the design cannot inform (`drop_iiv`), or use more "
            'informative priors (`priors="literature"`); see docs/population_convergence.md.'
        )
    return "Try a larger `extend` or more `draws`/`tune`, or a higher `target_accept`."


def _assemble(
    model: Model,
    design: _Design,
    idata: arviz.InferenceData,
    *,
    priors: str,
    thresholds: ConvergenceThresholds | None,
    ci: float,
    **info: Any,
) -> PopulationFit:
    """Tables, diagnostics and summary of a posterior sample on ``design``."""
    post = idata.posterior
    keep = [str(v) for v in post.data_vars]
    conv, summary = check_convergence(idata, var_names=keep, thresholds=thresholds, warn=False)
    shrink = {
        n: eta_shrinkage(
            post[f"eta_{n}"].mean(("chain", "draw")).values,
            float(post[f"omega_{n}"].mean()) if f"omega_{n}" in post else model.iiv.sd[n],
        )
        for n in model.iiv.names
        if f"eta_{n}" in post
    }
    shrink_rows = pd.DataFrame(
        [
            dict(
                check="shrinkage",
                parameter=f"eta_{n}",
                element="",
                value=v,
                threshold=math.nan,
                passed=None,
            )
            for n, v in shrink.items()
        ],
        columns=conv.columns,
    )
    diag = pd.concat([conv, shrink_rows], ignore_index=True) if len(shrink_rows) else conv
    prior_table = population_priors(model, priors)
    parameters = _parameter_table(model, idata, conv, shrink, ci, prior_table)
    summary.update(
        model=model.name,
        blq=design.blq,
        priors=priors,
        **info,
        subjects=len(design.subjects),
        observations=len(design.obs),
        censored=int((design.obs["CENS"] != 0).sum()),
        excluded=len(design.excluded),
        thresholds=(thresholds or ConvergenceThresholds()).to_dict(),
        shrinkage={f"eta_{k}": v for k, v in shrink.items()},
        # information, not a check (module documentation: "How much of an interval is prior")
        prior_dominated=parameters.loc[parameters["prior_dominated"], "parameter"].tolist(),
        prior_dominated_ratio=PRIOR_DOMINATED_RATIO,
    )
    fit = PopulationFit(
        model=model,
        idata=idata,
        parameters=parameters,
        individual=pd.DataFrame(),
        diagnostics=diag,
        summary=summary,
        priors=prior_table,
        observations=design.obs,
        excluded=design.excluded,
        covariates=design.covariates,
        dose=design.dose,
    )
    object.__setattr__(fit, "individual", _individual_table(fit, ci))
    return fit


def _attach_data(
    idata: arviz.InferenceData,
    design: _Design,
    model: Model,
    **options: Any,
) -> None:
    """Add the records used (``observed_data``/``constant_data``) and the options as attributes."""
    import xarray as xr

    obs = design.obs
    coords = {"record": np.arange(len(obs))}
    observed = xr.Dataset({"DV": ("record", obs["DV"].to_numpy(dtype=float))}, coords=coords)
    constant = xr.Dataset(
        {
            "ROW": ("record", obs["ROW"].to_numpy(dtype=np.int64)),
            "ID": ("record", obs["ID"].astype(str).to_numpy(dtype="U")),
            "TIME": ("record", obs["TIME"].to_numpy(dtype=float)),
            "CENS": ("record", obs["CENS"].to_numpy(dtype=np.int64)),
            "LLOQ": ("record", design.limit.astype(float)),
            "LIMIT": ("record", obs["LIMIT"].to_numpy(dtype=float)),
            "DVID": ("record", obs["DVID"].astype(str).to_numpy(dtype="U")),
            "DOSE": ("subject", design.dose.astype(float)),
        },
        coords={**coords, "subject": design.subjects},
    )
    idata.add_groups(observed_data=observed, constant_data=constant)
    attrs = {"cartpk_model": model.name, **{k: str(v) for k, v in options.items()}}
    idata.posterior.attrs.update(attrs)
