"""Checks of the fitters' keyword options that name one of a few choices.

:func:`cartpk.fit_subject` / :func:`cartpk.fit_individual` (``prior``, ``sigma``, ``ci``,
``gradient``) and :func:`cartpk.fit_population` (``sampler``, ``init``) share them, so an
unknown choice reads the same everywhere: ``Unknown `name=value`.`` with a
:class:`~cartpk.errors.Violation` saying which choices there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cartpk.errors import SpecError, Violation


def one_of(choices: Sequence[Any]) -> str:
    """The choices as a sentence: ``'a', 'b' or 'c'``.

    Parameters
    ----------
    choices : sequence
        The allowed values, shown by their ``repr``.

    Returns
    -------
    str

    Examples
    --------
    >>> one_of(("auto", "wald", "profile"))
    "'auto', 'wald' or 'profile'"
    >>> one_of((None, "population"))
    "None or 'population'"
    """
    shown = [repr(c) for c in choices]
    return ", ".join(shown[:-1]) + " or " + shown[-1] if len(shown) > 1 else "".join(shown)


def choice_problem(
    name: str, value: Any, choices: Sequence[Any], *, code: str, fix: str
) -> Violation | None:
    """The problem of option ``name`` when ``value`` is not among ``choices``, else None.

    Parameters
    ----------
    name : str
        The option's keyword, e.g. ``"ci"``.
    value : object
        The value passed.
    choices : sequence
        The allowed values.
    code : str
        The violation's code, e.g. ``"ci_kind"``.
    fix : str
        How to fix it, e.g. ``'use ci="auto"'``.

    Returns
    -------
    Violation or None

    Examples
    --------
    >>> choice_problem("ci", "auto", ("auto", "wald"), code="ci_kind", fix="") is None
    True
    >>> choice_problem("ci", "x", ("auto", "wald"), code="ci_kind", fix="").message
    "`ci` must be 'auto' or 'wald'"
    """
    if value in choices:
        return None
    expected = one_of(choices)
    return Violation(
        code, f"`{name}` must be {expected}", value=repr(value), expected=expected, fix=fix
    )


def check_choice(
    name: str, value: Any, choices: Sequence[Any], *, code: str, fix: str, what: str = ""
) -> None:
    """Raise unless option ``name`` has one of its ``choices``.

    Parameters
    ----------
    name, value, choices, code, fix
        As for :func:`choice_problem`.
    what : str, optional
        Words naming the option in the error's message, before the keyword (with a
        trailing space): ``"sampler "`` gives ``Unknown sampler `sampler='x'`.``.

    Raises
    ------
    SpecError
        ``code``, when ``value`` is not among ``choices``.

    Examples
    --------
    >>> check_choice("sigma", "fixed", ("fixed", "estimate"), code="sigma_kind", fix="")
    >>> try:
    ...     check_choice("sigma", "free", ("fixed", "estimate"), code="sigma_kind", fix="")
    ... except SpecError as err:
    ...     print(err.summary, err.code)
    Unknown `sigma='free'`. sigma_kind
    """
    problem = choice_problem(name, value, choices, code=code, fix=fix)
    if problem is not None:
        raise SpecError(f"Unknown {what}`{name}={value!r}`.", [problem])
