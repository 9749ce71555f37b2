"""The one request every ODE engine takes: an ODE model's inputs, validated once.

:func:`ode_request` checks and normalises what a caller gives an engine (times, the
structural parameters by name, the doses, the step functions of time-varying covariates)
and returns an :class:`OdeRequest`: every per-subject input broadcast to one subject axis
of ``n`` subjects. The SciPy engine (:mod:`cartpk.ode._scipy`), the JAX engine
(:mod:`cartpk.ode._jax`), the batch Rosenbrock (:mod:`cartpk.ode._batch`) and the PyTensor
Op (:mod:`cartpk.ode._pytensor_op`) take the request instead of checking those inputs
again; :func:`cartpk.ode._solve.solve_ode` runs one of them on it.

The checks (each a :class:`~cartpk.errors.ModelError` with its code): ``ode_time`` (times
negative or not finite; with ``shared_time`` also not 1-D), ``time_varying_unknown`` /
``time_varying_format`` / ``time_varying_shape`` (step functions of covariates),
``missing_dose`` (the equations take ``dose``, none is given and the declaration has no
``default_dose``) and ``ode_shape`` (inputs describing different numbers of subjects).
Completeness of the parameters is the model's check (``Model._split_params``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.errors import ModelError, Violation

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.model._ode_model import OdeModel

__all__ = ["OdeRequest", "ode_request", "takes_dose"]


def _kw(func: Any) -> list[str]:
    """Keyword-only argument names of an equation function."""
    return [p.name for p in inspect.signature(func).parameters.values() if p.kind == p.KEYWORD_ONLY]


def _func(cls: type, attr: str) -> Any:
    """The plain function of a declared equation (``None`` when not declared)."""
    for klass in cls.__mro__:
        if attr in klass.__dict__:
            obj = klass.__dict__[attr]
            return obj.__func__ if isinstance(obj, staticmethod | classmethod) else obj
    return None


@dataclass(frozen=True)
class OdeRequest:
    """An ODE model's inputs, checked and broadcast to one subject axis (see :func:`ode_request`).

    Attributes
    ----------
    model : OdeModel or its class
        The declaration (its equations, ``dosing``, ``time_varying``, ``solver``).
    time : array
        Days since infusion as given, ``(n_t,)`` shared or ``(rows, n_t)`` with ``rows``
        1 or ``n`` (a scalar becomes ``(1,)``); float.
    params : dict of str to array
        Structural parameters by name, each ``(n,)`` float.
    dose : array or None
        ``AMT`` per subject ``(n,)`` (the declaration's ``default_dose`` when the equations
        take a dose and none was given); ``None`` when neither applies.
    steps : dict of str to (array, array)
        Per given time-varying covariate, its change times and new values, ``(n, k)`` each.
    n : int
        Number of subjects.
    scalar : bool
        Whether the caller gave one subject with scalars and 1-D times (``evaluate``
        returns ``(n_t,)`` arrays then).
    """

    model: Any
    time: Any
    params: dict[str, Any]
    dose: Any
    steps: dict[str, tuple[Any, Any]]
    n: int
    scalar: bool

    @property
    def model_class(self) -> type:
        """The declaration's class."""
        return self.model if isinstance(self.model, type) else type(self.model)

    @property
    def name(self) -> str:
        """The model's name, for messages."""
        return str(self.model.name)

    def time_rows(self, xp: Any = np) -> Any:
        """The times of every subject, ``(n, n_t)`` (a broadcast view)."""
        return xp.broadcast_to(
            self.time.reshape(-1, self.time.shape[-1]), (self.n, self.time.shape[-1])
        )

    def subset(self, idx: np.ndarray) -> OdeRequest:
        """The request of the subjects ``idx`` (0-based indices, NumPy)."""
        per_row = self.time.ndim == 2 and self.time.shape[0] == self.n > 1
        return replace(
            self,
            time=self.time[idx] if per_row else self.time,
            params={k: v[idx] for k, v in self.params.items()},
            dose=None if self.dose is None else self.dose[idx],
            steps={k: (tt[idx], vv[idx]) for k, (tt, vv) in self.steps.items()},
            n=int(np.size(idx)),
        )

    def with_params(self, values: Mapping[str, Any]) -> OdeRequest:
        """This request with the parameters ``values`` (by name) added, NumPy.

        The subject axis is checked again (``ode_shape``) and every input broadcast to it:
        a PyTensor Op builds its request once without its symbolic inputs and adds their
        values at each point.
        """
        given = {k: np.asarray(v, dtype=float) for k, v in values.items()}
        n = _one_subject_axis(_axis_sizes(given, None, None, {}) | ({self.n} - {1}))
        params = {k: _per_subject(v, n, np) for k, v in (self.params | given).items()}
        scalar = self.scalar and n == 1 and all(v.ndim == 0 for v in given.values())
        if n == self.n:
            return replace(self, params=params, scalar=scalar)
        return replace(
            self,
            params=params,
            dose=None if self.dose is None else _per_subject(self.dose, n, np),
            steps={k: (_per_row(a, n, np), _per_row(b, n, np)) for k, (a, b) in self.steps.items()},
            n=n,
            scalar=scalar,
        )

    def switch_times(self) -> dict[str, np.ndarray]:
        """The declaration's ``breakpoints`` at these parameters, ``{name: (n,)}`` (NumPy)."""
        f_bp = _func(self.model_class, "breakpoints")
        if f_bp is None:
            return {}
        out = f_bp(np, **{k: self.params[k] for k in _kw(f_bp)})
        return {k: np.broadcast_to(np.asarray(v, float), (self.n,)) for k, v in out.items()}


