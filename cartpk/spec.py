"""The one reader of TOML specifications, and the rules of their keys as data.

Every command that takes a specification (``cartpk fit``, ``er``, ``sse``, ``bootstrap``
and ``run``, and :func:`cartpk.fit_many`) reads it with :func:`read_toml` and checks its
keys against a table of :class:`Field` rules with :func:`check_fields`, so that

* a file that is not UTF-8 or not TOML is one :class:`~cartpk.errors.SpecError`
  (``spec_encoding``, ``spec_unreadable``) naming the line, never a traceback;
* a key of the wrong type, out of range or not among its choices is a violation naming
  the key, the file's line and the raw text written there (:func:`locate`);
* every problem is listed at once, before any data are read;
* a key means the same thing everywhere: the shared rules (``seed``, ``level``...) are
  defined once in :data:`COMMON` and the spec kinds take them from there.

This module is part of the foundation stage: it imports nothing of cartpk but
:mod:`cartpk.errors`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cartpk.errors import SpecError, Violation

__all__ = [
    "COMMON",
    "CODES",
    "Field",
    "SpecText",
    "check_fields",
    "check_value",
    "key_line",
    "locate",
    "raise_problems",
    "read_toml",
]

#: kinds of value a :class:`Field` may hold -> how a message names them
KINDS: dict[str, str] = {
    "int": "an integer",
    "number": "a number",
    "str": "a string",
    "bool": "true or false",
    "table": "a table",
    "list": "a list",
    "list[str]": "a list of strings",
    "list[number]": "a list of numbers",
    "str|list[str]": "a string or a list of strings",
    "table[number]": "a table of numbers",
    "table[bounds]": "a table of [lower, upper] pairs of numbers",
    "bounds": "a [lower, upper] pair of numbers",
}
#: table kinds -> the kind of each entry
_ENTRY = {"table[number]": "number", "table[bounds]": "bounds"}

#: default violation codes of :func:`check_fields` (a reader may keep its historical ones)
CODES: dict[str, str] = {
    "unknown": "spec_unknown_key",
    "missing": "spec_missing_key",
    "type": "spec_type",
    "value": "spec_value",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_bounds(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v)
        for v in value.values()
    )


_TYPE_OK = {
    "int": _is_int,
    "number": _is_number,
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "table": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
    "list[str]": _is_str_list,
    "list[number]": lambda v: isinstance(v, list) and all(_is_number(x) for x in v),
    "str|list[str]": lambda v: isinstance(v, str) or _is_str_list(v),
    "table[number]": lambda v: isinstance(v, dict) and all(_is_number(x) for x in v.values()),
    "table[bounds]": _is_bounds,
    "bounds": lambda v: isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v),
}


@dataclass(frozen=True)
class Field:
    """The rule of one specification key.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS` (``"int"``, ``"number"``, ``"str"``, ``"list[str]"``...).
    doc : str
        What the key holds (shown as what was expected).
    required : bool
        Whether the key must be given.
    low, high : float, optional
        Range of a number (and of every number of a list or table of numbers).
    low_open, high_open : bool
        Whether ``low`` / ``high`` themselves are excluded.
    choices : tuple
        The valid values (of a string, or of every string of a list).
    default : object
        The value used when the key is left out (documentation; readers apply it).
    """

    kind: str
    doc: str = ""
    required: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] = ()
    default: Any = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:  # pragma: no cover - a programming error
            raise ValueError(f"unknown field kind {self.kind!r}")

    def replace(self, **changes: Any) -> Field:
        """A copy with some attributes changed (e.g. ``required=True``)."""
        return dataclasses.replace(self, **changes)

    @property
    def range_text(self) -> str:
        """The range in words, e.g. ``'an integer >= 1'`` or ``'a number in (0, 1)'``."""
        what = KINDS[self.kind]
        if self.low is not None and self.high is not None:
            lo = "(" if self.low_open else "["
            hi = ")" if self.high_open else "]"
            return f"{what} in {lo}{self.low:g}, {self.high:g}{hi}"
        if self.low is not None:
            return f"{what} {'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{what} {'<' if self.high_open else '<='} {self.high:g}"
        return what

    def expected(self) -> str:
        """What a valid value looks like, for a message."""
        if self.choices:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            text = self.range_text
        return f"{text} ({self.doc})" if self.doc else text

    def in_range(self, x: float) -> bool:
        """Whether the number ``x`` is finite and within ``low``/``high``."""
        if not math.isfinite(x):
            return False
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            return False
        return not (self.high is not None and (x >= self.high if self.high_open else x > self.high))


def _open_unit(doc: str, default: float) -> Field:
    """The rule of a number strictly between 0 and 1 (a level, a probability)."""
    return Field("number", doc, low=0, high=1, low_open=True, high_open=True, default=default)


#: keys that mean the same in every kind of specification
COMMON: dict[str, Field] = {
    "model": Field("str", "catalogue model name (`cartpk models`)"),
    "data": Field("str", "CSV path relative to the spec file, or 'example:trial.csv'"),
    "seed": Field("int", "master random seed", low=0),
    "name": Field("str", "free text"),
    "description": Field("str", "free text"),
    "title": Field("str", "free text"),
    "level": _open_unit("confidence level, e.g. 0.95", 0.95),
    "dvid": Field("str|list[str]", "one DVID or a list of them"),
    "blq": Field(
        "str", "censoring method of BLQ records", choices=("m3", "m4", "m1"), default="m3"
    ),
    "n_starts": Field("int", "starts of each optimisation", low=1, default=4),
    "workers": Field("int", "parallel processes", low=1),
    "sigma": Field("str", "residual error", choices=("fixed", "estimate"), default="fixed"),
    "ode_engine": Field("str", "ODE engine", choices=("jax", "scipy")),
    "ode_method": Field("str", "ODE solver name, e.g. 'Tsit5'"),
    "draws": Field("int", "posterior draws per chain", low=1, default=1000),
    "tune": Field("int", "tuning steps per chain", low=0, default=1000),
    "chains": Field("int", "MCMC chains", low=1, default=4),
    "target_accept": _open_unit("NUTS target acceptance", 0.9),
}


def check_value(
    key: str, rule: Field, value: Any, codes: Mapping[str, str] = CODES
) -> list[Violation]:
    """Check one value against its rule.

    Parameters
    ----------
    key : str
        The key as the user wrote it (``"seed"``, ``"options.draws"``).
    rule : Field
        The rule.
    value : object
        The value as parsed from TOML.
    codes : mapping, optional
        Violation codes by problem (``type``, ``value``), default :data:`CODES`.

    Returns
    -------
    list of Violation
        Empty when the value is valid; ``column`` is the key.
    """
    name = key.rsplit(".", 1)[-1]
    entry = _ENTRY.get(rule.kind)
    if entry is not None and isinstance(value, dict):  # a table: each entry on its own
        return [
            v
            for k, x in value.items()
            for v in check_value(f"{key}.{k}", rule.replace(kind=entry), x, codes)
        ]

    def problem(kind: str, message: str, fix: str) -> Violation:
        """The ``kind`` (``"type"`` or ``"value"``) problem of this key's value."""
        return Violation(
            codes.get(kind, CODES[kind]),
            f"`{key}` {message}",
            column=key,
            value=repr(value),
            expected=rule.expected(),
            fix=fix,
        )

    if not _TYPE_OK[rule.kind](value):
        return [
            problem("type", f"must be {KINDS[rule.kind]}", f"write `{name}` as {KINDS[rule.kind]}")
        ]
    problems: list[Violation] = []

    def bad(message: str) -> None:
        problems.append(problem("value", message, f"set `{name}` to {rule.expected()}"))

    if rule.choices:
        items = value if isinstance(value, list) else [value]
        wrong = [v for v in items if v not in rule.choices]
        if wrong:
            bad("has an invalid value " + ", ".join(repr(v) for v in wrong))
    if rule.low is not None or rule.high is not None:
        if isinstance(value, dict):
            numbers = [x for v in value.values() for x in (v if isinstance(v, list) else [v])]
        elif isinstance(value, list):
            numbers = list(value)
        else:
            numbers = [value]
        if not all(rule.in_range(float(x)) for x in numbers if _is_number(x)):
            bad(f"is out of range: must be {rule.range_text}")
    if rule.kind == "bounds" and not value[0] < value[1]:
        bad("has lower >= upper")
    if rule.kind == "number" and _is_number(value) and not math.isfinite(float(value)):
        if rule.low is None and rule.high is None:
            bad("must be finite")
    return problems


def check_fields(
    raw: Mapping[str, Any],
    rules: Mapping[str, Field],
    *,
    prefix: str = "",
    codes: Mapping[str, str] = CODES,
    allowed: Iterable[str] = (),
) -> list[Violation]:
    """Check a table of a specification against its rules; every problem at once.

    Parameters
    ----------
    raw : mapping
        The table as parsed.
    rules : mapping
        Key -> :class:`Field`.
    prefix : str, optional
        Table path of ``raw`` (``"options"``): keys are named ``"options.draws"``.
    codes : mapping, optional
        Violation codes (``unknown``, ``missing``, ``type``, ``value``).
    allowed : iterable of str, optional
        Further keys that are valid here but checked elsewhere.

    Returns
    -------
    list of Violation
        Unknown keys (naming the valid ones), missing required keys, wrong types, values
        out of range or not among the choices.
    """
    codes = {**CODES, **codes}
    extra = set(allowed)
    valid = sorted({*rules, *extra})
    problems: list[Violation] = []
    for key, value in raw.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key in rules:
            problems += check_value(full, rules[key], value, codes)
        elif key not in extra:
            problems.append(
                Violation(
                    codes["unknown"],
                    f"unknown key `{full}`",
                    column=full,
                    value=repr(key),
                    expected="one of " + ", ".join(valid),
                    fix=f"remove `{key}` or correct its spelling",
                )
            )
    for key, rule in rules.items():
        if rule.required and key not in raw:
            full = f"{prefix}.{key}" if prefix else key
            problems.append(
                Violation(
                    codes["missing"],
                    f"`{full}` is required",
                    column=full,
                    expected=rule.expected(),
                    fix=f"add `{key} = ...`",
                )
            )
    return problems


# ---------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class SpecText:
    """A specification file as read: its parsed content, its text and its path."""

    raw: dict[str, Any]
    text: str = ""
    path: Path | None = None

    @property
    def name(self) -> str:
        """The file name (or ``'the specification'`` for a mapping)."""
        return self.path.name if self.path is not None else "the specification"


_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


def read_toml(path: str | os.PathLike[str]) -> SpecText:
    """Read a TOML specification as UTF-8 (a UTF-8 byte-order mark is allowed).

    Parameters
    ----------
    path : path
        The file.

    Returns
    -------
    SpecText

    Raises
    ------
    SpecError
        ``spec_encoding`` (not UTF-8: the line and the bytes found, how to re-save) or
        ``spec_unreadable`` (not TOML: the parser's line and that line's text).
    FileNotFoundError, IsADirectoryError
        ``path`` is no file.
    """
    p = Path(path)
    data = p.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:200]:
        msg = f"{p.name} is UTF-16 (or holds NUL bytes), not UTF-8 text"
        raise SpecError(
            msg,
            [
                Violation(
                    "spec_encoding",
                    msg,
                    value=repr(data[:8]),
                    expected="a UTF-8 text file",
                    fix="re-save the specification as UTF-8 (e.g. 'UTF-8' in the editor's "
                    "Save As dialog)",
                )
            ],
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        start = data.rfind(b"\n", 0, err.start) + 1
        end = data.find(b"\n", err.start)
        raw_line = data[start : end if end >= 0 else len(data)]
        msg = f"{p.name} is not UTF-8: byte {data[err.start : err.start + 1]!r} on line {line}"
        raise SpecError(
            msg,
            [
                Violation(
                    "spec_encoding",
                    msg,
                    value=f"{p.name}, line {line}: {raw_line.decode('utf-8', 'replace').strip()}",
                    expected="a UTF-8 text file",
                    fix="re-save the specification as UTF-8 (Latin-1 / Windows-1252 files "
                    "come from older editors)",
                )
            ],
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        m = _TOML_AT.search(str(err))
        where = None
        if m:
            n = int(m.group(1))
            lines = text.splitlines()
            shown = lines[n - 1].strip() if 0 < n <= len(lines) else ""
            where = f"{p.name}, line {n}: {shown}"
        msg = f"{p.name} is not valid TOML: {err}"
        raise SpecError(
            msg,
            [Violation("spec_unreadable", msg, value=where, fix="correct the TOML syntax")],
        ) from None
    return SpecText(raw=raw, text=text, path=p)


# ---------------------------------------------------------------------------------------
# locating a key in the text


def _header(line: str) -> str | None:
    """The table name of a ``[table]`` / ``[[table]]`` header line, else ``None``."""
    m = re.match(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$", line)
    return m.group(1).replace('"', "") if m else None


def _assigns(line: str, key: str) -> bool:
    return re.match(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", line) is not None


def key_line(text: str, key: str) -> int | None:
    """1-based line where ``key`` is written in the TOML ``text``, if it can be found.

    Parameters
    ----------
    text : str
        The specification.
    key : str
        ``"seed"`` (top level), ``"options.draws"`` (in ``[options]``, or written
        ``options.draws = `` or inline), ``"analysis[2].model"`` (in the second
        ``[[analysis]]``), ``"ini"`` (its header, or ``ini = ...``).

    Returns
    -------
    int or None
    """
    lines = text.splitlines()
    m = re.fullmatch(r"(\w+)\[(\d+)\](?:\.(.+))?", key)
    if m:
        table, index, sub = m.group(1), int(m.group(2)), m.group(3)
        heads = [n for n, ln in enumerate(lines) if _header(ln) == table]
        if index > len(heads):
            return None
        start = heads[index - 1]
        stop = next((n for n in range(start + 1, len(lines)) if _header(lines[n])), len(lines))
        if sub:
            for n in range(start + 1, stop):
                if _assigns(lines[n], sub):
                    return n + 1
        return start + 1
    parts = key.split(".")
    current: str | None = None
    for n, ln in enumerate(lines):
        head = _header(ln)
        if head is not None:
            current = head
            if head == key:
                return n + 1
            continue
        for cut in range(len(parts) - 1, -1, -1):  # table part / key part
            table = ".".join(parts[:cut]) or None
            rest = ".".join(parts[cut:])
            if current == table and _assigns(ln, rest):
                return n + 1
        if current is None and len(parts) > 1 and _assigns(ln, parts[0]):
            return n + 1  # inline table: `options = { draws = 5 }`
    return None


def locate(violations: Sequence[Violation], spec: SpecText) -> list[Violation]:
    """Name the file, line and raw text of each violation's key (``column``).

    The ``value`` becomes ``"<file>, line <n>: <the line as written>"`` (followed by the
    value found when the line does not show it); a violation whose key is not written in
    the file keeps its value, after the file name.
    """
    if not spec.text:
        return list(violations)
    lines = spec.text.splitlines()
    out = []
    for v in violations:
        if v.value is not None and str(v.value).startswith(f"{spec.name}, line "):
            out.append(v)
            continue
        n = key_line(spec.text, v.column) if v.column else None
        if n is None:
            where = spec.name if v.value is None else f"{spec.name}: {v.value}"
        else:
            shown = lines[n - 1].strip()
            where = f"{spec.name}, line {n}: {shown}"
            found = None if v.value is None else str(v.value).strip("'\"")
            if found and found not in shown:
                where += f" ({v.value})"
        out.append(dataclasses.replace(v, value=where))
    return out


def raise_problems(problems: Sequence[Violation], spec: SpecText | None = None) -> None:
    """Raise one :class:`SpecError` listing every problem (located in ``spec``), if any."""
    if not problems:
        return
    located = locate(problems, spec) if spec is not None else list(problems)
    where = spec.name if spec is not None else "the specification"
    n = len(located)
    raise SpecError(f"{where} has {n} problem{'s' if n > 1 else ''}; nothing was run.", located)
