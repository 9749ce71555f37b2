"""After SAEM: conditional distributions, -2LL by importance sampling, standard errors, EBEs.

* **Conditional distributions.** The E-step's kernels run on at the final estimates; the
  draws give each subject's conditional mean and SD of its random effects (and of its
  parameters on the natural scale), as Monolix's "conditional distribution" task.
* **-2LL by importance sampling** (Monolix's method): per subject,
  ``p(y_i) = E_q[p(y_i | phi) p(phi) / q(phi)]`` with ``q`` a Student-t (5 df) at the
  subject's conditional mean and SD; its Monte-Carlo standard error by the delta method
  from the spread of the weights.
* **Standard errors** from the observed Fisher information: the Hessian of the importance
  sampled log-likelihood by central differences with common random numbers (the same
  proposal draws at every evaluation, which makes the estimate a smooth function of the
  parameters), in the estimation parameterisation (typical values and coefficients on the
  transformed scale, ``log omega``, ``log sigma``); the standard errors of reported values
  by the delta method.
* **EBEs**: each subject's conditional mode of its random effects (L-BFGS on the separable
  sum, gradients by central differences), and eta-shrinkage from them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from scipy.special import gammaln, logsumexp

from cartpk.fit._saem import SaemSettings, SaemState, _Sampler, run_saem
from cartpk.fit._saem_problem import SaemProblem

__all__ = [
    "Conditional",
    "Maximum",
    "conditional",
    "ebe_modes",
    "fisher",
    "importance_loglik",
    "maximum",
]

_T_DF = 5.0


@dataclass(frozen=True)
class Conditional:
    """Each subject's conditional distribution of its random-effect parameters.

    ``mean``/``sd``: ``(n, q)`` on the transformed scale (columns :attr:`SaemProblem.iiv`);
    ``natural``: per parameter ``(draws, n)`` on the natural scale; ``draws``:
    ``(draws, n, q)`` on the transformed scale.
    """

    mean: np.ndarray
    sd: np.ndarray
    natural: dict[str, np.ndarray]
    draws: np.ndarray


def conditional(
    problem: SaemProblem,
    state: SaemState,
    blq: str,
    rng: np.random.Generator,
    kernels: tuple[int, int, int],
    sweeps: int = 200,
) -> Conditional:
    """Run the E-step kernels (steps ``kernels``, as SAEM's) ``sweeps`` times at the final
    estimates and keep the draws."""
    rec = problem.records(state.phi.shape[0] // problem.n)
    sampler = _Sampler(problem, rec, blq, rng)
    cols = [problem.free.index(p) for p in problem.iiv]
    keep: list[np.ndarray] = []
    for k in range(sweeps + 50):
        sampler.sweep(state, kernels)
        if k >= 50:  # the kernels' scales settle at the final estimates first
            keep.append(state.phi.reshape(-1, problem.n, len(problem.free)).copy())
    phi = np.concatenate(keep, axis=0)  # (draws, n, free)
    values = problem.natural(phi.reshape(-1, len(problem.free)))
    draws = phi[:, :, cols]
    return Conditional(
        mean=draws.mean(axis=0),
        sd=draws.std(axis=0),
        natural={p: values[p].reshape(-1, problem.n) for p in problem.free},
        draws=draws,
    )


class Maximum(NamedTuple):
    """SAEM's estimates with their conditional distributions and -2LL (see :func:`maximum`)."""

    state: SaemState
    info: dict[str, Any]
    cond: Conditional
    loglik: float
    mc_se: float
    rng: np.random.Generator  # goes on to draw the Fisher information's samples
    loglik_s: float


def maximum(
    problem: SaemProblem,
    settings: SaemSettings,
    blq: str,
    is_samples: int,
    progress: Callable[[int, int], None] | None = None,
) -> Maximum:
    """Run SAEM, then the conditional distributions at the estimates and the importance-
    sampled log-likelihood (draws from ``default_rng([seed, 1])``)."""
    state, info = run_saem(problem, settings, blq=blq, progress=progress)
    rng = np.random.default_rng([settings.seed, 1])
    t0 = time.perf_counter()
    cond = conditional(problem, state, blq, rng, settings.kernels)
    draws = _Draws.make(int(is_samples), problem.n, len(problem.iiv), rng)
    ll, _, mc = importance_loglik(problem, state, cond, draws, blq)
    return Maximum(state, info, cond, ll, mc, rng, time.perf_counter() - t0)


@dataclass(frozen=True)
class _Draws:
    """Fixed proposal draws (common random numbers): ``t`` of shape ``(M, n, q)``."""

    t: np.ndarray
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def make(cls, m: int, n: int, q: int, rng: np.random.Generator) -> _Draws:
        z = rng.standard_normal((m, n, q))
        w = rng.chisquare(_T_DF, size=(m, n, 1)) / _T_DF
        return cls(z / np.sqrt(w))

    def log_density(self) -> np.ndarray:
        """``log t_5`` of each standardised draw, summed over components: ``(M, n)``
        (computed once: the draws are fixed)."""
        if "log_density" in self._memo:
            return self._memo["log_density"]
        q = self.t.shape[2]
        one = (
            gammaln((_T_DF + 1) / 2)
            - gammaln(_T_DF / 2)
            - 0.5 * math.log(_T_DF * math.pi)
            - (_T_DF + 1) / 2 * np.log1p(self.t**2 / _T_DF)
        )
        value = one.sum(axis=2) if q else np.zeros(self.t.shape[:2])
        self._memo["log_density"] = value
        return value

    def proposal(self, cond: Conditional) -> tuple[np.ndarray, np.ndarray]:
        """The draws on the transformed scale, ``(M, n, q)``, and their proposal log
        density, ``(M, n)``, for the conditional distribution ``cond`` (computed once per
        ``cond``: neither depends on the population parameters)."""
        key = f"proposal-{id(cond)}"
        if key not in self._memo:
            sd = np.maximum(cond.sd, 1e-8)
            phi = cond.mean[None] + sd[None] * self.t
            log_q = self.log_density() - np.sum(np.log(sd), axis=1)[None]
            self._memo[key] = (cond, phi, log_q)  # cond kept: its id stays unique
        _, phi, log_q = self._memo[key]
        return phi, log_q


def _proposal_phi(
    problem: SaemProblem, state: SaemState, cond: Conditional, draws: _Draws
) -> np.ndarray:
    """The proposal draws as ``phi`` of ``M`` stacked copies of the subjects."""
    m, n, q = draws.t.shape
    phi = np.tile(problem.mean(state.beta), (m, 1))
    if q:
        cols = [problem.free.index(p) for p in problem.iiv]
        phi[:, cols] = draws.proposal(cond)[0].reshape(m * n, q)
    return phi


def observation_part(
    problem: SaemProblem, state: SaemState, cond: Conditional, draws: _Draws, blq: str
) -> np.ndarray:
    """``log p(y_i | phi_m)`` of every proposal draw: ``(M, n)``. Depends on the population
    parameters only through those without random effects and the residual error."""
    m = draws.t.shape[0]
    phi = _proposal_phi(problem, state, cond, draws)
    return problem.obs_loglik(phi, state.sigma, problem.records(m), blq).reshape(m, problem.n)


def importance_loglik(
    problem: SaemProblem,
    state: SaemState,
    cond: Conditional,
    draws: _Draws,
    blq: str,
    obs: np.ndarray | None = None,
) -> tuple[float, np.ndarray, float]:
    """``log p(y)`` by importance sampling: the total, per subject, and its MC standard error.

    ``obs``: :func:`observation_part` at ``state`` when already known.
    """
    m, n, q = draws.t.shape
    if obs is None:
        obs = observation_part(problem, state, cond, draws, blq)
    if not q:
        per = obs[0]
        return float(per.sum()), per, 0.0
    cols = [problem.free.index(p) for p in problem.iiv]
    mean = problem.mean(state.beta)
    phi_iiv, log_q = draws.proposal(cond)
    om2 = np.array([state.omega2[p] for p in problem.iiv])
    x = phi_iiv - mean[None][:, :, cols]
    log_prior = -0.5 * np.sum(x**2 / om2 + np.log(2 * np.pi * om2), axis=2)
    log_w = obs + log_prior - log_q
    per = logsumexp(log_w, axis=0) - math.log(m)
    w = np.exp(log_w - per[None])  # weights relative to their mean
    var = np.var(w, axis=0) / m  # of the mean of the relative weights (delta method)
    return float(per.sum()), per, float(math.sqrt(np.sum(var)))


# ---------------------------------------------------------------------------------------
# the estimation parameterisation psi, and the observed Fisher information


def psi_names(problem: SaemProblem) -> list[str]:
    """Names of the estimated parameters in ``psi`` order (``mu_<p>``, coefficients,
    ``omega_<p>``, sigmas)."""
    names: list[str] = []
    for p in problem.free:
        names.append(f"mu_{p}")
        names.extend(problem.coefs[p])
    names += [f"omega_{p}" for p in problem.iiv if p not in problem.omega_fixed]
    names += [s for s in problem.error_params if s not in problem.sigma_fixed]
    return names


def to_psi(problem: SaemProblem, state: SaemState) -> np.ndarray:
    """``psi``: typical values and coefficients (transformed), log omega, log sigma."""
    out: list[float] = []
    for p in problem.free:
        out.extend(float(v) for v in state.beta[p])
    out += [0.5 * math.log(state.omega2[p]) for p in problem.iiv if p not in problem.omega_fixed]
    out += [math.log(state.sigma[s]) for s in problem.error_params if s not in problem.sigma_fixed]
    return np.array(out)


def from_psi(problem: SaemProblem, state: SaemState, psi: np.ndarray) -> SaemState:
    """A copy of ``state`` with the population parameters of ``psi``."""
    beta, k = {}, 0
    for p in problem.free:
        size = len(state.beta[p])
        beta[p] = np.array(psi[k : k + size])
        k += size
    omega2 = dict(state.omega2)
    for p in problem.iiv:
        if p not in problem.omega_fixed:
            omega2[p] = math.exp(2 * psi[k])
            k += 1
    sigma = dict(state.sigma)
    for s in problem.error_params:
        if s not in problem.sigma_fixed:
            sigma[s] = math.exp(psi[k])
            k += 1
    return SaemState(beta=beta, omega2=omega2, sigma=sigma, phi=state.phi)


def fisher(
    problem: SaemProblem,
    state: SaemState,
    cond: Conditional,
    draws: _Draws,
    blq: str,
    step: float = 1e-3,
) -> np.ndarray:
    """Observed Fisher information in ``psi``: minus the central-difference Hessian of the
    importance-sampled log-likelihood (common random numbers)."""
    psi = to_psi(problem, state)
    k = len(psi)
    h = step * np.maximum(1.0, np.abs(psi))
    e = np.eye(k)
    up = [psi + h[a] * e[a] for a in range(k)]
    down = [psi - h[a] * e[a] for a in range(k)]
    # the forward and the backward difference of each pair averaged: second-order accurate
    # like the four-point formula, with two evaluations per pair (the one-axis steps are
    # shared with the diagonal)
    pairs = [(a, b) for a in range(k) for b in range(a)]
    fwd = [psi + h[a] * e[a] + h[b] * e[b] for a, b in pairs]
    bwd = [psi - h[a] * e[a] - h[b] * e[b] for a, b in pairs]
    values = iter(_stencil_loglik(problem, state, cond, draws, blq, [psi, *up, *down, *fwd, *bwd]))
    f0 = next(values)
    f_up = [next(values) for _ in range(k)]
    f_down = [next(values) for _ in range(k)]
    f_fwd = [next(values) for _ in pairs]
    f_bwd = [next(values) for _ in pairs]
    hess = np.empty((k, k))
    for a in range(k):
        hess[a, a] = (f_up[a] - 2 * f0 + f_down[a]) / h[a] ** 2
    for (a, b), fw, bw in zip(pairs, f_fwd, f_bwd, strict=True):
        num = (fw - f_up[a] - f_up[b] + f0) + (bw - f_down[a] - f_down[b] + f0)
        hess[a, b] = hess[b, a] = num / (2 * h[a] * h[b])
    return -hess


def _stencil_loglik(
    problem: SaemProblem,
    state: SaemState,
    cond: Conditional,
    draws: _Draws,
    blq: str,
    points: list[np.ndarray],
) -> list[float]:
    """The importance-sampled log-likelihood at each ``psi`` of ``points``.

    The observation part depends only on the parameters without random effects (through the
    predictions) and on the residual error: the predictions are computed once per distinct
    value of the former and the observation part once per distinct value of both; most
    points reuse them.
    """
    names = psi_names(problem)
    pred_at = _coordinates(names, _prediction_names(problem))
    obs_at = _coordinates(names, _prediction_names(problem) | set(problem.error_params))
    m = draws.t.shape[0]
    rec = problem.records(m)
    groups: dict[bytes, list[int]] = {}
    for i, x in enumerate(points):
        groups.setdefault(x[pred_at].tobytes(), []).append(i)
    out = [math.nan] * len(points)
    for members in groups.values():
        first = from_psi(problem, state, points[members[0]])
        pred = problem.predictions(_proposal_phi(problem, first, cond, draws), rec)
        obs: dict[bytes, np.ndarray] = {}
        for i in members:
            st = from_psi(problem, state, points[i])
            key = points[i][obs_at].tobytes()
            if key not in obs:
                obs[key] = problem.loglik_of(pred, st.sigma, rec, blq).reshape(m, problem.n)
            out[i] = importance_loglik(problem, st, cond, draws, blq, obs=obs[key])[0]
    return out


def _prediction_names(problem: SaemProblem) -> set[str]:
    """Names in ``psi`` that the predictions of fixed proposal draws depend on: the typical
    values and coefficients of the parameters without random effects."""
    return {f"mu_{p}" for p in problem.noiiv} | {c for p in problem.noiiv for c in problem.coefs[p]}


def _coordinates(names: list[str], chosen: set[str]) -> np.ndarray:
    """Indices in ``psi`` (``names``) of the ``chosen`` names."""
    return np.array([k for k, n in enumerate(names) if n in chosen], dtype=int)


def ebe_modes(problem: SaemProblem, state: SaemState, cond: Conditional, blq: str) -> np.ndarray:
    """Each subject's conditional mode of its random-effect parameters: ``(n, q)``."""
    from scipy.optimize import minimize

    n, q = cond.mean.shape
    if not q:
        return cond.mean
    mean = problem.mean(state.beta)
    cols = [problem.free.index(p) for p in problem.iiv]
    om2 = np.array([state.omega2[p] for p in problem.iiv])
    rec = problem.records(1)
    scale = np.sqrt(om2)

    def per_subject(x: np.ndarray) -> np.ndarray:
        phi = mean.copy()
        phi[:, cols] = x
        obs = problem.obs_loglik(phi, state.sigma, rec, blq)
        return obs - 0.5 * np.sum((x - mean[:, cols]) ** 2 / om2, axis=1)

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        x = flat.reshape(n, q)
        f = per_subject(x)
        grad = np.empty((n, q))
        for j in range(q):
            h = 1e-5 * scale[j]
            up, dn = x.copy(), x.copy()
            up[:, j] += h
            dn[:, j] -= h
            grad[:, j] = (per_subject(up) - per_subject(dn)) / (2 * h)
        bad = ~np.isfinite(f)
        f = np.where(bad, -1e10, f)
        grad[bad | ~np.all(np.isfinite(grad), axis=1)] = 0.0
        return -float(f.sum()), -grad.reshape(-1)

    res = minimize(objective, cond.mean.reshape(-1), jac=True, method="L-BFGS-B")
    x = res.x.reshape(n, q)
    better = per_subject(x) >= per_subject(cond.mean)
    return np.where(better[:, None], x, cond.mean)


def shrinkage(problem: SaemProblem, state: SaemState, modes: np.ndarray) -> dict[str, float]:
    """Eta-shrinkage per random effect: ``1 - SD(mode eta) / omega``."""
    mean = problem.mean(state.beta)
    out: dict[str, float] = {}
    for j, p in enumerate(problem.iiv):
        eta = modes[:, j] - mean[:, problem.free.index(p)]
        om = math.sqrt(state.omega2[p])
        out[p] = float(1 - np.std(eta, ddof=1) / om) if len(eta) > 1 and om > 0 else math.nan
    return out


def summary_numbers(ll: float, mc_se: float, k: int, n: int) -> dict[str, Any]:
    """``-2LL``, its MC error, AIC and BIC (BIC with the number of subjects)."""
    m2ll = -2.0 * ll
    return {
        "minus2ll": m2ll,
        "minus2ll_mc_se": 2.0 * mc_se,
        "aic": m2ll + 2 * k,
        "bic": m2ll + k * math.log(n),
        "n_parameters": k,
    }
