"""ODE: the engines that integrate an :class:`~cartpk.model.OdeModel` declaration.

A declaration (``models/*.py``) holds the equations; this stage holds every way of solving
them, and none keeps a copy of the equations. :class:`cartpk.model.OdeModel`'s
``evaluate``, ``evaluate_with_jacobian`` and ``evaluate_batch`` are the entry points a user
calls; they reach these engines (ranked with ``model`` in the data flow):

``_scipy``
    One ``solve_ivp`` driver for all subjects at once with forward sensitivities by complex
    step; values are its ``wrt=()`` case. Restarts at doses, covariate changes and the
    declaration's ``breakpoints``. :class:`OdeSolution`, :class:`OdeStatus`.
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
from cartpk.ode._scipy import OdeSolution as OdeSolution
from cartpk.ode._scipy import OdeStatus as OdeStatus

__all__ = ["OdeSolution", "OdeStatus", "default_ode_engine"]
