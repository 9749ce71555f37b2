"""Outcome of an exposure-response fit: a status code that carries its remedy."""

from __future__ import annotations

from cartpk.errors import Outcome

__all__ = ["FAILED", "ERStatus"]


class ERStatus(Outcome):
    """How an exposure-response fit ended; :attr:`remedy` says what to do about it.

    A status other than ``ok`` is never hidden: it is written next to every estimate of
    the fit (``status`` column) and failed statuses make ``cartpk er`` exit with code 1.
    :attr:`description` says what any status means, ``ok`` included.
    """

    ok = "ok", "The fit converged; estimates are maximum-likelihood (or least-squares).", True
    separation_firth = (
        "separation_firth",
        "The outcome is (quasi-)completely separated by the predictors, so the maximum-"
        "likelihood estimate does not exist; Firth-penalised estimates with profile-"
        "penalised-likelihood intervals are reported instead. Treat them as a bounded "
        "summary of a very steep relationship; more subjects or fewer covariates help.",
    )
    separation = (
        "separation",
        "The outcome is (quasi-)completely separated by the predictors, so the maximum-"
        "likelihood estimate does not exist and no estimate is reported. Try fewer "
        "covariates, merge sparse grades, or dichotomise the grade and use "
        "model='logistic' (which falls back to Firth penalisation).",
    )
    no_plateau = (
        "no_plateau",
        "The observed exposures never reach the Emax plateau (the effect at the highest "
        "exposure is below 80 % of the fitted Emax, or the EC50 interval extends beyond "
        "the highest exposure), so Emax and EC50 are individually poorly identified. "
        "Prefer model='loglinear' or report the curve over the observed range only.",
    )
    not_converged = (
        "not_converged",
        "The optimiser stopped before meeting its convergence criteria; estimates are "
        "not reliable. Check the data (outliers, scale) or simplify the model.",
    )
    too_few = (
        "too_few",
        "There are too few usable subjects, events or distinct outcome values to fit the "
        "model; nothing is estimated. Check the exclusions table.",
    )
    failed = (
        "failed",
        "The fit could not be carried out (the message says why: a numerical overflow, a "
        "singular design, an outcome that cannot be modelled); nothing is estimated for "
        "this analysis, the other analyses are unaffected. Check the endpoint's values and "
        "the exclusions table, or choose another model.",
    )


#: statuses that mean the fit produced no usable estimate (exit code 1 in the CLI)
FAILED = frozenset({ERStatus.separation, ERStatus.not_converged, ERStatus.too_few, ERStatus.failed})
