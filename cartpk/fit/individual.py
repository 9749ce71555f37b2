"""Per-subject maximum-likelihood (or MAP) fits of a model declaration, with censoring.

Each subject is fitted on its own with lmfit on the parameters' transformed scale
(``log``/``logit`` as declared), evaluating the declaration through ``model.evaluate`` and
the censored likelihood of :mod:`cartpk.fit._likelihood`. :func:`fit_subject` is the
picklable unit of work (what :func:`fit_individual` runs in worker processes, and what a
Dask study calls); :func:`fit_individual` turns a :class:`~cartpk.data.Dataset` into
subjects, fits them (in parallel) and returns tidy tables.
"""

from __future__ import annotations

import enum
import math
import multiprocessing
import os
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from cartpk.errors import FitError, SpecError, Violation
from cartpk.fit._likelihood import BlqMethod, censoring_interval, check_blq, log_ndtr, loglik

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from cartpk.data import Dataset
    from cartpk.model import ErrorModel, Model

__all__ = [
    "FitStatus",
    "IndividualFit",
    "SubjectData",
    "SubjectFit",
    "fit_individual",
    "fit_subject",
    "subjects_from_dataset",
]

PriorKind = Literal["population"] | None
SigmaKind = Literal["fixed", "estimate"]
CiKind = Literal["auto", "wald", "profile"]
GradientKind = Literal["auto", "exact", "fd"]

_BIG = 1e12  # objective returned where the likelihood is not finite (keeps L-BFGS-B going)
_BOX_MIN_HALF_WIDTH = math.log(1000.0)  # search range at least x/÷ 1000 around the start
_BOX_OMEGAS = 8.0  # ... or +-8 population SDs on the transformed scale
_SE_HUGE = 1.0  # SE on the transformed scale above which a parameter is not identified
_PRIOR_DOMINATED = 0.8  # SE / omega above which a MAP estimate is mostly the prior


class FitStatus(enum.Enum):
    """Outcome of one subject's fit; each member's value is the remedy shown to the user."""

    converged = "converged: the best start met the optimizer's tolerance"
    at_bound = (
        "converged at the bound of the search range for some parameter; its value is not "
        'determined by the data. Try `prior="population"`, fix the parameter, or widen `bounds`'
    )
    not_converged = (
        "the optimizer stopped before meeting its tolerance. Try increasing `n_starts` or "
        '`max_nfev`, or use `prior="population"`'
    )
    underdetermined = (
        "fewer quantified observations than free parameters: the maximum-likelihood estimate is not "
        'unique. Use `prior="population"` or fix parameters with `model.fix(...)`'
    )
    all_censored = (
        "every observation is censored, so the likelihood has no interior maximum. Use "
        '`prior="population"` to get a MAP estimate shrunk to the typical values'
    )
    no_observations = (
        'no usable observation (none for this DVID, or all discarded by `blq="m1"`); '
        'nothing was fitted. Check `dvid` or use `blq="m3"`'
    )
    nonfinite = (
        "the likelihood was not finite at any start. Check the data (DV > 0 for a "
        "log-scale error model) and the model's initial values"
    )

    @property
    def is_converged(self) -> bool:
        """Whether estimates are a converged optimum (possibly on a bound)."""
        return self in (FitStatus.converged, FitStatus.at_bound)

    @property
    def message(self) -> str:
        """The remedy text."""
        return self.value


@dataclass(frozen=True)
class SubjectData:
    """Observations and covariates of one subject, ready for :func:`fit_subject`.

    Attributes
    ----------
    id : str
        Subject ``ID``.
    time : ndarray
        Days since infusion, one per observation.
    dv : ndarray
        Observations (the limit where censored).
    cens : ndarray of int
        ``0`` quantified, ``1`` below the limit, ``-1`` above it.
    lloq : ndarray
        ``LLOQ`` column (NaN where unknown).
    dvid : ndarray of str
        Data ``DVID`` per observation.
    output : ndarray of str
        Model output (DVID of the declaration) each observation is compared with.
    rows : ndarray of int
        1-based file rows (``ROW``) of the observations.
    covariates : dict
        Baseline covariates of the subject by column name.
    dose : float or None
        ``AMT`` of the first dose record (for models whose equations take ``dose``).
    limit : ndarray or None
        ``LIMIT``, the other bound of censored records (nlmixr2/Monolix): ``y`` in
        ``(LIMIT, DV)`` for ``CENS=1``, ``(DV, LIMIT)`` for ``CENS=-1``; NaN where none.
        ``None``: no record has one.
    """

    id: str
    time: np.ndarray
    dv: np.ndarray
    cens: np.ndarray
    lloq: np.ndarray
    dvid: np.ndarray
    output: np.ndarray
    rows: np.ndarray
    covariates: dict[str, Any] = field(default_factory=dict)
    dose: float | None = None
    limit: np.ndarray | None = None

    @property
    def other_bound(self) -> np.ndarray:
        """``LIMIT`` per observation, NaN where there is none."""
        if self.limit is None:
            return np.full(self.dv.shape, np.nan)
        return np.asarray(self.limit, dtype=float)

    @property
    def n_obs(self) -> int:
        """Number of observations (censored included)."""
        return int(self.time.size)


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
# data preparation


def _outputs_for(
    model: Model, dataset: Dataset, dvid: str | Sequence[str] | None
) -> dict[str, str]:
    """``{data DVID: model output}``; raise one SpecError listing what is wrong."""
    outputs = list(model.outputs)
    present = sorted(set(dataset.observations()["DVID"].astype(str)))
    if dvid is None:
        wanted = [o for o in outputs if o in present]
        if not wanted:
            raise SpecError(
                f"No observations of `{model.name}`'s outputs in the dataset.",
                [
                    Violation(
                        "dvid_missing",
                        f"the dataset has no DVID among the model's outputs {outputs}",
                        value=repr(present),
                        expected=f"DVID values {outputs}",
                        fix="pass `dvid=` naming the data DVID to fit"
                        + (f" (e.g. dvid={present[0]!r})" if present else ""),
                    )
                ],
            )
        return {o: o for o in wanted}
    names = [dvid] if isinstance(dvid, str) else list(dvid)
    problems = [
        Violation(
            "dvid_unknown",
            f"`dvid` {d!r} has no observations in the dataset",
            value=d,
            expected=f"one of {present}",
            fix="choose a DVID present in the data",
        )
        for d in names
        if d not in present
    ]
    if len(outputs) > 1:
        problems += [
            Violation(
                "dvid_not_output",
                f"`dvid` {d!r} is not an output of `{model.name}`",
                value=d,
                expected=f"one of {outputs}",
                fix="name model outputs; a data DVID maps to a differently named output "
                "only for single-output models",
            )
            for d in names
            if d not in outputs
        ]
    if problems:
        raise SpecError("Invalid `dvid`.", problems)
    return {d: (d if d in outputs else outputs[0]) for d in names}


