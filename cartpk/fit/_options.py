"""The fitters' shared keyword options: checks of choices, and the one table of renames.

:func:`cartpk.fit_subject` / :func:`cartpk.fit_individual` (``prior``, ``sigma``,
``interval``, ``gradient``) and :func:`cartpk.fit_population` (``sampler``, ``init``)
share the checks, so an unknown choice reads the same everywhere: ``Unknown
`name=value`.`` with a :class:`~cartpk.errors.Violation` saying which choices there are.

Every fitter, estimator and fit specification uses one vocabulary (issue 18): ``level``
for an interval's level, ``interval`` for the interval method of per-patient fits,
``workers`` for work in parallel. The names they replaced stay as deprecated aliases,
listed in one table, :data:`RENAMED`; :func:`renamed` (the spec readers) and
:func:`accepts_renamed` (the functions and classes) apply it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from cartpk.errors import SpecError, Violation

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")

#: where the names are used -> {deprecated name: its new name}: the one table of renames.
#: Keys are the functions and classes that take them as keywords, and the fit
#: specification's method (``"individual"``: the options of :func:`cartpk.fit_individual`).
RENAMED: dict[str, dict[str, str]] = {
    "fit_individual": {"ci": "interval", "ci_level": "level", "n_jobs": "workers"},
    "fit_subject": {"ci": "interval", "ci_level": "level"},
    "fit_population": {"ci": "level", "cores": "workers"},
    "PopulationFit.from_idata": {"ci": "level"},
    "IndividualFitEstimator": {"ci": "interval"},
}
RENAMED["individual"] = RENAMED["fit_individual"]


def renamed(
    options: Mapping[str, Any],
    renames: Mapping[str, str],
    *,
    where: str = "",
    source: str = "",
    stacklevel: int = 2,
) -> tuple[dict[str, Any], list[Violation]]:
    """The options with each deprecated name replaced by its new one.

    Each deprecated name given alone is renamed, with one :class:`FutureWarning` naming
    the new name. A deprecated name given with its new one is a problem (the value of
    neither is kept).

    Parameters
    ----------
    options : mapping
        Keyword options or specification keys, as given.
    renames : mapping of str to str
        Deprecated name -> new name (an entry of :data:`RENAMED`).
    where : str, optional
        The table the keys are in, for messages and a problem's ``column``
        (``"options"``: ``options.ci_level``).
    source : str, optional
        Words after the key in the warning, e.g. ``" (fit.toml)"``.
    stacklevel : int, default 2
        Of the warning, as for :func:`warnings.warn`, counted from the caller of this
        function.

    Returns
    -------
    dict
        The options under their new names, in the order given.
    list of Violation
        ``option_renamed`` for each pair of a deprecated and a new name given together,
        saying which to keep.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     out, problems = renamed({"ci_level": 0.9, "seed": 1}, RENAMED["fit_individual"])
    >>> out, problems
    ({'level': 0.9, 'seed': 1}, [])
    >>> print(caught[0].message)
    `ci_level` is renamed `level`; use `level` (`ci_level` still works but will be removed).
    >>> renamed({"ci": "wald", "interval": "wald"}, {"ci": "interval"})[1][0].fix
    'keep `interval` and remove `ci`'
    """
    out: dict[str, Any] = {}
    problems: list[Violation] = []
    prefix = f"{where}." if where else ""
    for key, value in options.items():
        new = renames.get(key)
        if new is None:
            out[key] = value
        elif new in options:
            problems.append(
                Violation(
                    "option_renamed",
                    f"`{prefix}{key}` and `{prefix}{new}` are the same option "
                    f"(`{key}` is its deprecated name)",
                    column=f"{prefix}{key}",
                    value=repr(value),
                    expected=f"`{new}` only",
                    fix=f"keep `{new}` and remove `{key}`",
                )
            )
        else:
            warnings.warn(
                f"`{prefix}{key}`{source} is renamed `{new}`; use `{new}` (`{key}` still "
                "works but will be removed).",
                FutureWarning,
                stacklevel=stacklevel + 1,
            )
            out[new] = value
    return out, problems


def _renaming(call: Callable[_P, _R], name: str) -> Callable[_P, _R]:
    """``call`` taking the deprecated keywords of ``RENAMED[name]`` too."""
    renames = RENAMED[name]

    @functools.wraps(call)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if renames.keys() & kwargs.keys():
            new, problems = renamed(kwargs, renames, stacklevel=2)
            if problems:
                raise SpecError(f"`{name}` got a renamed option twice.", problems)
            kwargs = new  # type: ignore[assignment]
        return call(*args, **kwargs)

    return wrapper


def accepts_renamed(target: _T) -> _T:
    """Let a function, or a class's constructor, take its deprecated keyword names.

    The names are those of ``RENAMED[target.__qualname__]``: each works as its new name, with
    one :class:`FutureWarning`; a deprecated name given with its new one raises.

    Parameters
    ----------
    target : function or class
        A function (wrapped, keeping its name, signature and docstring: pickled by
        reference as before) or a class (its ``__init__`` wrapped, in place).

    Returns
    -------
    function or class
        The function's wrapper, or the class itself.

    Raises
    ------
    SpecError
        ``option_renamed`` (when called) for a deprecated and a new name given together.
    """
    name = target.__qualname__  # type: ignore[attr-defined]
    if isinstance(target, type):
        target.__init__ = _renaming(target.__init__, name)  # type: ignore[misc]
        return target
    return _renaming(target, name)  # type: ignore[arg-type,return-value]


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
