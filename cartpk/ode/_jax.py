"""JAX/diffrax ODE engine: an ``OdeModel`` declaration compiled into a jittable function.

The model's own equations (``rhs``, ``initial``, ``observe``, optional ``breakpoints``)
are called with ``xp=jax.numpy``; nothing is rewritten. :func:`compile_ode` returns a
:class:`JaxOde` whose :meth:`JaxOde.solve` is a pure, jittable JAX function of
``(time, params, dose, time_varying)``, vmapped over subjects, with one ``lax.while_loop``
per subject (the "fused" loop; explicit tableaus read from diffrax, the ESDIRK and
Rosenbrock23 steps written here):

* **events** and outputs inside the loop: each iteration applies the next event (a
  fraction of a split dose (``dosing``), a change of a time-varying covariate, or a
  parameter-dependent switch time returned by ``breakpoints``, e.g. Stein's ``tmax``),
  records the outputs due, or takes an adaptive step that stops exactly at the next event
  or output time. Event times are sorted at run time, so a switch may fall before or after
  a dose. A switch time is an integration *bound*: the jump ``(f^- - f^+) dtau/dp`` of the
  sensitivities is added explicitly (zero in value), so the derivative with respect to it
  is exact; between events the equations see times clamped to the open interval, as in
  the SciPy engine;
* **gradients**: forward mode. The solve is a ``jax.custom_jvp`` whose rule computes the
  per-subject Jacobian (one ``jax.jvp`` direction per parameter, vmapped; only for the
  inputs that carry a tangent, known at trace time through symbolic zeros) and returns
  ``J @ tangent``. That rule is linear in the tangents, so reverse mode (``jax.grad``,
  ``jax.vjp``) works too, with the Jacobian computed in the forward pass. This beat
  diffrax's reverse-mode adjoint by measurement (``docs/ode_engine.md``; the
  ``diffeqsolve`` path used for that comparison was removed as unused);
* **failures** never come back as a silent NaN: each subject has a status code
  (:data:`STATUS`: 0 success, 1 solver failed, 2 non-finite), and a failed subject's
  outputs are NaN.

Solvers: ``BDF``/``Radau`` (stiff declarations) -> ``diffrax.Kvaerno5`` (L-stable ESDIRK);
``DOP853`` -> ``Dopri8``; ``RK45``/``LSODA`` -> ``Tsit5``; ``RK23`` -> ``Bosh3``; diffrax
names are accepted as well. Step size: an integral controller on the error norm with the
declaration's ``rtol`` and ``atol`` (or overrides).

Importing this module imports nothing heavy; the first call of :func:`compile_ode`
imports JAX and diffrax and switches JAX to float64 (``jax_enable_x64``), for the whole
process.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.errors import ModelError, Violation
from cartpk.ode._jax_steps import (
    _erk_step,
    _esdirk_step,
    _jax,
    _rosenbrock23_step,
    _tableau,
)
from cartpk.ode._request import OdeRequest, _func, ode_request
from cartpk.ode._request import _kw as _keyword_only
from cartpk.ode._solve import OdeSolution, OdeStatus

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.model._ode_model import OdeModel

__all__ = ["STATUS", "JaxOde", "compile_ode", "jax_available", "status_of", "unsupported"]

#: status code -> :class:`OdeStatus` (index = code)
STATUS: tuple[OdeStatus, ...] = (OdeStatus.success, OdeStatus.solver_failed, OdeStatus.nonfinite)

_SCIPY_TO_DIFFRAX = {
    "BDF": "Kvaerno5",
    "Radau": "Kvaerno5",
    "LSODA": "Tsit5",
    "RK45": "Tsit5",
    "DOP853": "Dopri8",
    "RK23": "Bosh3",
}
_DIFFRAX_SOLVERS = ("Tsit5", "Dopri5", "Dopri8", "Bosh3", "Kvaerno3", "Kvaerno4", "Kvaerno5")
_OWN_SOLVERS = ("Rosenbrock23",)  # not in diffrax: written here (fused loop only)
_LOCK = threading.Lock()
_CACHE: dict[tuple[Any, ...], JaxOde] = {}


def jax_available() -> bool:
    """Whether JAX and diffrax can be imported (without importing them twice)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("jax", "diffrax"))


