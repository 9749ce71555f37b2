"""PyTensor Op for ODE models: values forward, exact vector-Jacobian products backward.

``OdeModel.evaluate(pytensor.tensor, ...)`` lands here. The Op's ``perform`` runs the
sensitivity engine (:mod:`cartpk.ode._scipy`) once per parameter point and keeps the
Jacobian; its ``L_op`` is a second Op that contracts the output gradients with that
Jacobian (a cache hit, no second integration). PyMC's NUTS (PyTensor C/Python backends,
and nutpie's default numba path through ``perform``) can therefore sample ODE models.
With ``engine="jax"`` the point is integrated by the compiled JAX engine
(:mod:`cartpk.ode._jax`) instead of ``solve_ivp``; the Op is the same.
Importing this module imports PyTensor; ``cartpk.model`` imports it lazily.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply, Variable
from pytensor.graph.op import Op

__all__ = ["OdeOp", "evaluate_symbolic"]

# The last point's solution of each Op, per OS thread: a log-density evaluation runs the
# forward Op and then its vector-Jacobian product on the same point in the same thread
# (nutpie runs chains in threads), so the second is a cache hit, not a second integration.
# Keyed by `threading.get_ident()`, not a `threading.local`: nutpie's sampler threads are
# foreign to Python, and their Python thread state (with any thread-local data) is
# discarded after every call (measured: the local cache never hit, 2 solves a gradient).
_LAST: dict[tuple[str, int], tuple[bytes, Any]] = {}


class OdeOp(Op):
    """Predictions of an ODE model for symbolic parameters (one output per DVID).

    Parameters
    ----------
    model : OdeModel
        The declaration.
    time : ndarray
        ``(n_t,)`` or ``(n_subjects, n_t)`` days.
    names : tuple of str
        Names of the symbolic inputs, in input order (each a 1-D vector: one value, or one
        per subject).
    constants : mapping of str to ndarray
        Numeric parameters (not differentiated).
    dose, time_varying
        Design, as for :meth:`OdeModel.evaluate`.
    engine : {"scipy", "jax"}, default "scipy"
        Engine of :meth:`OdeModel.evaluate_with_jacobian` run at each new point.
    method : str, optional
        Solver override passed to it (default: the declaration's ``solver``).

    Attributes
    ----------
    failures : int
        Number of subject integrations that failed (their outputs are NaN, which PyMC
        treats as a rejected proposal); never silent: inspect it after sampling.
    calls : int
        Number of integrations run (cache misses).
    """

    def __init__(
        self,
        model: Any,
        time: np.ndarray,
        names: tuple[str, ...],
        constants: Mapping[str, np.ndarray],
        dose: Any,
        time_varying: Mapping[str, Any] | None,
        engine: str = "scipy",
        method: str | None = None,
    ) -> None:
        self.model = model
        self.engine = engine
        self.method = method
        self.time = np.asarray(time, dtype=float)
        self.names = tuple(names)
        self.constants = dict(constants)
        self.dose = dose
        self.time_varying = time_varying
        self.outputs_ = tuple(model.outputs)
        self.failures = 0
        self.calls = 0
        # key of this Op's cache entry (see `_LAST`); survives copies and pickling, which
        # compiled graphs make of an Op (nutpie's numba path runs copies of it)
        self._token = uuid.uuid4().hex

    def make_node(self, *inputs: Any) -> Apply:
        ins = [pt.as_tensor_variable(x).astype("float64") for x in inputs]
        outs = [pt.dmatrix() for _ in self.outputs_]
        return Apply(self, ins, outs)

    def solve(self, inputs: list[np.ndarray]) -> Any:
        """Values and Jacobian at ``inputs`` (cached for the last point)."""
        key = b"".join(np.ascontiguousarray(x, dtype=float).tobytes() for x in inputs)
        slot = (self._token, threading.get_ident())
        cached = _LAST.get(slot)
        if cached is not None and cached[0] == key:
            return cached[1]
        params = dict(self.constants)
        params.update(
            {n: np.asarray(x, dtype=float) for n, x in zip(self.names, inputs, strict=True)}
        )
        sol = self.model.evaluate_with_jacobian(
            self.time,
            params,
            dose=self.dose,
            time_varying=self.time_varying,
            wrt=self.names,
            throw=False,
            engine=self.engine,
            method=self.method,
        )
        self.calls += 1
        self.failures += len(sol.failed_subjects())
        if len(_LAST) > 256:  # Ops of finished fits: drop them all (a miss costs one solve)
            _LAST.clear()
        _LAST[slot] = (key, sol)  # one entry per Op and thread (a dict item set is atomic)
        return sol

    def perform(self, node: Apply, inputs: list[np.ndarray], outputs: list[list[Any]]) -> None:
        sol = self.solve(inputs)
        for k, dv in enumerate(self.outputs_):
            outputs[k][0] = np.array(sol.values[dv], dtype=float)

    def L_op(
        self, inputs: list[Variable], outputs: list[Variable], output_grads: list[Variable]
    ) -> list[Variable]:
        grads = [
            pt.zeros_like(o) if isinstance(g.type, DisconnectedType) else g
            for o, g in zip(outputs, output_grads, strict=True)
        ]
        vjp = _OdeVjpOp(self)(*inputs, *grads)
        return list(vjp) if isinstance(vjp, list | tuple) else [vjp]


class _OdeVjpOp(Op):
    """``sum_dv sum_t g_dv * d out_dv / d p`` for every symbolic input, shaped as the input."""

    def __init__(self, forward: OdeOp) -> None:
        self.forward = forward

    def make_node(self, *inputs: Any) -> Apply:
        ins = [pt.as_tensor_variable(x) for x in inputs]
        k = len(self.forward.names)
        outs = [pt.dvector() for _ in range(k)]
        return Apply(self, ins, outs)

    def perform(self, node: Apply, inputs: list[np.ndarray], outputs: list[list[Any]]) -> None:
        k = len(self.forward.names)
        params, gs = inputs[:k], inputs[k:]
        sol = self.forward.solve(list(params))
        for j, name in enumerate(self.forward.names):
            total = np.zeros(np.shape(sol.values[self.forward.outputs_[0]])[0])
            for dv, g in zip(self.forward.outputs_, gs, strict=True):
                total = total + np.sum(np.asarray(g) * sol.jacobian[dv][name], axis=1)
            size = np.size(params[j])
            outputs[j][0] = np.atleast_1d(total.sum() if size == 1 else total).astype(float)


def evaluate_symbolic(
    model: Any,
    time: Any,
    params: Mapping[str, Any],
    *,
    dose: Any = None,
    time_varying: Mapping[str, Any] | None = None,
    engine: str = "scipy",
    method: str | None = None,
) -> dict[str, Any]:
    """Symbolic predictions ``{DVID: tensor}`` of an ODE model (see :class:`OdeOp`)."""
    symbolic = {k: v for k, v in params.items() if isinstance(v, Variable)}
    constants = {k: np.asarray(v, dtype=float) for k, v in params.items() if k not in symbolic}
    names = tuple(symbolic)
    op = OdeOp(
        model, np.asarray(time, dtype=float), names, constants, dose, time_varying, engine, method
    )
    inputs = [pt.as_tensor_variable(symbolic[n]).flatten() for n in names]
    out = op(*inputs)
    out = list(out) if isinstance(out, list | tuple) else [out]
    scalar = (
        all(symbolic[n].ndim == 0 for n in names)
        and all(v.ndim == 0 for v in constants.values())
        and np.ndim(time) == 1
        and (dose is None or np.ndim(dose) == 0)
    )
    return {dv: (o[0] if scalar else o) for dv, o in zip(model.outputs, out, strict=True)}