def subjects_from_dataset(
    model: Model, dataset: Dataset, *, dvid: str | Sequence[str] | None = None
) -> list[SubjectData]:
    """Split a dataset into per-subject inputs of :func:`fit_subject`.

    Parameters
    ----------
    model : Model
        The declaration to be fitted (its outputs and covariate columns).
    dataset : Dataset
        Validated data (:func:`cartpk.read_dataset`).
    dvid : str or sequence of str, optional
        Data DVIDs to fit; default the model's outputs. For a single-output model a data
        DVID with another name is compared with that output.

    Returns
    -------
    list of SubjectData
        One per subject of the dataset, in ``dataset.subjects`` order (subjects without
        observations of these DVIDs included, with zero observations).

    Raises
    ------
    SpecError
        ``dvid_missing``, ``dvid_unknown``, ``dvid_not_output``; ``covariate_missing`` when
        the dataset lacks a covariate the model needs.
    """
    mapping = _outputs_for(model, dataset, dvid)
    obs = dataset.observations()
    obs = obs[obs["DVID"].astype(str).isin(list(mapping))]
    dvids = obs["DVID"].astype(str)
    obs = obs.assign(_DVID=dvids, _OUTPUT=dvids.map(mapping))  # once, not per subject
    cov = dataset.covariates
    missing = [c for c in model.covariate_columns if c not in cov.columns]
    if missing:
        raise SpecError(
            f"`{model.name}` needs covariates the dataset does not have.",
            [
                Violation(
                    "covariate_missing",
                    f"covariate column `{c}` is missing",
                    column=c,
                    expected=f"columns {model.covariate_columns}",
                    fix=f"add `{c}` to the data or remove the effect with `with_covariates`",
                )
                for c in missing
            ],
        )
    cov_by_id = {str(r["ID"]): r for r in cov.to_dict("records")}
    doses = dataset.doses.sort_values(["ID", "TIME"], kind="stable").groupby("ID", sort=False)
    dose_by_id = {str(k): float(g["AMT"].iloc[0]) for k, g in doses}
    groups = {str(k): g for k, g in obs.groupby("ID", sort=False)}
    out = []
    for sid in dataset.subjects:
        g = groups.get(str(sid), obs.iloc[0:0])
        row = cov_by_id.get(str(sid), {})
        out.append(
            SubjectData(
                id=str(sid),
                time=g["TIME"].to_numpy(dtype=float),
                dv=g["DV"].to_numpy(dtype=float),
                cens=g["CENS"].to_numpy(dtype=int),
                lloq=g["LLOQ"].to_numpy(dtype=float),
                dvid=g["_DVID"].to_numpy(dtype=object),
                output=g["_OUTPUT"].to_numpy(dtype=object),
                rows=g["ROW"].to_numpy(dtype=int),
                covariates={c: row[c] for c in model.covariate_columns if c in row},
                dose=dose_by_id.get(str(sid)),
                limit=g["LIMIT"].to_numpy(dtype=float) if "LIMIT" in g.columns else None,
            )
        )
    return out


# ---------------------------------------------------------------------------------------
# the per-subject problem


def _to_nat(transform: str | None, h: Any) -> Any:
    if transform == "log":
        return np.exp(h)
    if transform == "logit":
        return 1.0 / (1.0 + np.exp(-h))
    return h


def _to_tr(transform: str | None, v: Any) -> Any:
    if transform == "log":
        return np.log(v)
    if transform == "logit":
        return np.log(v) - np.log1p(-v)
    return v


def _dnat_dh(transform: str | None, v: float) -> float:
    """Derivative of the natural value with respect to the transformed one (delta method)."""
    if transform == "log":
        return v
    if transform == "logit":
        return v * (1.0 - v)
    return 1.0


@dataclass(frozen=True)
class _Spec:
    """Free parameters of one subject's problem on the transformed scale."""

    names: tuple[str, ...]
    transforms: tuple[str | None, ...]
    centre: np.ndarray  # typical (with covariates) on the transformed scale
    omega: np.ndarray  # population SD (NaN without IIV)
    lo: np.ndarray
    hi: np.ndarray
    fixed: dict[str, float]  # fixed structural parameters, natural scale
    sigma_names: tuple[str, ...]  # estimated sigmas (log scale), empty when fixed


