"""Error and warning classes shared by every stage of cartpk.

Every error that cartpk raises for bad input lists *all* problems at once. Each problem is
a :class:`Violation` with a stable ``code`` that tests and documentation match on, the
subject ``ID``, the 1-based ``rows`` as in the user's file, the ``column``, the ``value``
found, what was ``expected`` and how to ``fix`` it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Self

__all__ = [
    "CartpkError",
    "CartpkWarning",
    "DatasetError",
    "FitError",
    "ModelError",
    "Outcome",
    "SpecError",
    "Violation",
    "compress_rows",
]


def compress_rows(rows: Iterable[int]) -> str:
    """Format row numbers compactly: ``[3, 4, 5, 9]`` -> ``'rows 3-5, 9'``.

    Examples
    --------
    >>> compress_rows([12, 13, 14, 19])
    'rows 12-14, 19'
    >>> compress_rows([7])
    'row 7'
    """
    rs = sorted({int(r) for r in rows})
    if not rs:
        return ""
    parts: list[str] = []
    start = prev = rs[0]
    for r in rs[1:]:
        if r == prev + 1:
            prev = r
            continue
        parts.append(f"{start}-{prev}" if prev > start else f"{start}")
        start = prev = r
    parts.append(f"{start}-{prev}" if prev > start else f"{start}")
    return ("rows " if len(rs) > 1 else "row ") + ", ".join(parts)


@dataclass(frozen=True)
class Violation:
    """One problem found in user input.

    Attributes
    ----------
    code : str
        Stable machine-readable code, e.g. ``"cens_above_lloq"``.
    message : str
        What is wrong, in domain words, names in backticks.
    id : object, optional
        Subject identifier (``ID``) the problem belongs to, if any.
    rows : tuple of int
        1-based row numbers as in the input file (the header is not counted).
    column : str, optional
        Column concerned.
    value : str, optional
        The offending value(s), as found.
    expected : str
        What was expected instead.
    fix : str
        How to fix it.
    """

    code: str
    message: str
    id: object = None
    rows: tuple[int, ...] = ()
    column: str | None = None
    value: str | None = None
    expected: str = ""
    fix: str = ""

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-serialisable dictionary."""
        return {
            "code": self.code,
            "message": self.message,
            "ID": None if self.id is None else str(self.id),
            "rows": list(self.rows),
            "column": self.column,
            "value": self.value,
            "expected": self.expected,
            "fix": self.fix,
        }

    def format(self) -> str:
        """Human-readable multi-line description."""
        where = []
        if self.id is not None:
            where.append(f"ID {self.id}")
        if self.rows:
            where.append(compress_rows(self.rows))
        loc = ", ".join(where)
        if self.value is not None:
            loc = f"{loc}: {self.value}" if loc else str(self.value)
        lines = [f"[{self.code}] {self.message}"]
        if loc:
            lines.append(f"  {loc}")
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


class CartpkError(Exception):
    """Base class of every error cartpk raises on purpose.

    Parameters
    ----------
    message : str
        One-sentence summary.
    violations : sequence of Violation, optional
        Every individual problem found.
    code : str, optional
        Stable code of the error as a whole (defaults to the first violation's code).
    """

    def __init__(
        self,
        message: str,
        violations: Sequence[Violation] = (),
        *,
        code: str | None = None,
    ) -> None:
        self.summary = message
        self.violations: tuple[Violation, ...] = tuple(violations)
        self.code = code or (self.violations[0].code if self.violations else "error")
        super().__init__(self._render())

    def _render(self) -> str:
        if not self.violations:
            return self.summary
        body = "\n".join(v.format() for v in self.violations)
        return f"{self.summary}\n{body}"

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-serialisable dictionary."""
        return {
            "error": type(self).__name__,
            "code": self.code,
            "message": self.summary,
            "violations": [v.to_dict() for v in self.violations],
        }


class DatasetError(CartpkError, ValueError):
    """The input data table has one or more problems; nothing was loaded."""


class ModelError(CartpkError, ValueError):
    """A model declaration or a change to it is invalid."""


class SpecError(CartpkError, ValueError):
    """A fit specification (TOML) or a command's options are invalid."""


class FitError(CartpkError, RuntimeError):
    """A fit could not be carried out (not: did not converge, which is a status)."""


@dataclass
class CartpkWarning(UserWarning):
    """A suspicious but usable input or result; ``code`` is stable."""

    message: str
    code: str = "warning"
    details: dict[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class Outcome(enum.StrEnum):
    """Base of every status in cartpk: a stable code that carries its remedy.

    A member is declared as ``name = code, text`` (a status that needs action) or
    ``name = code, text, True`` (a success). The member *is* its code: it compares equal
    to the string, is written as the string to CSV and JSON, and ``.value`` is the code.

    Examples
    --------
    >>> class Demo(Outcome):
    ...     done = "done", "The work is done.", True
    ...     stuck = "stuck", "It stopped early. Try a larger `max_steps`."
    >>> Demo.stuck == "stuck", Demo.stuck.ok, Demo.stuck.remedy
    (True, False, 'It stopped early. Try a larger `max_steps`.')
    >>> Demo.done.ok, Demo.done.remedy, Demo.done.description
    (True, '', 'The work is done.')
    """

    _description: str
    _ok: bool

    def __new__(cls, code: str, description: str = "", ok: bool = False) -> Self:
        member = str.__new__(cls, code)
        member._value_ = code
        member._description = description
        member._ok = ok
        return member

    # enum.property: a member may itself be called ``ok`` (``ERStatus.ok.ok``)
    @enum.property
    def ok(self) -> bool:
        """Whether this is a success (nothing for the user to do)."""
        return self._ok

    @enum.property
    def description(self) -> str:
        """What the status means (for a status that needs action, also what to do)."""
        return self._description

    @enum.property
    def remedy(self) -> str:
        """What the user should do about this status; empty for a success."""
        return "" if self._ok else self._description
