"""ODE: the engines that integrate an :class:`~cartpk.model.OdeModel` declaration.

A declaration (``models/*.py``) holds the equations; this stage holds every way of solving
them, and none keeps a copy of the equations. :class:`cartpk.model.OdeModel`'s
``evaluate``, ``evaluate_with_jacobian`` and ``evaluate_batch`` are the entry points a user
calls; they reach these engines (ranked with ``model`` in the data flow):

``_request``
    :class:`OdeRequest`, the inputs every engine takes, checked once by
    :func:`ode_request` (times, parameters, doses, covariates' step functions, the subject
    axis).
``_solve``
    :func:`solve_ode`, the one entry point over the engines, and the result type they all
    return: :class:`OdeSolution` with an :class:`OdeStatus` per subject.
``_scipy``
    One ``solve_ivp`` driver for all subjects at once with forward sensitivities by complex
    step; values are its ``wrt=()`` case. Restarts at doses, covariate changes and the
    declaration's ``breakpoints``.
``_jax`` (+ ``_jax_steps``)
    The declaration traced with ``jax.numpy``: a compiled adaptive Runge-Kutta loop per
    subject, vmapped; derivatives by forward-mode AD (``compile_ode``).
``_batch``
    Vectorised NumPy Rosenbrock23 with a step size per subject: virtual trials of
    thousands of subjects (``simulate_batch``).
``_pytensor_op``
    A PyTensor ``Op`` over the SciPy or JAX engine, so PyMC and nutpie can sample ODE
    models.
``_options``
    Engine and method choice (``default_ode_engine``) and option checks.

See ``docs/ode_engine.md`` for measurements and limits.
"""

from cartpk.ode._options import default_ode_engine as default_ode_engine
from cartpk.ode._request import OdeRequest as OdeRequest
from cartpk.ode._request import ode_request as ode_request
from cartpk.ode._solve import OdeSolution as OdeSolution
from cartpk.ode._solve import OdeStatus as OdeStatus
from cartpk.ode._solve import solve_ode as solve_ode

__all__ = [
    "OdeRequest",
    "OdeSolution",
    "OdeStatus",
    "default_ode_engine",
    "ode_request",
    "solve_ode",
]
