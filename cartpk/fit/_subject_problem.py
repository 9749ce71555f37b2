"""One subject's fitting problem: the censored objective on the transformed scale.

:class:`_Problem` evaluates ``-2 log L`` (``- 2 log prior`` for MAP) of one subject for many
candidate points at once, its residuals (a sum of squares where the error model allows) and,
for ODE models, exact derivatives from the ODE engine's sensitivities; :func:`_spec` sets its
free parameters and search box.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.fit._likelihood import BlqMethod, log_ndtr, loglik
from cartpk.model._transforms import transform_of

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.fit._subjects import SubjectData
    from cartpk.fit.individual import SigmaKind
    from cartpk.model import ErrorModel, Model


_BIG = 1e12  # objective returned where the likelihood is not finite (keeps L-BFGS-B going)


_BOX_MIN_HALF_WIDTH = math.log(1000.0)  # search range at least x/÷ 1000 around the start


_BOX_OMEGAS = 8.0  # ... or +-8 population SDs on the transformed scale


def _to_nat(transform: str | None, h: Any) -> Any:
    return transform_of(transform).backward(np, h)


def _to_tr(transform: str | None, v: Any) -> Any:
    return transform_of(transform).forward(np, v)


def _dnat_dh(transform: str | None, v: float) -> float:
    """Derivative of the natural value with respect to the transformed one (delta method)."""
    return transform_of(transform).dnat_dh(v)


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
    from cartpk.ode._jax import _jax

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

    def _observed(self) -> Iterator[tuple[str, ErrorModel, np.ndarray]]:
        """Each output with records of the subject: its name, error model and records' mask."""
        for name, err in self.errors.items():
            m = self.s.output == name
            if m.any():
                yield name, err, m

    def loglik(self, h: np.ndarray) -> np.ndarray:
        """Elementwise log-likelihood ``(k, n_obs)``."""
        f = self.predict(h)
        sig = self.sigmas(h)
        ll = np.empty_like(f)
        for _, err, m in self._observed():
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
            for _, err, m in self._observed():
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
        for name, _, m in self._observed():
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
            for _, err, m in self._observed():
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
        for _, err, m in self._observed():
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