def status_of(codes: Any) -> tuple[OdeStatus, ...]:
    """Status codes (array of 0/1/2) as :class:`OdeStatus` members."""
    return tuple(STATUS[int(c)] for c in np.asarray(codes).reshape(-1))


def _kw(func: Any) -> tuple[str, ...]:
    """Keyword-only argument names of an optional equation (``()`` when not declared)."""
    return () if func is None else tuple(_keyword_only(func))


def unsupported(model: OdeModel | type) -> list[Violation]:
    """Features of a declaration the JAX engine refuses (empty: supported).

    Every feature of :class:`~cartpk.model.OdeModel` is supported today (split dosing,
    ``breakpoints``, time-varying covariates, per-subject time grids); what remains is a
    method name neither SciPy's nor diffrax's. Equations that cannot run under
    ``jax.numpy`` (e.g. Python ``if`` on a value) fail when traced, with JAX's error.

    Parameters
    ----------
    model : OdeModel or its class

    Returns
    -------
    list of Violation
    """
    cls = model if isinstance(model, type) else type(model)
    method = dict(getattr(cls, "solver", {}) or {}).get("method", "BDF")
    out: list[Violation] = []
    if method not in _SCIPY_TO_DIFFRAX and method not in _DIFFRAX_SOLVERS + _OWN_SOLVERS:
        out.append(
            Violation(
                "ode_jax_unsupported",
                f"solver method `{method}` has no diffrax counterpart",
                value=repr(method),
                expected=f"one of {sorted(_SCIPY_TO_DIFFRAX) + list(_DIFFRAX_SOLVERS + _OWN_SOLVERS)}",
                fix='use engine="scipy", or declare a supported method',
            )
        )
    return out


def _solver_name(method: str) -> str:
    name = _SCIPY_TO_DIFFRAX.get(method, method)
    if name not in _DIFFRAX_SOLVERS + _OWN_SOLVERS:
        raise ModelError(
            f"The JAX ODE engine has no solver `{method}`.",
            [
                Violation(
                    "ode_jax_unsupported",
                    f"solver method `{method}` has no diffrax counterpart",
                    value=repr(method),
                    expected=f"one of {sorted(_SCIPY_TO_DIFFRAX) + list(_DIFFRAX_SOLVERS + _OWN_SOLVERS)}",
                    fix='pick a supported `method`, or use engine="scipy"',
                )
            ],
        )
    return name


@dataclass
class _Setup:
    """One subject, ready to integrate (see :meth:`JaxOde._setup`)."""

    ts: Any
    order: Any
    y_start: Any
    dosed_full: Any
    events: Any
    frac: Any
    onehot: Any
    value: Any
    cov0: Any
    field: Callable[..., Any]
    observe_kw: dict[str, Any]


def compile_ode(
    model: OdeModel | type[OdeModel],
    *,
    method: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    max_steps: int = 16_384,
) -> JaxOde:
    """Compile an ODE model's declaration into a JAX engine (cached per options).

    Parameters
    ----------
    model : OdeModel or its class
        The declaration; only its class is used (fixed values are passed in ``params``).
    method : str, optional
        SciPy name (``"BDF"``, ``"Radau"``, ``"LSODA"``, ``"RK45"``, ``"DOP853"``,
        ``"RK23"``) or diffrax name (``"Kvaerno5"``, ``"Tsit5"``, ...); default
        ``model.solver["method"]``.
    rtol, atol : float, optional
        Step-size control tolerances (default: ``model.solver``).
    max_steps : int, default 16384
        Steps per subject before it is flagged ``solver_failed``.

    Returns
    -------
    JaxOde

    Raises
    ------
    ModelError
        ``ode_jax_unsupported`` for a method without a diffrax counterpart.
    """
    cls = model if isinstance(model, type) else type(model)
    opts = dict(getattr(cls, "solver", {}) or {})
    name = _solver_name(method or opts.get("method", "BDF"))
    r = float(rtol if rtol is not None else opts.get("rtol", 1e-8))
    a = float(atol if atol is not None else opts.get("atol", 1e-10))
    key = (cls, name, r, a, int(max_steps))
    with _LOCK:
        eng = _CACHE.get(key)
        if eng is None:
            eng = _CACHE[key] = JaxOde(cls, name, r, a, int(max_steps))
    return eng


