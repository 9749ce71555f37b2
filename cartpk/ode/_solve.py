"""The one entry point over the ODE engines, and the one result type they return.

:func:`solve_ode` runs an :class:`~cartpk.ode._request.OdeRequest` through the SciPy engine
(forward sensitivities, :mod:`cartpk.ode._scipy`), the JAX engine (:mod:`cartpk.ode._jax`)
or the batch Rosenbrock (values only, :mod:`cartpk.ode._batch`); each returns an
:class:`OdeSolution` with an :class:`OdeStatus` per subject. :class:`cartpk.model.OdeModel`'s
``evaluate``, ``evaluate_with_jacobian`` and ``evaluate_batch`` build the request and call
this; the PyTensor Op calls it at each point. Engines are imported on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.errors import ModelError, Outcome, Violation

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.ode._request import OdeRequest

__all__ = ["ODE_ENGINES", "OdeSolution", "OdeStatus", "check_engine", "solve_ode"]

#: the engines a user chooses by ``engine=`` (the batch engine has its own method)
ODE_ENGINES = ("scipy", "jax")


class OdeStatus(Outcome):
    """Outcome of one subject's integration: the code and what to do about it."""

    success = "success", "The integration succeeded.", True
    solver_failed = (
        "solver_failed",
        "The ODE solver stopped before the last time. Try the implicit method "
        "(`method='BDF'` or `'Radau'`), loosen `rtol`, or check the parameter values.",
    )
    nonfinite = (
        "nonfinite",
        "The solution or its sensitivities became infinite or NaN. Check the parameter "
        "values (overflowing growth?) or tighten `atol`.",
    )


@dataclass(frozen=True)
class OdeSolution:
    """Values and parameter derivatives of an ODE model's outputs.

    Attributes
    ----------
    values : dict of str to ndarray
        ``{DVID: (n_subjects, n_t)}`` predictions.
    jacobian : dict of str to dict of str to ndarray
        ``{DVID: {parameter: (n_subjects, n_t)}}``: d prediction / d parameter on the
        natural scale, one subject's prediction depending on that subject's value only.
    status : tuple of OdeStatus
        One per subject; predictions of a failed subject are NaN and say so here.
    time : ndarray
        ``(n_subjects, n_t)`` times of the predictions (days).
    messages : tuple of str
        The solver's own warnings and failure messages.
    """

    values: dict[str, np.ndarray]
    jacobian: dict[str, dict[str, np.ndarray]]
    status: tuple[OdeStatus, ...]
    time: np.ndarray
    messages: tuple[str, ...] = field(default=())

    @property
    def success(self) -> bool:
        """Whether every subject integrated."""
        return all(s is OdeStatus.success for s in self.status)

    def failed_subjects(self) -> list[int]:
        """0-based indices of subjects whose integration failed."""
        return [i for i, s in enumerate(self.status) if s is not OdeStatus.success]


def solve_ode(
    request: OdeRequest,
    *,
    engine: str = "scipy",
    wrt: Sequence[str] = (),
    method: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    workers: int = 1,
    throw: bool = False,
) -> OdeSolution:
    """Integrate a request with one engine: values and ``d value / d parameter`` by name.

    Parameters
    ----------
    request : OdeRequest
        The checked inputs (:func:`cartpk.ode._request.ode_request`).
    engine : {"scipy", "jax", "batch"}, default "scipy"
        ``"scipy"``: ``solve_ivp`` with forward sensitivities; ``"jax"``: the compiled
        loop, derivatives by forward-mode AD (check the choice first with
        :func:`check_engine`); ``"batch"``: the vectorised Rosenbrock23, values only.
    wrt : sequence of str, default ()
        Parameters of the request to differentiate with respect to (not with ``"batch"``).
    method : str, optional
        Solver override of ``"scipy"``/``"jax"`` (default: the declaration's ``solver``).
    rtol, atol : float, optional
        Tolerance overrides (``"batch"``: ``rtol`` default 1e-6).
    workers : int, default 1
        Processes of the batch engine.
    throw : bool, default False
        Raise ``ode_failed`` naming the failed subjects instead of returning them.

    Returns
    -------
    OdeSolution

    Raises
    ------
    ModelError
        ``unknown_parameter`` (``wrt`` names a parameter the request lacks), ``ode_failed``
        (with ``throw``).
    """
    _check_wrt(request, wrt)
    if engine == "batch":
        if wrt:
            raise ValueError("the batch engine gives values only: pass no `wrt`")
        from cartpk.ode._batch import simulate_request

        sol = simulate_request(
            request, rtol=1e-6 if rtol is None else rtol, atol=atol, workers=workers
        )
    elif engine == "jax":
        from cartpk.ode._jax import compile_ode

        eng = compile_ode(request.model, method=method, rtol=rtol, atol=atol)
        sol = eng.jacobian(request, list(wrt))
    elif engine == "scipy":
        from cartpk.ode._scipy import solve_sensitivities

        sol = solve_sensitivities(request, wrt=wrt, method=method, rtol=rtol, atol=atol)
    else:
        raise ValueError(f"unknown ODE engine {engine!r}")
    if throw:
        raise_failed(request.name, sol)
    return sol


def _check_wrt(request: OdeRequest, wrt: Sequence[str]) -> None:
    bad = [w for w in wrt if w not in request.params]
    if bad:
        raise ModelError(
            "Cannot differentiate with respect to parameters that were not given.",
            [
                Violation(
                    "unknown_parameter",
                    f"`{w}` is not among the parameters passed",
                    value=w,
                    expected=f"names among {list(request.params)}",
                    fix="pass its value in `params`",
                )
                for w in bad
            ],
        )


def check_engine(model: Any, engine: str) -> None:
    """Raise ``ode_engine`` for an unknown engine, ``ode_jax_missing`` without JAX.

    Parameters
    ----------
    model : OdeModel
        The model (named in the message).
    engine : str
        The engine asked for.
    """
    if engine not in ODE_ENGINES:
        raise ModelError(
            f"Unknown ODE engine `{engine}` for `{model.name}`.",
            [
                Violation(
                    "ode_engine",
                    f"engine `{engine}` is not one of {list(ODE_ENGINES)}",
                    value=repr(engine),
                    expected=" or ".join(repr(e) for e in ODE_ENGINES),
                    fix='use engine="jax" (compiled, fast gradients) or engine="scipy"',
                )
            ],
        )
    if engine == "jax":
        from cartpk.ode._jax import jax_available

        if not jax_available():
            raise ModelError(
                "The JAX ODE engine needs the packages jax and diffrax.",
                [
                    Violation(
                        "ode_jax_missing",
                        "jax or diffrax cannot be imported",
                        fix='pip install jax diffrax, or use engine="scipy"',
                    )
                ],
            )


def raise_failed(name: str, sol: OdeSolution) -> None:
    """Raise ``ode_failed`` naming every failed subject of ``sol`` (model ``name``)."""
    failed = sol.failed_subjects()
    if not failed:
        return
    raise ModelError(
        f"The ODE solver failed for {len(failed)} subject(s) of `{name}`.",
        [
            Violation(
                "ode_failed",
                f"subject index {i}: {sol.status[i].name}",
                value=repr(i),
                expected="a successful integration",
                fix=sol.status[i].remedy,
            )
            for i in failed
        ],
    )
