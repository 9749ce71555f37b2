"""The equations of a declaration as functions: their signatures (positional and
keyword-only names, cached per function), the checks of those signatures, and the check of
what an evaluation returns."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cartpk.errors import ModelError, Violation

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.model._base import Model

__all__: list[str] = []

_DATA_ARGS = frozenset({"dose"})  # keyword-only arguments that are data, not parameters


# signature facts per equation function, computed once: ``inspect.signature`` costs about as
# much as evaluating a closed form on a handful of time points. Keyed by the function object
# (weakly, so classes defined at run time can be collected), so a subclass that overrides an
# equation, or a class whose equation is replaced, never sees another function's entry.
_KWONLY_CACHE: weakref.WeakKeyDictionary[Any, tuple[tuple[str, ...], frozenset[str], bool]] = (
    weakref.WeakKeyDictionary()
)


def _kwonly_cached(func: Callable[..., Any]) -> tuple[tuple[str, ...], frozenset[str], bool]:
    """Cached :func:`_kwonly`: positional names, keyword-only names, ``**kwargs`` present.

    Parameters
    ----------
    func : callable
        An equation function (``predict``, ``rhs``, ...).

    Returns
    -------
    tuple
        ``(positional names, frozenset of keyword-only names, has **kwargs)``; immutable,
        so the cached entry cannot be changed by a caller.
    """
    try:
        hit = _KWONLY_CACHE.get(func)
    except TypeError:  # not weak-referenceable or not hashable: no caching
        pos, kw, varkw = _kwonly(func)
        return tuple(pos), frozenset(kw), varkw
    if hit is None:
        pos, kw, varkw = _kwonly(func)
        hit = (tuple(pos), frozenset(kw), varkw)
        _KWONLY_CACHE[func] = hit
    return hit


def _kwonly(func: Callable[..., Any]) -> tuple[list[str], list[str], bool]:
    """Positional names, keyword-only names, and whether ``**kwargs`` is present."""
    sig = inspect.signature(func)
    pos, kw, varkw = [], [], False
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            pos.append(p.name)
        elif p.kind == p.KEYWORD_ONLY:
            kw.append(p.name)
        elif p.kind == p.VAR_KEYWORD:
            varkw = True
    return pos, kw, varkw


def _raw(cls: type, attr: str) -> Callable[..., Any] | None:
    for klass in cls.__mro__:
        if attr in klass.__dict__:
            obj = klass.__dict__[attr]
            if isinstance(obj, staticmethod | classmethod):
                obj = obj.__func__
            return obj if callable(obj) else None
    return None


@dataclass(frozen=True)
class _EvalPlan:
    """Per-instance facts :meth:`Model._split_params` checks on every evaluation.

    Attributes
    ----------
    known : frozenset of str
        Every parameter name of the model (all roles).
    structural : frozenset of str
        Theta names.
    free : tuple of str
        Thetas that are not fixed, in declaration order (a value is required).
    fixed : tuple of (str, float)
        Fixed thetas and their values, in declaration order.
    """

    known: frozenset[str]
    structural: frozenset[str]
    free: tuple[str, ...]
    fixed: tuple[tuple[str, float], ...]


def _signature_problems(
    cls_name: str,
    attr: str,
    func: Callable[..., Any],
    positional: list[str],
    names: set[str],
    *,
    exact: bool,
) -> list[Violation]:
    pos, kw, varkw = _kwonly(func)
    out: list[Violation] = []
    if pos != positional:
        out.append(
            Violation(
                "signature_positional",
                f"`{cls_name}.{attr}` must take ({', '.join(positional)}) positionally and every "
                "parameter as keyword-only",
                value=f"({', '.join(pos)})",
                expected=f"def {attr}({', '.join(positional)}, *, ...)",
                fix="put parameters after `*`; they are passed by name, never by position",
            )
        )
    if varkw:
        out.append(
            Violation(
                "signature_varkw",
                f"`{cls_name}.{attr}` takes **kwargs; parameters must be named explicitly",
                fix="list every parameter as a keyword-only argument",
            )
        )
    allowed = names | _DATA_ARGS
    for n in kw:
        if n not in allowed:
            out.append(
                Violation(
                    "signature_unknown",
                    f"`{cls_name}.{attr}` takes `{n}`, which is not a declared theta",
                    value=n,
                    expected=f"names among {sorted(names)}",
                    fix=f"declare `{n} = theta(...)` or rename the argument",
                )
            )
    if exact:
        for n in sorted(names - set(kw)):
            out.append(
                Violation(
                    "signature_missing",
                    f"theta `{n}` is declared but `{cls_name}.{attr}` does not take it",
                    value=n,
                    fix=f"add `{n}` as a keyword-only argument of `{attr}` or remove the theta",
                )
            )
    return out


def _check_outputs(model: Model, out: Any) -> dict[str, Any]:
    if not isinstance(out, Mapping) or set(out) != set(model.outputs):
        got = sorted(out) if isinstance(out, Mapping) else type(out).__name__
        raise ModelError(
            f"`{model.name}` returned outputs that do not match its declaration.",
            [
                Violation(
                    "outputs_mismatch",
                    "the equations must return a dict {DVID: prediction}",
                    value=repr(got),
                    expected=f"keys {sorted(model.outputs)}",
                    fix="return every declared output, keyed by DVID",
                )
            ],
        )
    return {k: out[k] for k in model.outputs}
