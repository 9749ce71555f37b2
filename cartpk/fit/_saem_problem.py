"""The population problem SAEM works on: design matrices, individual parameters and the
censored observation log-likelihood, vectorised over subjects (and chains of subjects).

Every structural parameter that is not fixed is a column of ``phi`` (its transformed
individual value, by name through :attr:`SaemProblem.free`): ``phi_ip = X_ip beta_p +
offset_ip + eta_ip``, where ``X_p`` holds an intercept (the typical value ``mu_p``) and one
column per free covariate coefficient of ``p`` (every cartpk covariate effect is linear in
its coefficients on the transformed scale), ``offset`` the shifts of fixed coefficients,
and ``eta_p ~ N(0, omega_p^2)`` where the declaration gives ``p`` a random effect (none
otherwise). The observation log-likelihood is :func:`cartpk.fit.loglik` of the declaration's
error model with its censored terms (M3) or without the censored records (M1).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from cartpk.errors import FitError, Violation
from cartpk.fit._likelihood import loglik
from cartpk.fit._population_graph import _Design
from cartpk.model import Model, OdeModel
from cartpk.model._transforms import transform_of

__all__ = ["SaemProblem", "check_saem_model"]

#: how far (transformed scale) a typical value without IIV may move from its declared value
BOX = 15.0

#: records evaluated together when many copies of the subjects are stacked (importance
#: sampling, the Fisher information): cache-sized arrays, elementwise the same values
BLOCK = 32_768

_T = TypeVar("_T")


def _threads() -> int:
    """Threads for the blocks of a large evaluation: the cores this process may use (at
    most 4), or 1 off the main thread (a Dask task, or a caller's own thread pool, already
    has its core)."""
    if threading.current_thread() is not threading.main_thread():
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def _each_block(fn: Callable[[int, int], _T], blocks: list[tuple[int, int]]) -> list[_T]:
    """``fn(c0, c1)`` for every block, in order; on several threads where there are cores
    (NumPy releases the GIL inside its elementwise loops; each block's values are the same
    on any thread)."""
    threads = min(_threads(), len(blocks))
    if threads == 1:
        return [fn(c0, c1) for c0, c1 in blocks]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda b: fn(*b), blocks))


#: residual-error kinds whose variance has a closed-form M-step (a parameter of one output)
CLOSED_FORM_ERRORS = ("log_additive", "additive", "proportional")
#: residual-error kinds SAEM fits (``combined``: its M-step maximises numerically)
_ERROR_KINDS = (*CLOSED_FORM_ERRORS, "combined")


def check_saem_model(model: Model) -> None:
    """Raise :class:`FitError` listing what SAEM cannot fit in ``model`` (every problem)."""
    problems: list[Violation] = []
    if isinstance(model, OdeModel):
        problems.append(
            Violation(
                "saem_model_kind",
                f"`{model.name}` is an ODE model",
                expected="a closed-form model",
                fix='fit ODE models with method = "bayes" (fit_population)',
            )
        )
    for dv, err in model.error.items():
        if err.kind not in _ERROR_KINDS:
            problems.append(
                Violation(
                    "saem_error_model",
                    f"output {dv} has a `{err.kind}` error model",
                    expected="one of " + ", ".join(_ERROR_KINDS),
                    fix='fit it with method = "bayes", or declare one of these error models',
                )
            )
    for eff in model.covariates:
        if model.thetas[eff.param].fixed:
            problems.append(
                Violation(
                    "saem_covariate_on_fixed",
                    f"covariate effect on `{eff.param}`, which is fixed",
                    expected="covariate effects on estimated parameters",
                    fix=f"unfix `{eff.param}` or remove the effect",
                )
            )
    if problems:
        raise FitError(f"SAEM cannot fit `{model.name}`.", problems)


@dataclass
class _Records:
    """The records of ``copies`` stacked copies of the subjects (one copy per chain)."""

    subj: np.ndarray  # pseudo-subject per record
    time: np.ndarray
    dose: np.ndarray  # per record
    outputs: list[tuple[str, np.ndarray, dict[str, Any]]]  # (dvid, rows, loglik data)
    n: int  # pseudo-subjects


class SaemProblem:
    """Design matrices and vectorised densities of a closed-form population model.

    Parameters
    ----------
    model : Model
        The declaration (checked by :func:`check_saem_model`).
    design : _Design
        Records, doses and covariates (:func:`cartpk.fit._population_graph._design`).
    """

    def __init__(self, model: Model, design: _Design) -> None:
        check_saem_model(model)
        self.model, self.design = model, design
        self.n = len(design.subjects)
        self.free = [n for n, t in model.thetas.items() if not t.fixed]
        self.iiv = [n for n in model.iiv.names if n in self.free]
        self.noiiv = [n for n in self.free if n not in self.iiv]
        fixed_pars = set(model.ini.fixed)
        self.coefs = {
            p: [
                c
                for eff in model.covariates
                if eff.param == p
                for c in eff.coefficients
                if c not in fixed_pars
            ]
            for p in self.free
        }
        init = model.initial_values()
        self.X = {p: self._matrix(p) for p in self.free}
        self.offset = {p: self._offset(p, init, fixed_pars) for p in self.free}
        #: the residual-error parameters of each output, and all of them once each (two
        #: outputs naming the same parameter share it, as in the declaration's table)
        self.error_names = {dv: tuple(model.error[dv].names) for dv in design.outputs}
        self.error_params = list(dict.fromkeys(n for ns in self.error_names.values() for n in ns))
        self.omega_fixed = {p for p in self.iiv if f"omega_{p}" in fixed_pars}
        self.sigma_fixed = {s for s in self.error_params if s in fixed_pars}
        #: error parameters with a closed-form M-step -> their output; the others (combined
        #: error, a parameter shared by outputs) are maximised numerically
        self.closed_form_error = {
            ns[0]: dv
            for dv, ns in self.error_names.items()
            if model.error[dv].kind in CLOSED_FORM_ERRORS
            and sum(ns[0] in other for other in self.error_names.values()) == 1
        }
        self._records: dict[int, _Records] = {}
        self._back = {p: transform_of(model.thetas[p].transform).backward for p in self.free}
        self._bounds = self._search_box()

    # -- layout -----------------------------------------------------------------------

    def _matrix(self, p: str) -> np.ndarray:
        cols = [np.ones(self.n)]
        for c in self.coefs[p]:
            cols.append(self._column(p, c))
        return np.stack(cols, axis=1)

    def _column(self, p: str, name: str) -> np.ndarray:
        """The design column of coefficient ``name`` (its shift per unit coefficient)."""
        total = np.zeros(self.n)
        for eff in self.model.covariates:
            if eff.param == p and name in eff.coefficients:
                unit = {c: (1.0 if c == name else 0.0) for c in eff.coefficients}
                col = self.design.covariates[eff.on].to_numpy()
                total = total + np.broadcast_to(eff.shift(np, col, unit), (self.n,))
        return total

    def _offset(self, p: str, init: Mapping[str, float], fixed: set[str]) -> np.ndarray:
        total = np.zeros(self.n)
        for eff in self.model.covariates:
            if eff.param != p:
                continue
            for c in eff.coefficients:
                if c in fixed:
                    total = total + float(init[c]) * self._column(p, c)
        return total

    def noiiv_bounds(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Search box of the parameters without random effects: a typical value within
        :data:`BOX` of its declared value on the transformed scale and within its declared
        bounds; covariate coefficients unbounded (computed once, at construction)."""
        return self._bounds

    def _search_box(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        lo: dict[str, np.ndarray] = {}
        hi: dict[str, np.ndarray] = {}
        for p in self.noiiv:
            t = self.model.thetas[p]
            h0 = float(self.model.to_transformed({p: t.value})[p])
            nat_lo, nat_hi = t.natural_bounds()
            fwd = transform_of(t.transform).forward
            with np.errstate(all="ignore"):
                b_lo = float(fwd(np, nat_lo)) if np.isfinite(fwd(np, nat_lo)) else -np.inf
                b_hi = float(fwd(np, nat_hi)) if np.isfinite(fwd(np, nat_hi)) else np.inf
            k = len(self.coefs[p])
            lo[p] = np.array([max(h0 - BOX, b_lo)] + [-np.inf] * k)
            hi[p] = np.array([min(h0 + BOX, b_hi)] + [np.inf] * k)
        return lo, hi

    def mean(self, beta: Mapping[str, np.ndarray]) -> np.ndarray:
        """``X_p beta_p + offset_p`` for every free parameter: ``(n, len(free))``."""
        return np.stack([self.X[p] @ beta[p] + self.offset[p] for p in self.free], axis=1)

    # -- densities --------------------------------------------------------------------

    def records(self, copies: int) -> _Records:
        """The records tiled ``copies`` times (pseudo-subject ``c * n + i``), cached."""
        if copies in self._records:
            return self._records[copies]
        obs = self.design.obs
        subj0 = obs["SUBJ"].to_numpy(dtype=int)
        subj = np.concatenate([subj0 + c * self.n for c in range(copies)])
        tile = len(obs)
        outputs = []
        for dv in self.design.outputs:
            sel = np.flatnonzero(obs["DVID"].to_numpy() == dv)
            rows = np.concatenate([sel + c * tile for c in range(copies)])
            cens = np.tile(obs["CENS"].to_numpy(dtype=int)[sel], copies)
            limit = np.tile(obs["LIMIT"].to_numpy(dtype=float)[sel], copies)
            with np.errstate(invalid="ignore"):
                interval = bool(np.any(np.isfinite(limit) & (cens != 0)))
            data = dict(
                dv=np.tile(obs["DV"].to_numpy(dtype=float)[sel], copies),
                cens=cens,
                limit=limit if interval else None,
                kinds=set(np.unique(cens).tolist()),
            )
            outputs.append((dv, rows, data))
        rec = _Records(
            subj=subj,
            time=np.tile(obs["TIME"].to_numpy(dtype=float), copies),
            dose=np.tile(self.design.dose, copies)[subj],
            outputs=outputs,
            n=copies * self.n,
        )
        self._records[copies] = rec
        return rec

    def natural(self, phi: np.ndarray) -> dict[str, np.ndarray]:
        """Individual structural parameters on the natural scale from ``phi`` (by name)."""
        m = self.model
        out = {p: self._back[p](np, phi[:, k]) for k, p in enumerate(self.free)}
        for n, t in m.thetas.items():
            if t.fixed:
                out[n] = float(t.value)
        return out

    def blocks(self, rec: _Records) -> list[tuple[int, int]] | None:
        """Ranges of copies in ``rec`` evaluated together (about :data:`BLOCK` records
        each), or ``None`` when ``rec`` is one block."""
        copies, tile = rec.n // self.n, len(self.design.obs)
        per = max(1, BLOCK // max(tile, 1))
        if copies <= per:
            return None
        return [(c0, min(copies, c0 + per)) for c0 in range(0, copies, per)]

    def predictions(self, phi: np.ndarray, rec: _Records) -> dict[str, np.ndarray]:
        """Per-record predictions ``{DVID: (records,)}`` of pseudo-subjects ``phi``."""
        blocks = self.blocks(rec)
        if blocks is not None:
            parts = _each_block(lambda c0, c1: self.predictions(*self._block(phi, c0, c1)), blocks)
            return {dv: np.concatenate([part[dv] for part in parts]) for dv in parts[0]}
        # transform each pseudo-subject's values once, then one gather to the records
        values = self.natural(phi)
        free = np.stack([values[p] for p in self.free], axis=1)[rec.subj]
        per_record: dict[str, Any] = {p: free[:, k] for k, p in enumerate(self.free)}
        per_record.update({p: v for p, v in values.items() if p not in per_record})
        with np.errstate(all="ignore"):
            return self.model.evaluate(np, rec.time, per_record, dose=rec.dose)

    def obs_loglik(
        self, phi: np.ndarray, sigma: Mapping[str, float], rec: _Records, blq: str
    ) -> np.ndarray:
        """``log p(y_i | phi_i)`` per pseudo-subject (censored terms included: M3)."""
        blocks = self.blocks(rec)
        if blocks is None:
            return self.loglik_of(self.predictions(phi, rec), sigma, rec, blq)

        def block(c0: int, c1: int) -> np.ndarray:
            sub_phi, sub = self._block(phi, c0, c1)
            return self.obs_loglik(sub_phi, sigma, sub, blq)

        return np.concatenate(_each_block(block, blocks))

    def loglik_of(
        self,
        pred: Mapping[str, np.ndarray],
        sigma: Mapping[str, float],
        rec: _Records,
        blq: str,
    ) -> np.ndarray:
        """:meth:`obs_loglik` from the records' predictions ``pred`` (:meth:`predictions`)."""
        blocks = self.blocks(rec)
        if blocks is not None:
            tile = len(self.design.obs)

            def block(c0: int, c1: int) -> np.ndarray:
                part = {dv: v[c0 * tile : c1 * tile] for dv, v in pred.items()}
                return self.loglik_of(part, sigma, self.records(c1 - c0), blq)

            return np.concatenate(_each_block(block, blocks))
        total = np.zeros(rec.n)
        for dv, rows, data in rec.outputs:
            with np.errstate(all="ignore"):
                ll = loglik(
                    np,
                    pred=pred[dv][rows],
                    error=self.model.error[dv],
                    sigmas={n: sigma[n] for n in self.error_names[dv]},
                    blq=blq,  # type: ignore[arg-type]
                    **data,
                )
            total += np.bincount(rec.subj[rows], weights=ll, minlength=rec.n)
        return np.where(np.isfinite(total), total, -np.inf)

    def _block(self, phi: np.ndarray, c0: int, c1: int) -> tuple[np.ndarray, _Records]:
        """Copies ``c0`` to ``c1`` of a stack: their rows of ``phi`` and their records (one
        block: :meth:`blocks` of them is ``None``)."""
        return phi[c0 * self.n : c1 * self.n], self.records(c1 - c0)
