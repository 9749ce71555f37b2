"""Option objects of the E-R chain SSE (``kind = "er_chain"``), each validated in full.

:class:`EROutcomes` generates the outcomes from the true exposure (and holds the true
slopes); :class:`ChainFit` holds each replicate's population-fit settings.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from cartpk.errors import SpecError, Violation

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["EXPOSURES", "ChainFit", "EROutcomes"]

#: exposures the outcomes may be driven by (model-based and NCA both compute them)
EXPOSURES = ("cmax", "auc_0_28d")


# ---------------------------------------------------------------------------------------
# option objects, validated in full


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _problems(obj: Any, what: str) -> list[Violation]:
    """Check every field of an options dataclass against its ``_rules``."""
    out = []
    for f in dataclasses.fields(obj):
        rule = obj._rules.get(f.name)
        if rule is None:
            continue
        ok, expected = rule
        v = getattr(obj, f.name)
        try:
            good = bool(ok(v))
        except (TypeError, ValueError):
            good = False
        if not good:
            out.append(
                Violation(
                    f"{what}_option",
                    f"`{f.name}` of `[{what}]` is invalid",
                    column=f.name,
                    value=repr(v),
                    expected=expected,
                    fix=f"set `{f.name}` to {expected}, or leave it out for {f.default!r}",
                )
            )
    return out


def _positive(v: Any) -> bool:
    return _is_number(v) and math.isfinite(v) and v > 0


def _finite(v: Any) -> bool:
    return _is_number(v) and math.isfinite(v)


def _count(low: int) -> Any:
    return lambda v: isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= low


def _increasing(v: Any) -> bool:
    vals = list(v)
    return (
        len(vals) >= 1
        and all(_finite(x) for x in vals)
        and all(b > a for a, b in zip(vals, vals[1:], strict=False))
    )


@dataclass(frozen=True)
class EROutcomes:
    """How outcomes are generated from each subject's true exposure: the truth of the E-R.

    With ``x = ln(exposure / reference)`` (the true exposure of the truth declaration,
    :func:`cartpk.model_exposure`):

    ============  ==========  ===============================================================
    endpoint      E-R model   generated as
    ============  ==========  ===============================================================
    crs_grade     ordinal     ``#{k: cutpoint_k < crs_slope x + L}``, ``L ~ Logistic(0, 1)``
                              (grades 0..len(cutpoints)); ``P(grade >= k) =
                              expit(crs_slope x - cutpoint_k)``
    orr           logistic    ``Bernoulli(expit(orr_intercept + orr_slope x))``
    il6_cmax      loglinear   ``exp(il6_intercept + il6_slope x + N(0, il6_sd))``
    pfs_time      cox         ``T ~ Exponential(pfs_hazard exp(pfs_slope x))`` per day,
                              censored at ``pfs_censor_day`` (administrative) or at dropout
                              ``~ Uniform(0, pfs_dropout_day)``; ``pfs_event`` = 1 if seen
    ============  ==========  ===============================================================

    The E-R fits take ``ln(exposure)`` as the predictor, so each slope above is the truth
    of the fitted exposure coefficient (:attr:`truth`).

    Attributes
    ----------
    exposure : {"cmax", "auc_0_28d"}, default "cmax"
        Exposure metric that drives the outcomes and is analysed.
    reference : float, default 24000
        Exposure at which ``x = 0`` (copies/ug for cmax; the truth's typical peak).
    crs_slope : float, default 1.0
        Cumulative log-odds of CRS grade per ln-unit of exposure.
    crs_cutpoints : tuple of float, default (-0.5, 1.0, 2.5, 4.0)
        Increasing thresholds of the latent CRS variable (grades 0 to 4).
    orr_intercept, orr_slope : float, default 1.0, 0.8
        Log-odds of response at the reference exposure, and per ln-unit.
    il6_intercept, il6_slope, il6_sd : float, default 3.0, 0.8, 0.6
        Log IL-6 peak (pg/mL) at the reference, per ln-unit, and its residual SD.
    pfs_hazard : float, default 0.004
        Hazard of progression or death at the reference exposure, 1/day (median 173 days).
    pfs_slope : float, default -0.5
        Log-hazard ratio per ln-unit of exposure.
    pfs_censor_day : float, default 365
        End of follow-up, days after infusion.
    pfs_dropout_day : float, default 1825
        Dropout times are uniform on (0, pfs_dropout_day): 20 % drop out in the first year.
    """

    exposure: str = "cmax"
    reference: float = 24000.0
    crs_slope: float = 1.0
    crs_cutpoints: tuple[float, ...] = (-0.5, 1.0, 2.5, 4.0)
    orr_intercept: float = 1.0
    orr_slope: float = 0.8
    il6_intercept: float = 3.0
    il6_slope: float = 0.8
    il6_sd: float = 0.6
    pfs_hazard: float = 0.004
    pfs_slope: float = -0.5
    pfs_censor_day: float = 365.0
    pfs_dropout_day: float = 1825.0

    _rules: ClassVar[dict[str, tuple[Any, str]]] = {
        "exposure": (lambda v: v in EXPOSURES, f"one of {', '.join(EXPOSURES)}"),
        "reference": (_positive, "a positive exposure"),
        "crs_slope": (_finite, "a number"),
        "crs_cutpoints": (_increasing, "an increasing list of numbers, e.g. [-0.5, 1, 2.5, 4]"),
        "orr_intercept": (_finite, "a number"),
        "orr_slope": (_finite, "a number"),
        "il6_intercept": (_finite, "a number"),
        "il6_slope": (_finite, "a number"),
        "il6_sd": (_positive, "a positive SD"),
        "pfs_hazard": (_positive, "a positive hazard (1/day)"),
        "pfs_slope": (_finite, "a number"),
        "pfs_censor_day": (_positive, "a positive day"),
        "pfs_dropout_day": (_positive, "a positive day"),
    }

    def __post_init__(self) -> None:
        if isinstance(self.crs_cutpoints, list):
            object.__setattr__(self, "crs_cutpoints", tuple(self.crs_cutpoints))
        problems = _problems(self, "outcomes")
        if problems:
            raise SpecError("Invalid outcome settings.", problems)

    @property
    def truth(self) -> dict[str, float]:
        """True exposure slope of each endpoint (ln-exposure scale)."""
        return {
            "crs_grade": float(self.crs_slope),
            "orr": float(self.orr_slope),
            "il6_cmax": float(self.il6_slope),
            "pfs_time": float(self.pfs_slope),
        }

    def generate(self, exposure: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """Outcomes of subjects with true ``exposure`` (natural scale), drawn from ``rng``.

        Returns
        -------
        DataFrame
            ``x, crs_grade, orr, il6_cmax, pfs_time, pfs_event`` in the order of
            ``exposure``; ``x = ln(exposure / reference)``.
        """
        import pandas as pd
        from scipy.special import expit

        x = np.log(np.asarray(exposure, dtype=float) / self.reference)
        n = x.size
        # a fixed order of draws: each endpoint's numbers do not depend on the others' settings
        latent = self.crs_slope * x + rng.logistic(size=n)
        grade = (latent[:, None] > np.asarray(self.crs_cutpoints)[None, :]).sum(axis=1)
        orr = (rng.random(n) < expit(self.orr_intercept + self.orr_slope * x)).astype(int)
        il6 = np.exp(self.il6_intercept + self.il6_slope * x + self.il6_sd * rng.standard_normal(n))
        t_event = rng.exponential(1.0 / (self.pfs_hazard * np.exp(self.pfs_slope * x)))
        t_drop = rng.uniform(0.0, self.pfs_dropout_day, size=n)
        t_censor = np.minimum(t_drop, self.pfs_censor_day)
        return pd.DataFrame(
            {
                "x": x,
                "crs_grade": grade.astype(int),
                "orr": orr,
                "il6_cmax": il6,
                "pfs_time": np.minimum(t_event, t_censor),
                "pfs_event": (t_event <= t_censor).astype(int),
            }
        )


@dataclass(frozen=True)
class ChainFit:
    """Settings of each replicate's population fit and model-based exposure.

    The defaults are deliberately cheap (2 chains x 300 + 300): a study needs each subject's
    posterior mean of ln(exposure), whose Monte-Carlo error with 600 draws is a few percent
    of its posterior SD, not the tail quantiles of the typical values that the
    convergence thresholds of :func:`cartpk.fit_population` (ESS >= 400) are set for.
    Each fit therefore reports ``not_converged`` on ESS; its R-hat, ESS and divergences
    are recorded per replicate in ``er_sse_replicates.csv``.

    Attributes
    ----------
    chains, tune, draws : int, default 2, 300, 300
        NUTS chains, warm-up iterations and kept draws per chain.
    target_accept : float, default 0.95
    init : {"declared", "jitter"}, default "declared"
        Chains start at the declaration's values (see :func:`cartpk.fit_population`).
    blq : {"m3", "m4", "m1"}, default "m3"
    priors : {"weak", "literature"}, default "weak"
    n_draws : int, default 200
        Posterior draws per subject behind the model-based exposure
        (:func:`cartpk.calibrated_exposure`).
    cores : int, default 1
        Chains sampled in parallel within one fit. A study runs one fit per Dask worker,
        one worker per core: more threads per fit would only contend for the same cores.
        The draws do not depend on it.
    extend : int, default 0
        Extra rounds of chains while a convergence threshold is missed
        (:func:`cartpk.fit_population`'s ``extend``, 2 there): off here, since the cheap
        settings miss the ESS thresholds by design and a study judges calibration across
        replicates.
    """

    chains: int = 2
    tune: int = 300
    draws: int = 300
    target_accept: float = 0.95
    init: str = "declared"
    blq: str = "m3"
    priors: str = "weak"
    n_draws: int = 200
    cores: int = 1
    extend: int = 0

    _rules: ClassVar[dict[str, tuple[Any, str]]] = {
        "chains": (_count(1), "an integer >= 1"),
        "tune": (_count(0), "an integer >= 0"),
        "draws": (_count(10), "an integer >= 10"),
        "target_accept": (lambda v: _finite(v) and 0 < v < 1, "a number in (0, 1)"),
        "init": (lambda v: v in ("declared", "jitter"), "one of declared, jitter"),
        "blq": (lambda v: v in ("m3", "m4", "m1"), "one of m3, m4, m1"),
        "priors": (lambda v: v in ("weak", "literature"), "one of weak, literature"),
        "n_draws": (_count(1), "an integer >= 1"),
        "cores": (_count(1), "an integer >= 1"),
        "extend": (_count(0), "an integer >= 0"),
    }

    def __post_init__(self) -> None:
        problems = _problems(self, "fit")
        if problems:
            raise SpecError("Invalid population-fit settings.", problems)