def _standardise(err: ErrorModel, v: np.ndarray, f: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """``(v - f) / SD`` on the error model's scale (log scale: ``v <= 0`` gives ``-inf``)."""
    if err.kind == "log_additive":
        return (np.log(np.maximum(v, 0.0)) - np.log(f)) / sd
    return (v - f) / sd


def _residual_elements(
    xp: Any, dv: Any, f: Any, cens: Any, err: ErrorModel, blq: BlqMethod, limit: Any = None
) -> Any:
    """Signed residual per record (fixed sigma), generic over ``xp`` (NumPy or JAX).

    Quantified: the standardised residual itself (not ``sqrt(-2 log L - const)``, which
    loses all precision near a perfect fit); censored: ``sqrt(-2 log P)``. Squares sum to
    ``-2 log L`` minus a constant.
    """
    ll = loglik(xp, dv, f, cens, err, blq=blq, limit=limit)
    sd = float(err.values[err.names[0]])
    if err.kind == "log_additive":
        r = (xp.log(dv) - xp.log(f)) / sd
    else:
        r = (dv - f) / sd
        if blq == "m4":  # + the -2 log P(y > 0) of the truncation
            extra = -2.0 * log_ndtr(xp, f / sd)
            r = xp.sign(r) * xp.sqrt(r * r + extra)
    cens_res = xp.sqrt(xp.maximum(-2.0 * ll, 0.0))
    return xp.where(cens == 0, r, cens_res)


_DERIVATIVES: dict[tuple[Any, ...], Any] = {}


def _elementwise_derivatives(
    err: ErrorModel, blq: BlqMethod, what: str, sigmas: bool = False
) -> Any:
    """A jitted JAX function of the records: values and exact derivatives in ``f``.

    ``what="residual"``: ``(dv, f, cens, limit) -> (r, dr/df)`` of
    :func:`_residual_elements`.
    ``what="loglik"``: ``(dv, f, cens, limit, log_sigma) -> (ll, dll/df, dll/dlog_sigma)`` of
    :func:`cartpk.fit.loglik` (``log_sigma`` holds the error model's own parameters in
    ``err.names`` order when ``sigmas``; otherwise the declared values are used).
    Records are independent, so one forward-mode pass with a tangent of ones gives every
    ``d ll_i / d f_i``. One compilation per error model, method and record count.
    """
    key = (err.kind, err.names, tuple(err.values.values()), blq, what, sigmas)
    fn = _DERIVATIVES.get(key)
    if fn is not None:
        return fn
    from cartpk.model._ode_jax import _jax

    jax, jnp, _ = _jax()
    names = err.names

    if what == "residual":

        def residual(dv: Any, f: Any, cens: Any, limit: Any) -> Any:
            return jax.jvp(
                lambda ff: _residual_elements(jnp, dv, ff, cens, err, blq, limit),
                (f,),
                (jnp.ones_like(f),),
            )

        fn = jax.jit(residual)
    else:

        def ll_of(dv: Any, f: Any, cens: Any, limit: Any, log_sigma: Any) -> Any:
            sig = {n: jnp.exp(log_sigma[i]) for i, n in enumerate(names)} if sigmas else None
            return loglik(jnp, dv, f, cens, err, sig, blq=blq, limit=limit)

        def derivs(dv: Any, f: Any, cens: Any, limit: Any, log_sigma: Any) -> Any:
            ll, dll_df = jax.jvp(
                lambda ff: ll_of(dv, ff, cens, limit, log_sigma), (f,), (jnp.ones_like(f),)
            )
            if sigmas:
                dll_ds = jax.jacfwd(lambda ls: ll_of(dv, f, cens, limit, ls))(log_sigma)
            else:
                dll_ds = jnp.zeros((f.shape[0], 0))
            return ll, dll_df, dll_ds

        fn = jax.jit(derivs)

    def host(*args: Any) -> tuple[np.ndarray, ...]:
        return tuple(np.asarray(x) for x in fn(*(np.asarray(a) for a in args)))

    _DERIVATIVES[key] = host
    return host


class _Problem:
    """Objective ``-2 log L (- 2 log prior)`` of one subject, vectorised over candidates."""

    def __init__(
        self,
        model: Model,
        subject: SubjectData,
        spec: _Spec,
        *,
        blq: BlqMethod,
        prior: bool,
        engine: str | None = None,
        method: str | None = None,
    ) -> None:
        self.model = model
        self.s = subject
        self.limit = subject.other_bound
        self.spec = spec
        self.blq = blq
        self.prior = prior
        self.errors = model.error
        self.n_struct = len(spec.names) - len(spec.sigma_names)
        from cartpk.model import OdeModel

        self.ode = isinstance(model, OdeModel)
        # exact derivatives: the ODE engine's sensitivities (None: finite differences)
        self.engine = engine
        self.method = method
        self._last: tuple[bytes, np.ndarray, np.ndarray, bool] | None = None

    def natural(self, h: np.ndarray) -> dict[str, np.ndarray]:
        """Structural parameters on the natural scale; ``h`` shape ``(k, n_free)``."""
        out: dict[str, Any] = {
            n: _to_nat(t, h[:, j : j + 1])
            for j, (n, t) in enumerate(zip(self.spec.names, self.spec.transforms, strict=True))
            if j < self.n_struct
        }
        out.update({k: np.full((h.shape[0], 1), v) for k, v in self.spec.fixed.items()})
        return out

    def sigmas(self, h: np.ndarray) -> dict[str, np.ndarray]:
        return {
            n: np.exp(h[:, self.n_struct + j : self.n_struct + j + 1])
            for j, n in enumerate(self.spec.sigma_names)
        }

    def predict(self, h: np.ndarray) -> np.ndarray:
        """Predictions ``(k, n_obs)`` at the subject's observations."""
        params = self.natural(h)
        if self.ode:
            # every candidate row at once, a failed integration NaN (a huge objective) for
            # its row only: the search screens extreme candidates, some of which fail
            rows = {k: v[:, 0] for k, v in params.items()}
            if self.engine == "jax":  # rows padded to a power of two: few compilations
                pad = (1 << max(h.shape[0] - 1, 0).bit_length()) - h.shape[0]
                rows = {k: np.concatenate([v, np.repeat(v[-1:], pad)]) for k, v in rows.items()}
            sol = self.model.evaluate_with_jacobian(
                self.s.time[None, :],
                rows,
                dose=self.s.dose,
                wrt=[],
                engine=self.engine or "scipy",
                method=self.method,
                throw=False,
            )
            preds = {k: v[: h.shape[0]] for k, v in sol.values.items()}
        else:
            preds = self.model.evaluate(np, self.s.time[None, :], params, dose=self.s.dose)
        out = np.empty((h.shape[0], self.s.n_obs))
        for name, f in preds.items():
            m = self.s.output == name
            if m.any():
                out[:, m] = np.broadcast_to(f, (h.shape[0], self.s.n_obs))[:, m]
        return out

    def loglik(self, h: np.ndarray) -> np.ndarray:
        """Elementwise log-likelihood ``(k, n_obs)``."""
        f = self.predict(h)
        sig = self.sigmas(h)
        ll = np.empty_like(f)
        for name, err in self.errors.items():
            m = self.s.output == name
            if m.any():
                ll[:, m] = loglik(
                    np,
                    self.s.dv[m],
                    f[:, m],
                    self.s.cens[m],
                    err,
                    sig or None,
                    blq=self.blq,
                    limit=self.limit[m],
                )
        return ll

    @property
    def least_squares(self) -> bool:
        """Whether ``objective`` is exactly a sum of squares plus a constant.

        True with fixed sigmas and additive or log-additive error: then a quantified
        record's ``-2 log L`` is ``r^2`` plus a constant, a censored one's ``-2 log P >= 0``,
        and the prior's ``z^2``; Gauss-Newton (``least_squares``) solves it in a few
        iterations.
        """
        kinds = {e.kind for e in self.errors.values()}
        return not self.spec.sigma_names and kinds <= {"log_additive", "additive"}

    def residuals(self, h: np.ndarray) -> np.ndarray:
        """Signed residuals whose squares sum to ``objective`` minus a constant."""
        h = np.atleast_2d(h)
        with np.errstate(all="ignore"):
            f = self.predict(h)
            res = np.empty_like(f)
            for name, err in self.errors.items():
                m = self.s.output == name
                if m.any():
                    res[:, m] = _residual_elements(
                        np, self.s.dv[m], f[:, m], self.s.cens[m], err, self.blq, self.limit[m]
                    )
        res = np.where(np.isfinite(res), res, 1e6)
        if self.prior:
            res = np.hstack([res, self._prior_z(h)])
        return res

    def _prior_w(self) -> np.ndarray:
        """Which structural parameters carry the population prior (those with IIV)."""
        return np.isfinite(self.spec.omega[: self.n_struct])

    def _prior_z(self, h: np.ndarray) -> np.ndarray:
        w = self._prior_w()
        om, c = self.spec.omega[: self.n_struct][w], self.spec.centre[: self.n_struct][w]
        return (h[:, : self.n_struct][:, w] - c) / om

    # -- exact derivatives (ODE models: the engine's sensitivities) ----------------------
    def _sensitivities(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Predictions ``(n_obs,)``, ``d f / d h`` ``(n_obs, n_struct)`` and success at the
        point ``h`` (1-D); the last point is cached (lmfit asks for the value, then the
        Jacobian, at one point: one integration)."""
        key = np.ascontiguousarray(h, dtype=float).tobytes()
        if self._last is not None and self._last[0] == key:
            return self._last[1], self._last[2], self._last[3]
        names = self.spec.names[: self.n_struct]
        params = {k: v[:, 0] for k, v in self.natural(h[None, :]).items()}
        sol = self.model.evaluate_with_jacobian(
            self.s.time[None, :],
            params,
            dose=self.s.dose,
            wrt=list(names),
            engine=self.engine,
            method=self.method,
            throw=False,
        )
        f = np.empty(self.s.n_obs)
        jac = np.zeros((self.s.n_obs, len(names)))
        for name in self.errors:
            m = self.s.output == name
            if not m.any():
                continue
            f[m] = sol.values[name][0, m]
            for j, (n, t) in enumerate(
                zip(names, self.spec.transforms[: self.n_struct], strict=True)
            ):
                jac[m, j] = sol.jacobian[name][n][0, m] * _dnat_dh(t, float(params[n][0]))
        ok = not sol.failed_subjects() and bool(np.all(np.isfinite(f)) and np.all(np.isfinite(jac)))
        self._last = (key, f, jac, ok)
        return f, jac, ok

    def residuals_exact(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residuals (as :meth:`residuals`) and their exact Jacobian ``d r / d h`` at ``h``
        (1-D): the engine's sensitivities times the residuals' derivatives (JAX, exact)."""
        f, dfdh, ok = self._sensitivities(h)
        n_free = h.size
        res = np.full(self.s.n_obs, 1e6)
        jac = np.zeros((self.s.n_obs, n_free))
        if ok:
            for name, err in self.errors.items():
                m = self.s.output == name
                if m.any():
                    r, dr = _elementwise_derivatives(err, self.blq, "residual")(
                        self.s.dv[m], f[m], self.s.cens[m], self.limit[m]
                    )
                    res[m] = r
                    jac[m, : self.n_struct] = dr[:, None] * dfdh[m]
            bad = ~np.isfinite(res) | ~np.all(np.isfinite(jac), axis=1)
            res[bad], jac[bad] = 1e6, 0.0
        if self.prior:
            w = self._prior_w()
            dz = np.zeros((int(w.sum()), n_free))
            dz[np.arange(dz.shape[0]), np.flatnonzero(w)] = (
                1.0 / self.spec.omega[: self.n_struct][w]
            )
            res = np.concatenate([res, self._prior_z(h[None, :])[0]])
            jac = np.vstack([jac, dz])
        return res, jac

    def objective_exact(self, h: np.ndarray) -> tuple[float, np.ndarray]:
        """``objective`` at ``h`` (1-D) and its exact gradient (engine sensitivities, and
        the likelihood's derivatives in ``f`` and in the log-sigmas by JAX)."""
        f, dfdh, ok = self._sensitivities(h)
        grad = np.zeros(h.size)
        if not ok:
            return _BIG, grad
        val = 0.0
        sig_names = self.spec.sigma_names
        log_sig = h[self.n_struct :]
        for name, err in self.errors.items():
            m = self.s.output == name
            if not m.any():
                continue
            mine = [sig_names.index(n) for n in err.names] if sig_names else []
            ll, dll_df, dll_ds = _elementwise_derivatives(err, self.blq, "loglik", bool(mine))(
                self.s.dv[m],
                f[m],
                self.s.cens[m],
                self.limit[m],
                log_sig[mine] if mine else np.zeros(0),
            )
            val -= 2.0 * float(np.sum(ll))
            grad[: self.n_struct] -= 2.0 * (dll_df @ dfdh[m])
            for k, i in enumerate(mine):
                grad[self.n_struct + i] -= 2.0 * float(np.sum(dll_ds[:, k]))
        if self.prior:
            w = self._prior_w()
            z = self._prior_z(h[None, :])[0]
            val += float(z @ z)
            grad[np.flatnonzero(w)] += 2.0 * z / self.spec.omega[: self.n_struct][w]
        if not (np.isfinite(val) and np.all(np.isfinite(grad))):
            return _BIG, np.zeros(h.size)
        return val, grad

    def objective(self, h: np.ndarray) -> np.ndarray:
        """``-2 log L - 2 log prior`` (up to a constant) per candidate row of ``h``."""
        h = np.atleast_2d(h)
        with np.errstate(all="ignore"):
            val = -2.0 * self.loglik(h).sum(axis=1)
        if self.prior:
            z = self._prior_z(h)
            val = val + (z * z).sum(axis=1)
        return np.where(np.isfinite(val), val, _BIG)


def _spec(
    model: Model,
    subject: SubjectData,
    *,
    sigma: SigmaKind,
    bounds: Mapping[str, tuple[float, float]] | None,
) -> _Spec:
    thetas = model.thetas
    free = [t for t in thetas.values() if not t.fixed]
    fixed = {t.name: t.value for t in thetas.values() if t.fixed}
    typ: dict[str, Any] = model.typical()
    if model.covariate_columns:
        cov = {c: np.asarray([subject.covariates[c]]) for c in model.covariate_columns}
        ind = model.individual_parameters(covariates=cov)
        typ = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in ind.items()}
    iiv = model.iiv.sd
    names, trs, centre, om, lo, hi = [], [], [], [], [], []
    user = dict(bounds or {})
    for t in free:
        c = float(_to_tr(t.transform, typ[t.name]))
        w = max(_BOX_OMEGAS * iiv.get(t.name, 0.0), _BOX_MIN_HALF_WIDTH)
        nlo, nhi = t.natural_bounds()
        if t.name in user:
            nlo, nhi = max(nlo, user[t.name][0]), min(nhi, user[t.name][1])
        with np.errstate(divide="ignore"):  # log(0) = -inf: an open end of the domain
            tlo = float(_to_tr(t.transform, nlo))
            thi = float(_to_tr(t.transform, nhi))
        names.append(t.name)
        trs.append(t.transform)
        centre.append(c)
        om.append(iiv.get(t.name, np.nan))
        lo.append(max(c - w, tlo) if t.name not in user else tlo)
        hi.append(min(c + w, thi) if t.name not in user else thi)
    sig_names: list[str] = []
    if sigma == "estimate":
        for err in model.error.values():
            for n, v in err.values.items():
                names.append(n)
                trs.append("log")
                centre.append(math.log(v))
                om.append(np.nan)
                lo.append(math.log(v) - _BOX_MIN_HALF_WIDTH)
                hi.append(math.log(v) + _BOX_MIN_HALF_WIDTH)
                sig_names.append(n)
    return _Spec(
        names=tuple(names),
        transforms=tuple(trs),
        centre=np.array(centre),
        omega=np.array(om, dtype=float),
        lo=np.array(lo),
        hi=np.array(hi),
        fixed=fixed,
        sigma_names=tuple(sig_names),
    )


def _starts(problem: _Problem, rng: np.random.Generator, n_starts: int) -> np.ndarray:
    """Deterministic multi-start points: the typical values, then the best of a screen.

    A screen of ``64 * n_starts`` candidates drawn from the population distribution
    (``N(typical, omega)`` on the transformed scale; uniform in the box without IIV) is
    evaluated in one vectorised call; the ``n_starts - 1`` best join the typical values.
    """
    spec = problem.spec
    k = max(64 * n_starts, 64)
    om = np.where(np.isfinite(spec.omega), spec.omega, np.nan)
    draws = spec.centre + rng.standard_normal((k, spec.centre.size)) * np.where(
        np.isfinite(om), om * 1.5, 0.0
    )
    unif = rng.uniform(spec.lo, spec.hi, size=(k, spec.centre.size))
    cand = np.where(np.isfinite(om), draws, unif)
    cand = np.clip(cand, spec.lo, spec.hi)
    first = np.clip(spec.centre, spec.lo, spec.hi)[None, :]
    if n_starts <= 1:
        return first
    vals = problem.objective(cand)
    best = cand[np.argsort(vals, kind="stable")[: n_starts - 1]]
    return np.vstack([first, best])


def _minimize(
    problem: _Problem,
    start: np.ndarray,
    *,
    vary: Sequence[bool] | None = None,
    max_nfev: int = 4000,
) -> tuple[np.ndarray, float, bool]:
    """One local fit from ``start``; returns (h, objective, success).

    A sum of squares goes to lmfit's ``least_squares`` (TRF), a general objective to
    L-BFGS-B (lmfit's with finite differences, SciPy's with the exact gradient).
    """
    spec = problem.spec
    names = spec.names
    varying = [j for j in range(len(names)) if vary is None or vary[j]]
    if problem.engine is not None and not problem.least_squares:
        # scalar objective, exact gradient: SciPy's L-BFGS-B directly (scaled variables)
        return _minimize_exact(problem, start, varying, max_nfev)
    import lmfit

    params = lmfit.Parameters()
    for j, n in enumerate(spec.names):
        # lmfit parameters hold the *transformed* value of the parameter of the same name
        params.add(
            n,
            value=float(start[j]),
            min=float(spec.lo[j]),
            max=float(spec.hi[j]),
            vary=True if vary is None else bool(vary[j]),
        )

    def point(p: lmfit.Parameters) -> np.ndarray:
        return np.array([p[n].value for n in names])

    kws: dict[str, Any]
    if problem.least_squares:
        method = "least_squares"
        # relative tolerance 1e-6 on -2 log L (a change of ~1e-4 on a typical value of
        # 100, statistically nil): scipy's 1e-8 lets TRF crawl along flat valleys of
        # non-identified parameters until max_nfev
        kws = {"ftol": 1e-6, "xtol": 1e-6, "gtol": 1e-8}
        if problem.engine is not None:

            def fcn(p: lmfit.Parameters) -> Any:
                return problem.residuals_exact(point(p))[0]

            def jac(p: lmfit.Parameters) -> Any:  # lmfit wants the varying columns
                return problem.residuals_exact(point(p))[1][:, varying]

            kws["jac"] = jac
        else:

            def fcn(p: lmfit.Parameters) -> Any:
                return problem.residuals(point(p)[None, :])[0]

    else:
        method = "lbfgsb"
        kws = {}

        def fcn(p: lmfit.Parameters) -> Any:
            return float(problem.objective(point(p)[None, :])[0])

    # lmfit's least_squares always derives a covariance from J'J (ignoring calc_covar) and
    # takes sqrt of its diagonal; we do not use it (SEs come from our Hessian), so its
    # invalid-value warnings for singular J'J are silenced here and only here
    with _blas_single_thread(), np.errstate(invalid="ignore", divide="ignore"):
        res = lmfit.minimize(fcn, params, method=method, max_nfev=max_nfev, calc_covar=False, **kws)
    h = np.array([res.params[n].value for n in names])
    val = float(problem.objective(h[None, :])[0])
    return h, val, bool(res.success) and val < _BIG


#: L-BFGS-B's first step has unit length in its variables; mechanistic objectives are steep
#: (a step of 1 in log(rate) can overflow the ODE: -2 log L of 1e13 on paixao2022, after which
#: the line search stalls at the start). The exact-gradient path runs in h / _LBFGS_SCALE, so
#: the first step is 0.1 on the log scale; later quasi-Newton steps adapt to the curvature.
_LBFGS_SCALE = 0.1


def _minimize_exact(
    problem: _Problem, start: np.ndarray, varying: Sequence[int], max_nfev: int
) -> tuple[np.ndarray, float, bool]:
    """L-BFGS-B (SciPy, native bounds) on the exact gradient, over the varying entries."""
    from scipy.optimize import minimize

    idx = np.asarray(varying, dtype=int)
    spec, sc = problem.spec, _LBFGS_SCALE

    def full(x: np.ndarray) -> np.ndarray:
        h = start.astype(float).copy()
        h[idx] = start[idx] + sc * x
        return h

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        val, grad = problem.objective_exact(full(x))
        return val, sc * grad[idx]

    bounds = list(
        zip((spec.lo[idx] - start[idx]) / sc, (spec.hi[idx] - start[idx]) / sc, strict=True)
    )
    with _blas_single_thread(), np.errstate(invalid="ignore", divide="ignore"):
        res = minimize(
            fun,
            np.zeros(idx.size),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxfun": max_nfev},
        )
    h = full(res.x)
    val = float(problem.objective(h[None, :])[0])
    return h, val, bool(res.success) and val < _BIG


_CONTROLLER: list[Any] = []


def _blas_single_thread() -> Any:
    """Limit BLAS to one thread during a fit.

    The optimizers call LAPACK on 6x6 matrices thousands of times; a multi-threaded
    OpenBLAS spends ~20x longer waking threads than computing (measured on 2 cores), and
    subjects run in parallel processes anyway.
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - optional: only slower without it
        import contextlib

        return contextlib.nullcontext()
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _hessian(problem: _Problem, h: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Central finite-difference Hessian of ``objective / 2`` (= -log L) on the free params."""
    idx = np.flatnonzero(free)
    k = idx.size
    step = 1e-2 * np.maximum(1.0, np.abs(h[idx]))
    pts = []
    for a in range(k):
        for b in range(a, k):
            for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                x = h.copy()
                x[idx[a]] += sa * step[a]
                x[idx[b]] += sb * step[b]
                pts.append(x)
    vals = problem.objective(np.array(pts)) / 2.0
    H = np.empty((k, k))
    i = 0
    for a in range(k):
        for b in range(a, k):
            pp, pm, mp, mm = vals[i : i + 4]
            H[a, b] = H[b, a] = (pp - pm - mp + mm) / (4.0 * step[a] * step[b])
            i += 4
    return H


def _profile_bound(
    problem: _Problem,
    h: np.ndarray,
    j: int,
    best: float,
    q: float,
    direction: int,
    step: float = 0.5,
) -> tuple[float, bool]:
    """Profile-likelihood CI end of parameter ``j`` on the transformed scale.

    Steps out from the estimate (``step``, 3 ``step``, 9 ``step``, ... on the transformed
    scale; ``step`` from the Hessian's curvature where it is positive), re-fitting
    the other parameters warm-started from the previous step, until ``objective`` rises
    by ``q``; the crossing is then interpolated inside the last step (:func:`_crossing`).
    Returns ``(bound, closed)``; ``closed`` is False when the profile stays below the
    threshold up to the search range's bound.
    """
    spec = problem.spec
    edge = float(spec.hi[j] if direction > 0 else spec.lo[j])
    vary = [i != j for i in range(h.size)]
    x, prev_c, prev_g = h.copy(), float(h[j]), -q
    while True:
        c = float(h[j] + direction * step)
        c = min(c, edge) if direction > 0 else max(c, edge)
        x[j] = c
        x, val, _ = _minimize(problem, x, vary=vary, max_nfev=600)
        g = val - best - q
        if g >= 0:
            root = float(_crossing(prev_c, prev_g, c, g, q))
            return float(root), True
        if c == edge:
            return edge, False
        prev_c, prev_g = c, g
        step *= 3.0


def _crossing(c0: Any, g0: Any, c1: Any, g1: Any, q: float) -> Any:
    """Where a profile's rise ``g + q`` reaches ``q`` between ``(c0, g0)`` and ``(c1, g1)``.

    Interpolates the signed root ``sqrt(rise)``, which is linear in the parameter for a
    quadratic profile (exact there; linear interpolation of the rise itself undershoots by
    up to a quarter of the step: a 95 % end at a rise of 3.0 instead of 3.84).
    """
    r0 = np.sqrt(np.maximum(np.asarray(g0) + q, 0.0))
    r1 = np.sqrt(np.maximum(np.asarray(g1) + q, 0.0))
    den = np.where(r1 > r0, r1 - r0, 1.0)
    frac = np.clip((math.sqrt(q) - r0) / den, 0.0, 1.0)
    return c0 + (np.asarray(c1) - c0) * frac


def _seed_for(seed: int | None, sid: str) -> np.random.Generator:
    """A subject's generator from (seed, ID): results do not depend on subject order."""
    return np.random.default_rng([0 if seed is None else int(seed), zlib.crc32(sid.encode())])


def _empty_fit(
    subject: SubjectData, status: FitStatus, model: Model, blq: str, prior: str, n_discarded: int
) -> SubjectFit:
    nan = {t: math.nan for t in model.thetas}
    return SubjectFit(
        id=subject.id,
        status=status,
        message=status.message,
        blq=blq,
        prior=prior,
        estimate=dict(nan),
        se=dict(nan),
        lower=dict(nan),
        upper=dict(nan),
        ci_method={t: "none" for t in model.thetas},
        at_bound={t: False for t in model.thetas},
        identifiable={t: False for t in model.thetas},
        notes={t: "not estimated" for t in model.thetas},
        objective=math.nan,
        n_obs=subject.n_obs,
        n_censored=int(np.sum(subject.cens != 0)),
        n_discarded=n_discarded,
        n_starts=0,
        n_starts_agree=0,
        ipred=np.full(subject.n_obs, np.nan),
        pred=np.full(subject.n_obs, np.nan),
    )


def _exact_engine(
    model: Model, gradient: str, ode_engine: str | None, ode_method: str | None
) -> str | None:
    """The ODE engine of exact derivatives, or None for finite differences; every problem
    of the three options raised at once (``spec_option_value``, ``ode_engine``,
    ``ode_method``, ``gradient_exact``)."""
    from cartpk.model import OdeModel
    from cartpk.model._ode_options import default_ode_engine, ode_option_problems

    ode = isinstance(model, OdeModel)
    problems = []
    if gradient not in ("auto", "exact", "fd"):
        problems.append(
            Violation(
                "gradient_kind",
                "`gradient` must be 'auto', 'exact' or 'fd'",
                value=repr(gradient),
                expected="'auto', 'exact' or 'fd'",
                fix='use gradient="auto"',
            )
        )
    elif gradient == "exact" and not ode:
        problems.append(
            Violation(
                "gradient_exact",
                f"exact derivatives come from the ODE engine; `{model.name}` is a closed form",
                value="'exact'",
                fix='use gradient="auto" (finite differences of the vectorised closed form)',
            )
        )
    if ode:
        problems += ode_option_problems(model, ode_engine, ode_method)
    elif ode_engine is not None or ode_method is not None:
        problems.append(
            Violation(
                "ode_engine",
                f"`ode_engine`/`ode_method` apply to ODE models; `{model.name}` is a closed form",
                fix="omit them",
            )
        )
    if problems:
        raise SpecError("Invalid derivative options.", problems)
    if not ode or gradient == "fd":
        return None
    return default_ode_engine(ode_engine, model, ode_method)


def fit_subject(
    model: Model,
    subject: SubjectData,
    *,
    blq: BlqMethod = "m3",
    prior: PriorKind = None,
    sigma: SigmaKind = "fixed",
    n_starts: int = 4,
    seed: int | None = 0,
    ci_level: float = 0.95,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    max_nfev: int = 4000,
    ci: CiKind = "auto",
    gradient: GradientKind = "auto",
    ode_engine: str | None = None,
    ode_method: str | None = None,
) -> SubjectFit:
    """Fit one subject by maximum likelihood (or MAP), on the transformed parameter scale.

    A module-level function of picklable arguments: :func:`fit_individual` runs it in
    worker processes, and a Dask study may call it directly.

    Parameters
    ----------
    model : Model
        The declaration (``cartpk.load_model("stein2019")``); fixed thetas stay fixed.
    subject : SubjectData
        One subject's observations (:func:`subjects_from_dataset`).
    blq : {"m3", "m4", "m1"}, default "m3"
        Censoring method (see :func:`cartpk.fit.loglik`); ``"m1"`` discards censored
        records (counted in ``n_discarded``).
    prior : {None, "population"}, default None
        ``None``: maximum likelihood. ``"population"``: MAP with a normal prior on the
        transformed scale centred at the typical value (covariates applied) with SD
        ``omega_<name>``; parameters without IIV keep a flat prior.
    sigma : {"fixed", "estimate"}, default "fixed"
        Residual-error parameters fixed at the declaration's values (the usual choice with
        a handful of samples per subject) or estimated per subject (log scale).
    n_starts : int, default 4
        Local optimisations: from the typical values and from the best points of a
        seeded screen of the population distribution.
    seed : int, optional
        Master seed; the subject's stream is derived from ``(seed, ID)``.
    ci_level : float, default 0.95
        Confidence level of ``lower``/``upper``.
    bounds : mapping of str to (float, float), optional
        Natural-scale search range per parameter, replacing the default (typical value
        +- max(8 omega, log 1000) on the transformed scale, within declared bounds).
    max_nfev : int, default 4000
        Objective evaluations per start.
    ci : {"auto", "wald", "profile"}, default "auto"
        ``"auto"``: Wald intervals where the Hessian is positive definite, profile
        likelihood otherwise (and for parameters on a bound). ``"wald"`` never profiles
        (fast; where the Hessian is not positive definite the interval is NaN and the
        parameter flagged). ``"profile"`` profiles every parameter.
    gradient : {"auto", "exact", "fd"}, default "auto"
        Derivatives given to the optimiser. ``"exact"``: the ODE engine's forward
        sensitivities chained with the likelihood's derivatives (JAX), as the Jacobian of
        the residuals (``least_squares``) or the gradient of ``-2 log L`` (``lbfgsb``);
        ODE models only. ``"fd"``: finite differences (lmfit's default). ``"auto"``:
        exact for ODE models, finite differences for closed forms (cheap and vectorised).
    ode_engine : {"jax", "scipy"}, optional
        ODE engine of the exact derivatives (default: JAX for explicit solvers, SciPy for
        stiff ones; ``docs/ode_engine.md``).
    ode_method : str, optional
        Solver instead of the declaration's (as for :func:`cartpk.fit_population`).

    Returns
    -------
    SubjectFit

    Notes
    -----
    Standard errors come from a central-difference Hessian of ``-log L`` on the transformed
    scale where it is positive definite, mapped to the natural scale by the delta method;
    the CI is the Wald interval on the transformed scale, back-transformed (asymmetric,
    inside the parameter's domain). Otherwise each parameter gets a profile-likelihood
    interval (``-2 log L`` rising by ``chi2(1).ppf(ci_level)``, other parameters
    re-optimised) and an SE of NaN.

    A parameter is flagged ``identifiable=False`` when its estimate lies on the search
    range's bound, its profile does not close inside the range, its transformed-scale SE
    exceeds 1 (a 95 % CI wider than x/÷ 7), its CI covers more than half of the search
    range, or, for MAP, its SE exceeds 0.8 ``omega`` (the data add little to the prior).
    """
    method, prior_name = _check_options(blq, prior, sigma, ci)
    engine = _exact_engine(model, gradient, ode_engine, ode_method)
    prepared = _prepare(model, subject, method, prior_name, sigma, bounds, engine, ode_method)
    if isinstance(prepared, SubjectFit):
        return prepared
    problem, sub, keep = prepared
    rng = _seed_for(seed, subject.id)
    starts = _starts(problem, rng, max(int(n_starts), 1))
    results = [_minimize(problem, s, max_nfev=max_nfev) for s in starts]
    return _finish(problem, subject, sub, keep, results, ci=ci, ci_level=ci_level)


def _check_options(blq: str, prior: Any, sigma: Any, ci: Any) -> tuple[BlqMethod, str]:
    """The censoring method and prior name; a :class:`SpecError` for an unknown option."""
    method = check_blq(blq)
    prior_name = "population" if prior == "population" else "none"
    if prior not in (None, "population"):
        raise SpecError(
            f"Unknown `prior={prior!r}`.",
            [
                Violation(
                    "prior_kind",
                    "`prior` must be None or 'population'",
                    value=repr(prior),
                    expected="None or 'population'",
                    fix='use prior="population" for MAP',
                )
            ],
        )
    if sigma not in ("fixed", "estimate"):
        raise SpecError(
            f"Unknown `sigma={sigma!r}`.",
            [
                Violation(
                    "sigma_kind",
                    "`sigma` must be 'fixed' or 'estimate'",
                    value=repr(sigma),
                    expected="'fixed' or 'estimate'",
                    fix='use sigma="fixed"',
                )
            ],
        )
    if ci not in ("auto", "wald", "profile"):
        raise SpecError(
            f"Unknown `ci={ci!r}`.",
            [
                Violation(
                    "ci_kind",
                    "`ci` must be 'auto', 'wald' or 'profile'",
                    value=repr(ci),
                    expected="'auto', 'wald' or 'profile'",
                    fix='use ci="auto"',
                )
            ],
        )
    return method, prior_name


def _prepare(
    model: Model,
    subject: SubjectData,
    method: BlqMethod,
    prior_name: str,
    sigma: SigmaKind,
    bounds: Mapping[str, tuple[float, float]] | None,
    engine: str | None,
    ode_method: str | None,
) -> tuple[_Problem, SubjectData, np.ndarray] | SubjectFit:
    """The subject's problem (records kept by the censoring method), or the empty fit of a
    subject that cannot be fitted (no observations; every one censored, without prior)."""
    keep = np.ones(subject.n_obs, dtype=bool) if method != "m1" else subject.cens == 0
    n_disc = int((~keep).sum())
    sub = SubjectData(
        id=subject.id,
        time=subject.time[keep],
        dv=subject.dv[keep],
        cens=subject.cens[keep],
        lloq=subject.lloq[keep],
        dvid=subject.dvid[keep],
        output=subject.output[keep],
        rows=subject.rows[keep],
        covariates=subject.covariates,
        dose=subject.dose,
        limit=None if subject.limit is None else subject.other_bound[keep],
    )
    if sub.n_obs == 0:
        return _empty_fit(subject, FitStatus.no_observations, model, method, prior_name, n_disc)
    spec = _spec(model, sub, sigma=sigma, bounds=bounds)
    problem = _Problem(
        model,
        sub,
        spec,
        blq=method,
        prior=prior_name == "population",
        engine=engine,
        method=ode_method,
    )
    if prior_name == "none" and np.all(sub.cens != 0):
        return _empty_fit(subject, FitStatus.all_censored, model, method, prior_name, n_disc)
    return problem, sub, keep


@dataclass(frozen=True)
class _Curvature:
    """What the Hessian at the optimum says: bounds hit, SEs, first profile steps."""

    at_bound: np.ndarray
    se_h: np.ndarray  # transformed-scale SE (NaN where not positive definite or on a bound)
    pd_ok: bool
    step0: np.ndarray  # first profile step per parameter

    def wald(self, j: int) -> bool:
        """Whether parameter ``j`` can have a Wald interval."""
        return self.pd_ok and not self.at_bound[j]

    def profiled(self, ci: CiKind) -> list[int]:
        """Parameters whose interval comes from the profile likelihood under ``ci``."""
        if ci == "wald":
            return []
        return [j for j in range(self.se_h.size) if ci == "profile" or not self.wald(j)]


def _best(results: Sequence[tuple[np.ndarray, float, bool]]) -> tuple[np.ndarray, float, bool, int]:
    """The best start's ``(h, objective, success)`` and how many starts agree with it."""
    vals = np.array([r[1] for r in results])
    h, best, ok = results[int(np.argmin(vals))]
    return h, best, ok, int(np.sum(vals <= best + 0.01))


def _curvature(problem: _Problem, h: np.ndarray, q: float) -> _Curvature:
    """The curvature of the objective at ``h``: bounds hit, Wald SEs, profile steps."""
    spec = problem.spec
    n_free = len(spec.names)
    width = spec.hi - spec.lo
    at_bound = (np.abs(h - spec.lo) < 1e-3 * width) | (np.abs(spec.hi - h) < 1e-3 * width)
    free = ~at_bound
    se_h = np.full(n_free, np.nan)
    pd_ok = False
    step0 = np.full(n_free, 0.5)
    if free.any():
        H = _hessian(problem, h, free)
        try:
            np.linalg.cholesky(H)
            cov = np.linalg.inv(H)
            pd_ok = bool(np.all(np.diag(cov) > 0) and np.all(np.isfinite(cov)))
        except np.linalg.LinAlgError:
            pd_ok = False
        if pd_ok:
            se_h[free] = np.sqrt(np.diag(cov))
        else:  # the curvature along each axis still gives a sensible first profile step
            curv = np.diag(H)
            with np.errstate(divide="ignore", invalid="ignore"):
                guess = np.where(curv > 0, np.sqrt(q / np.where(curv > 0, curv, 1.0)), 0.5)
            step0[free] = np.clip(guess, 0.05, 2.0)
    return _Curvature(at_bound=at_bound, se_h=se_h, pd_ok=pd_ok, step0=step0)


#: a profile-likelihood interval end: (parameter index, direction, first step) -> (end, closed)
ProfileFn = Callable[[int, int, float], tuple[float, bool]]


def _finish(
    problem: _Problem,
    subject: SubjectData,
    sub: SubjectData,
    keep: np.ndarray,
    results: Sequence[tuple[np.ndarray, float, bool]],
    *,
    ci: CiKind,
    ci_level: float,
    curvature: _Curvature | None = None,
    profile: ProfileFn | None = None,
) -> SubjectFit:
    """A :class:`SubjectFit` from the local optimisations ``(h, objective, success)`` of
    every start: intervals, identifiability flags, status and predictions.

    ``curvature`` and ``profile`` let a caller that computed them for many subjects at
    once pass them in (default: :func:`_curvature` and :func:`_profile_bound` here).
    """
    from scipy.stats import chi2

    model, spec, method = problem.model, problem.spec, problem.blq
    prior_name = "population" if problem.prior else "none"
    engine, ode_method = problem.engine, problem.method
    n_free = len(spec.names)
    n_disc = int((~keep).sum())
    h, best, ok, agree = _best(results)
    if best >= _BIG:
        return _empty_fit(subject, FitStatus.nonfinite, model, method, prior_name, n_disc)

    width = spec.hi - spec.lo
    q = float(chi2.ppf(ci_level, 1))
    zq = math.sqrt(q)
    cur = curvature if curvature is not None else _curvature(problem, h, q)
    at_bound, se_h = cur.at_bound, cur.se_h
    if profile is None:

        def profile(j: int, direction: int, step: float) -> tuple[float, bool]:
            return _profile_bound(problem, h, j, best, q, direction, step)

    lo_h = np.full(n_free, np.nan)
    hi_h = np.full(n_free, np.nan)
    ci_method = ["none"] * n_free
    closed = np.ones(n_free, dtype=bool)
    profiled = cur.profiled(ci)
    for j in range(n_free):
        if j in profiled:
            lo_h[j], c1 = profile(j, -1, float(cur.step0[j]))
            hi_h[j], c2 = profile(j, +1, float(cur.step0[j]))
            closed[j] = c1 and c2
            ci_method[j] = "profile"
        elif cur.wald(j):
            lo_h[j] = max(h[j] - zq * se_h[j], spec.lo[j])
            hi_h[j] = min(h[j] + zq * se_h[j], spec.hi[j])
            ci_method[j] = "wald"
        # else: no interval (ci="wald" where the Hessian is not positive definite), flagged

    est, se, lower, upper, ident, notes, bound_flag = {}, {}, {}, {}, {}, {}, {}
    for j, (n, t) in enumerate(zip(spec.names, spec.transforms, strict=True)):
        v = float(_to_nat(t, h[j]))
        est[n] = v
        se[n] = float(abs(_dnat_dh(t, v)) * se_h[j]) if np.isfinite(se_h[j]) else math.nan
        lower[n] = float(_to_nat(t, lo_h[j]))
        upper[n] = float(_to_nat(t, hi_h[j]))
        bound_flag[n] = bool(at_bound[j])
        why = []
        if at_bound[j]:
            side = "lower" if abs(h[j] - spec.lo[j]) < abs(spec.hi[j] - h[j]) else "upper"
            why.append(f"at the {side} bound of the search range")
        if not closed[j]:
            why.append("profile likelihood does not close inside the search range")
        if ci_method[j] == "none":
            why.append("Hessian not positive definite: no Wald interval (ci='auto' profiles)")
        if np.isfinite(se_h[j]) and se_h[j] > _SE_HUGE:
            why.append(f"SE on the {t or 'natural'} scale is {se_h[j]:.2g} (> {_SE_HUGE:g})")
        if np.isfinite(lo_h[j]) and (hi_h[j] - lo_h[j]) > 0.5 * width[j]:
            why.append("confidence interval covers more than half of the search range")
        if (
            prior_name == "population"
            and np.isfinite(spec.omega[j])
            and np.isfinite(se_h[j])
            and se_h[j] > _PRIOR_DOMINATED * spec.omega[j]
        ):
            why.append("estimate is mostly the prior (SE > 0.8 omega)")
        ident[n] = not why
        notes[n] = "; ".join(why)
    for n, v in spec.fixed.items():
        est[n], se[n], lower[n], upper[n] = v, math.nan, v, v
        ci_method.append("fixed")
        bound_flag[n], ident[n], notes[n] = False, True, "fixed in the model"
    ci_map = dict(zip(list(spec.names) + list(spec.fixed), ci_method, strict=True))

    n_struct_free = n_free - len(spec.sigma_names)
    # censored records only bound the curve: identifiability needs quantified ones
    n_quant = int(np.sum(sub.cens == 0))
    if prior_name == "none" and n_quant < n_struct_free + len(spec.sigma_names):
        status = FitStatus.underdetermined
    elif not ok:
        status = FitStatus.not_converged
    elif at_bound.any():
        status = FitStatus.at_bound
    else:
        status = FitStatus.converged
    flagged = [f"`{n}` {notes[n]}" for n in spec.names if not ident[n]]
    message = status.message + ("; not identified: " + "; ".join(flagged) if flagged else "")

    hb = h[None, :]
    with np.errstate(all="ignore"):
        ipred_k = problem.predict(hb)[0]
        typ = spec.centre.copy()
        typ[n_struct_free:] = h[n_struct_free:]
        pred_k = problem.predict(typ[None, :])[0]
    ipred = np.full(subject.n_obs, np.nan)
    pred = np.full(subject.n_obs, np.nan)
    ipred[keep], pred[keep] = ipred_k, pred_k
    if n_disc:  # discarded records still get predictions (for plots and diagnostics)
        full = SubjectData(**{**subject.__dict__})
        p_all = _Problem(
            model, full, spec, blq=method, prior=False, engine=engine, method=ode_method
        )
        with np.errstate(all="ignore"):
            ipred = p_all.predict(hb)[0]
            pred = p_all.predict(typ[None, :])[0]
    return SubjectFit(
        id=subject.id,
        status=status,
        message=message,
        blq=method,
        prior=prior_name,
        estimate=est,
        se=se,
        lower=lower,
        upper=upper,
        ci_method=ci_map,
        at_bound=bound_flag,
        identifiable=ident,
        notes=notes,
        objective=best,
        n_obs=subject.n_obs,
        n_censored=int(np.sum(subject.cens != 0)),
        n_discarded=n_disc,
        n_starts=len(results),
        n_starts_agree=agree,
        ipred=ipred,
        pred=pred,
    )


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
            r["converged"] = f.converged
            r.update(
                status=f.status.name,
                blq=f.blq,
                prior=f.prior,
                sigma=self.sigma,
                objective=f.objective,
                n_obs=f.n_obs,
                n_censored=f.n_censored,
                n_discarded=f.n_discarded,
                n_starts=f.n_starts,
                n_starts_agree=f.n_starts_agree,
            )
            # an estimated sigma named like a column already there (the error model's
            # `sigma` vs the `sigma` option column) is written as `<name>_estimate`
            r.update({_sigma_column(n): f.estimate.get(n, math.nan) for n in sig})
            for n in names:
                r[f"{n}_se"] = f.se.get(n, math.nan)
            for n in names:
                r[f"{n}_identifiable"] = f.identifiable.get(n, False)
            for n in names:
                r[f"{n}_at_bound"] = f.at_bound.get(n, False)
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


def _sigma_column(name: str) -> str:
    """Column of an estimated residual-error parameter in :meth:`IndividualFit.table`."""
    return f"{name}_estimate" if name == "sigma" else name


def _n_workers(n_jobs: int | None, n: int) -> int:
    cpu = os.cpu_count() or 1
    if n_jobs is None or n_jobs < 0:
        n_jobs = cpu
    return max(1, min(int(n_jobs), n))


def fit_individual(
    model: Model,
    dataset: Dataset | pd.DataFrame | str | os.PathLike[str],
    *,
    dvid: str | Sequence[str] | None = None,
    blq: BlqMethod = "m3",
    prior: PriorKind = None,
    sigma: SigmaKind = "fixed",
    n_starts: int | None = None,
    seed: int | None = 0,
    n_jobs: int | None = None,
    progress: bool | None = None,
    ci_level: float = 0.95,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    ci: CiKind = "auto",
    gradient: GradientKind = "auto",
    ode_engine: str | None = None,
    ode_method: str | None = None,
) -> IndividualFit:
    """Fit every subject of a dataset separately, by maximum likelihood or MAP.

    Parameters
    ----------
    model : Model
        The declaration (``cartpk.load_model("stein2019")``).
    dataset : Dataset, DataFrame or path
        Validated data, or anything :func:`cartpk.read_dataset` reads.
    dvid : str or sequence of str, optional
        Data DVIDs to fit (default: the model's outputs).
    blq : {"m3", "m4", "m1"}, default "m3"
        Censoring method; recorded in every output table. ``"m1"`` (discard) only when
        asked for; discarded records are listed in :attr:`IndividualFit.excluded`.
    prior : {None, "population"}, default None
        ``"population"``: MAP with the typical values (covariates applied) and ``omega`` as
        a normal prior on the transformed scale: what sparse designs (no sample before
        day 7) need for ``tmax`` and ``foldx``.
    sigma : {"fixed", "estimate"}, default "fixed"
        Residual error fixed at the declaration's value (default: a handful of samples
        cannot estimate it per subject) or estimated per subject.
    n_starts : int, optional
        Local optimisations per subject (deterministic given ``seed``). Default 8 where
        the subjects are optimised in one stack (closed-form models with fixed sigma and
        additive or log-additive error: starts are cheap there), else 4. On a rich
        design 8 starts end at an objective at least as low as a Nelder-Mead fit from
        the typical values for 99 % of subjects (4 starts: 96 %; the hard switch at
        ``tmax`` makes the objective kinked where ``tmax`` equals a sampling day).
    seed : int, optional
        Master seed; each subject's stream derives from ``(seed, ID)``, so results do not
        depend on subject order or on ``n_jobs``.
    n_jobs : int, optional
        Worker processes (default: all cores; 1 runs in this process).
    progress : bool, optional
        Progress bar on stderr; default only when stderr is a terminal.
    ci_level : float, default 0.95
        Confidence level.
    bounds : mapping of str to (float, float), optional
        Natural-scale search range per parameter (see :func:`fit_subject`).
    ci : {"auto", "wald", "profile"}, default "auto"
        Confidence intervals (see :func:`fit_subject`); ``"wald"`` skips the profile
        likelihoods, which dominate the run time for sparse designs.
    gradient, ode_engine, ode_method
        Exact derivatives for ODE models through the ODE engine (see :func:`fit_subject`).
        Worker processes are spawned, not forked, when the JAX engine runs.

    Returns
    -------
    IndividualFit
        ``.parameters`` (long), ``.table()`` (one row per ID), ``.predictions``,
        ``.status``, ``.excluded``, ``.plot_fits()``, ``.plot_residuals()``.

    Raises
    ------
    SpecError
        ``blq_method``, ``prior_kind``, ``sigma_kind``, ``dvid_*``, ``covariate_missing``,
        ``gradient_kind``, ``gradient_exact``, ``ode_engine``, ``ode_method``.
    DatasetError
        When ``dataset`` is a table or path that does not validate.

    See Also
    --------
    fit_subject : the per-subject unit of work.
    cartpk.fit.loglik : the censored likelihood.

    Examples
    --------
    >>> import cartpk as ck
    >>> model = ck.load_model("stein2019")
    >>> days = [1, 2, 3, 5, 7, 10, 14, 21, 28, 42, 60, 90, 180, 365]
    >>> sim = ck.simulate(model, n=2, seed=4, lloq=50, days=days)
    >>> fit = ck.fit_individual(model, sim, n_jobs=1, n_starts=1)
    >>> fit.table()[["ID", "converged"]].shape
    (2, 2)
    """
    from tqdm.auto import tqdm

    from cartpk.data import Dataset as _Dataset
    from cartpk.data import read_dataset

    method, prior_name = _check_options(blq, prior, sigma, ci)
    engine = _exact_engine(model, gradient, ode_engine, ode_method)  # checked before any work
    ds = dataset if isinstance(dataset, _Dataset) else read_dataset(dataset)
    subjects = subjects_from_dataset(model, ds, dvid=dvid)
    if not subjects:
        raise FitError(
            "The dataset has no subjects to fit.",
            [Violation("no_subjects", "no subject found", fix="check the data")],
        )
    work = partial(
        fit_subject,
        model,
        blq=method,
        prior=prior,
        sigma=sigma,
        n_starts=4 if n_starts is None else n_starts,
        seed=seed,
        ci_level=ci_level,
        bounds=dict(bounds) if bounds else None,
        ci=ci,
        gradient=gradient,
        ode_engine=ode_engine,
        ode_method=ode_method,
    )
    show = sys.stderr.isatty() if progress is None else bool(progress)
    workers = _n_workers(n_jobs, len(subjects))
    bar = tqdm(
        total=len(subjects),
        desc="fit_individual",
        unit="subject",
        file=sys.stderr,
        disable=not show,
    )
    try:
        fits = None
        if engine is None:  # closed form, sum of squares: every subject in one stack
            from cartpk.fit._batch import fit_stacked

            fits = fit_stacked(
                model,
                subjects,
                blq=method,
                prior_name=prior_name,
                sigma=sigma,
                bounds=dict(bounds) if bounds else None,
                n_starts=8 if n_starts is None else n_starts,
                seed=seed,
                ci=ci,
                ci_level=ci_level,
                done=bar.update,
            )
        if fits is not None:
            pass
        elif workers == 1:
            fits = []
            for s in subjects:
                fits.append(work(s))
                bar.update(1)
        else:
            chunk = max(1, len(subjects) // (workers * 8))
            # JAX runs threads of its own: forked workers could deadlock in it
            ctx = multiprocessing.get_context("spawn") if engine == "jax" else None
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
                fits = []
                for f in ex.map(work, subjects, chunksize=chunk):
                    fits.append(f)
                    bar.update(1)
    finally:
        bar.close()
    return IndividualFit(
        model=model,
        subjects=subjects,
        fits=fits,
        blq=method,
        prior="population" if prior == "population" else "none",
        sigma=sigma,
        seed=seed,
    )
