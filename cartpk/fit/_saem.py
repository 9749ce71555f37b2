"""SAEM: the stochastic approximation EM algorithm of Monolix, with left-censored data.

Kuhn E, Lavielle M. Maximum likelihood estimation in nonlinear mixed effects models.
Comput Stat Data Anal 2005;49:1020-1038 (the algorithm). Samson A, Lavielle M, Mentré F.
Extension of the SAEM algorithm to left-censored data in nonlinear mixed-effects model:
application to HIV dynamics model. Comput Stat Data Anal 2006;51:1562-1574 (censoring).

Each iteration ``k``:

1. **Simulation (E-step).** For every subject (and chain) a few Metropolis-Hastings steps
   on its random effects with the observed-data likelihood, censored terms included (M3):
   ``m[0]`` independent proposals from ``N(X beta, Omega)``, ``m[1]`` joint random-walk
   steps and ``m[2]`` sweeps of one-component random walks, the walks' scales adapted to an
   acceptance of 0.3 (Monolix's three kernels). Then every censored observation is drawn
   from its error distribution truncated at its limit (Samson et al.), which completes the
   data.
2. **Stochastic approximation** of the complete-data sufficient statistics:
   ``S <- S + gamma_k (s(phi, y) - S)`` with ``gamma_k = 1`` for the ``explore``
   iterations and ``1 / (k - explore + 1)`` for the ``smooth`` ones after.
3. **Maximisation.** Closed forms: ``beta_p = (X'X)^-1 S1_p`` and ``omega_p^2 =
   (S2_p - 2 beta' S1_p + beta' X'X beta) / N`` for parameters with a random effect; the
   residual variance from the completed data's squared residuals (on the log scale for
   ``log_additive``, relative for ``proportional``). Parameters without a sufficient
   statistic -- typical values (and covariate coefficients) without a random effect, the
   two parameters of a ``combined`` error model -- maximise the completed data's likelihood
   given the simulated random effects (Gauss-Newton steps for the former, L-BFGS for the
   error parameters), and the stochastic approximation is applied to the value itself (as
   R's saemix does).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from cartpk.fit._saem_problem import SaemProblem, _Records

__all__ = ["SaemSettings", "SaemState", "run_saem"]

_TARGET_ACCEPT = 0.3
_OMEGA_FLOOR = 1e-4  # smallest omega (transformed scale) an M-step returns
_MAX_STEP = 2.0  # largest Gauss-Newton change of a parameter without IIV per step


@dataclass(frozen=True)
class SaemSettings:
    """Iterations and kernels of :func:`run_saem` (defaults as Monolix's, smaller K1).

    Attributes
    ----------
    explore : int
        Iterations with step size 1 (the exploratory phase, K1).
    smooth : int
        Iterations with decreasing step size ``1 / k`` (the smoothing phase, K2).
    chains : int or None
        Chains per subject (copies of each subject's random effects, their statistics
        averaged); ``None``: enough for at least 50 subject-chains (at most 10).
    kernels : tuple of int
        Steps of the three Metropolis-Hastings kernels per iteration.
    seed : int
        Seed of every random draw.
    """

    explore: int = 300
    smooth: int = 200
    chains: int | None = None
    kernels: tuple[int, int, int] = (2, 2, 2)
    seed: int = 0

    def n_chains(self, subjects: int) -> int:
        """Chains per subject: ``chains`` or ``ceil(50 / subjects)`` within 1-10."""
        if self.chains is not None:
            return int(self.chains)
        return int(min(10, max(1, math.ceil(50 / max(subjects, 1)))))


@dataclass
class SaemState:
    """Population parameters (transformed scale) and the chains' random effects."""

    beta: dict[str, np.ndarray]  # free parameter -> [mu, coefficients...]
    omega2: dict[str, float]  # parameter with IIV -> variance
    sigma: dict[str, float]  # residual-error parameter (by its declared name) -> value
    phi: np.ndarray  # (chains * n, len(free))
    trace: list[dict[str, float]] = field(default_factory=list)


def initial_state(problem: SaemProblem, chains: int) -> SaemState:
    """The declaration's values as the starting point (random effects at zero)."""
    m = problem.model
    init = m.initial_values()
    mu = m.to_transformed({p: m.thetas[p].value for p in problem.free})
    beta = {
        p: np.array([float(mu[p])] + [float(init[c]) for c in problem.coefs[p]])
        for p in problem.free
    }
    omega2 = {p: float(init[f"omega_{p}"]) ** 2 for p in problem.iiv}
    sigma = {s: float(init[s]) for s in problem.error_params}
    phi = np.tile(problem.mean(beta), (chains, 1))
    return SaemState(beta=beta, omega2=omega2, sigma=sigma, phi=phi)


class _Sampler:
    """The E-step's Metropolis-Hastings kernels on the random effects of every chain."""

    def __init__(self, problem: SaemProblem, rec: _Records, blq: str, rng: np.random.Generator):
        self.problem, self.rec, self.blq, self.rng = problem, rec, blq, rng
        self.cols = [problem.free.index(p) for p in problem.iiv]
        self.fixed_cols = [k for k in range(len(problem.free)) if k not in self.cols]
        self.scale_joint = 0.4
        self.scale_one = np.full(len(self.cols), 0.6)

    def sweep(self, state: SaemState, kernels: tuple[int, int, int]) -> np.ndarray:
        """Run the kernels in place on ``state.phi``; returns its observation log-likelihood."""
        p, rng = self.problem, self.rng
        copies = self.rec.n // p.n
        mean = np.tile(p.mean(state.beta), (copies, 1))
        phi = state.phi
        phi[:, self.fixed_cols] = mean[:, self.fixed_cols]
        ll = p.obs_loglik(phi, state.sigma, self.rec, self.blq)
        if not self.cols:
            return ll
        om = np.sqrt(np.array([state.omega2[q] for q in p.iiv]))

        def prior(x: np.ndarray) -> np.ndarray:
            z = (x[:, self.cols] - mean[:, self.cols]) / om
            return -0.5 * np.sum(z**2, axis=1)

        def step(prop: np.ndarray, with_prior: bool) -> float:
            nonlocal ll
            new = p.obs_loglik(prop, state.sigma, self.rec, self.blq)
            log_a = new - ll + ((prior(prop) - prior(phi)) if with_prior else 0.0)
            with np.errstate(invalid="ignore"):
                take = np.log(rng.uniform(size=len(ll))) < log_a
            phi[take] = prop[take]
            ll = np.where(take, new, ll)
            return float(take.mean())

        for _ in range(kernels[0]):
            prop = phi.copy()
            prop[:, self.cols] = mean[:, self.cols] + om * rng.standard_normal((len(ll), len(om)))
            step(prop, with_prior=False)
        for _ in range(kernels[1]):
            prop = phi.copy()
            prop[:, self.cols] += self.scale_joint * om * rng.standard_normal((len(ll), len(om)))
            acc = step(prop, with_prior=True)
            self.scale_joint *= 1 + 0.4 * (acc - _TARGET_ACCEPT)
        for _ in range(kernels[2]):
            for j, c in enumerate(self.cols):
                prop = phi.copy()
                prop[:, c] += self.scale_one[j] * om[j] * rng.standard_normal(len(ll))
                acc = step(prop, with_prior=True)
                self.scale_one[j] *= 1 + 0.4 * (acc - _TARGET_ACCEPT)
        return ll


def _on_scale(kind: str, y: np.ndarray) -> np.ndarray:
    """An observation on its error model's scale: ``log y`` (log_additive), else ``y``."""
    return np.log(y) if kind == "log_additive" else y


def _residual(kind: str, ty: np.ndarray, f: np.ndarray) -> np.ndarray:
    """The residual of ``ty`` (on the error scale, :func:`_on_scale`) from prediction ``f``
    on the scale where it is normal: ``ty - log f``, ``ty - f`` (additive, combined) or
    ``(ty - f) / f`` (proportional); its SD there is :func:`residual_sd`."""
    with np.errstate(all="ignore"):
        if kind == "log_additive":
            return ty - np.log(f)
        if kind in ("additive", "combined"):
            return ty - f
        return (ty - f) / f


def _complete(kind: str, f: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The observation on its error scale whose residual from ``f`` is ``r``."""
    with np.errstate(all="ignore"):
        if kind == "log_additive":
            return np.log(f) + r
        if kind in ("additive", "combined"):
            return f + r
        return f * (1 + r)


def residual_sd(
    problem: SaemProblem, dv: str, f: np.ndarray, sigma: dict[str, float]
) -> float | np.ndarray:
    """SD of output ``dv``'s residual on the scale of :func:`_residual`: the parameter of a
    one-parameter error model, ``sqrt(a^2 + (b f)^2)`` per record for ``combined``."""
    error = problem.model.error[dv]
    if error.kind == "combined":
        with np.errstate(all="ignore"):
            return error.sd(np, f, {n: sigma[n] for n in error.names})
    return sigma[error.names[0]]


def complete_residuals(
    problem: SaemProblem,
    phi: np.ndarray,
    sigma: dict[str, float],
    rec: _Records,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Residuals of the completed data per output, censored records drawn (Samson et al.),
    the completed observations on their error scale (:func:`_on_scale`) and the
    predictions at ``phi`` (per output, its records).

    Residuals are on the scale of :func:`_residual`; a censored record's residual is drawn
    from ``N(0, SD)`` (:func:`residual_sd`) truncated to its interval.
    """
    pred = problem.predictions(phi, rec)
    resid: dict[str, np.ndarray] = {}
    completed: dict[str, np.ndarray] = {}
    fitted: dict[str, np.ndarray] = {}
    for dv, rows, data in rec.outputs:
        kind = problem.model.error[dv].kind
        f = np.asarray(pred[dv][rows], dtype=float)
        fitted[dv] = f
        y = data["dv"]
        cens = data["cens"]
        with np.errstate(all="ignore"):
            r = _residual(kind, _on_scale(kind, y), f)
        resid[dv] = r.copy()
        if np.any(cens != 0):
            lim = data["limit"] if data["limit"] is not None else np.full(len(y), np.nan)
            with np.errstate(all="ignore"):
                other = _residual(kind, _on_scale(kind, lim), f)
            s = residual_sd(problem, dv, f, sigma)
            z_lim = r / s
            z_other = np.where(np.isfinite(other), other / s, np.nan)
            lo = np.where(cens == 1, np.where(np.isfinite(z_other), z_other, -np.inf), z_lim)
            hi = np.where(cens == 1, z_lim, np.where(np.isfinite(z_other), z_other, np.inf))
            draw = s * _truncated_normal(lo, hi, rng)
            resid[dv] = np.where(cens != 0, draw, r)
        completed[dv] = _complete(kind, f, resid[dv])
    return resid, completed, fitted


def _truncated_normal(lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Standard normal draws truncated to ``(lo, hi)`` by the inverse CDF."""
    a, b = ndtr(lo), ndtr(hi)
    u = a + (b - a) * rng.uniform(size=np.shape(lo))
    z = ndtri(np.clip(u, 1e-300, 1 - 1e-16))
    # far in a tail the CDF difference underflows: the nearer bound is then the draw
    fallback = np.where(np.isfinite(hi), hi, lo)
    return np.where(np.isfinite(z) & (b > a), z, fallback)


def _fit_noiiv(
    problem: SaemProblem,
    state: SaemState,
    residuals: Callable[[list[np.ndarray]], list[np.ndarray]],
    steps: int,
) -> dict[str, np.ndarray]:
    """Gauss-Newton steps (forward-difference Jacobian, step halving) on the completed data's
    standardised residuals over the parameters without random effects.

    ``residuals`` maps a list of parameter vectors to their residuals (one vectorised
    evaluation for the Jacobian's columns)."""
    names = problem.noiiv
    sizes = [len(state.beta[p]) for p in names]
    x = np.concatenate([state.beta[p] for p in names])
    lo, hi = (np.concatenate([b[p] for p in names]) for b in problem.noiiv_bounds())
    r = residuals([x])[0]
    obj = 0.5 * float(r @ r)
    for _ in range(steps):
        h = 1e-6 * np.maximum(1.0, np.abs(x))
        moved = residuals([x + h[j] * np.eye(len(x))[j] for j in range(len(x))])
        jac = np.stack([(moved[j] - r) / h[j] for j in range(len(x))], 1)
        ok = np.isfinite(r) & np.all(np.isfinite(jac), axis=1)
        if not ok.any():
            break
        delta = np.linalg.lstsq(jac[ok], -r[ok], rcond=None)[0]
        delta *= min(1.0, _MAX_STEP / max(float(np.max(np.abs(delta))), 1e-300))
        delta = np.clip(x + delta, lo, hi) - x
        for _half in range(12):
            trial = residuals([x + delta])[0]
            new = 0.5 * float(trial @ trial)
            if math.isfinite(new) and new <= obj:
                x, r, obj = x + delta, trial, new
                break
            delta = delta / 2
        else:
            break
    out, k = {}, 0
    for p, s in zip(names, sizes, strict=True):
        out[p] = x[k : k + s]
        k += s
    return out


def run_saem(
    problem: SaemProblem,
    settings: SaemSettings,
    *,
    blq: str,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[SaemState, dict[str, Any]]:
    """Run SAEM; returns the final state and what was done (iterations, seconds, trace)."""
    rng = np.random.default_rng(settings.seed)
    chains = settings.n_chains(problem.n)
    rec = problem.records(chains)
    state = initial_state(problem, chains)
    sampler = _Sampler(problem, rec, blq, rng)
    total = settings.explore + settings.smooth
    stats: dict[str, Any] | None = None
    t0 = time.perf_counter()
    for k in range(total):
        sampler.sweep(state, settings.kernels)
        resid, completed, fitted = complete_residuals(problem, state.phi, state.sigma, rec, rng)
        new = _statistics(problem, state.phi, resid, chains)
        gamma = 1.0 if k < settings.explore else 1.0 / (k - settings.explore + 2)
        stats = new if stats is None else _approximate(stats, new, gamma)
        exploring = k < settings.explore
        _maximise(problem, state, stats, rec, completed, gamma, exploring, chains)
        _maximise_error(problem, state, resid, fitted, gamma)
        state.trace.append(_flat(problem, state))
        if progress is not None:
            progress(k + 1, total)
    return state, {
        "iterations": total,
        "explore": settings.explore,
        "smooth": settings.smooth,
        "chains": chains,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _statistics(
    problem: SaemProblem, phi: np.ndarray, resid: dict[str, np.ndarray], chains: int
) -> dict[str, Any]:
    """Sufficient statistics of the completed data, averaged over chains."""
    n = problem.n
    s1, s2 = {}, {}
    for k, p in enumerate(problem.free):
        if p not in problem.iiv:
            continue
        x = phi[:, k].reshape(chains, n) - problem.offset[p]
        s1[p] = np.mean([problem.X[p].T @ x[c] for c in range(chains)], axis=0)
        s2[p] = float(np.mean(np.sum(x**2, axis=1)))
    ss = {s: float(np.sum(resid[dv] ** 2)) / chains for s, dv in problem.closed_form_error.items()}
    return {"s1": s1, "s2": s2, "ss": ss}


def _approximate(old: dict[str, Any], new: dict[str, Any], gamma: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in old:
        out[key] = {k: old[key][k] + gamma * (new[key][k] - old[key][k]) for k in old[key]}
    return out


def _maximise(
    problem: SaemProblem,
    state: SaemState,
    stats: dict[str, Any],
    rec: _Records,
    completed: dict[str, np.ndarray],
    gamma: float,
    exploring: bool,
    chains: int,
) -> None:
    n = problem.n
    for p in problem.iiv:
        X = problem.X[p]
        xtx = X.T @ X
        b = np.linalg.solve(xtx, stats["s1"][p])
        state.beta[p] = b
        if p not in problem.omega_fixed:
            w2 = (stats["s2"][p] - 2 * b @ stats["s1"][p] + b @ xtx @ b) / n
            state.omega2[p] = max(float(w2), _OMEGA_FLOOR**2)
    for s, dv in problem.closed_form_error.items():
        if s in problem.sigma_fixed:
            continue
        count = sum(len(rows) for d, rows, _ in rec.outputs if d == dv) / chains
        state.sigma[s] = math.sqrt(max(stats["ss"][s] / count, 1e-12))
    if problem.noiiv:
        terms = _completed_terms(problem, state, rec, completed)
        if any(problem.model.error[dv].kind in _SD_OF_F for dv in problem.error_names):
            fitted = _fit_noiiv_ml(problem, state, terms)
        else:
            steps = 2 if exploring else 1
            fitted = _fit_noiiv(problem, state, lambda xs: [r for r, _ in terms(xs)], steps)
        for p, b in fitted.items():
            state.beta[p] = b if exploring else state.beta[p] + gamma * (b - state.beta[p])


#: error kinds whose SD on the natural scale changes with the prediction: the completed
#: data's likelihood of the parameters without IIV is then not a sum of squares
_SD_OF_F = ("proportional", "combined")


def _completed_terms(
    problem: SaemProblem, state: SaemState, rec: _Records, completed: dict[str, np.ndarray]
) -> Callable[[list[np.ndarray]], list[tuple[np.ndarray, float]]]:
    """The completed data's ``-2 log`` likelihood as a function of the parameters without
    random effects (``[beta_p for p in noiiv]`` concatenated), for a list of such vectors at
    once (stacked copies of the chains, one prediction call): per vector the standardised
    residuals and the sum of the terms ``2 log SD`` that change with the predictions
    (``2 log f`` for proportional error, ``2 log SD`` for combined; none otherwise)."""
    cols = [problem.free.index(p) for p in problem.noiiv]
    sizes = [len(state.beta[p]) for p in problem.noiiv]
    copies = rec.n // problem.n

    def terms(xs: list[np.ndarray]) -> list[tuple[np.ndarray, float]]:
        phi = np.tile(state.phi, (len(xs), 1))
        for b, x in enumerate(xs):
            part = phi[b * rec.n : (b + 1) * rec.n]
            k = 0
            for c, p, s in zip(cols, problem.noiiv, sizes, strict=True):
                part[:, c] = np.tile(problem.X[p] @ x[k : k + s] + problem.offset[p], copies)
                k += s
        stacked = problem.records(copies * len(xs))
        pred = problem.predictions(phi, stacked)
        out = []
        for b in range(len(xs)):
            parts, extra = [], 0.0
            for (dv, rows, _), (_, rows_all, _) in zip(rec.outputs, stacked.outputs, strict=True):
                kind = problem.model.error[dv].kind
                f = pred[dv][rows_all[b * len(rows) : (b + 1) * len(rows)]]
                e = _residual(kind, completed[dv], f)
                sd = residual_sd(problem, dv, f, state.sigma)
                parts.append(e / sd)
                if kind in _SD_OF_F:
                    with np.errstate(all="ignore"):
                        extra += float(np.sum(2 * np.log(np.abs(f) if kind != "combined" else sd)))
            res = np.concatenate(parts)
            out.append((np.where(np.isfinite(res), res, 1e150), extra))
        return out

    return terms


def _fit_noiiv_ml(
    problem: SaemProblem,
    state: SaemState,
    terms: Callable[[list[np.ndarray]], list[tuple[np.ndarray, float]]],
) -> dict[str, np.ndarray]:
    """L-BFGS (forward-difference gradient, one vectorised call per step) on the completed
    data's ``-2 log`` likelihood over the parameters without random effects, within their
    search box: where the error SD changes with the prediction, least squares on the
    standardised residuals is not the likelihood's maximum."""
    from scipy.optimize import minimize

    names = problem.noiiv
    sizes = [len(state.beta[p]) for p in names]
    x0 = np.concatenate([state.beta[p] for p in names])
    lo, hi = (np.concatenate([b[p] for p in names]) for b in problem.noiiv_bounds())

    def value(r: np.ndarray, extra: float) -> float:
        v = float(r @ r) + extra
        return v if math.isfinite(v) else 1e300

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        h = 1e-7 * np.maximum(1.0, np.abs(x))
        points = [x] + [x + h[j] * np.eye(len(x))[j] for j in range(len(x))]
        vals = [value(r, extra) for r, extra in terms(points)]
        return vals[0], (np.array(vals[1:]) - vals[0]) / h

    start = fun(x0)[0]
    best = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=list(zip(lo, hi, strict=True)))
    x = best.x if best.fun <= start else x0
    out, k = {}, 0
    for p, s in zip(names, sizes, strict=True):
        out[p] = x[k : k + s]
        k += s
    return out


def _flat(problem: SaemProblem, state: SaemState) -> dict[str, float]:
    """One row of the parameter trace (transformed scale): mu, coefficients, omega, sigma."""
    row: dict[str, float] = {}
    for p in problem.free:
        row[f"mu_{p}"] = float(state.beta[p][0])
        for c, v in zip(problem.coefs[p], state.beta[p][1:], strict=True):
            row[c] = float(v)
    for p in problem.iiv:
        row[f"omega_{p}"] = math.sqrt(state.omega2[p])
    for s in problem.error_params:
        row[s] = state.sigma[s]
    return row


def _maximise_error(
    problem: SaemProblem,
    state: SaemState,
    resid: dict[str, np.ndarray],
    fitted: dict[str, np.ndarray],
    gamma: float,
) -> None:
    """The residual-error parameters without a closed-form M-step: L-BFGS on the log scale
    of the completed data's normal log-likelihood given the predictions, then the stochastic
    approximation on the log value."""
    from scipy.optimize import minimize

    names = [
        s
        for s in problem.error_params
        if s not in problem.closed_form_error and s not in problem.sigma_fixed
    ]
    if not names:
        return
    outputs = [dv for dv, ns in problem.error_names.items() if set(ns) & set(names)]

    def objective(x: np.ndarray) -> float:
        values = {**state.sigma, **dict(zip(names, np.exp(x), strict=True))}
        total = 0.0
        for dv in outputs:
            sd = residual_sd(problem, dv, fitted[dv], values)
            with np.errstate(all="ignore"):
                total += float(np.sum((resid[dv] / sd) ** 2 + 2 * np.log(sd)))
        return total if math.isfinite(total) else 1e300

    start = np.log([state.sigma[s] for s in names])
    best = minimize(objective, start, method="L-BFGS-B", bounds=[(-30.0, 10.0)] * len(names))
    target = best.x if objective(best.x) <= objective(start) else start
    for s, old, new in zip(names, start, target, strict=True):
        state.sigma[s] = math.exp(old + gamma * (new - old))