def ode_request(
    model: OdeModel | type[OdeModel],
    time: Any,
    params: Mapping[str, Any],
    *,
    dose: Any = None,
    time_varying: Mapping[str, Any] | None = None,
    shared_time: bool = False,
    xp: Any = np,
) -> OdeRequest:
    """Check an ODE model's inputs once and broadcast them to one subject axis.

    Parameters
    ----------
    model : OdeModel or its class
        The declaration.
    time : array
        Days since infusion (>= 0), ``(n_t,)`` shared or ``(n_subjects, n_t)``.
    params : mapping of str to array
        Structural parameters by name (natural scale), scalars or one per subject (any
        shape of that size).
    dose : array, optional
        ``AMT`` (CAR+ cells), scalar or one per subject; default the declaration's
        ``default_dose`` when its ``initial`` or ``rhs`` takes ``dose``.
    time_varying : mapping of str to (times, values), optional
        Step functions of covariates declared in ``model.time_varying``: the value changes
        to ``values[..., k]`` at ``times[..., k]``; ``(k,)`` shared or ``(n_subjects, k)``.
    shared_time : bool, default False
        Require one 1-D grid of times for all subjects (the batch engine).
    xp : module, default numpy
        Array namespace of the result; ``jax.numpy`` when the inputs may be traced (the
        JAX engine's pure ``solve``), where only shapes, not values, are checked.

    Returns
    -------
    OdeRequest

    Raises
    ------
    ModelError
        ``ode_time``, ``time_varying_unknown``, ``time_varying_format``,
        ``time_varying_shape``, ``missing_dose``, ``ode_shape``.
    """
    t = xp.asarray(time, dtype=xp.float64)
    if xp is np:
        _check_time(model.name, t, shared_time)
    steps = _step_functions(model, time_varying, xp)
    dose_in = _dose(model, dose)
    t = t.reshape(1) if t.ndim == 0 else t
    n = _one_subject_axis(_axis_sizes(params, dose_in, t, steps))
    scalar = all(np.ndim(v) == 0 for v in params.values()) and t.ndim == 1
    return OdeRequest(
        model=model,
        time=t,
        params={k: _per_subject(xp.asarray(v, dtype=xp.float64), n, xp) for k, v in params.items()},
        dose=None if dose_in is None else _per_subject(xp.asarray(dose_in, xp.float64), n, xp),
        steps={k: (_per_row(a, n, xp), _per_row(b, n, xp)) for k, (a, b) in steps.items()},
        n=n,
        scalar=scalar and np.ndim(dose_in) == 0 and n == 1,
    )


def _per_subject(value: Any, n: int, xp: Any) -> Any:
    """A scalar or one value per subject as ``(n,)``."""
    return xp.broadcast_to(value.reshape(-1), (n,))


def _per_row(value: Any, n: int, xp: Any) -> Any:
    """``(k,)`` shared or ``(rows, k)`` as ``(n, k)``."""
    return xp.broadcast_to(value.reshape(-1, value.shape[-1]), (n, value.shape[-1]))


def _check_time(name: str, t: np.ndarray, shared: bool) -> None:
    """Raise ``ode_time`` for negative or non-finite times (``shared``: or not 1-D)."""
    bad = (t < 0) | ~np.isfinite(t)
    if shared and (t.ndim != 1 or np.any(bad)):
        raise ModelError(
            f"`{name}`: the batched solver needs one shared grid of times >= 0.",
            [
                Violation(
                    "ode_time",
                    "`time` must be 1-D, finite and >= 0 for `evaluate_batch`",
                    value=f"shape {t.shape}",
                    expected="(n_t,) days since infusion",
                    fix="pass the union of the sampling days (or use `evaluate_with_jacobian`)",
                )
            ],
        )
    if np.any(bad):
        raise ModelError(
            f"Cannot integrate `{name}` at negative or non-finite times.",
            [
                Violation(
                    "ode_time",
                    "ODE models start at the infusion (t = 0)",
                    value=repr(t[bad][:5].tolist()),
                    expected="times >= 0",
                    fix="drop pre-infusion times",
                )
            ],
        )
    if t.ndim > 2:
        raise ModelError(
            f"Cannot integrate `{name}`: `time` has {t.ndim} dimensions.",
            [
                Violation(
                    "ode_time",
                    "`time` must be (n_t,) shared or (n_subjects, n_t)",
                    value=f"shape {t.shape}",
                    expected="(n_t,) or (n_subjects, n_t) days since infusion",
                    fix="give one row of times per subject",
                )
            ],
        )


