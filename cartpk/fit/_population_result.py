"""The result of a population fit: :class:`PopulationFit`, its parameter, individual and
diagnostics tables, and the assembly of a posterior sample into them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from cartpk.fit._convergence import (
    ConvergenceThresholds,
    PopulationStatus,
    check_convergence,
    eta_shrinkage,
)
from cartpk.fit._likelihood import check_blq
from cartpk.fit._options import accepts_renamed
from cartpk.model import Model

if TYPE_CHECKING:  # pragma: no cover
    import arviz

    from cartpk.data import Dataset
from cartpk.fit._population_graph import _Design, _design
from cartpk.fit._population_priors import (
    PRIOR_DOMINATED_RATIO,
    PriorChoice,
    _prior_interval,
    population_priors,
    prior_set_name,
)
from cartpk.fit._predictive import PredictiveDraws, draw_index

# ---------------------------------------------------------------------------------------
# the result


@dataclass(frozen=True)
class PopulationFit(PredictiveDraws):
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
        prior_dominated``: posterior median, equal-tailed interval (``level``), posterior SD as
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
        BFMI, ``population_converged`` (every failed check, if any, concerns one subject's
        random effects), ``subjects_not_mixed`` (the subjects those checks name: the worst
        one of each random effect), data counts, options and timings; ``prior_dominated`` (parameter names whose
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
    @accepts_renamed
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
        level: float = 0.95,
    ) -> PopulationFit:
        """Rebuild a fit from a posterior sample (e.g. a saved ``posterior.nc``).

        Parameters
        ----------
        model, dataset, dvid, blq, priors, thresholds, level
            As given to :func:`fit_population`; ``dataset`` must be the one fitted
            (``level``'s deprecated alias ``ci`` still works, with a ``FutureWarning``).
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
        return _assemble(model, design, idata, priors=priors, thresholds=thresholds, level=level)

    @property
    def converged(self) -> bool:
        """Whether every convergence threshold was met."""
        return bool(self.summary["converged"])

    @property
    def status(self) -> PopulationStatus:
        """:attr:`converged` as a status that carries its remedy."""
        return PopulationStatus.converged if self.converged else PopulationStatus.not_converged

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
        idx = draw_index(total, n)
        out = {}
        for k, da in post.data_vars.items():
            arr = np.asarray(da.values)
            out[str(k)] = arr.reshape((total, *arr.shape[2:]))[idx]
        return out


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
    level: float,
    prior: pd.DataFrame,
) -> pd.DataFrame:
    post = idata.posterior
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
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
            _prior_width_ratio(model, post, prior_rows, name, level)
            if not fixed[name]
            else math.nan
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
    level: float,
) -> float:
    """Posterior / prior ``level``-interval width of parameter ``name``, on the prior's scale.

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
    level : float
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
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    p_lo, p_hi = _prior_interval(prior.loc[key], level)
    width = float(np.quantile(x, hi_q) - np.quantile(x, lo_q))
    return width / (p_hi - p_lo)


def _individual_table(fit_like: PopulationFit, level: float) -> pd.DataFrame:
    ind = fit_like.individual_draws(None)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    out = pd.DataFrame({"ID": fit_like.subjects})
    for name, v in ind.items():
        out[name] = np.median(v, axis=0)
        out[f"{name}_lower"] = np.quantile(v, lo_q, axis=0)
        out[f"{name}_upper"] = np.quantile(v, hi_q, axis=0)
    post = fit_like.idata.posterior
    for n in fit_like.model.iiv.names:
        out[f"eta_{n}"] = np.asarray(post[f"eta_{n}"].mean(("chain", "draw")).values, dtype=float)
    return out


def _levels_failed(conv: pd.DataFrame, post: Any) -> dict[str, Any]:
    """Which failed checks concern the population level and which one subject's random
    effects (variables with a ``subject`` dimension; the worst subject of each is named).

    Returns ``population_converged`` (no failed check but per-subject ones) and
    ``subjects_not_mixed`` (IDs, sorted as they appear).
    """
    failed = conv.loc[~conv["passed"].astype(bool)]
    per_subject = {str(v) for v in post.data_vars if "subject" in post[v].dims}
    subject_rows = failed.loc[failed["parameter"].isin(per_subject)]
    return {
        "population_converged": len(subject_rows) == len(failed),
        "subjects_not_mixed": list(dict.fromkeys(subject_rows["element"].astype(str))),
    }


def _assemble(
    model: Model,
    design: _Design,
    idata: arviz.InferenceData,
    *,
    priors: str,
    thresholds: ConvergenceThresholds | None,
    level: float,
    **info: Any,
) -> PopulationFit:
    """Tables, diagnostics and summary of a posterior sample on ``design``."""
    post = idata.posterior
    keep = [str(v) for v in post.data_vars]
    conv, summary = check_convergence(idata, var_names=keep, thresholds=thresholds, warn=False)
    summary.update(_levels_failed(conv, post))
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
    parameters = _parameter_table(model, idata, conv, shrink, level, prior_table)
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
    object.__setattr__(fit, "individual", _individual_table(fit, level))
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
