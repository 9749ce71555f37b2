"""Conditional resampling of random effects that NUTS leaves unmixed.

A subject whose data fit two different shapes of curve (a high peak that falls fast, or a
low one that falls slowly, between the same two samples) has a posterior for its random
effects with two separated modes. NUTS moves between them rarely, so the subject's
``eta`` keeps an R-hat above 1.01 however many chains are pooled, while every other
variable has converged (issue 17; ``docs/population_convergence.md``).

The random effects of one subject are conditionally independent of every other subject's
given the population-level variables ``theta`` (typical values, IIV SDs, covariate
effects, residual error). So a Metropolis-Hastings kernel that targets
``p(eta_i | theta, y_i)`` leaves the joint posterior invariant, and applying it to each
pooled draw - a Gibbs step for ``eta_i`` appended to every NUTS transition - is a valid
MCMC move (Robert & Casella, *Monte Carlo Statistical Methods*, 2nd ed., 2004, §10.3.3:
hybrid Gibbs samplers). The kernel is an independence sampler whose proposal is a
two-part mixture: the subject's random-effect prior ``N(0, omega^2)`` at the draw's
``omega`` (every mode the prior allows, whatever the chains found) and a Student-t
(4 degrees of freedom) centred at the conditional mode at the median draw, with twice the
spread of its Laplace approximation plus the pooled draws' covariance (the modes the
chains did find). It is run for :data:`STEPS` steps per draw, vectorised over
draws, only for subjects whose random effects miss a convergence threshold; the
population-level draws are not changed. The fit records which subjects were resampled
and each one's acceptance rate (``summary["resampled"]``).

Only closed-form models: an ODE model would need one integration per proposal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.fit._likelihood import loglik
from cartpk.fit._population_graph import _Design, _individual_transformed, _natural
from cartpk.model import Model, OdeModel

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.fit._convergence import ConvergenceThresholds

__all__ = ["STEPS", "SubjectResampler"]

STEPS = 40  # independence-sampler steps per draw and subject
_T_DF = 4.0  # degrees of freedom of the proposal's Student-t part
_SPREAD = 2.0  # the Student-t part's scale: this many times (Laplace + draws' covariance)


@dataclass(frozen=True)
class SubjectResampler:
    """Resamples the random effects of unmixed subjects of a closed-form population fit.

    Parameters
    ----------
    model : Model
        The declaration that was fitted (closed form).
    design : _Design
        The fit's records, doses and covariates (subject order = the posterior's).
    const : mapping of str to float
        Values of fixed non-structural parameters (``omega_``, ``sigma``, coefficients).
    seed : int
        Seed of the kernel; each call derives its own stream from it and ``call``.
    """

    model: Model
    design: _Design
    const: Mapping[str, float]
    seed: int

    @staticmethod
    def applies(model: Model) -> bool:
        """Whether the kernel can serve ``model`` (closed form, with random effects)."""
        return not isinstance(model, OdeModel) and bool(model.iiv.names)

    def unmixed(self, posterior: Any, thresholds: ConvergenceThresholds) -> list[int]:
        """Subjects (0-based) any of whose random effects misses R-hat or an ESS threshold."""
        import arviz as az

        names = [f"eta_{n}" for n in self.model.iiv.names if f"eta_{n}" in posterior]
        if not names:
            return []
        sub = posterior[names]
        bad = np.zeros(len(self.design.subjects), dtype=bool)
        rh, eb, et = (
            az.rhat(sub, method="rank"),
            *(az.ess(sub, method=m) for m in ("bulk", "tail")),
        )
        for n in names:
            bad |= np.asarray(rh[n].values) > thresholds.rhat_max
            bad |= np.asarray(eb[n].values) < thresholds.ess_bulk_min
            bad |= np.asarray(et[n].values) < thresholds.ess_tail_min
        return [int(i) for i in np.flatnonzero(bad)]

    def __call__(self, posterior: Any, subjects: list[int], call: int = 0) -> dict[str, Any]:
        """Apply :data:`STEPS` kernel steps to every draw of each subject in ``subjects``.

        ``posterior`` (an xarray Dataset with ``chain, draw`` and ``subject`` dimensions) is
        changed in place: only ``eta_<P>[subject]`` of the listed subjects. Returns
        ``{subject id: acceptance rate}``.
        """
        values = _draw_values(posterior, self._population_names(posterior))
        rates: dict[str, Any] = {}
        for i in subjects:
            rng = np.random.default_rng([self.seed, call, i])
            eta = np.stack(
                [_flat(posterior[f"eta_{n}"].values[..., i]) for n in self.model.iiv.names],
                axis=1,
            )
            new, rate = self._resample(values, i, eta, rng)
            shape = posterior[f"eta_{self.model.iiv.names[0]}"].values.shape[:2]
            for k, n in enumerate(self.model.iiv.names):
                posterior[f"eta_{n}"].values[..., i] = new[:, k].reshape(shape)
            rates[self.design.subjects[i]] = round(rate, 3)
        return rates

    def _population_names(self, posterior: Any) -> list[str]:
        m = self.model
        names = [f"mu_{n}" for n, t in m.thetas.items() if not t.fixed]
        names += [f"omega_{n}" for n in m.iiv.names]
        names += [c for eff in m.covariates for c in eff.coefficients]
        names += [s for dv in self.design.outputs for s in m.error[dv].names]
        return [n for n in names if n in posterior]

    def _omega(self, values: Mapping[str, np.ndarray], n_draws: int) -> np.ndarray:
        cols = [
            np.broadcast_to(values.get(f"omega_{n}", self.const.get(f"omega_{n}")), (n_draws,))
            for n in self.model.iiv.names
        ]
        return np.stack(cols, axis=1).astype(float)

    def _resample(
        self,
        values: Mapping[str, np.ndarray],
        i: int,
        eta: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, float]:
        n_draws, q = eta.shape
        omega = self._omega(values, n_draws)
        target = self._target(values, i)
        lp_cur = target(eta)
        loc, laplace = self._laplace(values, i, eta[int(np.argmax(lp_cur))], eta.mean(axis=0))
        cov = _SPREAD**2 * (laplace + np.atleast_2d(np.cov(eta, rowvar=False)))
        proposal = _Proposal(loc, np.linalg.cholesky(cov), omega)
        cur, lq_cur = eta.copy(), proposal.logpdf(eta)
        accepted = 0
        for _ in range(STEPS):
            prop = proposal.draw(rng)
            lp, lq = target(prop), proposal.logpdf(prop)
            with np.errstate(invalid="ignore"):
                take = np.log(rng.uniform(size=n_draws)) < (lp - lp_cur) + (lq_cur - lq)
            take &= np.isfinite(lp)
            cur[take], lp_cur[take], lq_cur[take] = prop[take], lp[take], lq[take]
            accepted += int(take.sum())
        return cur, accepted / (STEPS * n_draws)

    def _laplace(
        self, values: Mapping[str, np.ndarray], i: int, best: np.ndarray, mean: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mode and inverse Hessian of ``eta``'s conditional posterior at the median draw.

        The mode is searched from the draws' mean and from the draw of highest density
        (``best``); the curvature by central differences. Where it is not positive definite
        the random effects' prior variance stands in.
        """
        from scipy.optimize import minimize

        median = {k: np.median(v, keepdims=True) for k, v in values.items()}
        target = self._target(median, i)
        omega2 = self._omega(median, 1)[0] ** 2
        starts = [mean, best]
        fits = [
            minimize(lambda x: -float(target(x[None, :])[0]), x0, method="Nelder-Mead")
            for x0 in starts
        ]
        mode = min(fits, key=lambda r: r.fun).x
        h = _hessian(lambda x: target(x)[..., None], mode, 1e-3 * np.sqrt(omega2))
        try:
            cov = np.linalg.inv(-h)
            np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            cov = np.diag(omega2)
        return mode, cov

    def _target(self, values: Mapping[str, np.ndarray], i: int) -> Any:
        """``log p(y_i | theta, eta) + log N(eta; 0, omega)`` for ``eta`` of shape (draws, q)."""
        m, d = self.model, self.design
        rows = d.obs[d.obs["SUBJ"] == i]
        n_draws = len(next(iter(values.values())))
        omega = self._omega(values, n_draws)
        mu = {
            n: (
                values[f"mu_{n}"][:, None]
                if not t.fixed
                else float(m.to_transformed({n: t.value})[n])
            )
            for n, t in m.thetas.items()
        }
        coefs = {
            c: _column(values, self.const, c) for eff in m.covariates for c in eff.coefficients
        }
        cov = d.covariates.iloc[[i]].reset_index(drop=True)
        time = rows["TIME"].to_numpy(dtype=float)
        shifted = {eff.param for eff in m.covariates}
        terms = [self._records(rows, dv, values) for dv in d.outputs]
        dose = float(d.dose[i])

        def logp(eta: np.ndarray) -> np.ndarray:
            effects = {n: eta[:, [k]] for k, n in enumerate(m.iiv.names)}
            nat = _natural(np, m, _individual_transformed(np, m, mu, effects, coefs, cov))
            for n, t in m.thetas.items():
                if t.fixed and n not in effects and n not in shifted:
                    nat[n] = float(t.value)
            with np.errstate(all="ignore"):
                pred = m.evaluate(np, time[None, :], nat, dose=dose)
                total = -0.5 * np.sum((eta / omega) ** 2, axis=1)
                for dv, sel, kw in terms:
                    f = pred[dv][:, sel]
                    total = total + np.sum(np.broadcast_to(loglik(np, pred=f, **kw), f.shape), 1)
            return np.where(np.isnan(total), -np.inf, total)

        return logp

    def _records(
        self, rows: Any, dv: str, values: Mapping[str, np.ndarray]
    ) -> tuple[str, np.ndarray, dict[str, Any]]:
        """One output's records of the subject: which columns, and :func:`loglik`'s data."""
        sel = (rows["DVID"] == dv).to_numpy()
        error = self.model.error[dv]
        cens = rows["CENS"].to_numpy(dtype=int)[sel]
        limit = rows["LIMIT"].to_numpy(dtype=float)[sel]
        interval = bool(np.any(np.isfinite(limit) & (cens != 0)))
        return (
            dv,
            sel,
            dict(
                dv=rows["DV"].to_numpy(dtype=float)[sel][None, :],
                cens=cens[None, :],
                error=error,
                sigmas={s: _column(values, self.const, s) for s in error.names},
                blq=self.design.blq,
                limit=limit[None, :] if interval else None,
                kinds=set(np.unique(cens).tolist()),
            ),
        )


