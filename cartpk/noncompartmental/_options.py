"""Options of :func:`cartpk.nca`: BLQ rules by position and the lambda_z rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

import pandas as pd

from cartpk.errors import SpecError, Violation

__all__ = ["BLQRules", "LambdaZ", "as_blq_rules", "as_lambda_z"]

BeforeRule = Literal["zero", "drop"]
BetweenRule = Literal["drop", "zero", "half_lloq", "lloq"]
AfterRule = Literal["zero", "drop", "first_zero"]


@dataclass(frozen=True)
class BLQRules:
    """What to do with a below-limit sample, by its position in the profile.

    A sample is BLQ when ``CENS`` is 1 or a recorded ``DV`` is exactly 0 (PKNCA treats a
    zero the same way). Positions are relative to the first and last quantifiable samples.

    Parameters
    ----------
    before : {"zero", "drop"}, default "zero"
        BLQ samples before the first quantifiable one: set to 0 (PKNCA's default
        ``first="keep"``; a cell product is absent before expansion), or drop. A profile
        with no quantifiable sample is all "before": with ``"zero"`` its interval AUC is 0
        (PKNCA: an all-zero profile has AUC 0).
    between : {"drop", "zero", "half_lloq", "lloq"}, default "drop"
        BLQ samples between quantifiable ones: drop (PKNCA's default ``middle="drop"``),
        set to 0, to half the limit, or to the limit (``LLOQ``, or ``DV`` of a ``CENS=1``
        row; a sample whose limit is unknown is dropped and the rule says so).
    after : {"zero", "drop", "first_zero"}, default "zero"
        BLQ samples after the last quantifiable one: set to 0 (PKNCA's default
        ``last="keep"``: an interval ending after ``Tlast`` is then integrated linearly
        down to the first such zero and as 0 after it, with no lambda_z), drop (so that
        ``Tlast`` ends the data and later areas need lambda_z), or set the first to 0 and
        drop the rest.

    Notes
    -----
    The defaults are PKNCA's ``conc.blq = list(first="keep", middle="drop",
    last="keep")`` (``PKNCA.options``), PKNCA's "keep" being "the value 0" here because
    a BLQ sample enters PKNCA as a zero. See ``docs/nca_blq.md`` for the rule and how
    each interval AUC is labelled (``PPANMETH``).

    Every applied rule is recorded per sample in :attr:`NCAResult.rules`.
    """

    before: BeforeRule = "zero"
    between: BetweenRule = "drop"
    after: AfterRule = "zero"

    def __post_init__(self) -> None:
        allowed = {"before": BeforeRule, "between": BetweenRule, "after": AfterRule}
        problems = []
        for name, lit in allowed.items():
            value = getattr(self, name)
            choices = get_args(lit)
            if value not in choices:
                problems.append(
                    Violation(
                        "blq_rule_invalid",
                        f"`blq.{name}` must be one of {', '.join(map(repr, choices))}",
                        column=name,
                        value=repr(value),
                        expected=" | ".join(choices),
                        fix=f"pass blq={{'{name}': {choices[0]!r}}}",
                    )
                )
        if problems:
            raise SpecError("invalid BLQ rules for `cartpk.nca`", problems)


@dataclass(frozen=True, eq=False)
class LambdaZ:
    """How the terminal rate constant lambda_z is chosen.

    Parameters
    ----------
    min_points : int, default 3
        Fewest points in the log-linear regression.
    tolerance : float, default 1e-4
        Adjusted R^2 within this of the best counts as equally good, and the regression
        with more points wins (Phoenix WinNonlin "best fit", PKNCA
        ``adj.r.squared.factor``).
    allow_tmax : bool, default False
        Whether the point at Tmax may enter the regression.
    manual : DataFrame or sequence of mappings, optional
        Hand selection with columns ``ID``, ``TIME``, ``ACTION`` (``"include"`` or
        ``"exclude"``), ``REASON`` (required, recorded in the rules) and optionally
        ``DVID``. ``include`` rows fix the points of a profile exactly (no search);
        ``exclude`` rows remove points before the search. A profile cannot have both.
    """

    min_points: int = 3
    tolerance: float = 1e-4
    allow_tmax: bool = False
    manual: pd.DataFrame | None = field(default=None)

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.min_points, int) or self.min_points < 3:
            problems.append(
                Violation(
                    "lambda_z_min_points",
                    "`lambda_z.min_points` must be an integer of at least 3",
                    value=repr(self.min_points),
                    expected=">= 3 (adjusted R^2 needs 3 points)",
                    fix="use min_points=3",
                )
            )
        if not (isinstance(self.tolerance, int | float) and 0 <= self.tolerance < 1):
            problems.append(
                Violation(
                    "lambda_z_tolerance",
                    "`lambda_z.tolerance` must be a number in [0, 1)",
                    value=repr(self.tolerance),
                    expected="e.g. 1e-4",
                    fix="use tolerance=1e-4",
                )
            )
        manual = self.manual
        if manual is not None:
            table = manual if isinstance(manual, pd.DataFrame) else pd.DataFrame(list(manual))
            problems.extend(_check_manual(table))
            object.__setattr__(self, "manual", table)
        if problems:
            raise SpecError("invalid lambda_z options for `cartpk.nca`", problems)


def _check_manual(table: pd.DataFrame) -> list[Violation]:
    need = ["ID", "TIME", "ACTION", "REASON"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        return [
            Violation(
                "lambda_z_manual_columns",
                "the manual lambda_z table lacks columns " + ", ".join(f"`{c}`" for c in missing),
                expected="columns ID, TIME, ACTION, REASON (DVID optional)",
                fix="add the missing columns",
            )
        ]
    out = []
    bad_action = ~table["ACTION"].isin(["include", "exclude"])
    if bad_action.any():
        out.append(
            Violation(
                "lambda_z_manual_action",
                "`ACTION` of a manual lambda_z row must be 'include' or 'exclude'",
                rows=tuple(int(i) + 1 for i in table.index[bad_action]),
                value=", ".join(map(repr, table.loc[bad_action, "ACTION"].unique())),
                expected="'include' or 'exclude'",
                fix="correct `ACTION`",
            )
        )
    reason = table["REASON"].astype("string").str.strip()
    no_reason = reason.isna() | (reason == "")
    if no_reason.any():
        out.append(
            Violation(
                "lambda_z_manual_reason",
                "every manual lambda_z choice needs a `REASON`",
                rows=tuple(int(i) + 1 for i in table.index[no_reason]),
                expected="a non-empty reason, e.g. 'sample haemolysed'",
                fix="fill `REASON`",
            )
        )
    key = [table["ID"].astype(str)]
    if "DVID" in table.columns:
        key.append(table["DVID"].astype(str))
    kinds = table.groupby(key)["ACTION"].nunique()
    for k in kinds.index[kinds > 1]:
        out.append(
            Violation(
                "lambda_z_manual_mixed",
                "a profile cannot have both included and excluded lambda_z points",
                id=k if isinstance(k, str) else k[0],
                expected="either 'include' rows (exact points) or 'exclude' rows",
                fix="keep one kind of row for this profile",
            )
        )
    return out


def _from_mapping(cls: type, value: Mapping[str, Any], what: str) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(value) - names)
    if unknown:
        raise SpecError(
            f"unknown `{what}` option(s)",
            [
                Violation(
                    f"{what}_option_unknown",
                    f"`{what}` has no option " + ", ".join(f"`{u}`" for u in unknown),
                    value=", ".join(unknown),
                    expected=", ".join(sorted(names)),
                    fix="use one of the listed names",
                )
            ],
        )
    return cls(**value)


def _as_options(cls: type, value: Any, what: str, *, expected: str, fix: str) -> Any:
    """``value`` as an instance of the options class ``cls``: itself, from a mapping, or the
    defaults for ``None``; anything else raises ``<what>_type`` (``expected``, ``fix``)."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return _from_mapping(cls, value, what)
    raise SpecError(
        f"`{what}` must be a {cls.__name__} or a mapping",
        [
            Violation(
                f"{what}_type",
                f"`{what}` must be a `{cls.__name__}` or a mapping",
                value=type(value).__name__,
                expected=expected,
                fix=fix,
            )
        ],
    )


def as_blq_rules(value: BLQRules | Mapping[str, str] | None) -> BLQRules:
    """Normalise the ``blq=`` argument (``None`` gives PKNCA's defaults)."""
    return _as_options(
        BLQRules,
        value,
        "blq",
        expected="BLQRules(before=..., between=..., after=...) or a dict",
        fix="pass blq={'between': 'drop'}",
    )


def as_lambda_z(value: LambdaZ | Mapping[str, Any] | Sequence[Any] | None) -> LambdaZ:
    """Normalise the ``lambda_z=`` argument (``None`` gives the defaults)."""
    return _as_options(
        LambdaZ,
        value,
        "lambda_z",
        expected="LambdaZ(min_points=3, tolerance=1e-4, manual=...) or a dict",
        fix="pass lambda_z={'tolerance': 1e-4}",
    )
