"""Posterior predictive checks as data: censoring-aware VPC, pcVPC, PRED/IPRED/NPD tables.

Censoring is handled the same way for data and simulations: a simulated value below its
record's limit is censored (it holds the limit, as a censored record in the data does), and
in a time bin where a fraction ``c`` of the values is censored, every percentile ``p <= c``
is *below the limit*: reported as missing (``NaN``) with ``*_censored = True`` rather than
as a number the censoring made up (Bergstrand et al. 2009). The BLQ fraction per bin is a
check of its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.fit._predictive import PredictiveDraws

__all__ = ["Vpc", "predictions", "vpc", "vpc_percentiles"]


@dataclass(frozen=True)
class Vpc:
    """A visual predictive check as tables (see :func:`vpc`).

    Attributes
    ----------
    percentiles : pandas.DataFrame
        ``DVID, bin, time, time_lo, time_hi, n, quantile, observed, observed_censored,
        sim_median, sim_lower, sim_upper, sim_censored``: observed and simulated
        percentiles per time bin; ``sim_lower``/``sim_upper`` bound the ``ci`` interval of the
        simulated percentile over replicates. Censored percentiles are NaN.
    blq : pandas.DataFrame
        ``DVID, bin, time, n, observed, sim_median, sim_lower, sim_upper``: fraction of
        censored records per bin, observed and simulated.
    prediction_corrected : bool
        Whether values were prediction-corrected (pcVPC).
    limits : dict of str to float
        Median censoring limit per DVID (for plots).
    """

    percentiles: pd.DataFrame
    blq: pd.DataFrame
    prediction_corrected: bool
    limits: dict[str, float]


def _censored_percentiles(
    values: np.ndarray, censored: np.ndarray, quantiles: Sequence[float]
) -> np.ndarray:
    """As :func:`vpc_percentiles`, with ``-inf`` below a lower limit, ``+inf`` above an upper."""
    v = np.asarray(values, dtype=float)
    c = np.asarray(censored)
    left = c if c.dtype == bool else c == 1
    right = np.zeros(c.shape, bool) if c.dtype == bool else c == -1
    q = np.asarray(quantiles, dtype=float)
    out = np.quantile(v, q, axis=-1)
    shape = (-1,) + (1,) * (np.ndim(v) - 1)
    below = q.reshape(shape) <= left.mean(axis=-1)
    above = q.reshape(shape) >= 1.0 - right.mean(axis=-1)
    return np.where(below, -np.inf, np.where(above, np.inf, out))


def vpc_percentiles(
    values: np.ndarray,
    censored: np.ndarray,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
) -> np.ndarray:
    """Percentiles of (replicated) samples with censoring, censored ones as NaN.

    Parameters
    ----------
    values : array, shape (n,) or (n_replicates, n)
        Values; censored entries hold their limit.
    censored : array of bool or int, same shape
        Which values are censored: bool for below a lower limit, or the ``CENS`` codes
        (``1`` below a lower limit, ``-1`` above an upper limit, ``0`` quantified).
    quantiles : sequence of float
        Probabilities in (0, 1).

    Returns
    -------
    numpy.ndarray
        Shape ``(len(quantiles),)`` or ``(len(quantiles), n_replicates)``; a percentile
        ``p`` is NaN when the fraction censored below is ``>= p`` (it lies below the
        limit) or the fraction censored above is ``>= 1 - p`` (it lies above the limit).

    Examples
    --------
    >>> vpc_percentiles([50.0, 50.0, 200.0, 400.0], [True, True, False, False], [0.25, 0.9])
    array([ nan, 340.])
    >>> vpc_percentiles([50.0, 200.0, 900.0, 900.0], [1, 0, -1, -1], [0.1, 0.4, 0.9])
    array([ nan, 340.,  nan])
    """
    out = _censored_percentiles(values, censored, quantiles)
    return np.where(np.isinf(out), np.nan, out)


def _bins(time: np.ndarray, bins: int | Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Bin index per record and the bin edges: distinct times when few, else quantile bins."""
    t = np.asarray(time, dtype=float)
    distinct = np.unique(t)
    if bins is None and distinct.size <= 12:
        edges = np.concatenate([[-np.inf], (distinct[1:] + distinct[:-1]) / 2, [np.inf]])
    elif bins is None or isinstance(bins, int):
        k = 8 if bins is None else int(bins)
        edges = np.unique(np.quantile(t, np.linspace(0, 1, k + 1)))
        edges[0], edges[-1] = -np.inf, np.inf
    else:
        edges = np.asarray(bins, dtype=float)
    idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, edges.size - 2)
    return idx, edges