@dataclass(eq=False)
class JaxOde:
    """A compiled ODE declaration (build it with :func:`compile_ode`).

    Attributes
    ----------
    model_class : type
        The :class:`~cartpk.model.OdeModel` subclass.
    solver_name : str
        The diffrax solver.
    rtol, atol : float
        Step-size controller tolerances.
    max_steps : int
        Steps per subject before it is flagged ``solver_failed``.
    parameters : tuple of str
        Names ``solve`` needs in ``params`` (every structural parameter the equations take).
    """

    model_class: type
    solver_name: str
    rtol: float
    atol: float
    max_steps: int
    parameters: tuple[str, ...] = field(init=False)
    _jitted: dict[Any, Any] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        cls = self.model_class
        self.states = tuple(cls.states)
        self.outputs = tuple(cls.outputs)
        self.f_rhs, self.f_init = _func(cls, "rhs"), _func(cls, "initial")
        self.f_obs, self.f_bp = _func(cls, "observe"), _func(cls, "breakpoints")
        self.tv_names = tuple(getattr(cls, "time_varying", {}) or {})
        self.tv_default = np.array([float(cls.time_varying[k]) for k in self.tv_names], dtype=float)
        self.kw_rhs = _kw(self.f_rhs)
        self.kw_init = _kw(self.f_init)
        self.kw_obs = _kw(self.f_obs)
        self.kw_bp = _kw(self.f_bp)
        data = {"dose", *self.tv_names}
        names: list[str] = []
        for kws in (self.kw_rhs, self.kw_init, self.kw_obs, self.kw_bp):
            names += [k for k in kws if k not in data and k not in names]
        self.parameters = tuple(names)
        dosed = set(cls.dosed_states or self.states)
        self.dosed_mask = np.array([s in dosed for s in self.states], dtype=float)
        sched = sorted((float(t), float(f)) for t, f in cls.dosing) if cls.dosing else []
        self.dose_times = np.array([t for t, _ in sched], dtype=float)
        self.dose_fracs = np.array([f for _, f in sched], dtype=float)

    # -- public, pure JAX ----------------------------------------------------------------
    def solve(
        self,
        time: Any,
        params: Mapping[str, Any],
        dose: Any = None,
        time_varying: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], Any]:
        """Predictions of every subject: a pure, jittable, differentiable JAX function.

        Parameters
        ----------
        time : array
            ``(n_t,)`` shared or ``(n_subjects, n_t)`` days (>= 0, any order, repeats
            allowed).
        params : mapping of str to array
            Every name in :attr:`parameters` (fixed ones included), natural scale:
            scalars or ``(n_subjects,)``.
        dose : array, optional
            ``AMT`` per subject or scalar (needed when ``initial`` or ``rhs`` takes it).
        time_varying : mapping of str to (times, values), optional
            Step functions of declared time-varying covariates, ``(k,)`` or
            ``(n_subjects, k)`` each; before the first change the declared default holds.
            Change times beyond the last output time (or ``inf``) never apply.

        Returns
        -------
        values : dict of str to Array
            ``{DVID: (n_subjects, n_t)}``; NaN for failed subjects.
        status : Array
            ``(n_subjects,)`` int32 codes (:data:`STATUS`: 0 success, 1 solver failed,
            2 non-finite); :func:`status_of` converts them.

        Notes
        -----
        Differentiable in ``params`` and ``dose`` (forward or reverse mode); a tangent on
        ``time`` or on the covariates' change times/values raises ``ode_jax_grad``.
        """
        _, jnp, _ = _jax()
        request = ode_request(
            self.model_class, time, params, dose=dose, time_varying=time_varying, xp=jnp
        )
        vals, status = self._batched(*self._inputs(request, jnp))
        return dict(zip(self.outputs, vals, strict=True)), status

    @functools.cached_property
    def solve_jit(self) -> Callable[..., Any]:
        """The jitted :meth:`solve` (one per engine; JAX caches a compilation per shape)."""
        jax, _, _ = _jax()
        return jax.jit(self.solve)

    def jacobian(self, request: OdeRequest, wrt: Sequence[str] | None = None) -> OdeSolution:
        """Values, ``d value / d parameter`` by name and status, as NumPy (host helper).

        Parameters
        ----------
        request : OdeRequest
            Checked inputs (:func:`cartpk.ode._request.ode_request`) with every name in
            :attr:`parameters`.
        wrt : sequence of str, optional
            Parameters (or ``"dose"``) to differentiate (default: every parameter of the
            request).

        Returns
        -------
        OdeSolution
            Same layout as :meth:`OdeModel.evaluate_with_jacobian`; Jacobians of failed
            subjects are NaN and flagged in ``status``.
        """
        jax, _, _ = _jax()
        wrt_t = tuple(request.params) if wrt is None else tuple(wrt)
        key = ("jac", wrt_t)
        fn = self._jitted.get(key)
        if fn is None:
            fn = self._jitted[key] = jax.jit(functools.partial(self._subject_jacobian, wrt=wrt_t))
        # one transfer to NumPy: indexing the JAX arrays instead would dispatch an eager
        # XLA op per output and parameter (measured: a third of a 10-subject gradient)
        vals, jac, status = jax.device_get(fn(*self._inputs(request, np)))
        values = {dv: np.asarray(v) for dv, v in zip(self.outputs, vals, strict=True)}
        jacobian = {
            dv: {w: np.asarray(jac[w][k]) for w in wrt_t} for k, dv in enumerate(self.outputs)
        }
        return OdeSolution(values, jacobian, status_of(status), np.array(request.time_rows()))

    def value_and_jacobian(
        self,
        time: Any,
        params: Mapping[str, Any],
        *,
        wrt: Sequence[str] | None = None,
        **design: Any,
    ) -> OdeSolution:
        """:meth:`jacobian` of the model's inputs, checked by ``ode_request``.

        Parameters
        ----------
        time : array
            ``(n_t,)`` shared or ``(n_subjects, n_t)`` days (>= 0, any order).
        params : mapping of str to array
            Every name in :attr:`parameters` (fixed ones included), scalars or one per
            subject.
        wrt : sequence of str, optional
            As for :meth:`jacobian`.
        **design
            ``dose`` and ``time_varying``, as for :func:`cartpk.ode._request.ode_request`.

        Returns
        -------
        OdeSolution
        """
        return self.jacobian(ode_request(self.model_class, time, params, **design), wrt)

    # -- preparation ---------------------------------------------------------------------
    def _inputs(
        self, request: OdeRequest, xp: Any
    ) -> tuple[Any, dict[str, Any], Any, tuple[Any, Any, Any]]:
        """The request as the loop's arrays, in the namespace ``xp``.

        Times ``(n, n_t)``, the parameters the equations take and the dose ``(n,)``, and
        the covariate changes flattened over covariates: change times ``(n, K)``, new
        values ``(n, K)`` and which covariate changes, one-hot ``(n, K, n_cov)``. Raises
        ``missing_parameter`` when the request lacks a parameter of the equations.
        """
        missing = [k for k in self.parameters if k not in request.params]
        if missing:
            raise ModelError(
                f"The JAX engine of `{self.model_class.__name__}` needs every parameter.",
                [
                    Violation(
                        "missing_parameter",
                        f"no value for `{k}`",
                        value=k,
                        fix="pass every structural parameter, fixed ones included",
                    )
                    for k in missing
                ],
            )
        n = request.n
        p = {k: request.params[k] for k in self.parameters}
        d = xp.zeros(n) if request.dose is None else request.dose
        given = [k for k in self.tv_names if k in request.steps]
        tvt = [request.steps[k][0] for k in given]
        tvv = [request.steps[k][1] for k in given]
        index = np.concatenate(
            [np.full(request.steps[k][0].shape[1], self.tv_names.index(k)) for k in given]
            or [np.zeros(0, dtype=int)]
        )
        onehot = np.zeros((index.size, len(self.tv_names)))
        onehot[np.arange(index.size), index] = 1.0
        sched = (
            xp.concatenate(tvt, axis=1) if tvt else xp.zeros((n, 0)),
            xp.concatenate(tvv, axis=1) if tvv else xp.zeros((n, 0)),
            xp.broadcast_to(xp.asarray(onehot), (n, *onehot.shape)),
        )
        return request.time_rows(xp), p, d, sched

    # -- one subject ---------------------------------------------------------------------
    def _setup(self, t: Any, p: Mapping[str, Any], dose: Any, sched: Any) -> _Setup:
        """Sorted times, initial state, sorted events and the vector field of one subject."""
        jax, jnp, _ = _jax()
        tvt, tvv, tvo = sched
        order = jnp.argsort(t)
        ts = t[order]

        def kw(names: Sequence[str], extra: Mapping[str, Any]) -> dict[str, Any]:
            out = {k: p[k] for k in names if k in p}
            out.update({k: v for k, v in extra.items() if k in names})
            return out

        y0 = self.f_init(jnp, **kw(self.kw_init, {"dose": dose}))
        missing = [s for s in self.states if s not in y0]
        if missing:
            raise ModelError(
                "`initial` does not give every state.",
                [Violation("ode_initial", "states missing from `initial`", value=repr(missing))],
            )
        full = jnp.stack([jnp.asarray(y0[s], dtype=jnp.float64).reshape(()) for s in self.states])
        dosed_full = jnp.asarray(self.dosed_mask) * full
        y_start = full - dosed_full if self.dose_times.size else full
        bps = self.f_bp(jnp, **kw(self.kw_bp, {})) if self.f_bp is not None else {}
        bp_t = [jnp.asarray(v, dtype=jnp.float64).reshape(()) for v in bps.values()]
        n_dose, n_tv, n_bp = self.dose_times.size, int(tvt.shape[0]), len(bp_t)
        n_cov = len(self.tv_names)
        e = jnp.concatenate(
            [jnp.asarray(self.dose_times), tvt, jnp.stack(bp_t) if bp_t else jnp.zeros(0)]
        )
        e = jnp.where(jnp.isnan(e), jnp.inf, e)  # a NaN change time never happens
        frac = jnp.asarray(np.concatenate([self.dose_fracs, np.zeros(n_tv + n_bp)]))
        onehot = jnp.concatenate([jnp.zeros((n_dose, n_cov)), tvo, jnp.zeros((n_bp, n_cov))])
        val = jnp.concatenate([jnp.zeros(n_dose), tvv, jnp.zeros(n_bp)])
        srt = jnp.argsort(e, stable=True)
        rhs, states, tv_names, kw_rhs = self.f_rhs, self.states, self.tv_names, self.kw_rhs
        rhs_p = {k: p[k] for k in kw_rhs if k in p}
        if "dose" in kw_rhs:
            rhs_p["dose"] = dose

        rhs_frozen = {k: jax.lax.stop_gradient(v) for k, v in rhs_p.items()}

        def field(tt: Any, y: Sequence[Any], cov: Any, frozen: bool = False) -> tuple[Any, ...]:
            """The model's ``rhs`` on a tuple of state components (scalars); ``frozen``:
            parameters without derivative (for the Newton matrix)."""
            extra = {k: cov[i] for i, k in enumerate(tv_names) if k in kw_rhs}
            kw = rhs_frozen if frozen else rhs_p
            dy = rhs(jnp, tt, dict(zip(states, y, strict=True)), **kw, **extra)
            return tuple(jnp.asarray(dy[s], jnp.float64).reshape(()) for s in states)

        return _Setup(
            ts=ts,
            order=order,
            y_start=y_start,
            dosed_full=dosed_full,
            events=e[srt],
            frac=frac[srt],
            onehot=onehot[srt],
            value=val[srt],
            cov0=jnp.asarray(self.tv_default),
            field=field,
            observe_kw=kw(self.kw_obs, {}),
        )

    def _subject(
        self, t: Any, p: Mapping[str, Any], dose: Any, sched: Any, jumps: bool = False
    ) -> Any:
        """``(outputs (n_out, n_t), status)`` of one subject (scalar parameters)."""
        _, jnp, _ = _jax()
        su = self._setup(t, p, dose, sched)
        y_t, ok = self._integrate_fused(su, jumps)
        obs = self.f_obs(jnp, {s: y_t[:, i] for i, s in enumerate(self.states)}, **su.observe_kw)
        inv = jnp.argsort(su.order)
        out = jnp.stack(
            [
                jnp.broadcast_to(jnp.asarray(obs[dv], jnp.float64), su.ts.shape)[inv]
                for dv in self.outputs
            ]
        )
        status = jnp.where(ok, jnp.where(jnp.all(jnp.isfinite(out)), 0, 2), 1).astype(jnp.int32)
        return jnp.where(status == 0, out, jnp.nan), status

    def _integrate_fused(self, su: _Setup, jumps: bool) -> tuple[Any, Any]:
        """One ``lax.while_loop``: steps, events and outputs of one subject.

        Each iteration either applies the next event (at its time, before recording outputs
        there: right-continuous), records the outputs at the current time, or attempts one
        step that stops exactly at the next event or output time. Stages are unrolled, so
        XLA fuses a step into a few kernels. The time grid carries no derivative; with
        ``jumps`` the sensitivity jump at a switch time is added explicitly (only needed
        under differentiation: in value it is zero).
        """
        jax, jnp, _ = _jax()
        lax = jax.lax
        rosenbrock = self.solver_name == "Rosenbrock23"
        tab = _tableau("Bosh3" if rosenbrock else self.solver_name)  # Bosh3: unused there
        ts, field = su.ts, su.field
        nt, ns = ts.shape[0], su.y_start.shape[0]
        t_end = ts[-1]
        inf1 = jnp.full(1, jnp.inf)
        ev = jnp.concatenate([su.events, inf1])
        frac = jnp.concatenate([su.frac, jnp.zeros(1)])
        onehot = jnp.concatenate([su.onehot, jnp.zeros((1, su.onehot.shape[1]))])
        value = jnp.concatenate([su.value, jnp.zeros(1)])
        rtol, atol = self.rtol, self.atol
        expo = -1.0 / (3 if rosenbrock else tab.order)
        idx = jnp.arange(nt)
        sg = lax.stop_gradient

        def norm(err: Sequence[Any], y: Sequence[Any], y1: Sequence[Any]) -> Any:
            total = 0.0
            for e, a, b in zip(err, y, y1, strict=True):
                total = total + (e / (atol + rtol * jnp.maximum(jnp.abs(a), jnp.abs(b)))) ** 2
            return jnp.sqrt(total / len(err))

        def f_at(tt: Any, y: Any, cov: Any, lo: Any, hi: Any, frozen: bool = False) -> Any:
            return field(jnp.clip(tt, lo, hi), y, cov, frozen)

        if rosenbrock:
            step = _rosenbrock23_step(f_at, norm)
        else:
            step = (_esdirk_step if tab.implicit else _erk_step)(tab, f_at, norm)

        def cond(st: Any) -> Any:
            return (st["j"] < nt) & st["ok"]

        def body(st: Any) -> Any:
            t, y, h, k, j, cov, lo = (st[q] for q in ("t", "y", "h", "k", "j", "cov", "lo"))
            e_var = ev[k]  # a switch time carries the derivative of `breakpoints`
            e_next = sg(e_var)  # the time grid itself carries none
            at_event = e_next <= t
            # 1. the next event is due: dose fraction, covariate change or switch time. The
            # solution is continuous at a switch time tau(p), its derivative jumps by
            # (f- - f+) dtau/dp: added as (f- - f+) (tau - stop_gradient(tau)), zero in value.
            y_ev = tuple(yc + frac[k] * dc for yc, dc in zip(y, dosed, strict=True))
            if jumps:
                delta = 1e-9 * jnp.maximum(1.0, jnp.abs(e_next))
                f_minus = field(e_next - delta, y, cov)
                f_plus = field(e_next + delta, y, cov)
                shift = e_var - e_next
                y_ev = tuple(
                    a + (fm - fp) * shift for a, fm, fp in zip(y_ev, f_minus, f_plus, strict=True)
                )
            cov_ev = jnp.where(onehot[k] > 0, value[k], cov)
            # 2. record every output at or before t not yet recorded (after the events at t)
            rec = ~at_event & (ts[j] <= t)
            mask = rec & (ts <= t) & (idx >= j)
            out = tuple(jnp.where(mask, yc, oc) for yc, oc in zip(y, st["out"], strict=True))
            # 3. a step towards the next stop
            do_step = ~at_event & ~rec
            target = jnp.minimum(e_next, ts[j])
            hi = jnp.minimum(e_next, t_end)
            eps = jnp.minimum(1e-9 * jnp.maximum(1.0, jnp.abs(hi)), 0.25 * (hi - lo))
            hh = jnp.minimum(h, target - t)
            hh = jnp.where(do_step, hh, jnp.minimum(h, 1.0))  # a harmless step when idle
            y1, en, conv = step(t, y, hh, cov, lo + eps, hi - eps)
            en = sg(en)
            finite = jnp.isfinite(en)
            accept = do_step & finite & (en <= 1.0) & conv
            fac = jnp.where(finite, jnp.clip(0.9 * jnp.maximum(en, 1e-10) ** expo, 0.2, 10.0), 0.2)
            fac = jnp.where(conv, fac, 0.3)
            clipped = hh < h
            h_new = sg(jnp.where(accept & clipped, jnp.maximum(h, hh * fac), hh * fac))
            last = hh >= target - t
            t_new = jnp.where(last, target, t + hh)
            too_small = do_step & ~accept & (hh * fac < 1e-14 * jnp.maximum(1.0, jnp.abs(t)))
            n_new = st["n"] + do_step
            return {
                "t": jnp.where(accept, t_new, t),
                "y": tuple(
                    jnp.where(at_event, a, jnp.where(accept, b, c))
                    for a, b, c in zip(y_ev, y1, y, strict=True)
                ),
                "h": jnp.where(do_step, h_new, h),
                "k": jnp.where(at_event, k + 1, k),
                "j": jnp.where(rec, j + jnp.sum(mask), j),
                "cov": jnp.where(at_event, cov_ev, cov),
                "lo": jnp.where(at_event, e_next, lo),
                "out": out,
                "n": n_new,
                "ok": st["ok"] & ~too_small & (n_new < self.max_steps),
            }

        y0 = tuple(su.y_start[i] for i in range(ns))
        dosed = tuple(su.dosed_full[i] for i in range(ns))
        # initial step: Hairer & Wanner's heuristic on the first interval
        hi0 = jnp.minimum(ev[0], t_end)
        f0 = jnp.stack(field(jnp.clip(0.0, 0.0, hi0), y0, su.cov0))
        sc = atol + rtol * jnp.abs(su.y_start)
        d0 = jnp.sqrt(jnp.mean((su.y_start / sc) ** 2))
        d1 = jnp.sqrt(jnp.mean((f0 / sc) ** 2))
        h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / jnp.maximum(d1, 1e-300))
        h0 = sg(jnp.clip(h0, 1e-10, jnp.maximum(t_end, 1.0)))
        st0 = {
            "t": jnp.asarray(0.0),
            "y": y0,
            "h": h0,
            "k": jnp.asarray(0),
            "j": jnp.asarray(0),
            "cov": su.cov0,
            "lo": jnp.asarray(0.0),
            "out": tuple(jnp.zeros(nt) for _ in range(ns)),
            "n": jnp.asarray(0),
            "ok": jnp.asarray(True),
        }
        st = lax.while_loop(cond, body, st0)
        return jnp.stack(st["out"], axis=1), st["ok"]

    # -- batched + derivatives -----------------------------------------------------------
    def _values(self, t: Any, p: Any, d: Any, sched: Any, jumps: bool = False) -> Any:
        jax, _, _ = _jax()
        return jax.vmap(functools.partial(self._subject, jumps=jumps))(t, p, d, sched)

    def _subject_jacobian(
        self, t: Any, p: Mapping[str, Any], d: Any, sched: Any, wrt: Sequence[str]
    ) -> tuple[Any, dict[str, Any], Any]:
        """Values ``(n_out, n, n_t)``, ``{name: (n_out, n, n_t)}`` and status (forward mode).

        Subjects are independent, so one JVP with the tangent ``1`` for parameter ``k`` of
        *every* subject gives ``d out_i / d p_ik`` for all subjects at once: one direction
        per parameter, vmapped (subjects stay the minor, vectorised axis).
        """
        jax, jnp, _ = _jax()
        wrt = tuple(wrt)

        def f(w: Mapping[str, Any]) -> Any:
            q = dict(p)
            q.update({k: v for k, v in w.items() if k != "dose"})
            return self._values(t, q, w.get("dose", d), sched, jumps=True)

        w0 = {k: (d if k == "dose" else p[k]) for k in wrt}
        n = t.shape[0]
        basis = {
            k: jnp.asarray(np.eye(len(wrt))[:, i : i + 1] * np.ones((1, n)))
            for i, k in enumerate(wrt)
        }
        if wrt:
            (out, status), (jac_rows, _) = jax.vmap(
                lambda v: jax.jvp(f, (w0,), (v,)), out_axes=((None, None), (0, None))
            )(basis)
        else:
            out, status = f(w0)
            jac_rows = jnp.zeros((0, *out.shape))
        # out: (n, n_out, n_t); jac_rows: (n_wrt, n, n_out, n_t)
        finite = jnp.all(jnp.isfinite(jac_rows), axis=(0, 2, 3))
        status = jnp.where((status == 0) & ~finite, 2, status).astype(jnp.int32)
        bad = (status != 0)[:, None, None]
        out = jnp.swapaxes(jnp.where(bad, jnp.nan, out), 0, 1)
        jac = {
            k: jnp.swapaxes(jnp.where(bad, jnp.nan, jac_rows[i]), 0, 1) for i, k in enumerate(wrt)
        }
        return out, jac, status

    @functools.cached_property
    def _batched(self) -> Callable[..., Any]:
        """``(t, p, d, sched) -> ((n_out, n, n_t), status)`` with the chosen gradients."""
        jax, jnp, _ = _jax()

        def values(t: Any, p: Any, d: Any, sched: Any) -> Any:
            out, status = self._values(t, p, d, sched)
            return jnp.swapaxes(out, 0, 1), status

        from jax.custom_derivatives import SymbolicZero

        batched = jax.custom_jvp(values)

        def rule(primals: Any, tangents: Any) -> Any:
            t, p, d, sched = primals
            dt, dp, dd, dsched = tangents
            if not all(isinstance(x, SymbolicZero) for x in (dt, *dsched)):
                raise ModelError(
                    "The JAX ODE engine differentiates parameters and dose only.",
                    [
                        Violation(
                            "ode_jax_grad",
                            "a derivative with respect to time or a covariate schedule "
                            "was requested",
                            fix="treat times and covariate changes as data",
                        )
                    ],
                )
            wrt = [k for k in p if not isinstance(dp[k], SymbolicZero)]
            if not isinstance(dd, SymbolicZero):
                wrt.append("dose")
            out, jac, status = self._subject_jacobian(t, p, d, sched, wrt)
            tan = jnp.zeros_like(out)
            for k in wrt:
                tk = dd if k == "dose" else dp[k]
                tan = tan + jac[k] * tk[None, :, None]
            return (out, status), (tan, np.zeros(status.shape, dtype=jax.dtypes.float0))

        batched.defjvp(rule, symbolic_zeros=True)
        return batched
