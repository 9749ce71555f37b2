"""Closed-form models: :class:`ClosedFormModel`, a declaration whose ``predict`` gives
every output in closed form for any array namespace (NumPy, PyTensor, JAX)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cartpk.errors import Violation
from cartpk.model._base import Model
from cartpk.model._equations import _check_outputs, _kwonly_cached, _raw, _signature_problems

__all__ = ["ClosedFormModel"]


class ClosedFormModel(Model):
    """A model given by an explicit solution ``predict(xp, time, *, <thetas>) -> {DVID: f}``.

    ``predict`` is written against the array namespace ``xp`` (NumPy, ``pytensor.tensor``,
    ``jax.numpy``) and takes every structural parameter as a keyword-only argument, named
    exactly as declared (checked at class creation). It may also take ``dose`` (``AMT``).
    """

    _abstract: ClassVar[bool] = True
    kind: ClassVar[str] = "closed_form"

    @classmethod
    def _equation_names(cls) -> tuple[str, ...]:
        return ("predict",)

    @classmethod
    def _check_equations(cls, names: set[str]) -> list[Violation]:
        func = _raw(cls, "predict")
        if func is None:
            return [
                Violation(
                    "predict_missing",
                    f"closed-form model `{cls.__name__}` defines no `predict`",
                    expected="def predict(xp, time, *, <one keyword per theta>)",
                    fix="add a static `predict` method",
                )
            ]
        return _signature_problems(cls.__name__, "predict", func, ["xp", "time"], names, exact=True)

    def evaluate(
        self,
        xp: Any,
        time: Any,
        params: Mapping[str, Any],
        *,
        dose: Any = None,
    ) -> dict[str, Any]:
        """Predictions ``{DVID: array}`` at ``time`` for structural ``params`` (by name).

        Parameters
        ----------
        xp : module
            Array namespace: ``numpy`` or ``pytensor.tensor`` (differentiable).
        time : array
            Days since infusion, shape ``(n_t,)`` or ``(n_subjects, n_t)``.
        params : mapping of str to array
            Structural parameters by name; scalars or ``(n_subjects, 1)`` arrays that
            broadcast against ``time``. Fixed parameters may be omitted.
        dose : array, optional
            Dose (``AMT``) for models whose ``predict`` takes ``dose``.
        """
        vals = self._split_params(params)
        func = _raw(type(self), "predict")
        assert func is not None
        _, kw, _ = _kwonly_cached(func)
        if "dose" in kw:
            vals["dose"] = dose
        out = func(xp, time, **vals)
        return _check_outputs(self, out)
