"""ODE models: :class:`OdeModel`, a declaration over named states (``rhs``, ``initial``,
``observe``, optional ``breakpoints``), and its evaluation through the ODE engines (SciPy
with sensitivities, JAX, the batch Rosenbrock) chosen by ``engine=``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from cartpk.errors import ModelError, Violation
from cartpk.model._base import Model
from cartpk.model._equations import _check_outputs, _kwonly, _raw, _signature_problems

__all__ = ["OdeModel"]


class OdeModel(Model):
    """A model given by an ODE over named states.

    Declares ``states`` (names), ``rhs(xp, time, y, *, ...) -> {state: dy/dt}``,
    ``initial(xp, *, ..., dose) -> {state: value}`` (state at ``t = 0``) and
    ``observe(xp, y, *, ...) -> {DVID: value}``. Each takes a subset of the thetas as
    keyword-only arguments; together they must use every theta. ``dosing`` (optional)
    splits the dose: ``((0.0, 0.1), (1.0, 0.3), (2.0, 0.6))`` gives each fraction of the
    ``dosed_states`` initial amounts at its time (other states start in full at 0).
    ``solver`` holds ``solve_ivp`` options for the NumPy engine.
    """

    _abstract: ClassVar[bool] = True
    kind: ClassVar[str] = "ode"
    states: ClassVar[tuple[str, ...]] = ()
    dosing: ClassVar[tuple[tuple[float, float], ...] | None] = None
    dosed_states: ClassVar[tuple[str, ...] | None] = None
    solver: ClassVar[Mapping[str, Any]] = {"method": "BDF", "rtol": 1e-8, "atol": 1e-10}
    # time-varying covariates `rhs` takes by keyword: {name: value before the first change}
    time_varying: ClassVar[Mapping[str, float]] = {}

    @classmethod
    def _equation_names(cls) -> tuple[str, ...]:
        return ("rhs", "initial", "observe", "breakpoints")

    @classmethod
    def _check_equations(cls, names: set[str]) -> list[Violation]:
        out: list[Violation] = []
        used: set[str] = set()
        positional = {"rhs": ["xp", "time", "y"], "initial": ["xp"], "observe": ["xp", "y"]}
        if _raw(cls, "breakpoints") is not None:
            positional["breakpoints"] = ["xp"]
        tv_names = set(cls.time_varying)
        for attr, pos in positional.items():
            func = _raw(cls, attr)
            if func is None:
                out.append(
                    Violation(
                        f"{attr}_missing",
                        f"ODE model `{cls.__name__}` defines no `{attr}`",
                        expected=f"def {attr}({', '.join(pos)}, *, <thetas>)",
                        fix=f"add a static `{attr}` method",
                    )
                )
                continue
            allowed = names | tv_names if attr == "rhs" else names
            out.extend(_signature_problems(cls.__name__, attr, func, pos, allowed, exact=False))
            used |= set(_kwonly(func)[1])
        if not out:
            for n in sorted(names - used):
                out.append(
                    Violation(
                        "theta_unused",
                        f"theta `{n}` is used by none of `rhs`, `initial`, `observe`",
                        value=n,
                        fix=f"use `{n}` in an equation or remove its declaration",
                    )
                )
        if not cls.states:
            out.append(
                Violation(
                    "states_missing",
                    f"ODE model `{cls.__name__}` declares no `states`",
                    expected='states = ("effector", "memory")',
                    fix="name the ODE states",
                )
            )
        if cls.dosing is not None:
            fr = [f for _, f in cls.dosing]
            if any(t < 0 for t, _ in cls.dosing) or not math.isclose(sum(fr), 1.0):
                out.append(
                    Violation(
                        "dosing_split",
                        "split dosing needs times >= 0 and fractions summing to 1",
                        value=repr(cls.dosing),
                        fix="e.g. dosing = ((0.0, 0.1), (1.0, 0.3), (2.0, 0.6))",
                    )
                )
        bad_dosed = [s for s in (cls.dosed_states or ()) if s not in cls.states]
        if bad_dosed:
            out.append(
                Violation(
                    "dosed_states",
                    f"`dosed_states` names unknown states {bad_dosed}",
                    expected=f"names among {list(cls.states)}",
                    fix="name declared states",
                )
            )
        return out

    def evaluate(
        self,
        xp: Any,
        time: Any,
        params: Mapping[str, Any],
        *,
        dose: Any = None,
        time_varying: Mapping[str, Any] | None = None,
        engine: str = "scipy",
        method: str | None = None,
    ) -> dict[str, Any]:
        """Predictions ``{DVID: array}`` by numerical integration.

        With ``xp=numpy`` all subjects are integrated as one system with
        ``scipy.integrate.solve_ivp`` (options from :attr:`solver`; stiff methods get the
        exact block-diagonal state Jacobian), restarted at doses, covariate changes and
        the declaration's ``breakpoints``. With ``xp=pytensor.tensor`` the result is a
        symbolic graph through a gradient-carrying Op (forward sensitivities, see
        :meth:`evaluate_with_jacobian`), so PyMC's NUTS can sample ODE models.

        Parameters
        ----------
        xp : module
            ``numpy`` or ``pytensor.tensor``.
        time : array
            Days since infusion (>= 0), ``(n_t,)`` or ``(n_subjects, n_t)`` (numeric).
        params : mapping of str to array
            Structural parameters by name: scalars or one value per subject (``(n,)`` or
            ``(n, 1)``); fixed ones may be omitted. Symbolic under PyTensor.
        dose : array, optional
            ``AMT`` (CAR+ cells), scalar or one per subject (numeric).
        time_varying : mapping of str to (times, values), optional
            Step functions of the covariates declared in :attr:`time_varying`.
        engine : {"scipy", "jax"}, default "scipy"
            Engine behind the PyTensor Op (values and gradients per point; see
            :meth:`evaluate_with_jacobian`). NumPy evaluation always uses SciPy.
        method : str, optional
            Solver of the PyTensor Op's engine (default: :attr:`solver`), e.g. an explicit
            ``"Tsit5"`` for a declaration that is stiff only at some parameter values.

        Returns
        -------
        dict of str to array
            ``(n_subjects, n_t)``, or ``(n_t,)`` when all parameters are scalars and
            ``time`` is 1-D.

        Raises
        ------
        ModelError
            ``ode_engine`` for an unsupported ``xp``, ``ode_failed`` when the solver fails
            (NumPy; the PyTensor Op returns NaN for a failed subject and counts it in
            ``op.failures``).
        """
        from cartpk.ode._request import ode_request
        from cartpk.ode._solve import check_engine, solve_ode

        vals = self._split_params(params)
        if getattr(xp, "__name__", "").startswith("pytensor"):
            from cartpk.ode._pytensor_op import evaluate_symbolic, split_symbolic

            check_engine(self, engine)
            symbolic, numeric = split_symbolic(vals)
            request = ode_request(self, time, numeric, dose=dose, time_varying=time_varying)
            return _check_outputs(
                self, evaluate_symbolic(request, symbolic, engine=engine, method=method)
            )
        if xp is not np:
            raise ModelError(
                f"`{self.name}` is an ODE model; `evaluate` integrates it with NumPy/SciPy "
                "or builds a PyTensor Op.",
                [
                    Violation(
                        "ode_engine",
                        f"array namespace `{getattr(xp, '__name__', xp)}` is not supported "
                        "for ODE models",
                        expected="xp=numpy or xp=pytensor.tensor",
                        fix="pass numpy or pytensor.tensor as `xp`",
                    )
                ],
            )
        # values are the SciPy engine's ``wrt=()`` case: one driver, which honours doses,
        # time-varying covariates and the declaration's ``breakpoints``
        request = ode_request(self, time, vals, dose=dose, time_varying=time_varying)
        sol = solve_ode(request, throw=True)
        return _check_outputs(
            self, {k: (v[0] if request.scalar else v) for k, v in sol.values.items()}
        )

    def evaluate_with_jacobian(
        self,
        time: Any,
        params: Mapping[str, Any],
        *,
        dose: Any = None,
        time_varying: Mapping[str, Any] | None = None,
        wrt: Sequence[str] | None = None,
        method: str | None = None,
        rtol: float | None = None,
        atol: float | None = None,
        throw: bool = True,
        engine: str = "scipy",
    ) -> Any:
        """Predictions and their exact derivatives with respect to parameters, by name.

        Forward sensitivities integrated with the states, for all subjects at once
        (:func:`cartpk.ode._scipy.solve_sensitivities`); switch times declared by
        ``breakpoints`` contribute their jump, split doses and time-varying covariates
        are integrated piecewise.

        Parameters
        ----------
        time : array
            Days since infusion (>= 0), ``(n_t,)`` or ``(n_subjects, n_t)``.
        params : mapping of str to array
            Structural parameters by name (natural scale), scalars or one per subject;
            fixed ones may be omitted.
        dose : array, optional
            ``AMT`` (CAR+ cells), scalar or one per subject.
        time_varying : mapping of str to (times, values), optional
            Step functions of the covariates declared in :attr:`time_varying`.
        wrt : sequence of str, optional
            Parameters to differentiate with respect to; default the free thetas.
        method : str, optional
            Solver override (``"BDF"``, ``"Radau"``, ``"LSODA"``, ``"RK45"``, ``"DOP853"``).
        rtol, atol : float, optional
            Tolerance overrides (default: :attr:`solver`).
        throw : bool, default True
            Raise ``ode_failed`` naming the failed subjects; with ``False`` return them
            as NaN with their :class:`OdeStatus` in ``solution.status``.
        engine : {"scipy", "jax"}, default "scipy"
            ``"scipy"``: forward sensitivities with ``solve_ivp``
            (:mod:`cartpk.ode._scipy`); ``"jax"``: the same declaration traced with
            ``jax.numpy`` and integrated by a compiled (XLA) Runge-Kutta loop with diffrax's
            tableaus, derivatives by forward-mode automatic differentiation
            (:mod:`cartpk.ode._jax`; ``method`` maps ``BDF``/``Radau`` to the L-stable
            ``Kvaerno5``). Both give the same layout; see ``docs/ode_engine.md``.

        Returns
        -------
        OdeSolution
            ``values`` ``{DVID: (n, n_t)}``, ``jacobian`` ``{DVID: {name: (n, n_t)}}``,
            ``status`` per subject.

        Examples
        --------
        >>> import numpy as np, cartpk as ck
        >>> m = ck.load_model("stein2019_ode")
        >>> sol = m.evaluate_with_jacobian([7.0, 28.0], m.typical())
        >>> sorted(sol.jacobian["QPCR"])[:2], sol.values["QPCR"].shape
        (['alpha', 'beta'], (1, 2))
        """
        from cartpk.ode._request import ode_request
        from cartpk.ode._solve import check_engine, solve_ode

        vals = self._split_params(params)
        if wrt is None:
            wrt = [t.name for t in self._block.thetas if not t.fixed and t.name in vals]
        self._unknown([w for w in wrt if w not in self._block.theta_map], "`wrt`")
        check_engine(self, engine)
        request = ode_request(self, time, vals, dose=dose, time_varying=time_varying)
        return solve_ode(
            request,
            engine=engine,
            wrt=list(wrt),
            method=method,
            rtol=rtol,
            atol=atol,
            throw=throw,
        )

    def evaluate_batch(
        self,
        time: Any,
        params: Mapping[str, Any],
        *,
        dose: Any = None,
        time_varying: Mapping[str, Any] | None = None,
        rtol: float = 1e-6,
        atol: float | None = None,
        workers: int = 1,
        throw: bool = True,
    ) -> Any:
        """Predictions for many subjects: a vectorised stiff solver, one step size per subject.

        For virtual trials of thousands of subjects (values only; for gradients see
        :meth:`evaluate_with_jacobian`). L-stable Rosenbrock pair of order 2
        (Shampine & Reichelt 1997), per-subject error control; every subject stops at the
        output times, doses, covariate changes and its own ``breakpoints``.

        Parameters
        ----------
        time : array
            ``(n_t,)`` days since infusion (>= 0), shared by all subjects.
        params : mapping of str to array
            Structural parameters by name, scalars or one value per subject.
        dose : array, optional
            ``AMT`` (CAR+ cells), scalar or one per subject.
        time_varying : mapping of str to (times, values), optional
            Step functions of the covariates declared in :attr:`time_varying`.
        rtol : float, default 1e-6
            Relative tolerance per subject; the global error of an order-2 method is larger
            (about 1e-3 relative at ``rtol=1e-5`` on ``cartmath_illustration``).
        atol : float, optional
            Absolute tolerance (default ``solver["atol"]``).
        workers : int, default 1
            Processes to split the subjects over.
        throw : bool, default True
            Raise ``ode_failed`` naming failed subjects; with ``False`` they are NaN and
            flagged in ``solution.status``.

        Returns
        -------
        OdeSolution
            ``values`` ``{DVID: (n, n_t)}`` and ``status`` per subject.
        """
        from cartpk.ode._request import ode_request
        from cartpk.ode._solve import solve_ode

        vals = self._split_params(params)
        request = ode_request(
            self, time, vals, dose=dose, time_varying=time_varying, shared_time=True
        )
        return solve_ode(
            request, engine="batch", rtol=rtol, atol=atol, workers=workers, throw=throw
        )
