"""Parameter tables from fit results, and exposure straight from them.

The stable interface between fits and :func:`cartpk.model_exposure` is a per-subject
parameter table: ``ID`` (+ ``draw``) and one column per structural parameter by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cartpk.errors import SpecError, Violation
from cartpk.exposure._exposure import ExposureResult, model_exposure
from cartpk.exposure._numerics import ExposureGrid

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.fit.individual import IndividualFit
    from cartpk.fit.population import PopulationFit
    from cartpk.model import Model

__all__ = ["exposure_from_individual", "exposure_from_posterior", "posterior_parameters"]


def _error(
    code: str, message: str, *, value: str | None = None, expected: str = "", fix: str = ""
) -> SpecError:
    return SpecError(message, [Violation(code, message, value=value, expected=expected, fix=fix)])


def exposure_from_individual(
    fit: IndividualFit,
    *,
    interval_ends: Sequence[float] = (28, 90),
    lloq: float | None = None,
    dvid: str | None = None,
    horizon: float | None = None,
    grid: ExposureGrid | None = None,
) -> ExposureResult:
    """Model-based exposure of every subject of a per-subject fit.

    Parameters
    ----------
    fit : IndividualFit
        Result of :func:`cartpk.fit_individual`; its ``table()`` (``ID`` + one estimate
        column per structural parameter) is the parameter table.
    interval_ends, lloq, dvid, horizon, grid
        As for :func:`cartpk.model_exposure`.

    Returns
    -------
    ExposureResult
        As :func:`cartpk.model_exposure`; ``options["not_converged"]`` lists the subjects
        whose fit did not converge (their exposure is computed from the estimates all the
        same, so filter on it when it matters). Subjects without estimates get missing
        values with the reason ``parameters_missing``.

    Raises
    ------
    SpecError
        ``fit_type`` when ``fit`` is not a per-subject fit result; as
        :func:`cartpk.model_exposure` otherwise.
    """
    if not (hasattr(fit, "model") and callable(getattr(fit, "table", None))):
        raise _error(
            "fit_type",
            "`fit` must be the result of `cartpk.fit_individual`",
            value=type(fit).__name__,
            expected="IndividualFit (with `.model` and `.table()`)",
            fix="pass the fit result, or call model_exposure(model, table) directly",
        )
    table = fit.table()
    model = fit.model
    keep = ["ID", *[n for n in model.thetas if n in table.columns]]
    res = model_exposure(
        model,
        table[keep],
        interval_ends=interval_ends,
        lloq=lloq,
        dvid=dvid,
        horizon=horizon,
        grid=grid,
    )
    bad: list[str] = []
    if "converged" in table.columns:
        bad = table.loc[~table["converged"].astype(bool), "ID"].astype(str).tolist()
    return replace(res, options={**res.options, "not_converged": bad})


def _even(total: int, n: int | None) -> np.ndarray:
    """Indices of ``n`` draws evenly spaced over ``total`` (all when ``n`` is None)."""
    if n is None or n >= total:
        return np.arange(total)
    return np.linspace(0, total - 1, n).round().astype(int)


def posterior_parameters(
    model: Model,
    idata: Any,
    *,
    n_draws: int | None = None,
) -> pd.DataFrame:
    """Individual structural parameters per posterior draw, as a parameter table.

    Parameters
    ----------
    model : Model
        The declaration that was fitted (names of the posterior variables).
    idata : arviz.InferenceData
        A posterior with dims ``chain, draw`` and ``subject``. Per-subject values are read
        from a variable named as the parameter with dim ``subject`` when there is one;
        otherwise rebuilt as ``h^-1(mu_<P> + eta_<P>)`` (the parameterisation of
        :func:`cartpk.fit_population`), with a parameter without random effect at its
        typical value ``<P>`` (or ``h^-1(mu_<P>)``, or the declared value if fixed).
    n_draws : int, optional
        Keep this many draws, evenly spaced over all chains (all by default).

    Returns
    -------
    DataFrame
        ``ID, draw`` and one column per structural parameter (natural scale); ``draw`` is
        the 0-based index of the draw in the chain-by-chain flattened posterior.

    Raises
    ------
    SpecError
        ``posterior_missing`` (no ``posterior`` group or ``subject`` dim),
        ``covariates_need_fit`` (covariate effects need the subjects' covariates: pass the
        ``PopulationFit`` to :func:`exposure_from_posterior`), ``posterior_variable_missing``.
    """
    post = getattr(idata, "posterior", None)
    if post is None or "subject" not in getattr(post, "dims", {}):
        raise _error(
            "posterior_missing",
            "`idata` has no posterior with a `subject` dimension",
            value=type(idata).__name__,
            expected="arviz.InferenceData from cartpk.fit_population",
            fix="pass `fit.idata` of a population fit, or the PopulationFit itself",
        )
    if model.covariates:
        raise _error(
            "covariates_need_fit",
            f"`{model.name}` has covariate effects; individual values need the subjects' covariates",
            value=", ".join(c for eff in model.covariates for c in eff.coefficients),
            expected="a PopulationFit (it keeps the covariates it was fitted with)",
            fix="call exposure_from_posterior(fit) with the PopulationFit",
        )
    n_chain, n_draw = int(post.sizes["chain"]), int(post.sizes["draw"])
    total = n_chain * n_draw
    idx = _even(total, n_draws)
    subjects = [str(s) for s in post["subject"].values]
    n_subj = len(subjects)

    def flat(name: str) -> np.ndarray:
        da = post[name].transpose("chain", "draw", ...)
        arr = np.asarray(da.values, dtype=float)
        return arr.reshape((total, *arr.shape[2:]))[idx]

    iiv = set(model.iiv.names)
    values: dict[str, np.ndarray] = {}
    missing: list[str] = []
    for name, th in model.thetas.items():
        if name in post and "subject" in post[name].dims:
            values[name] = flat(name)
            continue
        if name in iiv and f"eta_{name}" in post:
            if f"mu_{name}" in post:
                mu = flat(f"mu_{name}")[:, None]
            elif th.fixed:
                mu = np.asarray(model.to_transformed({name: th.value})[name], dtype=float)
            else:
                missing.append(f"mu_{name}")
                continue
            h = mu + flat(f"eta_{name}")
            values[name] = np.asarray(model.from_transformed({name: h})[name], dtype=float)
            continue
        if name in iiv and not th.fixed:
            missing.append(f"eta_{name}")
            continue
        if name in post:
            typ = flat(name)[:, None]
        elif f"mu_{name}" in post:
            typ = np.asarray(model.from_transformed({name: flat(f"mu_{name}")})[name])[:, None]
        elif th.fixed:
            typ = np.asarray(th.value, dtype=float)
        else:
            missing.append(f"mu_{name}")
            continue
        values[name] = np.broadcast_to(typ, (idx.size, n_subj))
    if missing:
        raise SpecError(
            "the posterior lacks variables needed for individual parameters",
            [
                Violation(
                    "posterior_variable_missing",
                    f"no `{v}` in the posterior",
                    value=v,
                    expected=f"variables of a cartpk population fit of `{model.name}`",
                    fix="pass the posterior of a fit of this model",
                )
                for v in missing
            ],
        )
    out = pd.DataFrame({"ID": np.repeat(subjects, idx.size), "draw": np.tile(idx, n_subj)})
    for name, v in values.items():
        out[name] = np.asarray(v, dtype=float).T.reshape(-1)
    return out


def _from_population_fit(fit: PopulationFit, n_draws: int | None) -> pd.DataFrame:
    ind = fit.individual_draws(n_draws)
    subjects = [str(s) for s in fit.subjects]
    n_d = next(iter(ind.values())).shape[0]
    post = fit.idata.posterior
    total = int(post.sizes["chain"]) * int(post.sizes["draw"])
    labels = _even(total, n_draws) if n_d == _even(total, n_draws).size else np.arange(n_d)
    out = pd.DataFrame({"ID": np.repeat(subjects, n_d), "draw": np.tile(labels, len(subjects))})
    for name, v in ind.items():
        out[name] = np.asarray(v, dtype=float).T.reshape(-1)
    dose = getattr(fit, "dose", None)
    if dose is not None and np.size(dose) == len(subjects):
        out["AMT"] = np.repeat(np.asarray(dose, dtype=float), n_d)
    return out


def exposure_from_posterior(
    source: PopulationFit | Model,
    idata: Any = None,
    *,
    n_draws: int | None = 200,
    interval_ends: Sequence[float] = (28, 90),
    lloq: float | None = None,
    dvid: str | None = None,
    horizon: float | None = None,
    grid: ExposureGrid | None = None,
) -> ExposureResult:
    """Model-based exposure for every posterior draw of every subject of a population fit.

    Parameters
    ----------
    source : PopulationFit or Model
        The result of :func:`cartpk.fit_population` (preferred: its
        ``individual_draws`` applies covariate effects and the subjects' doses), or the
        fitted model together with ``idata``.
    idata : arviz.InferenceData, optional
        The posterior, when ``source`` is a model (see :func:`posterior_parameters` for what
        is read; models with covariate effects need the ``PopulationFit``).
    n_draws : int, optional, default 200
        Draws used, evenly spaced over all chains; ``None`` for all.
    interval_ends, lloq, dvid, horizon, grid
        As for :func:`cartpk.model_exposure`.

    Returns
    -------
    ExposureResult
        One row per subject and draw; ``.summary()`` / ``.summary_wide()`` give the
        posterior median and 95 % credible interval per subject and metric.

    Raises
    ------
    SpecError
        ``idata_required`` (a model without posterior), ``posterior_*`` and
        ``covariates_need_fit`` (see :func:`posterior_parameters`), as
        :func:`cartpk.model_exposure` otherwise.
    """
    if callable(getattr(source, "individual_draws", None)) and hasattr(source, "model"):
        fit: Any = source
        model = fit.model
        table = _from_population_fit(fit, n_draws)
    else:
        model = source  # type: ignore[assignment]
        if idata is None:
            raise _error(
                "idata_required",
                "a model was given without its posterior",
                expected="exposure_from_posterior(fit) or exposure_from_posterior(model, idata)",
                fix="pass the PopulationFit, or `fit.idata` as the second argument",
            )
        table = posterior_parameters(model, idata, n_draws=n_draws)
    return model_exposure(
        model,
        table,
        interval_ends=interval_ends,
        lloq=lloq,
        dvid=dvid,
        horizon=horizon,
        grid=grid,
    )
