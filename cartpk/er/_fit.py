"""Exposure-response fits on a per-subject table: ordinal, logistic, Emax, log-linear, Cox."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cartpk.er._design import (
    LogBase,
    Model,
    Prepared,
    exposure_term,
    is_separated,
    prepare,
)
from cartpk.er._emax import RESIDUALS, Residual, _fit_emax, drop_not_positive, emax_curve
from cartpk.er._status import ERStatus
from cartpk.er._table import (
    ESTIMATE_COLUMNS,
    _caught,
    _empty,
    _rows,
    _wald_p,
    _z,
    emax_scale,
)

__all__ = ["ESTIMATE_COLUMNS", "ERFit", "failed_fit", "fit_er"]


@dataclass(frozen=True, eq=False)
class ERFit:
    """One exposure-response fit.

    Attributes
    ----------
    endpoint, exposure : str
        Analysed columns.
    model : {"ordinal", "logistic", "emax", "loglinear", "cox"}
        Model fitted.
    log : {"ln", "log10"}
        Base of the log exposure in the linear predictor (not used by ``emax``).
    residual : {"log", "natural"} or None
        ``emax`` only: the scale of the residuals (``log``: log-normal, the curve is the
        median response; ``natural``: additive, the curve is the mean); ``None`` otherwise.
    covariates : tuple of str
        Adjustment covariates (entered linearly; categorical ones as indicators).
    status : ERStatus
        Outcome; :attr:`ERStatus.remedy` explains anything but ``ok``.
    message : str
        Details: the optimiser's or statsmodels' warnings, the separation check, ...
    estimates : DataFrame
        One row per term in :data:`ESTIMATE_COLUMNS` order.
    prepared : Prepared
        The data used and the subjects excluded (``prepared.exclusions``).
    params : dict
        Point estimates by term (for predictions).
    reference : dict
        Covariate values at which :meth:`predict` evaluates (median of each design column).
    baseline : (ndarray, ndarray) or None
        Cox only: event times and the Breslow baseline cumulative hazard at linear
        predictor 0 (used by :meth:`predict`).
    result : object
        The underlying statsmodels / scipy result, or ``None``.
    """

    endpoint: str
    exposure: str
    model: Model
    log: LogBase
    covariates: tuple[str, ...]
    status: ERStatus
    message: str
    estimates: pd.DataFrame
    prepared: Prepared
    params: dict[str, float] = field(default_factory=dict)
    reference: dict[str, float] = field(default_factory=dict)
    baseline: tuple[np.ndarray, np.ndarray] | None = None
    result: Any = field(default=None, repr=False)
    residual: Residual | None = None

    @property
    def term(self) -> str:
        """Name of the exposure term (``log(cmax)`` or ``log10(cmax)``; ``EC50`` for emax)."""
        return "EC50" if self.model == "emax" else exposure_term(self.exposure, self.log)

    @property
    def exclusions(self) -> pd.DataFrame:
        """Subjects not used, ``ID, code, reason``."""
        return self.prepared.exclusions

    @property
    def slope(self) -> pd.Series:
        """The exposure row of :attr:`estimates` (EC50 row for ``emax``)."""
        return self.estimates.loc[self.estimates["term"] == self.term].iloc[0]

    def _eta(self, conc: np.ndarray) -> np.ndarray:
        x = np.log(conc) if self.log == "ln" else np.log10(conc)
        eta = self.params.get(exposure_term(self.exposure, self.log), math.nan) * x
        eta = eta + self.params.get("intercept", 0.0)
        for name, value in self.reference.items():
            eta = eta + self.params.get(name, 0.0) * value
        return eta

    def predict(self, exposure: Sequence[float] | np.ndarray, *, times: Any = None) -> np.ndarray:
        """Model prediction at exposures (natural scale), covariates at :attr:`reference`.

        Parameters
        ----------
        exposure : array_like
            Exposure values, natural scale (e.g. Cmax in copies/ug).
        times : array_like, optional
            Cox only: times at which the survival probability is returned.

        Returns
        -------
        ndarray
            logistic: P(event), shape (m,); ordinal: P(grade >= category k) for
            k = 2..K, shape (m, K-1); emax: effect (the median response when fitted with
            ``residual="log"``, the mean with ``"natural"``); loglinear: geometric-mean
            endpoint;
            cox: survival probabilities, shape (m, len(times)).
        """
        conc = np.asarray(exposure, dtype=float)
        if self.model == "emax":
            p = self.params
            return emax_curve(conc, p["E0"], p["Emax"], p["EC50"], p.get("hill", 1.0))
        from scipy.special import expit

        eta = self._eta(conc)
        if self.model == "logistic":
            return expit(eta)
        if self.model == "loglinear":
            return np.exp(eta)
        if self.model == "ordinal":
            cuts = [v for k, v in self.params.items() if k.startswith("threshold ")]
            return np.column_stack([expit(eta - c) for c in cuts])
        # cox: S(t | eta) = exp(-H0(t) exp(eta)), H0 at linear predictor 0
        assert self.baseline is not None
        t0, h0 = self.baseline
        tt = np.asarray(times, dtype=float)
        idx = np.searchsorted(t0, tt, side="right") - 1
        hz = np.where(idx >= 0, h0[np.clip(idx, 0, None)], 0.0)
        return np.exp(-np.outer(np.exp(eta), hz))


# ----------------------------------------------------------------------------- helpers


def _reference(prep: Prepared) -> dict[str, float]:
    return {c: float(np.median(prep.covariates[c])) for c in prep.covariates.columns}


def _no_estimate(
    prep: Prepared,
    names: Sequence[str],
    status: ERStatus,
    message: str,
    n_events: int | float,
    **kw: Any,
) -> dict[str, Any]:
    """The outcome of a fit that gives no estimate: empty rows, ``status`` and why."""
    table = _empty(prep, names, status, message, n_events=n_events, **kw)
    return {"estimates": table, "status": status, "message": message}


def _estimated(
    prep: Prepared,
    names: Sequence[str],
    est: np.ndarray,
    result: Any,
    status: ERStatus,
    message: str,
    n_events: int | float,
    **rows: Any,
) -> dict[str, Any]:
    """The outcome of a fit with estimates: their table (``rows``: ``lower, upper, se, pval``
    and the analysis keywords of :func:`._table._rows`), point estimates by term, result."""
    return {
        "estimates": _rows(
            prep,
            names=names,
            est=est,
            status=status,
            message=message,
            n_events=n_events,
            **rows,
        ),
        "status": status,
        "message": message,
        "params": dict(zip(names, est, strict=True)),
        "result": result,
    }


def _from_statsmodels(
    prep: Prepared,
    names: Sequence[str],
    res: Any,
    level: float,
    status: ERStatus,
    message: str,
    n_events: int | float,
    **kw: Any,
) -> dict[str, Any]:
    """:func:`_estimated` from a statsmodels result: its estimates, standard errors,
    p-values and intervals at ``level``."""
    ci = np.asarray(res.conf_int(alpha=1 - level))
    return _estimated(
        prep,
        names,
        np.asarray(res.params),
        res,
        status,
        message,
        n_events,
        lower=ci[:, 0],
        upper=ci[:, 1],
        se=np.asarray(res.bse),
        pval=np.asarray(res.pvalues),
        **kw,
    )


# ----------------------------------------------------------------------------- models


def _fit_logistic(prep: Prepared, level: float, **kw: Any) -> dict[str, Any]:
    import statsmodels.api as sm

    xterm = exposure_term(kw["exposure"], kw["log"])
    names = ["intercept", xterm, *prep.covariates.columns]
    n_events = int(prep.y.sum())
    if len(prep.y) < len(names) + 1 or n_events == 0 or n_events == len(prep.y):
        msg = f"{len(prep.y)} subject(s), {n_events} event(s)"
        return _no_estimate(prep, names, ERStatus.too_few, msg, n_events, **kw)
    design = np.column_stack([np.ones(len(prep.y)), prep.x, prep.covariates.to_numpy()])
    if is_separated(design[:, 1:], prep.y):
        from cartpk.er._firth import firth_logit

        fr = firth_logit(prep.y, design, level=level)
        status = ERStatus.separation_firth if fr.converged else ERStatus.not_converged
        msg = "separation detected (linear-programming check); Firth-penalised fit"
        return _estimated(
            prep,
            names,
            fr.params,
            fr,
            status,
            msg,
            n_events,
            lower=fr.lower,
            upper=fr.upper,
            se=fr.se,
            pval=_wald_p(fr.params, fr.se),
            **kw,
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = sm.Logit(prep.y, design).fit(disp=0, maxiter=200)
    converged = bool(res.mle_retvals.get("converged", False))
    status = ERStatus.ok if converged else ERStatus.not_converged
    return _from_statsmodels(prep, names, res, level, status, _caught(caught), n_events, **kw)


def _fit_ordinal(prep: Prepared, level: float, **kw: Any) -> dict[str, Any]:
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    xterm = exposure_term(kw["exposure"], kw["log"])
    cats = prep.categories
    slopes = [xterm, *prep.covariates.columns]
    cuts = [f"threshold {cats[k]}|{cats[k + 1]}" for k in range(len(cats) - 1)]
    names = slopes + cuts
    n_events = int((prep.y > 0).sum())  # subjects above the lowest category
    if len(cats) < 2 or len(prep.y) < len(names) + 1:
        msg = f"{len(prep.y)} subject(s), {len(cats)} distinct grade(s)"
        return _no_estimate(prep, names, ERStatus.too_few, msg, n_events, **kw)
    exog = np.column_stack([prep.x, prep.covariates.to_numpy()])
    if is_separated(exog, prep.y):
        msg = "separation detected (linear-programming check); no estimate"
        return _no_estimate(prep, names, ERStatus.separation, msg, n_events, **kw)
    exog_df = pd.DataFrame(exog, columns=slopes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = OrderedModel(prep.y.astype(int), exog_df, distr="logit")
        res = model.fit(method="bfgs", disp=0, maxiter=2000)
    converged = bool(res.mle_retvals.get("converged", False))
    status = ERStatus.ok if converged else ERStatus.not_converged
    msg = _caught(caught)
    raw = np.asarray(res.params)
    cov = np.asarray(res.cov_params())
    p = len(slopes)
    # thresholds: theta_1 = raw_p, theta_k = theta_1 + sum_{j<=k} exp(raw_{p+j}); delta method
    theta = model.transform_threshold_params(raw)[1:-1]
    jac = np.zeros((len(cuts), len(raw)))
    for k in range(len(cuts)):
        jac[k, p] = 1.0
        for j in range(1, k + 1):
            jac[k, p + j] = math.exp(raw[p + j])
    cov_t = jac @ cov @ jac.T
    est = np.concatenate([raw[:p], theta])
    se = np.sqrt(np.concatenate([np.diag(cov)[:p], np.diag(cov_t)]))
    z = _z(level)
    return _estimated(
        prep,
        names,
        est,
        res,
        status,
        msg,
        n_events,
        lower=est - z * se,
        upper=est + z * se,
        se=se,
        pval=_wald_p(est, se),
        **kw,
    )


def _fit_loglinear(prep: Prepared, level: float, **kw: Any) -> dict[str, Any]:
    import statsmodels.api as sm

    xterm = exposure_term(kw["exposure"], kw["log"])
    names = ["intercept", xterm, *prep.covariates.columns]
    n = len(prep.y)
    if n < len(names) + 2 or np.ptp(prep.x) == 0:
        msg = f"{n} subject(s) with a positive endpoint and exposure"
        return _no_estimate(prep, names, ERStatus.too_few, msg, math.nan, **kw)
    design = np.column_stack([np.ones(n), prep.x, prep.covariates.to_numpy()])
    res = sm.OLS(np.log(prep.y), design).fit()
    msg = f"residual SD on the log scale {math.sqrt(res.scale):.3g}"
    return _from_statsmodels(prep, names, res, level, ERStatus.ok, msg, math.nan, **kw)


def _fit_cox(prep: Prepared, level: float, **kw: Any) -> dict[str, Any]:
    from statsmodels.duration.hazard_regression import PHReg

    xterm = exposure_term(kw["exposure"], kw["log"])
    names = [xterm, *prep.covariates.columns]
    assert prep.event is not None
    n_events = int(prep.event.sum())
    if n_events < len(names) + 1 or np.ptp(prep.x) == 0:
        msg = f"{len(prep.y)} subject(s), {n_events} event(s)"
        return _no_estimate(prep, names, ERStatus.too_few, msg, n_events, **kw)
    exog = np.column_stack([prep.x, prep.covariates.to_numpy()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = PHReg(prep.y, exog, status=prep.event, ties="efron")
        res = model.fit(maxiter=200)
    est = np.asarray(res.params)
    se = np.asarray(res.bse)
    msg = _caught(caught)
    score = np.asarray(model.score(est))
    # monotone likelihood (all events on one side of an exposure) makes the coefficient
    # drift: a huge standardised coefficient or a gradient that is not ~0 means no MLE
    spread = exog.std(axis=0)
    drift = bool(np.any(np.abs(est) * spread > 15)) or not np.all(np.isfinite(se))
    if drift:
        status = ERStatus.separation
        msg = "; ".join(m for m in ("monotone likelihood: no finite estimate", msg) if m)
        return _no_estimate(prep, names, status, msg, n_events, **kw)
    status = (
        ERStatus.ok if np.max(np.abs(score)) < 1e-3 * max(n_events, 1) else (ERStatus.not_converged)
    )
    out = _from_statsmodels(prep, names, res, level, status, msg, n_events, **kw)
    # Breslow baseline cumulative hazard at linear predictor 0, right-continuous at the
    # event times (statsmodels' own table steps one event time late)
    risk = np.exp(exog @ est)
    order = np.argsort(prep.y)
    times, ev, rk = prep.y[order], prep.event[order], risk[order]
    tail = np.cumsum(rk[::-1])[::-1]  # sum of risk over subjects with time >= times[i]
    t0 = np.unique(times[ev == 1])
    first = np.searchsorted(times, t0, side="left")
    d = np.array([ev[(times == u)].sum() for u in t0])
    h0 = np.cumsum(d / tail[first])
    return {**out, "baseline": (np.asarray(t0), np.asarray(h0))}


_FITTERS = {
    "logistic": _fit_logistic,
    "ordinal": _fit_ordinal,
    "loglinear": _fit_loglinear,
    "emax": _fit_emax,
    "cox": _fit_cox,
}


def fit_er(
    subjects: pd.DataFrame,
    endpoint: str,
    *,
    exposure: str,
    model: Model,
    covariates: Sequence[str] = (),
    log: LogBase = "ln",
    event: str | None = None,
    threshold: float | None = None,
    hill: bool = False,
    residual: Residual = "log",
    level: float = 0.95,
) -> ERFit:
    """Fit one exposure-response model on a per-subject table.

    Parameters
    ----------
    subjects : DataFrame
        One row per subject: ``ID``, the endpoint, the exposure and any covariates (e.g.
        from :func:`cartpk.er_subjects`, or your own table of NCA / model-based exposure).
    endpoint : str
        Outcome column: a grade (``ordinal``), 0/1 or a grade with ``threshold``
        (``logistic``), a positive value such as a cytokine peak (``emax``, ``loglinear``),
        or a time in days (``cox``, with ``event``).
    exposure : str
        Exposure column on its natural scale (e.g. ``cmax`` in copies/ug, ``auc_0_28d``);
        must be > 0.
    model : {"ordinal", "logistic", "emax", "loglinear", "cox"}
        ``ordinal``: proportional-odds cumulative logit (statsmodels ``OrderedModel``);
        ``logistic``: binary logit (statsmodels ``Logit``; Firth penalisation when the data
        are separated); ``emax``: ``E0 + Emax C^h / (EC50^h + C^h)`` by least squares
        (scipy ``curve_fit``) on the scale set by ``residual``; ``loglinear``: ``log(endpoint) = a + b log(exposure)`` by OLS;
        ``cox``: proportional hazards (statsmodels ``PHReg``, Efron ties).
    covariates : sequence of str, default ()
        Adjustment covariates (e.g. ``SLD0``, ``DOSE``), entered linearly as given;
        non-numeric columns become indicators against their first level (sorted).
    log : {"ln", "log10"}, default "ln"
        Base of the exposure's log in the linear predictor. ``ln``: the coefficient is per
        e-fold exposure; ``log10``: per 10-fold. The ``or_per_*`` columns are the same
        either way.
    event : str, optional
        ``cox`` only: event indicator column, 1 = event (progression, death), 0 = censored.
    threshold : float, optional
        ``logistic`` only: outcome is ``endpoint >= threshold`` (e.g. 3 for grade >= 3).
    hill : bool, default False
        ``emax`` only: estimate a Hill coefficient (otherwise h = 1).
    residual : {"log", "natural"}, default "log"
        ``emax`` only: the residual error model. ``log``: least squares on the log of the
        endpoint, ``ln y = ln(E0 + Emax C^h / (EC50^h + C^h)) + eps`` (log-normal residuals,
        the curve is the median response; subjects with an endpoint <= 0 are left out with
        ``endpoint_not_positive``); ``natural``: on the endpoint itself (additive normal
        residuals). The ``scale`` column of the estimates and the message say which.
    level : float, default 0.95
        Confidence level of the intervals.

    Returns
    -------
    ERFit
        ``.estimates`` (one row per term), ``.status``, ``.exclusions``, ``.predict``.

    Raises
    ------
    SpecError
        ``model_unknown``, ``log_unknown``, ``column_unknown``, ``missing_column``,
        ``event_missing``, ``covariates_unsupported``, ``level_invalid``,
        ``residual_unknown``.
    DatasetError
        ``duplicate_id``, ``endpoint_not_numeric``, ``endpoint_not_binary``,
        ``event_not_binary``.

    Notes
    -----
    Subjects with a missing endpoint, exposure, event or covariate, or a non-positive
    exposure (or a non-positive endpoint for ``loglinear`` and for ``emax`` with
    ``residual="log"``), are left out and listed in
    ``.exclusions`` with the reason; nothing is dropped silently.

    ============ ================================ =========================================
    model        exposure term ``b``              ``or_per_2fold`` / ``or_per_10fold``
    ============ ================================ =========================================
    logistic     log-odds per log unit            odds ratio ``exp(b log_base(2))``, ...
    ordinal      cumulative log-odds of           common odds ratio of P(grade >= g)
                 P(grade >= g) per log unit
    cox          log hazard per log unit          hazard ratio
    loglinear    log endpoint per log unit        ratio of geometric means of the endpoint
    emax         (none: EC50 in exposure units)   not applicable (blank)
    ============ ================================ =========================================

    With natural-log exposure, ``OR per 2-fold = exp(b ln 2)``; with ``log10``,
    ``exp(b log10 2)``. Intervals: Wald (logistic, ordinal, loglinear t-based, cox),
    profile penalised likelihood (Firth), t-based on the curve-fit covariance (emax; EC50
    and hill from the log-scale interval). Emax is fitted
    on the log scale by default because cytokine peaks are log-normal with large CVs: on
    the natural scale the largest peaks dominate the fit and its intervals (Holford &
    Sheiner 1981; ``docs/er_emax.md``). The ordinal model is
    ``logit P(grade >= g) = b x - theta_g`` (statsmodels' sign convention: thresholds are
    reported as ``threshold a|b``), so ``b > 0`` means higher grades at higher exposure.
    Separation is detected before fitting by a linear programme
    (:func:`cartpk.er._design.is_separated`); the statuses are :class:`ERStatus`.

    References
    ----------
    McCullagh P. Regression models for ordinal data. J R Stat Soc B 1980;42:109-142.
    Firth D. Biometrika 1993;80:27-38. Cox DR. J R Stat Soc B 1972;34:187-220.
    Holford NHG, Sheiner LB. Clin Pharmacokinet 1981;6:429-453.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> cmax = np.exp(rng.normal(9, 1.5, 300))
    >>> p = 1 / (1 + np.exp(-(-9 + np.log(cmax))))
    >>> df = pd.DataFrame({"ID": range(300), "cmax": cmax, "orr": rng.random(300) < p})
    >>> fit = fit_er(df, "orr", exposure="cmax", model="logistic")
    >>> fit.status.value, fit.slope["term"], bool(fit.slope["lower"] < 1 < fit.slope["upper"])
    ('ok', 'log(cmax)', True)
    """
    from cartpk.errors import SpecError, Violation

    if not 0 < level < 1:
        msg = "`level` must lie strictly between 0 and 1"
        raise SpecError(
            msg,
            [
                Violation(
                    "level_invalid",
                    msg,
                    value=repr(level),
                    expected="e.g. 0.95",
                    fix="pass level=0.95",
                )
            ],
        )
    if residual not in RESIDUALS:
        msg = "`residual` must be 'log' or 'natural'"
        raise SpecError(
            msg,
            [
                Violation(
                    "residual_unknown",
                    msg,
                    value=repr(residual),
                    expected="'log' (log-normal, default) or 'natural' (additive)",
                    fix="pass residual='log'",
                )
            ],
        )
    prep = prepare(
        subjects,
        endpoint,
        exposure=exposure,
        model=model,
        covariates=covariates,
        log=log,
        event=event,
        threshold=threshold,
    )
    kw = _analysis_kw(endpoint, exposure, model, log, residual)
    if model == "emax" and residual == "log":
        prep = drop_not_positive(prep, endpoint)
    try:
        if model == "emax":
            unit = dict(subjects.attrs.get("units", {})).get(exposure)
            out = _fit_emax(prep, level, hill=hill, residual=residual, unit=unit, **kw)
        else:
            out = _FITTERS[model](prep, level, **kw)
    except (ArithmeticError, ValueError, np.linalg.LinAlgError, RuntimeError) as err:
        # one analysis that cannot be fitted is reported, never lost with the others
        msg = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no message'}"
        term = "EC50" if model == "emax" else exposure_term(exposure, log)
        out = _no_estimate(prep, [term], ERStatus.failed, msg, math.nan, **kw)
    return _er_fit(prep, out, kw, covariates, residual)


def failed_fit(
    endpoint: str,
    *,
    exposure: str,
    model: Model,
    covariates: Sequence[str] = (),
    log: LogBase = "ln",
    message: str,
    residual: Residual = "log",
) -> ERFit:
    """An :class:`ERFit` with status ``failed`` and no estimate (the analysis could not
    even be prepared, e.g. an endpoint that is not numeric); ``message`` says why
    (``residual``: the Emax residual model the analysis asked for, see :func:`fit_er`)."""
    prep = Prepared(
        data=pd.DataFrame({"ID": []}),
        y=np.empty(0),
        event=None,
        conc=np.empty(0),
        x=np.empty(0),
        covariates=pd.DataFrame(),
        categories=[],
        exclusions=pd.DataFrame(columns=["ID", "code", "reason"]),
    )
    term = "EC50" if model == "emax" else exposure_term(exposure, log)
    kw = _analysis_kw(endpoint, exposure, model, log, residual)
    out = _no_estimate(prep, [term], ERStatus.failed, message, math.nan, **kw)
    return _er_fit(prep, out, kw, covariates, residual)


def _analysis_kw(
    endpoint: str, exposure: str, model: str, log: str, residual: str
) -> dict[str, Any]:
    """The analysis columns of every estimates row (and, for Emax, its ``scale``)."""
    kw: dict[str, Any] = {"endpoint": endpoint, "exposure": exposure, "model": model, "log": log}
    if model == "emax":
        kw["scale"] = emax_scale(residual)
    return kw


def _er_fit(
    prep: Prepared,
    out: Mapping[str, Any],
    kw: Mapping[str, Any],
    covariates: Sequence[str],
    residual: Residual,
) -> ERFit:
    """The :class:`ERFit` of one analysis (``kw``: :func:`_analysis_kw`) from its fitter's
    outcome."""
    model = kw["model"]
    return ERFit(
        endpoint=kw["endpoint"],
        exposure=kw["exposure"],
        model=model,
        log=kw["log"],
        covariates=tuple(covariates),
        status=out["status"],
        message=out["message"],
        estimates=out["estimates"],
        prepared=prep,
        params={k: float(v) for k, v in out.get("params", {}).items()},
        reference=_reference(prep),
        baseline=out.get("baseline"),
        result=out.get("result"),
        residual=residual if model == "emax" else None,
    )
