"""Predictions and simulations from draws of a population fit's parameters.

:class:`PredictiveDraws` turns draws of the population parameters (``mu_<P>`` on the
transformed scale, ``omega_<P>``, residual SDs, covariate coefficients) and of the subjects'
random effects (``eta_<P>``, one column per subject) into individual parameters, predictions
and replicates of the observed design. The Bayesian fit's draws are its posterior
(:class:`cartpk.fit.PopulationFit`); the SAEM fit's are its estimates with the subjects'
conditional distributions (:class:`cartpk.fit.saem.SaemFit`). The VPC, GOF and individual-fit
diagnostics (:mod:`cartpk.diagnostics`) read either through this interface.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from cartpk.fit._population_graph import _individual_transformed, _natural, _predict_draws
from cartpk.model import Model, OdeModel

__all__ = ["PredictiveDraws", "draw_index"]


def draw_index(total: int, n: int | None, *, cycle: bool = False) -> np.ndarray:
    """Indices of ``n`` of ``total`` draws, evenly spaced; every draw with ``None``. Asking
    for ``total`` or more gives every draw once, or with ``cycle`` ``n`` indices going round
    them again."""
    if n is None or (n >= total and not cycle):
        return np.arange(total)
    if n >= total:
        return np.resize(np.arange(total), n)
    return np.linspace(0, total - 1, n).round().astype(int)


class PredictiveDraws:
    """Individual parameters, predictions and simulated replicates from parameter draws.

    A subclass provides ``model``, ``subjects``, ``observations`` (``ROW, ID, TIME, DV, CENS,
    LLOQ, LIMIT, DVID, SUBJ``), ``covariates`` (one row per subject), ``dose`` (per subject)
    and :meth:`draws`.
    """

    model: Model
    subjects: list[str]
    observations: pd.DataFrame
    covariates: pd.DataFrame
    dose: np.ndarray

    def draws(self, n: int | None = None) -> dict[str, np.ndarray]:  # pragma: no cover
        """Parameter draws ``{name: (n_draws, ...)}`` (``eta_<P>``: ``(n_draws, n_subjects)``)."""
        raise NotImplementedError

    def _mu(self, d: Mapping[str, np.ndarray]) -> dict[str, Any]:
        m = self.model
        out: dict[str, Any] = {}
        for t in m.thetas.values():
            if f"mu_{t.name}" in d:
                out[t.name] = d[f"mu_{t.name}"][:, None]
            else:
                out[t.name] = float(m.to_transformed({t.name: t.value})[t.name])
        return out

    def _value(self, d: Mapping[str, np.ndarray], name: str) -> Any:
        if name in d:
            return d[name][:, None]
        return self.model.initial_values()[name]

    def individual_draws(
        self,
        n: int | None = 200,
        *,
        eta: Literal["posterior", "zero", "new"] = "posterior",
        seed: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Individual structural parameters per draw and subject, natural scale.

        Parameters
        ----------
        n : int, optional, default 200
            Number of posterior draws (evenly spaced); all with ``None``.
        eta : {"posterior", "zero", "new"}, default "posterior"
            The subjects' posterior random effects (``IPRED``), none (``PRED``: typical
            subject with its covariates), or new ones drawn from ``N(0, omega^2)`` of each
            draw (simulated new subjects with the same design, for VPCs).
        seed : int, optional
            Seed of the random effects drawn for ``eta="new"``.

        Returns
        -------
        dict of str to numpy.ndarray
            ``{parameter: (n_draws, n_subjects)}``.
        """
        d = self.draws(n)
        m = self.model
        n_draws = next(iter(d.values())).shape[0]
        n_subj = len(self.subjects)
        etas: dict[str, Any] = {}
        rng = np.random.default_rng(seed)
        for name in m.iiv.names:
            if eta == "posterior":
                etas[name] = d[f"eta_{name}"]
            elif eta == "new":
                om = self._value(d, f"omega_{name}")
                etas[name] = om * rng.standard_normal((n_draws, n_subj))
        coefs = {c: self._value(d, c) for eff in m.covariates for c in eff.coefficients}
        h = _individual_transformed(np, m, self._mu(d), etas, coefs, self.covariates)
        return {
            k: np.broadcast_to(np.asarray(v, dtype=float), (n_draws, n_subj)).copy()
            for k, v in _natural(np, m, h).items()
        }

    def predict(
        self,
        times: Sequence[float] | np.ndarray | None = None,
        *,
        n: int | None = 200,
        eta: Literal["posterior", "zero", "new"] = "posterior",
        seed: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Model predictions per posterior draw (no residual error).

        Parameters
        ----------
        times : array, optional
            Days after infusion. Default: the records used in the fit (one column per
            record of :attr:`observations`); otherwise the same grid for every subject.
        n, eta, seed
            As for :meth:`individual_draws`.

        Returns
        -------
        dict of str to numpy.ndarray
            ``{DVID: (n_draws, n_records)}``, or ``(n_draws, n_subjects, n_times)`` for a grid.
        """
        ind = self.individual_draws(n, eta=eta, seed=seed)
        if isinstance(self.model, OdeModel):
            if times is None:
                subj = self.observations["SUBJ"].to_numpy()
                t_obs = self.observations["TIME"].to_numpy(dtype=float)
                grid = np.unique(t_obs)
                col = np.searchsorted(grid, t_obs)
                out = _predict_draws(self.model, ind, grid, self.dose)
                return {k: v[:, subj, col] for k, v in out.items()}
            return _predict_draws(self.model, ind, np.asarray(times, dtype=float), self.dose)
        if times is None:
            subj = self.observations["SUBJ"].to_numpy()
            params = {k: v[:, subj] for k, v in ind.items()}
            t = self.observations["TIME"].to_numpy(dtype=float)
            with np.errstate(over="ignore", under="ignore"):
                out = self.model.evaluate(np, t, params, dose=self.dose[subj])
            return {k: np.asarray(v, dtype=float) for k, v in out.items()}
        t = np.asarray(times, dtype=float)
        params = {k: v[:, :, None] for k, v in ind.items()}
        with np.errstate(over="ignore", under="ignore"):
            out = self.model.evaluate(np, t, params, dose=self.dose[None, :, None])
        shape = next(iter(ind.values())).shape + (t.size,)
        return {k: np.broadcast_to(np.asarray(v, dtype=float), shape) for k, v in out.items()}

    def simulate(
        self,
        n: int = 200,
        *,
        seed: int | None = None,
        new_subjects: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Replicate the observed design from the posterior (posterior predictive).

        Each replicate uses one posterior draw: new random effects (``new_subjects=True``,
        for VPCs) or the subjects' own, residual error from the declaration, and the
        records' censoring limits applied exactly as the data were censored.

        Parameters
        ----------
        n : int, default 200
            Number of replicates (posterior draws, evenly spaced).
        seed : int, optional
            Seed for random effects and residual errors.
        new_subjects : bool, default True
            Draw new random effects instead of using the subjects' posterior ones.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            Simulated ``DV`` and ``CENS`` (1 where below the record's lower limit, -1 where
            above the upper limit of a record censored above one, ``CENS=-1``), each
            ``(n, n_records)`` aligned with :attr:`observations`. Censored values hold the
            limit, as in the data.
        """
        rng = np.random.default_rng(seed)
        pred = self.predict(
            n=n, eta="new" if new_subjects else "posterior", seed=int(rng.integers(2**31))
        )
        d = self.draws(n)
        obs = self.observations
        dvids = obs["DVID"].to_numpy()
        lloq = obs["LLOQ"].to_numpy(dtype=float)
        limit = np.where(
            np.isfinite(lloq),
            lloq,
            np.where(obs["CENS"].to_numpy() == 1, obs["DV"].to_numpy(dtype=float), np.nan),
        )
        n_rep = next(iter(pred.values())).shape[0]
        sim = np.full((n_rep, len(obs)), np.nan)
        for dv in self.model.outputs:
            rows = np.flatnonzero(dvids == dv)
            if rows.size == 0:
                continue
            em = self.model.error[dv]
            values = {s: self._value(d, s) for s in em.names}
            sim[:, rows] = em.sample(rng, pred[dv][:, rows], values)
        # an upper limit is known where the data were censored above one (DV holds it)
        upper = np.where(obs["CENS"].to_numpy() == -1, obs["DV"].to_numpy(dtype=float), np.nan)
        cens = np.where(np.isfinite(limit) & (sim < limit), 1, 0)
        cens = np.where(np.isfinite(upper) & (sim > upper), -1, cens)
        sim = np.where(cens == 1, limit, np.where(cens == -1, upper, sim))
        return sim, cens
