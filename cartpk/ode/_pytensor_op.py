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
from typing import TYPE_CHECKING, Any

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply, Variable
from pytensor.graph.op import Op

from cartpk.ode._solve import solve_ode

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.ode._request import OdeRequest

__all__ = ["OdeOp", "evaluate_symbolic", "split_symbolic"]

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
    request : OdeRequest
        The model's times, numeric parameters (not differentiated), doses and covariates,
        checked once when the graph is built; each point adds the symbolic inputs' values
        (:meth:`OdeRequest.with_params`).
    names : tuple of str
        Names of the symbolic inputs, in input order (each a 1-D vector: one value, or one
        per subject).
    engine : {"scipy", "jax"}, default "scipy"
        Engine of :func:`cartpk.ode._solve.solve_ode` run at each new point.
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
        request: OdeRequest,
        names: tuple[str, ...],
        engine: str = "scipy",
        method: str | None = None,
    ) -> None:
        self.request = request
        self.engine = engine
        self.method = method
        self.names = tuple(names)
        self.outputs_ = tuple(request.model.outputs)
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
        request = self.request.with_params(dict(zip(self.names, inputs, strict=True)))
        sol = solve_ode(request, engine=self.engine, wrt=self.names, method=self.method)
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


def split_symbolic(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``params`` as ``(symbolic, numeric)``: PyTensor variables and the other values."""
    symbolic = {k: v for k, v in params.items() if isinstance(v, Variable)}
    return symbolic, {k: v for k, v in params.items() if k not in symbolic}


def evaluate_symbolic(
    request: OdeRequest,
    symbolic: Mapping[str, Any],
    *,
    engine: str = "scipy",
    method: str | None = None,
) -> dict[str, Any]:
    """Symbolic predictions ``{DVID: tensor}`` of an ODE model (see :class:`OdeOp`).

    Parameters
    ----------
    request : OdeRequest
        The checked inputs without the symbolic parameters.
    symbolic : mapping of str to Variable
        The symbolic parameters by name: scalars or one per subject.
    engine, method
        As for :class:`OdeOp`.

    Returns
    -------
    dict of str to Variable
        ``(n_subjects, n_t)``, or ``(n_t,)`` for one subject given by scalars.
    """
    names = tuple(symbolic)
    op = OdeOp(request, names, engine, method)
    inputs = [pt.as_tensor_variable(symbolic[n]).flatten() for n in names]
    out = op(*inputs)
    out = list(out) if isinstance(out, list | tuple) else [out]
    scalar = request.scalar and all(symbolic[n].ndim == 0 for n in names)
    return {dv: (o[0] if scalar else o) for dv, o in zip(op.outputs_, out, strict=True)}
