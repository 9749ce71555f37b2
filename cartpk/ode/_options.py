"""ODE engine options shared by every estimator: the default engine and option checks.

``default_ode_engine`` picks the engine of a declaration (JAX for explicit solvers, SciPy
for stiff ones); ``ode_option_problems`` lists every problem of user-given
``ode_engine``/``ode_method`` values, so that each estimator validates them the same way
before anything runs. Imports neither JAX nor SciPy.
"""

from __future__ import annotations

from typing import Any

from cartpk.errors import Violation

__all__ = ["SCIPY_METHODS", "default_ode_engine", "ode_option_problems"]


def default_ode_engine(engine: str | None, model: Any, method: str | None = None) -> str:
    """``engine``, or the default ODE engine of ``model``.

    ``"jax"`` for a declaration (or ``method``) solved by an explicit method when JAX and
    diffrax import (hundreds of times faster per gradient than ``solve_ivp``); ``"scipy"`` for stiff
    declarations (``BDF``/``Radau``: the SciPy engine's implicit solve with an exact sparse
    Jacobian beat the JAX ESDIRK by 16x on ``cartmath_illustration``, ``docs/ode_engine.md``) and
    without JAX.
    """
    if engine is not None:
        return engine
    from cartpk.ode._jax import jax_available

    method = method or dict(getattr(model, "solver", {}) or {}).get("method", "BDF")
    if method in ("BDF", "Radau") or not jax_available():
        return "scipy"
    return "jax"


SCIPY_METHODS = ("BDF", "Radau", "LSODA", "RK45", "DOP853", "RK23")


def ode_option_problems(model: Any, engine: str | None, method: str | None) -> list[Violation]:
    """Every problem of ``ode_engine``/``ode_method`` (checked before anything runs)."""
    from cartpk.ode._jax import _DIFFRAX_SOLVERS, _OWN_SOLVERS, jax_available

    out = []
    if engine is not None and engine not in ("jax", "scipy"):
        out.append(
            Violation(
                "ode_engine",
                f"`ode_engine` must be 'jax' or 'scipy', not {engine!r}",
                value=repr(engine),
                expected="'jax' or 'scipy'",
                fix="omit it (the default follows the solver) or pick one",
            )
        )
    elif engine == "jax" and not jax_available():
        out.append(
            Violation(
                "ode_jax_missing",
                "the JAX engine needs the packages jax and diffrax",
                fix='pip install jax diffrax, or ode_engine="scipy"',
            )
        )
    if method is not None:
        chosen = default_ode_engine(engine if engine in ("jax", "scipy") else None, model, method)
        valid = SCIPY_METHODS + ((_DIFFRAX_SOLVERS + _OWN_SOLVERS) if chosen == "jax" else ())
        if method not in valid:
            out.append(
                Violation(
                    "ode_method",
                    f"`ode_method` {method!r} is not a solver of the {chosen} engine",
                    value=repr(method),
                    expected=f"one of {list(valid)}",
                    fix="pick a listed solver",
                )
            )
    return out