@dataclass(frozen=True)
class _Proposal:
    """Mixture: half ``N(0, diag(omega^2))`` per draw, half a Student-t (``loc``, ``chol``)."""

    loc: np.ndarray
    chol: np.ndarray
    omega: np.ndarray  # (draws, q)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        n, q = self.omega.shape
        prior = rng.standard_normal((n, q)) * self.omega
        w = rng.chisquare(_T_DF, size=(n, 1)) / _T_DF
        t = self.loc + (rng.standard_normal((n, q)) @ self.chol.T) / np.sqrt(w)
        return np.where(rng.uniform(size=(n, 1)) < 0.5, prior, t)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        from scipy.special import gammaln

        q = x.shape[1]
        prior = np.sum(-0.5 * (x / self.omega) ** 2 - np.log(self.omega), axis=1)
        prior -= 0.5 * q * np.log(2 * np.pi)
        z = np.linalg.solve(self.chol, (x - self.loc).T).T
        maha = np.sum(z**2, axis=1)
        t = (
            gammaln((_T_DF + q) / 2)
            - gammaln(_T_DF / 2)
            - 0.5 * q * np.log(_T_DF * np.pi)
            - np.sum(np.log(np.diag(self.chol)))
            - 0.5 * (_T_DF + q) * np.log1p(maha / _T_DF)
        )
        return np.logaddexp(prior, t) + np.log(0.5)


def _hessian(f: Any, x: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of a scalar function of a vector (one call for all points)."""
    q = len(x)
    e = np.diag(step)
    pts = [x]
    for a in range(q):
        for b in range(q):
            pts += [x + e[a] + e[b], x + e[a] - e[b], x - e[a] + e[b], x - e[a] - e[b]]
    v = f(np.array(pts)).reshape(-1)
    h = np.empty((q, q))
    for a in range(q):
        for b in range(q):
            k = 1 + 4 * (a * q + b)
            h[a, b] = (v[k] - v[k + 1] - v[k + 2] + v[k + 3]) / (4 * step[a] * step[b])
    return 0.5 * (h + h.T)


def _flat(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=float).reshape(-1)


def _draw_values(posterior: Any, names: list[str]) -> dict[str, np.ndarray]:
    """Each scalar population-level variable's draws, ``(chain * draw,)``."""
    return {n: _flat(posterior[n].values) for n in names}


def _column(values: Mapping[str, np.ndarray], const: Mapping[str, float], name: str) -> Any:
    """A population-level variable as a ``(draws, 1)`` column, or its fixed value."""
    if name in values:
        return values[name][:, None]
    return float(const[name])
