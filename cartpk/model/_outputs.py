"""Checks of output names (DVIDs) that a caller asks a model for."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from cartpk.errors import Violation

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.model._base import Model

__all__ = ["unknown_outputs"]


def unknown_outputs(model: Model, names: Iterable[str], *, fix: str) -> list[Violation]:
    """An ``unknown_output`` violation for each of ``names`` that ``model`` does not declare.

    Parameters
    ----------
    model : Model
        The model whose ``outputs`` are the valid names.
    names : iterable of str
        The outputs asked for, in the order to report them.
    fix : str
        What the caller should do instead (it names the argument to change).

    Returns
    -------
    list of Violation
        Empty when every name is an output of ``model``.
    """
    return [
        Violation(
            "unknown_output",
            f"`{o}` is not an output of `{model.name}`",
            value=o,
            expected=f"one of {list(model.outputs)}",
            fix=fix,
        )
        for o in names
        if o not in model.outputs
    ]