def _step_functions(
    model: Any, time_varying: Mapping[str, Any] | None, xp: Any
) -> dict[str, tuple[Any, Any]]:
    """The given step functions ``{name: (times, values)}`` as arrays of one shape each."""
    cls = model if isinstance(model, type) else type(model)
    given = dict(time_varying or {})
    declared = dict(getattr(cls, "time_varying", {}) or {})
    unknown = [k for k in given if k not in declared]
    if unknown:
        raise ModelError(
            f"`{model.name}` has no time-varying covariate {unknown}.",
            [
                Violation(
                    "time_varying_unknown",
                    f"`{k}` is not declared in `{cls.__name__}.time_varying`",
                    value=k,
                    expected=f"names among {sorted(declared)}",
                    fix="declare it (`time_varying = {name: default}`) and take it in `rhs`",
                )
                for k in unknown
            ],
        )
    return {k: _step_function(spec, k, xp) for k, spec in given.items()}


def _step_function(spec: Any, name: str, xp: Any) -> tuple[Any, Any]:
    """``(times, values)`` of one covariate as float arrays of one shape, ``(k,)`` or ``(n, k)``."""
    try:
        times, values = spec
    except (TypeError, ValueError):
        raise ModelError(
            f"Time-varying covariate `{name}` must be given as (times, values).",
            [
                Violation(
                    "time_varying_format",
                    f"`time_varying[{name!r}]` is not a (times, values) pair",
                    expected="(change times (k,) or (n_subjects, k), values of the same shape)",
                    fix="e.g. time_varying={'toci': ([[5.0], [np.inf]], [[1.0], [1.0]])}",
                )
            ],
        ) from None
    t = xp.atleast_1d(xp.asarray(times, dtype=xp.float64))
    v = xp.atleast_1d(xp.asarray(values, dtype=xp.float64))
    if t.shape != v.shape or t.ndim > 2:
        raise ModelError(
            f"Time-varying covariate `{name}`: times and values differ in shape.",
            [
                Violation(
                    "time_varying_shape",
                    "change times and values must have the same (k,) or (n, k) shape",
                    value=f"{t.shape} vs {v.shape}",
                    fix="give one value per change time",
                )
            ],
        )
    return t, v


def takes_dose(model: Any) -> bool:
    """Whether a declaration's equations (``initial`` or ``rhs``) take the ``dose``."""
    cls = model if isinstance(model, type) else type(model)
    equations = [_func(cls, "initial"), _func(cls, "rhs")]
    return any("dose" in _kw(f) for f in equations if f is not None)


def _dose(model: Any, dose: Any) -> Any:
    """``dose``, or the declaration's ``default_dose`` when its equations take one."""
    cls = model if isinstance(model, type) else type(model)
    if dose is not None:
        return dose
    if not takes_dose(cls):
        return None
    default = getattr(cls, "default_dose", None)
    if default is None:
        raise ModelError(
            f"`{model.name}` needs a dose.",
            [Violation("missing_dose", "`initial` takes `dose`", fix="pass `dose`")],
        )
    return default


def _axis_sizes(params: Mapping[str, Any], dose: Any, t: Any, steps: Mapping[str, Any]) -> set[int]:
    """The numbers of subjects the inputs give (scalars and single rows give none).

    Reads shapes only (``np.size``/``np.shape``), so it serves NumPy arrays and the JAX
    engine's traced arrays alike.
    """
    sizes = {int(np.size(v)) for v in params.values() if np.size(v) != 1}
    if dose is not None and np.size(dose) != 1:
        sizes.add(int(np.size(dose)))
    if np.ndim(t) == 2 and np.shape(t)[0] != 1:
        sizes.add(int(np.shape(t)[0]))
    for times, _ in steps.values():
        shape = np.shape(times)
        if len(shape) == 2 and shape[0] != 1:
            sizes.add(int(shape[0]))
    return sizes


def _one_subject_axis(sizes: set[int]) -> int:
    """The number of subjects, raising ``ode_shape`` when the inputs disagree."""
    if len(sizes) > 1:
        raise ModelError(
            "Cannot integrate: subject axes disagree.",
            [
                Violation(
                    "ode_shape",
                    "parameters, dose, time and time-varying covariates have different "
                    "numbers of subjects",
                    value=repr(sorted(sizes)),
                    fix="give one value per subject, or scalars",
                )
            ],
        )
    return sizes.pop() if sizes else 1
