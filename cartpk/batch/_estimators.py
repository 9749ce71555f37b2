"""Estimators for SSE and bootstrap studies, built on the per-patient fitter.

:class:`IndividualFitEstimator` fits every subject of a dataset by maximum likelihood
(:func:`cartpk.fit_individual`, censored M3 likelihood by default) and returns
either the per-subject estimates or typical values as the median of the converged
individual estimates with a distribution-free confidence interval.

Why the median of individual estimates (and not a naive pooled fit): in the declaration
every structural parameter is log-normal (or logit-normal) between subjects, so the
typical value *is* the population median, and the sample median of consistent individual
estimates estimates it without a model for the between-subject distribution. A naive
pooled fit ignores between-subject variability and is biased for the typical value of a
non-linear model whenever IIV is large (Stein 2019: foldx CV ~300 %). Unidentified
individual estimates (parameters at a bound of the search range) enter the median as
they are, so a design that cannot identify ``tmax`` shows up as bias and spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from cartpk.data import Dataset
    from cartpk.model import Model

__all__ = ["IndividualFitEstimator", "fit_table", "median_interval"]


def median_interval(values: Any, level: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of a median from order statistics.

    Parameters
    ----------
    values : array_like
        Sample (NaNs are dropped).
    level : float, default 0.95
        Minimum coverage.

    Returns
    -------
    (float, float)
        ``(x_(k), x_(n-k+1))`` with ``k`` the largest integer such that
        ``P(B <= k - 1) <= (1 - level)/2`` for ``B ~ Binomial(n, 1/2)``; coverage is at
        least ``level`` for any continuous distribution. ``(nan, nan)`` when ``n`` is too
        small (``n < 6`` at 95 %).

    References
    ----------
    Conover WJ. Practical Nonparametric Statistics, 3rd ed. Wiley 1999, section 3.2.

    Examples
    --------
    >>> median_interval(range(1, 21))
    (6.0, 15.0)
    """
    from scipy.stats import binom

    x = np.sort(np.asarray(values, dtype=float))
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    k = int(binom.ppf(alpha, n, 0.5))  # smallest k with P(B <= k) >= alpha
    if binom.cdf(k, n, 0.5) <= alpha:  # exact ties: k itself still qualifies
        k += 1
    if k < 1:
        return math.nan, math.nan
    return float(x[k - 1]), float(x[n - k])


def _fits(model: Model, dataset: Dataset, options: dict[str, Any]) -> list[Any]:
    from cartpk.fit import fit_individual

    # serial on purpose (workers=1): the study already runs one task per worker process
    return list(fit_individual(model, dataset, workers=1, progress=False, **options).fits)


def fit_table(model: Model, dataset: Dataset, **options: Any) -> pd.DataFrame:
    """Per-patient fits as one row per subject (``IndividualFit.table()``, serially).

    Parameters
    ----------
    model : Model
    dataset : Dataset
    **options
        Keyword arguments of :func:`cartpk.fit_individual` (``blq``, ``prior``,
        ``sigma``, ``n_starts``, ``seed``, ``level``...); it runs in this process
        (``workers=1``) because the batch already runs one task per worker.

    Returns
    -------
    pandas.DataFrame
        ``ID``, one column per parameter, ``<name>_lower``, ``<name>_upper``, ``converged``,
        ``status`` ... ``message`` (the layout of ``individual.csv``).
    """
    from cartpk.fit import fit_individual

    return fit_individual(model, dataset, workers=1, progress=False, **options).table()


