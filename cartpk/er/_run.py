"""Run a validated E-R specification: the subject table (with model-based exposure when the
specification names a population fit), every analysis, and their comparison with NCA.

Where the exposure comes from is written on every estimate (``exposure_source``):

* ``model``: the subject's posterior mean of the log exposure under the population fit
  named by ``fit`` (regression calibration, :func:`cartpk.exposure.calibrated_exposure`);
  the slope's interval also holds the calibration's shared uncertainty
  (:func:`cartpk.er.widen_for_calibration`);
* ``nca``: NCA of the observed samples (the data route without ``fit``, and the
  comparison fit of every analysis on the data route with ``fit``);
* ``data``: on the data route, an exposure that is not NCA's (a cytokine peak, ``DOSE``);
* ``subjects``: a column of the prepared subject table, source unknown to cartpk.

One analysis that cannot be fitted is reported with status ``failed`` and its message; the
others are still fitted and written.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cartpk.er._calibration import widen_for_calibration
from cartpk.er._fit import ESTIMATE_COLUMNS, ERFit, failed_fit, fit_er
from cartpk.er._spec import ERAnalysis, ERSpec, check_columns
from cartpk.errors import CartpkError, CartpkWarning

__all__ = ["EXCLUSION_COLUMNS", "REPORT_COLUMNS", "ERReport", "load_subjects", "run_er"]

#: columns of ``er_estimates.csv``: :data:`ESTIMATE_COLUMNS`, then where each row comes from
REPORT_COLUMNS = [*ESTIMATE_COLUMNS, "analysis", "exposure_source"]
#: columns of ``er_exclusions.csv``
EXCLUSION_COLUMNS = [
    "endpoint",
    "exposure",
    "model",
    "ID",
    "code",
    "reason",
    "analysis",
    "exposure_source",
]
#: the model-based exposure columns' summary, recorded in ``table.attrs``
_MODEL_ATTR = "model_exposure"


@dataclass(frozen=True, eq=False)
class ERReport:
    """Everything :func:`run_er` produced.

    Attributes
    ----------
    estimates : DataFrame
        Every fit's rows in :data:`REPORT_COLUMNS` layout (``analysis`` is the
        ``[[analysis]]`` block, ``analysis[1]`` ..., ``exposure_source`` is ``model``,
        ``nca`` or ``subjects``).
    fits : list of (ERAnalysis, ERFit)
        The primary fit of every analysis (model-based exposure when the spec has ``fit``).
    comparisons : list of (ERAnalysis, ERFit)
        With ``fit`` on the data route: the same analyses on NCA's exposure.
    sources : list of str
        The exposure source of each of :attr:`fits`.
    subjects : DataFrame
        The per-subject table analysed (with ``fit``: model exposure under the metric's
        name, NCA's as ``<metric>_nca``, credible limits as ``<metric>_lower/_upper``).
    exclusions : DataFrame
        :data:`EXCLUSION_COLUMNS`.
    exposure : dict
        Where the exposure came from: ``source`` and, with ``fit``, the fit folder, the
        model, the summary method, the metrics and the posterior draws used.
    """

    estimates: pd.DataFrame
    fits: list[tuple[ERAnalysis, ERFit]]
    subjects: pd.DataFrame
    exclusions: pd.DataFrame
    comparisons: list[tuple[ERAnalysis, ERFit]] = field(default_factory=list)
    exposure: dict[str, Any] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


def _warn(code: str, message: str) -> None:
    warnings.warn(CartpkWarning(message, code=code), stacklevel=3)


def _model_exposure(spec: ERSpec, table: pd.DataFrame) -> pd.DataFrame:
    """The subject table with the population fit's exposure merged in by ``ID``."""
    from cartpk.exposure import calibrated_exposure
    from cartpk.fit import read_population_run

    assert spec.fit is not None
    fit = read_population_run(spec.fit)
    outputs = list(fit.model.outputs)
    dvid = spec.dvid if spec.dvid in outputs else outputs[0]
    obs = fit.observations
    if "DVID" in obs.columns:
        obs = obs[obs["DVID"].astype(str) == dvid]
    lloq = None
    if "LLOQ" in obs.columns and obs["LLOQ"].notna().any():
        lloq = float(obs["LLOQ"].median())
    ends = tuple(dict.fromkeys((float(spec.interval[1]), 28.0, 90.0)))
    cal = calibrated_exposure(fit, interval_ends=ends, lloq=lloq, dvid=dvid)
    metrics = list(cal.attrs["metrics"])
    cal = cal.set_index(cal["ID"].astype(str).str.strip())
    out = table.copy()
    ids = out["ID"].astype(str).str.strip()
    suffix = "_nca" if spec.data is not None else "_input"
    for m in metrics:
        if m in out.columns:
            out[f"{m}{suffix}"] = out[m]
        out[m] = ids.map(cal[m]).to_numpy()
    for m in metrics:
        for part in ("lower", "upper"):
            out[f"{m}_{part}"] = ids.map(cal[f"{m}_{part}"]).to_numpy()
    absent = sorted(set(ids) - set(cal.index))
    if absent:
        _warn(
            "fit_subjects_missing",
            f"{len(absent)} subject(s) of the E-R table are not in the population fit "
            f"{spec.fit} and have no model-based exposure (left out of every analysis on "
            f"it, with a reason): {', '.join(absent[:20])}",
        )
    extra = sorted(set(cal.index) - set(ids))
    if extra:
        _warn(
            "fit_subjects_extra",
            f"{len(extra)} subject(s) of the population fit are not in the E-R table and "
            f"are not analysed: {', '.join(extra[:20])}",
        )
    from cartpk.data import Endpoint
    from cartpk.er._subjects import column_units

    units = column_units(
        list(out.columns), {dvid: Endpoint(dvid, fit.model.outputs[dvid])}, dvid=dvid
    )
    out.attrs["units"] = {**units, **dict(out.attrs.get("units") or {})}
    text = dict(out.attrs.get("descriptions") or {})
    for m in metrics:
        if f"{m}{suffix}" in out.columns:
            text[f"{m}{suffix}"] = text.get(m, f"`{m}` before the model-based value replaced it")
        text[m] = f"model-based `{m}`: exp(posterior mean of its log), population fit"
        text[f"{m}_lower"] = f"lower limit of the credible interval of model-based `{m}`"
        text[f"{m}_upper"] = f"upper limit of the credible interval of model-based `{m}`"
    out.attrs["descriptions"] = text
    out.attrs[_MODEL_ATTR] = {
        "source": "model",
        "fit": str(spec.fit),
        "model": fit.model.name,
        "dvid": dvid,
        "method": cal.attrs["method"],
        "calibration_sd": {m: float(cal.attrs["calibration_sd"][m]) for m in metrics},
        "n_draws": cal.attrs["n_draws"],
        "metrics": metrics,
        "kept_as": suffix,
        "converged": bool(fit.converged),
    }
    return out


def load_subjects(spec: ERSpec) -> pd.DataFrame:
    """The per-subject table of a specification (read, or derived from the trial data),
    with the population fit's model-based exposure when the specification names ``fit``."""
    if spec.subjects is not None:
        table = pd.read_csv(spec.subjects)
        if "ID" in table.columns:
            table["ID"] = table["ID"].astype(str).str.strip()
    else:
        from cartpk.er._subjects import er_subjects

        assert spec.data is not None
        extra: dict[str, Any] = {}
        if spec.landmark is not None:
            extra["landmark"] = spec.landmark
        table = er_subjects(
            spec.data,
            spec.lesions,
            dvid=spec.dvid,
            interval=spec.interval,
            cytokines=spec.cytokines,
            min_sd_days=spec.min_sd_days,
            confirm_days=spec.confirm_days,
            **extra,
        )
    if spec.fit is not None and "ID" in table.columns:
        table = _model_exposure(spec, table)
    return table


def _source(spec: ERSpec, table: pd.DataFrame, exposure: str) -> str:
    info = table.attrs.get(_MODEL_ATTR)
    if info and exposure in info["metrics"]:
        return "model"
    if spec.data is None:
        return "subjects"
    return "nca" if exposure in table.attrs.get("nca_columns", ()) else "data"


def _fit_one(table: pd.DataFrame, a: ERAnalysis, level: float) -> ERFit:
    """One analysis; a data problem of this analysis alone becomes a ``failed`` fit."""
    kw: dict[str, Any] = {
        "exposure": a.exposure,
        "model": a.model,
        "covariates": a.covariates,
        "log": a.log,
        "residual": a.residual,
    }
    try:
        return fit_er(
            table, a.endpoint, event=a.event, threshold=a.threshold, level=level, hill=a.hill, **kw
        )
    except CartpkError as err:
        details = "; ".join(
            f"{v.message}" + (f" (fix: {v.fix})" if v.fix else "") for v in err.violations[:5]
        )
        return failed_fit(a.endpoint, message=f"{err.summary}: {details}", **kw)


def _tagged(fit: ERFit, a: ERAnalysis, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    est = fit.estimates.assign(analysis=a.key, exposure_source=source)[REPORT_COLUMNS]
    exc = fit.exclusions.assign(
        endpoint=a.endpoint,
        exposure=a.exposure,
        model=a.model,
        analysis=a.key,
        exposure_source=source,
    )
    return est, exc.reindex(columns=EXCLUSION_COLUMNS)


def run_er(spec: ERSpec, subjects: pd.DataFrame | None = None) -> ERReport:
    """Run every analysis of a validated specification.

    Parameters
    ----------
    spec : ERSpec
        From :func:`read_er_spec`.
    subjects : DataFrame, optional
        The per-subject table, if already loaded (otherwise :func:`load_subjects`).

    Returns
    -------
    ERReport

    Raises
    ------
    SpecError
        ``column_unknown`` before any fit when an analysis names a missing column.
    """
    table = load_subjects(spec) if subjects is None else subjects
    check_columns(spec, table)
    info = dict(
        table.attrs.get(_MODEL_ATTR) or {"source": "subjects" if spec.data is None else "nca"}
    )
    fits: list[tuple[ERAnalysis, ERFit]] = []
    sources: list[str] = []
    comparisons: list[tuple[ERAnalysis, ERFit]] = []
    blocks: list[pd.DataFrame] = []
    excl: list[pd.DataFrame] = []
    for a in spec.analyses:
        source = _source(spec, table, a.exposure)
        fit = _fit_one(table, a, spec.level)
        if source == "model":
            fit = widen_for_calibration(fit, info["calibration_sd"].get(a.exposure, math.nan))
        fits.append((a, fit))
        sources.append(source)
        est, exc = _tagged(fit, a, source)
        blocks.append(est)
        excl.append(exc)
        nca_col = f"{a.exposure}_nca"
        if source == "model" and nca_col in table.columns:
            nca_table = table.assign(**{a.exposure: table[nca_col]})
            cmp = _fit_one(nca_table, a, spec.level)
            comparisons.append((a, cmp))
            est, exc = _tagged(cmp, a, "nca")
            blocks.append(est)
            excl.append(exc)
    estimates = (
        pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame(columns=REPORT_COLUMNS)
    )
    nonempty = [e for e in excl if len(e)]
    exclusions = (
        pd.concat(nonempty, ignore_index=True)
        if nonempty
        else pd.DataFrame(columns=EXCLUSION_COLUMNS)
    )
    return ERReport(
        estimates=estimates,
        fits=fits,
        subjects=table,
        exclusions=exclusions,
        comparisons=comparisons,
        exposure=info,
        sources=sources,
    )
