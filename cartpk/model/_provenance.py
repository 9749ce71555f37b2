"""Provenance of a model's values: how each parameter block was checked, and against what.

A catalogue model declares, per parameter block, one of three levels of evidence:

* ``verified``: checked against the publication's own table, equations or reported numbers
  (a test or a cited comparison does the check);
* ``transcribed``: taken from an independent transcription of the publication, named
  (e.g. nlmixr2lib's ``Stein_2019_Tisagenlecleucel.R``), not checked against the paper;
* ``assumed``: a placeholder or an illustrative value of the model file.

Declared as class data in the model file::

    provenance = provenance(
        structure=verified("Stein 2019 abstract: doubling 0.78 d ... (tests/model/...)"),
        iiv=transcribed("nlmixr2lib Stein_2019_Tisagenlecleucel.R: Table 1 as omega^2"),
        dose=assumed("median total dose, placeholder"),
    )

A block may hold several entries (``typical=[verified(..., covers="tlag, tmax"),
assumed(..., covers="cmax, fb")]``); its level is then the weakest of them. Unknown
levels or blocks are a :class:`~cartpk.errors.ModelError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cartpk.errors import ModelError, Violation

__all__ = [
    "BLOCKS",
    "LEVELS",
    "Evidence",
    "Provenance",
    "assumed",
    "provenance",
    "transcribed",
    "verified",
]

#: Levels of evidence, strongest first.
LEVELS: tuple[str, ...] = ("verified", "transcribed", "assumed")

#: Parameter blocks a model may declare provenance for, in display order.
BLOCKS: dict[str, str] = {
    "structure": "equations (structural model)",
    "typical": "typical values of the structural parameters",
    "baseline": "baseline states and burdens (initial conditions)",
    "iiv": "inter-individual variability (random effects)",
    "error": "residual error model",
    "dose": "default dose and dose/burden presets",
    "covariates": "covariate effects",
    "observation": "observation conversions (units, scaling)",
}


def _invalid(what: str, code: str, value: str, expected: str, fix: str) -> ModelError:
    return ModelError(
        f"Invalid provenance: {what}.",
        [Violation(code, what, value=value, expected=expected, fix=fix)],
        code=code,
    )


@dataclass(frozen=True)
class Evidence:
    """One provenance entry: a level of evidence and the source it rests on.

    Parameters
    ----------
    level : str
        ``"verified"``, ``"transcribed"`` or ``"assumed"``.
    source : str
        What was checked against what (publication table/section, named transcription,
        test), or why the value is a placeholder.
    covers : str, optional
        The part of the block the entry covers (e.g. ``"cmax, fb"``), when a block holds
        entries of different levels.
    """

    level: str
    source: str
    covers: str = ""

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise _invalid(
                f"unknown level {self.level!r}",
                "provenance_level",
                repr(self.level),
                f"one of {', '.join(LEVELS)}",
                "use verified(...), transcribed(...) or assumed(...)",
            )
        if not isinstance(self.source, str) or not self.source.strip():
            raise _invalid(
                "every provenance entry needs its source",
                "provenance_source",
                repr(self.source),
                "a non-empty string naming the table, transcription or reason",
                "name the source, e.g. 'Stein 2019 Table 1'",
            )

    def as_dict(self) -> dict[str, str]:
        """``{"level", "source", "covers"}`` (``covers`` only when given)."""
        out = {"level": self.level, "source": self.source}
        if self.covers:
            out["covers"] = self.covers
        return out


def verified(source: str, *, covers: str = "") -> Evidence:
    """Checked against the publication itself (its table, equations or reported numbers)."""
    return Evidence("verified", source, covers)


def transcribed(source: str, *, covers: str = "") -> Evidence:
    """From a named independent transcription of the publication, not checked against it."""
    return Evidence("transcribed", source, covers)


def assumed(source: str, *, covers: str = "") -> Evidence:
    """A placeholder or illustrative value; ``source`` says where it comes from."""
    return Evidence("assumed", source, covers)


def _weakest(levels: Sequence[str]) -> str:
    return max(levels, key=LEVELS.index)


@dataclass(frozen=True)
class Provenance:
    """Provenance of a model, per parameter block (see the module docstring).

    Build it with :func:`provenance`; ``blocks`` holds ``(block, entries)`` pairs in the
    display order of :data:`BLOCKS`.
    """

    blocks: tuple[tuple[str, tuple[Evidence, ...]], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.blocks)

    def level(self, block: str) -> str:
        """The level of one block: the weakest of its entries."""
        entries = dict(self.blocks).get(block)
        if entries is None:
            raise _invalid(
                f"no provenance declared for block {block!r}",
                "provenance_block",
                repr(block),
                f"one of {', '.join(b for b, _ in self.blocks)}",
                "ask for a declared block",
            )
        return _weakest([e.level for e in entries])

    @property
    def levels(self) -> dict[str, str]:
        """``{block: level}`` in display order."""
        return {b: self.level(b) for b, _ in self.blocks}

    @property
    def weakest(self) -> str | None:
        """The weakest level over all blocks (``None`` when nothing is declared)."""
        return _weakest(list(self.levels.values())) if self.blocks else None

    def summary(self) -> str:
        """Compact form for tables: ``"verified 2/5, weakest assumed"``; ``"-"`` if empty."""
        if not self.blocks:
            return "-"
        levels = list(self.levels.values())
        n_ok = sum(lv == "verified" for lv in levels)
        return f"verified {n_ok}/{len(levels)}, weakest {self.weakest}"

    def detail(self) -> str:
        """One line: ``block: level (source); ...`` with every entry."""
        parts = []
        for block, entries in self.blocks:
            for e in entries:
                scope = f" [{e.covers}]" if e.covers else ""
                parts.append(f"{block}{scope}: {e.level} ({e.source})")
        return "; ".join(parts)

    def with_blocks(self, **blocks: Evidence | Sequence[Evidence]) -> Provenance:
        """A copy with the given blocks declared anew (for a model that reuses another's).

        Parameters
        ----------
        **blocks : Evidence or sequence of Evidence
            As for :func:`provenance`; blocks not given are kept.

        Returns
        -------
        Provenance
        """
        merged: dict[str, Evidence | Sequence[Evidence]] = dict(self.blocks)
        merged.update(blocks)
        return provenance(**merged)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """``{block: {"level": ..., "entries": [{"level", "source", ...}, ...]}}``."""
        return {
            b: {"level": self.level(b), "entries": [e.as_dict() for e in entries]}
            for b, entries in self.blocks
        }


def provenance(**blocks: Evidence | Sequence[Evidence]) -> Provenance:
    """Declare a model's provenance, one keyword per parameter block.

    Parameters
    ----------
    **blocks : Evidence or sequence of Evidence
        Keys from :data:`BLOCKS` (``structure``, ``typical``, ``baseline``, ``iiv``,
        ``error``, ``dose``, ``covariates``, ``observation``); values built with
        :func:`verified`, :func:`transcribed` or :func:`assumed`.

    Returns
    -------
    Provenance

    Raises
    ------
    ModelError
        ``provenance_block`` (unknown block), ``provenance_entry`` (a value that is not
        an entry, or an empty list), ``provenance_level`` / ``provenance_source``.
    """
    unknown = [b for b in blocks if b not in BLOCKS]
    if unknown:
        raise _invalid(
            f"unknown block {unknown[0]!r}",
            "provenance_block",
            ", ".join(map(repr, unknown)),
            f"one of {', '.join(BLOCKS)}",
            "name a parameter block of cartpk.model.BLOCKS",
        )
    out = []
    for block in BLOCKS:
        if block not in blocks:
            continue
        value = blocks[block]
        entries = (value,) if isinstance(value, Evidence) else tuple(value)
        if not entries or not all(isinstance(e, Evidence) for e in entries):
            raise _invalid(
                f"block {block!r} must be given verified()/transcribed()/assumed() entries",
                "provenance_entry",
                repr(value),
                "an Evidence or a non-empty list of them",
                f"write {block}=verified('source') (or transcribed/assumed)",
            )
        out.append((block, entries))
    return Provenance(tuple(out))


def check_provenance(value: Any, where: str) -> list[Violation]:
    """Violations of a model's ``provenance`` class attribute (empty when valid)."""
    if isinstance(value, Provenance):
        return []
    if isinstance(value, Mapping):
        hint = "wrap the mapping: provenance(**{...})"
    else:
        hint = "declare provenance = provenance(structure=verified('...'), ...)"
    return [
        Violation(
            "provenance_type",
            f"{where}: `provenance` must be declared with cartpk.model.provenance(...)",
            value=type(value).__name__,
            fix=hint,
        )
    ]