def _quantile_nearest(x: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """Quantiles over replicates where NaN or ``-inf`` (below a lower limit) ranks lowest and
    ``+inf`` (above an upper limit) highest; censored results are NaN."""
    filled = np.where(np.isnan(x), -np.inf, x)
    out = np.quantile(filled, q, axis=-1, method="nearest")
    return np.where(np.isinf(out), np.nan, out)


def _pred_typical(fit: PredictiveDraws) -> dict[str, np.ndarray]:
    """PRED per record: typical subject (eta = 0) with its covariates, posterior median."""
    return {k: np.median(v, axis=0) for k, v in fit.predict(n=200, eta="zero").items()}


def vpc(
    fit: PredictiveDraws,
    *,
    n: int = 200,
    seed: int | None = 1,
    bins: int | Sequence[float] | None = None,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    ci: float = 0.9,
    prediction_corrected: bool = False,
    simulations: tuple[np.ndarray, np.ndarray] | None = None,
) -> Vpc:
    """Censoring-aware visual predictive check of a population fit, as tables.

    Replicates of the observed design are simulated from the posterior with *new* subjects
    (:meth:`PopulationFit.simulate`), censored at each record's limit like the data.

    Parameters
    ----------
    fit : PopulationFit or SaemFit
        Result of :func:`cartpk.fit_population` (replicates from posterior draws) or of
        :func:`cartpk.fit_saem` (replicates at the estimates).
    n : int, default 200
        Number of replicates (posterior draws).
    seed : int, optional, default 1
        Seed of the simulations.
    bins : int or sequence of float, optional
        Number of time bins (quantile-spaced) or bin edges in days; default one bin per
        distinct sampling time when there are at most 12, else 8 quantile bins.
    quantiles : sequence of float, default (0.1, 0.5, 0.9)
        Percentiles compared.
    ci : float, default 0.9
        Probability of the interval of each simulated percentile.
    prediction_corrected : bool, default False
        Prediction-corrected VPC (Bergstrand et al. 2011): every value and limit is
        multiplied by ``PRED_bin / PRED_record`` (lower bound 0), ``PRED_bin`` the median
        PRED of its bin, so that covariates and dose do not widen the bins.
    simulations : (array, array), optional
        Precomputed ``fit.simulate(...)`` output to reuse.

    Returns
    -------
    Vpc

    References
    ----------
    Bergstrand M, Hooker AC, Karlsson MO. Visual predictive checks for censored
    observations. AAPS J 2009;11:371-380. Bergstrand M et al. Prediction-corrected visual
    predictive checks for diagnosing nonlinear mixed-effects models. AAPS J 2011;13:143-151.
    """
    obs = fit.observations
    sim, sim_c = simulations if simulations is not None else fit.simulate(n, seed=seed)
    dv = obs["DV"].to_numpy(dtype=float)
    cens = obs["CENS"].to_numpy(dtype=int)  # 1 below a lower limit, -1 above an upper one
    sim_cens = np.asarray(sim_c, dtype=int)
    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    pred = _pred_typical(fit) if prediction_corrected else {}
    prows, brows = [], []
    limits: dict[str, float] = {}
    lloq = obs["LLOQ"].to_numpy(dtype=float)
    for dvid in dict.fromkeys(obs["DVID"]):
        rows = np.flatnonzero(obs["DVID"].to_numpy() == dvid)
        t = obs["TIME"].to_numpy(dtype=float)[rows]
        idx, edges = _bins(t, bins)
        y, yc = dv[rows], cens[rows]
        s, sc = sim[:, rows], sim_cens[:, rows]
        lim = lloq[rows]
        if prediction_corrected:
            p = pred[dvid][rows]
            pbin = np.array([np.median(p[idx == b]) for b in idx])
            corr = pbin / p
            y, s, lim = y * corr, s * corr[None, :], lim * corr
        finite = lim[np.isfinite(lim)]
        limits[dvid] = float(np.median(finite)) if finite.size else math.nan
        for b in np.unique(idx):
            sel = idx == b
            tb = t[sel]
            where = dict(DVID=dvid, bin=int(b), time=float(np.median(tb)))  # both tables
            o = vpc_percentiles(y[sel], yc[sel], quantiles)
            sp = _censored_percentiles(s[:, sel], sc[:, sel], quantiles)  # (q, R)
            for j, q in enumerate(quantiles):
                rep = sp[j]
                med, lo, hi = _quantile_nearest(rep, [0.5, lo_q, hi_q])
                prows.append(
                    dict(
                        **where,
                        time_lo=float(tb.min()),
                        time_hi=float(tb.max()),
                        n=int(sel.sum()),
                        quantile=float(q),
                        observed=float(o[j]),
                        observed_censored=bool(np.isnan(o[j])),
                        sim_median=float(med),
                        sim_lower=float(lo),
                        sim_upper=float(hi),
                        sim_censored=bool(np.isnan(med)),
                    )
                )
            frac = (sc[:, sel] == 1).mean(axis=1)  # below the lower limit
            brows.append(
                dict(
                    **where,
                    n=int(sel.sum()),
                    observed=float((yc[sel] == 1).mean()),
                    sim_median=float(np.median(frac)),
                    sim_lower=float(np.quantile(frac, lo_q)),
                    sim_upper=float(np.quantile(frac, hi_q)),
                )
            )
    return Vpc(
        percentiles=pd.DataFrame(prows),
        blq=pd.DataFrame(brows),
        prediction_corrected=prediction_corrected,
        limits=limits,
    )


def predictions(
    fit: PredictiveDraws,
    *,
    n: int = 200,
    seed: int | None = 1,
    simulations: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Per-record predictions and posterior-predictive residuals of a population fit.

    Parameters
    ----------
    fit : PopulationFit or SaemFit
    n : int, default 200
        Posterior draws used.
    seed : int, optional, default 1
        Seed of the simulations and of the randomised PIT of censored records.
    simulations : (array, array), optional
        Precomputed ``fit.simulate(...)`` output to reuse (new subjects).

    Returns
    -------
    pandas.DataFrame
        ``ROW, ID, TIME, DVID, DV, CENS, LLOQ, PRED, IPRED, IPRED_lower, IPRED_upper, NPD``:
        ``PRED`` the median prediction of the typical subject (eta = 0, own covariates),
        ``IPRED`` the posterior median of the individual prediction with its 90 % interval,
        ``NPD`` the normalised prediction discrepancy ``Phi^-1(P(y_sim < y))`` over
        replicates with new subjects (decorrelation not applied). For a censored record
        the probability is drawn uniformly in ``(0, P(y_sim <= limit))`` below a lower
        limit and in ``(P(y_sim < limit), 1)`` above an upper one (Nguyen et al. 2012).

    References
    ----------
    Nguyen THT et al. Extension of NPDE for evaluation of nonlinear mixed effect models in
    presence of data below the quantification limit. AAPS J 2012;14:79-88.
    """
    from scipy.special import ndtri

    obs = fit.observations
    rng = np.random.default_rng(seed)
    ipred = fit.predict(n=n)
    pred = fit.predict(n=n, eta="zero")
    sim, _ = simulations if simulations is not None else fit.simulate(n, seed=seed)
    dv = obs["DV"].to_numpy(dtype=float)
    cens = obs["CENS"].to_numpy(dtype=int)
    out = obs[["ROW", "ID", "TIME", "DVID", "DV", "CENS", "LLOQ"]].copy()
    cols: dict[str, np.ndarray] = {
        k: np.full(len(obs), np.nan) for k in ("PRED", "IPRED", "IPRED_lower", "IPRED_upper")
    }
    dvids = obs["DVID"].to_numpy()
    for dvid in ipred:
        rows = dvids == dvid
        cols["PRED"][rows] = np.median(pred[dvid][:, rows], axis=0)
        cols["IPRED"][rows] = np.median(ipred[dvid][:, rows], axis=0)
        cols["IPRED_lower"][rows] = np.quantile(ipred[dvid][:, rows], 0.05, axis=0)
        cols["IPRED_upper"][rows] = np.quantile(ipred[dvid][:, rows], 0.95, axis=0)
    r = sim.shape[0]
    # mid-rank PIT, kept inside (0, 1) so that Phi^-1 stays finite
    below = (sim < dv[None, :]).sum(axis=0) + 0.5 * (sim == dv[None, :]).sum(axis=0)
    pit = np.clip(below / r, 0.5 / r, 1 - 0.5 / r)
    # censored: uniform over the censored side (censored replicates hold the limit)
    p_blq = (sim <= dv[None, :]).mean(axis=0)
    p_below = (sim < dv[None, :]).mean(axis=0)
    u = rng.uniform(0.0, 1.0, len(obs))
    pit = np.where(cens == 1, u * p_blq, np.where(cens == -1, p_below + u * (1 - p_below), pit))
    pit = np.clip(pit, 0.5 / r, 1 - 0.5 / r)
    for k, v in cols.items():
        out[k] = v
    out["NPD"] = ndtri(pit)
    return out.reset_index(drop=True)
