"""The PyMC model generated from a declaration: the design (which records, covariates and
doses the data contribute), per-subject parameters, predictions, and the graph itself
(:func:`population_model`)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from cartpk.errors import CartpkWarning, FitError, SpecError, Violation
from cartpk.fit._likelihood import check_blq, loglik
from cartpk.fit._subjects import check_doses_known
from cartpk.model import ClosedFormModel, Model, OdeModel
from cartpk.model._outputs import unknown_outputs
from cartpk.ode._options import default_ode_engine

if TYPE_CHECKING:  # pragma: no cover
    import pymc

    from cartpk.data import Dataset
from cartpk.fit._population_priors import (
    _SCALE_FLOOR,
    PriorChoice,
    population_priors,
    prior_set_name,
)

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
    _check_fittable(model)
    outputs = _outputs(model, dvid)
    obs = _observations(dataset, outputs)
    obs, excluded = _discard_censored(obs, blq)
    observed = set(obs["ID"])
    subjects = [s for s in dataset.subjects if s in observed]
    index = {s: i for i, s in enumerate(subjects)}
    obs["SUBJ"] = obs["ID"].map(index).astype(int)
    obs = obs.sort_values(["SUBJ", "DVID", "TIME"], kind="stable").reset_index(drop=True)

    doses = dataset.doses.groupby("ID")["AMT"].sum()
    dose = np.array([float(doses.get(s, np.nan)) for s in subjects])
    check_doses_known(model, subjects, list(dose), list(dataset.covariates.columns))
    if np.isnan(dose).any() and model.default_dose is not None:  # a dose nothing uses
        dose = np.where(np.isnan(dose), float(model.default_dose), dose)

    cov, problems = _covariate_table(model, dataset, subjects, dose)
    problems.extend(_covariate_value_problems(model, cov, subjects))
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


def _check_fittable(model: Model) -> None:
    """Raise ``FitError`` for a model kind, or time-varying covariates, a population fit lacks."""
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


def _outputs(model: Model, dvid: str | Sequence[str] | None) -> list[str]:
    """The outputs to fit (default: all of the model's); ``SpecError`` for unknown ones."""
    outputs = (
        list(model.outputs) if dvid is None else [dvid] if isinstance(dvid, str) else list(dvid)
    )
    problems = unknown_outputs(model, outputs, fix="pass `dvid=` naming one of the model's outputs")
    _spec_error("Cannot fit: unknown outputs.", problems)
    return outputs


def _observations(dataset: Dataset, outputs: list[str]) -> pd.DataFrame:
    """The observation records of ``outputs``; ``FitError`` for an output without any."""
    obs = dataset.observations()
    obs = obs.loc[obs["DVID"].isin(outputs)].copy()
    problems = [
        Violation(
            "no_observations",
            f"the dataset has no observations of `{o}`",
            value=o,
            expected=f"records with DVID={o}",
            fix="check the `DVID` column or pass `dvid=` naming an endpoint with data",
        )
        for o in outputs
        if not (obs["DVID"] == o).any()
    ]
    if problems:
        raise FitError("Cannot fit: no observations.", problems)
    return obs


def _discard_censored(obs: pd.DataFrame, blq: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """With ``blq="m1"`` drop the censored records and list them as excluded."""
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
    return obs, excluded


def _covariate_table(
    model: Model, dataset: Dataset, subjects: list[str], dose: np.ndarray
) -> tuple[pd.DataFrame, list[Violation]]:
    """One row per subject of the baseline covariates the declaration needs, and what is missing."""
    problems: list[Violation] = []
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
    return cov, problems


def _covariate_value_problems(
    model: Model, cov: pd.DataFrame, subjects: list[str]
) -> list[Violation]:
    """Missing or invalid values of the covariates the declared effects act on."""
    problems: list[Violation] = []
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
    return problems


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
        subject IDs (strings, input order). The records are constants of the graph;
        :func:`fit_population` with nutpie samples the same model with the records of a
        closed-form model in data containers (``cartpk_time``, ``cartpk_dv_<DVID>``, ...),
        so that its compiled code serves other data sets of the same design: the same
        log-density.
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
    data_inputs: bool = False,
) -> tuple[pymc.Model, _Design]:
    """The PyMC model and its design.

    ``data_inputs``: a closed-form model's records (times, subject index, doses, DV, CENS,
    LIMIT) enter as ``pm.Data`` containers (graph inputs) instead of constants, so that one
    compiled log-density serves every data set of the same structure
    (:mod:`cartpk.fit._compiled`); the values are the same either way.
    """
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
    as_inputs = data_inputs and not isinstance(model, OdeModel)

    def data(name: str, values: np.ndarray) -> Any:
        # a static shape: the compiled loops know their lengths (as for constants)
        return pm.Data(f"cartpk_{name}", values, shape=values.shape) if as_inputs else values

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
            data("subject_index", obs["SUBJ"].to_numpy(dtype=int)),
            data("time", obs["TIME"].to_numpy(dtype=float)),
            data("dose", design.dose.astype(float)),
            ode_engine=default_ode_engine(ode_engine, model, ode_method),
            ode_method=ode_method,
        )
        for dv in design.outputs:
            rows = np.flatnonzero(obs["DVID"].to_numpy() == dv)
            f = pred[dv] if len(rows) == len(obs) else pred[dv][data(f"rows_{dv}", rows)]
            cens = obs["CENS"].to_numpy(dtype=int)[rows]
            limit = obs["LIMIT"].to_numpy(dtype=float)[rows]
            with np.errstate(invalid="ignore"):
                interval = bool(np.any(np.isfinite(limit) & (cens != 0)))
            ll = loglik(
                pt,
                data(f"dv_{dv}", obs["DV"].to_numpy(dtype=float)[rows]),
                f,
                data(f"cens_{dv}", cens),
                model.error[dv],
                sigmas[dv],
                blq=method,  # type: ignore[arg-type]
                limit=data(f"limit_{dv}", limit) if interval else None,
                kinds=set(np.unique(cens).tolist()),
            )
            pm.Potential(f"loglik_{dv}", ll.sum())
    return pmm, design