@dataclass(frozen=True)
class IndividualFitEstimator:
    """Estimator of :func:`cartpk.sse` / :func:`cartpk.bootstrap` from per-patient fits.

    Parameters
    ----------
    summary : {"median", "individual"}, default "median"
        ``"median"``: typical values, the median of the converged individual estimates,
        with the order-statistic interval of :func:`median_interval`. ``"individual"``:
        every subject's estimate with its own confidence interval (SSE compares it with
        that subject's simulated value).
    blq : {"m3", "m4", "m1"}, default "m3"
        Censoring method of the per-patient likelihood.
    prior : {"none", "population"}, default "none"
        ``"population"`` fits MAP estimates with the model's typical values and omegas as
        prior; in an SSE the prior is then the truth, so use it only to study shrinkage.
    sigma : {"fixed", "estimate"}, default "fixed"
        Residual error fixed at the declaration or estimated per subject.
    n_starts : int, optional
        Starts of the per-subject optimisation (deterministic; default that of
        :func:`cartpk.fit_individual`: 8 for stacked closed-form fits, else 4).
    level : float, default 0.95
        Confidence level of the intervals.
    ci : {"auto", "wald", "profile"}, default "auto"
        Per-subject interval method, :func:`cartpk.fit_individual`'s ``interval`` (the
        name stays ``ci`` here: it is part of a study's identity, which a resumed study
        must match). ``"profile"`` is slower and holds its coverage better when an early
        sample makes the Wald interval optimistic (``docs/design_day3.md``).
    parameters : list of str, optional
        Report only these parameters (default: every estimated structural parameter).

    Notes
    -----
    With ``summary="median"`` a typical value counts as converged when at least half of
    the subjects (and at least 3) have a converged fit. Per-subject rows carry
    ``identified`` (the fitter's identifiability flag), so the SSE reports how often a
    design identifies each parameter.
    """

    summary: Literal["median", "individual"] = "median"
    blq: Literal["m3", "m4", "m1"] = "m3"
    prior: Literal["none", "population"] = "none"
    sigma: Literal["fixed", "estimate"] = "fixed"
    n_starts: int | None = None
    level: float = 0.95
    ci: Literal["auto", "wald", "profile"] = "auto"
    parameters: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        choices = {
            "summary": ("median", "individual"),
            "blq": ("m3", "m4", "m1"),
            "prior": ("none", "population"),
            "sigma": ("fixed", "estimate"),
            "ci": ("auto", "wald", "profile"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}, not {getattr(self, name)!r}")
        if self.n_starts is not None and (not isinstance(self.n_starts, int) or self.n_starts < 1):
            raise ValueError(f"`n_starts` must be an integer >= 1, not {self.n_starts!r}")
        if not 0.0 < float(self.level) < 1.0:
            raise ValueError(f"`level` must lie in (0, 1), not {self.level!r}")
        if self.parameters is not None:
            object.__setattr__(self, "parameters", tuple(str(p) for p in self.parameters))

    def __call__(self, dataset: Dataset, model: Model) -> pd.DataFrame:
        """Fit every subject and return the estimates table (see the class notes)."""
        import pandas as pd

        fits = _fits(
            model,
            dataset,
            {
                "blq": self.blq,
                "prior": None if self.prior == "none" else self.prior,
                "sigma": self.sigma,
                "n_starts": self.n_starts,
                "level": self.level,
                "interval": self.ci,
            },
        )
        structural = [n for n in model.parameter_names("structural", free=True)]
        names = list(self.parameters) if self.parameters is not None else structural
        if self.summary == "individual":
            rows = [
                {
                    "ID": f.id,
                    "parameter": n,
                    "estimate": f.estimate.get(n, math.nan),
                    "lower": f.lower.get(n, math.nan),
                    "upper": f.upper.get(n, math.nan),
                    "converged": bool(f.converged),
                    "identified": bool(f.identifiable.get(n, False)),
                }
                for f in fits
                for n in names
            ]
            return pd.DataFrame(rows)
        ok = [f for f in fits if f.converged]
        enough = len(ok) >= max(3, math.ceil(len(fits) / 2))
        rows = []
        for n in names:
            vals = np.array([f.estimate.get(n, math.nan) for f in ok], dtype=float)
            vals = vals[np.isfinite(vals)]
            lo, hi = median_interval(vals, self.level)
            rows.append(
                {
                    "parameter": n,
                    "estimate": float(np.median(vals)) if vals.size else math.nan,
                    "lower": lo,
                    "upper": hi,
                    "converged": bool(enough and vals.size > 0),
                    "identified": float(np.mean([bool(f.identifiable.get(n, False)) for f in ok]))
                    if ok
                    else math.nan,
                }
            )
        return pd.DataFrame(rows)
