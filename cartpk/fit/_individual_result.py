"""Results of per-subject fits: the status of one fit (:class:`FitStatus`), one subject's
result (:class:`SubjectFit`) and the tables and plots of many (:class:`IndividualFit`)."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cartpk.errors import Outcome
from cartpk.fit._likelihood import censoring_interval
from cartpk.fit._subject_problem import _standardise
from cartpk.fit._subjects import SubjectData

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from cartpk.model import Model

__all__ = ["FitStatus", "IndividualFit", "SubjectFit"]


class FitStatus(Outcome):
    """Outcome of one subject's fit: the code (``status`` column) and its remedy.

    :attr:`message` is the text shown to the user (``message`` column), for every member.
    """

    converged = "converged", "converged: the best start met the optimizer's tolerance", True
    at_bound = (
        "at_bound",
        "converged at the bound of the search range for some parameter; its value is not "
        'determined by the data. Try `prior="population"`, fix the parameter, or widen `bounds`',
    )
    not_converged = (
        "not_converged",
        "the optimizer stopped before meeting its tolerance. Try increasing `n_starts` or "
        '`max_nfev`, or use `prior="population"`',
    )
    underdetermined = (
        "underdetermined",
        "fewer quantified observations than free parameters: the maximum-likelihood estimate is "
        'not unique. Use `prior="population"` or fix parameters with `model.fix(...)`',
    )
    all_censored = (
        "all_censored",
        "every observation is censored, so the likelihood has no interior maximum. Use "
        '`prior="population"` to get a MAP estimate shrunk to the typical values',
    )
    no_observations = (
        "no_observations",
        'no usable observation (none for this DVID, or all discarded by `blq="m1"`); '
        'nothing was fitted. Check `dvid` or use `blq="m3"`',
    )
    nonfinite = (
        "nonfinite",
        "the likelihood was not finite at any start. Check the data (DV > 0 for a "
        "log-scale error model) and the model's initial values",
    )

    @property
    def is_converged(self) -> bool:
        """Whether estimates are a converged optimum (possibly on a bound)."""
        return self in (FitStatus.converged, FitStatus.at_bound)

    @property
    def message(self) -> str:
        """The text shown to the user: the remedy, or for ``converged`` what it means."""
        return self.description


@dataclass(frozen=True)
class SubjectFit:
    """Result of :func:`fit_subject` for one subject (natural-scale values by name).

    Attributes
    ----------
    id : str
    status : FitStatus
    message : str
        Status remedy plus specific notes (parameters at bounds, not identified).
    blq : str
        Censoring method used.
    prior : str
        ``"none"`` (maximum likelihood) or ``"population"`` (MAP).
    estimate, se, lower, upper : dict of str to float
        Per parameter (structural, plus sigmas when estimated); SE by the delta method on
        the natural scale; ``lower``/``upper`` the confidence interval.
    ci_method : dict of str to str
        ``"wald"`` (Hessian, back-transformed) or ``"profile"`` (profile likelihood) or
        ``"none"``.
    at_bound, identifiable : dict of str to bool
    notes : dict of str to str
        Why a parameter is flagged (empty string when it is not).
    objective : float
        ``-2 log L`` (``- 2 log prior`` added for MAP) at the estimate.
    n_obs, n_censored, n_discarded : int
    n_starts, n_starts_agree : int
        Starts run, and how many reached the best objective (within 0.01).
    ipred : ndarray
        Individual prediction at each observation.
    pred : ndarray
        Typical prediction (``eta = 0``, with covariates) at each observation.
    """

    id: str
    status: FitStatus
    message: str
    blq: str
    prior: str
    estimate: dict[str, float]
    se: dict[str, float]
    lower: dict[str, float]
    upper: dict[str, float]
    ci_method: dict[str, str]
    at_bound: dict[str, bool]
    identifiable: dict[str, bool]
    notes: dict[str, str]
    objective: float
    n_obs: int
    n_censored: int
    n_discarded: int
    n_starts: int
    n_starts_agree: int
    ipred: np.ndarray
    pred: np.ndarray

    @property
    def converged(self) -> bool:
        """Whether the fit converged (see :attr:`FitStatus.is_converged`)."""
        return self.status.is_converged


# ---------------------------------------------------------------------------------------
# many subjects


@dataclass(frozen=True)
class IndividualFit:
    """Per-subject fits of one model to one dataset, with tidy tables and plots.

    Attributes
    ----------
    model : Model
        The declaration fitted.
    subjects : list of SubjectData
        Inputs, in dataset order.
    fits : list of SubjectFit
        Results, same order.
    blq : str
        Censoring method (recorded in every table).
    prior : str
        ``"none"`` (maximum likelihood) or ``"population"`` (MAP).
    sigma : str
        ``"fixed"`` or ``"estimate"``.
    seed : int or None
        Master seed of the multi-start and of the simulated residuals.
    """

    model: Model
    subjects: list[SubjectData]
    fits: list[SubjectFit]
    blq: str
    prior: str
    sigma: str
    seed: int | None

    @property
    def converged(self) -> bool:
        """Whether every subject's fit converged."""
        return all(f.converged for f in self.fits)

    @property
    def status(self) -> pd.DataFrame:
        """One row per subject: ``ID, status, converged, message``."""
        return pd.DataFrame(
            {
                "ID": [f.id for f in self.fits],
                "status": [f.status.name for f in self.fits],
                "converged": [f.converged for f in self.fits],
                "message": [f.message for f in self.fits],
            }
        )

    @property
    def parameters(self) -> pd.DataFrame:
        """Long table, one row per subject and parameter.

        Columns ``ID, parameter, estimate, se, lower, upper, unit, transform, ci_method,
        at_bound, identifiable, note, converged, status, message, blq, prior, sigma``.
        Natural scale; ``se`` by the delta method (NaN where the CI is a profile).
        """
        units = {t.name: t.unit for t in self.model.thetas.values()}
        trs = {t.name: t.transform for t in self.model.thetas.values()}
        rows = []
        for f in self.fits:
            for n in f.estimate:
                rows.append(
                    {
                        "ID": f.id,
                        "parameter": n,
                        "estimate": f.estimate[n],
                        "se": f.se[n],
                        "lower": f.lower[n],
                        "upper": f.upper[n],
                        "unit": units.get(n, "1"),
                        "transform": trs.get(n, "log"),
                        "ci_method": f.ci_method[n],
                        "at_bound": f.at_bound[n],
                        "identifiable": f.identifiable[n],
                        "note": f.notes[n],
                        "converged": f.converged,
                        "status": f.status.name,
                        "message": f.message,
                        "blq": f.blq,
                        "prior": f.prior,
                        "sigma": self.sigma,
                    }
                )
        return pd.DataFrame(rows)

    def table(self) -> pd.DataFrame:
        """Wide table, exactly one row per subject.

        Columns: ``ID``; one per structural parameter by its model name (estimate); then
        ``<name>_lower``, ``<name>_upper``; ``converged``; then ``status, blq, prior,
        sigma, objective, n_obs, n_censored, n_discarded, n_starts, n_starts_agree``, the
        estimated sigmas (``sigma_estimate`` for one named ``sigma``: ``sigma`` is the
        option column), ``<name>_se``, ``<name>_identifiable``, ``<name>_at_bound`` and
        ``message``.
        """
        names = list(self.model.thetas)
        sig = list(dict.fromkeys(n for f in self.fits for n in f.estimate if n not in names))
        rows = []
        for f in self.fits:
            r: dict[str, Any] = {"ID": f.id}
            r.update({n: f.estimate.get(n, math.nan) for n in names})
            for n in names:
                r[f"{n}_lower"] = f.lower.get(n, math.nan)
                r[f"{n}_upper"] = f.upper.get(n, math.nan)
            r.update(converged=f.converged, status=f.status.name, blq=f.blq, prior=f.prior)
            r.update(sigma=self.sigma, **{k: getattr(f, k) for k in _RUN_COLUMNS})
            # an estimated sigma named like a column already there (the error model's
            # `sigma` vs the `sigma` option column) is written as `<name>_estimate`
            r.update({_sigma_column(n): f.estimate.get(n, math.nan) for n in sig})
            for suffix, values, missing in (
                ("se", f.se, math.nan),
                ("identifiable", f.identifiable, False),
                ("at_bound", f.at_bound, False),
            ):
                r.update({f"{n}_{suffix}": values.get(n, missing) for n in names})
            r["message"] = f.message
            rows.append(r)
        return pd.DataFrame(rows)

    @property
    def predictions(self) -> pd.DataFrame:
        """One row per observation.

        Columns ``ROW, ID, TIME, DV, CENS, LLOQ, DVID, PRED, IPRED, IWRES, IWRES_SIM, USED,
        BLQ``. ``PRED`` is the typical prediction (``eta = 0``, covariates applied),
        ``IPRED`` the individual one. ``IWRES = (DV - IPRED) / SD`` on the residual's scale
        (log scale for ``log_additive``); it is NaN for censored records (``CENS != 0``),
        whose ``IWRES_SIM`` instead holds a residual drawn (seeded by ``(seed, ID)``) from
        the standard normal truncated to the censored side of the limit, as for NPDE with
        censoring; for quantified records ``IWRES_SIM == IWRES``. ``USED`` is False for
        records that ``blq="m1"`` discarded.
        """
        from scipy.special import ndtr, ndtri

        frames = []
        for s, f in zip(self.subjects, self.fits, strict=True):
            iw = np.full(s.n_obs, np.nan)
            sim = np.full(s.n_obs, np.nan)
            rng = np.random.default_rng(
                [1 if self.seed is None else int(self.seed) + 1, zlib.crc32(s.id.encode())]
            )
            u = rng.uniform(size=s.n_obs)
            sig = {k: v for k, v in f.estimate.items() if k not in self.model.thetas}
            for name, err in self.model.error.items():
                m = s.output == name
                if not m.any():
                    continue
                c = s.cens[m]
                lo, hi = censoring_interval(s.dv[m], c, s.other_bound[m])
                with np.errstate(all="ignore"):
                    sd = np.asarray(err.sd(np, f.ipred[m], sig or None), dtype=float)
                    z = _standardise(err, s.dv[m], f.ipred[m], sd)
                    p_lo = ndtr(_standardise(err, lo, f.ipred[m], sd))  # the censored interval
                    p_hi = ndtr(_standardise(err, hi, f.ipred[m], sd))
                iw[m] = np.where(c == 0, z, np.nan)
                draw = p_lo + u[m] * (p_hi - p_lo)
                with np.errstate(all="ignore"):
                    sim[m] = np.where(c == 0, z, ndtri(np.clip(draw, 1e-300, 1 - 1e-16)))
            used = np.ones(s.n_obs, bool) if f.blq != "m1" else s.cens == 0
            frames.append(
                pd.DataFrame(
                    {
                        "ROW": s.rows,
                        "ID": s.id,
                        "TIME": s.time,
                        "DV": s.dv,
                        "CENS": s.cens,
                        "LLOQ": s.lloq,
                        "DVID": s.dvid,
                        "PRED": f.pred,
                        "IPRED": f.ipred,
                        "IWRES": iw,
                        "IWRES_SIM": sim,
                        "USED": used,
                        "BLQ": f.blq,
                    }
                )
            )
        cols = [
            "ROW",
            "ID",
            "TIME",
            "DV",
            "CENS",
            "LLOQ",
            "DVID",
            "PRED",
            "IPRED",
            "IWRES",
            "IWRES_SIM",
            "USED",
            "BLQ",
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)

    @property
    def excluded(self) -> pd.DataFrame:
        """Records not used by the likelihood: ``ROW, ID, code, reason`` (``blq="m1"`` only)."""
        rows = []
        for s, f in zip(self.subjects, self.fits, strict=True):
            if f.blq != "m1":
                continue
            for r in s.rows[s.cens != 0]:
                rows.append(
                    {
                        "ROW": int(r),
                        "ID": s.id,
                        "code": "blq_m1",
                        "reason": "censored record discarded by blq='m1' (Beal M1)",
                    }
                )
        return pd.DataFrame(rows, columns=["ROW", "ID", "code", "reason"])

    def plot_fits(self, path: str | Path, *, ncols: int = 4) -> Path:
        """Individual fits: observations, censored points at the LLOQ (open triangles),
        IPRED (line) and PRED (dashed), one panel per subject; saved to ``path``."""
        from cartpk.fit._plots import plot_fits

        return plot_fits(self, path, ncols=ncols)

    def plot_residuals(self, path: str | Path) -> Path:
        """IWRES vs TIME and vs IPRED (censored records: simulated residuals, open)."""
        from cartpk.fit._plots import plot_residuals

        return plot_residuals(self, path)


#: the objective and counts of each subject's fit in :meth:`IndividualFit.table`, in column
#: order (attributes of :class:`SubjectFit`)
_RUN_COLUMNS = ("objective", "n_obs", "n_censored", "n_discarded", "n_starts", "n_starts_agree")


def _sigma_column(name: str) -> str:
    """Column of an estimated residual-error parameter in :meth:`IndividualFit.table`."""
    return f"{name}_estimate" if name == "sigma" else name
