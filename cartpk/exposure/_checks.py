"""Input checks of model-based exposure (:func:`cartpk.model_exposure`) and the one-problem
errors that :func:`cartpk.compare_exposure` shares with it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cartpk.errors import SpecError, Violation
from cartpk.exposure._numerics import ExposureGrid

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.model import Model

__all__ = ["check_grid", "check_probability", "one_problem", "validate_inputs"]


def one_problem(
    title: str, code: str, message: str, *, value: Any, expected: str, fix: str
) -> SpecError:
    """A :class:`SpecError` ``title`` carrying one violation."""
    return SpecError(title, [Violation(code, message, value=value, expected=expected, fix=fix)])


def check_probability(ci: Any, title: str, message: str) -> None:
    """Raise ``ci_invalid`` (``title``, ``message``) unless ``ci`` is strictly inside (0, 1)."""
    if not (isinstance(ci, int | float) and 0 < ci < 1):
        raise one_problem(
            title, "ci_invalid", message, value=repr(ci), expected="e.g. 0.95", fix="pass ci=0.95"
        )


def check_grid(grid: ExposureGrid | None) -> ExposureGrid:
    """The numerical settings (the defaults for ``None``); ``grid_invalid`` when not a grid."""
    grid = ExposureGrid() if grid is None else grid
    if not isinstance(grid, ExposureGrid):
        raise one_problem(
            "invalid numerical settings for `cartpk.model_exposure`",
            "grid_invalid",
            "`grid` must be an ExposureGrid",
            value=type(grid).__name__,
            expected="cartpk.exposure.ExposureGrid(...)",
            fix="pass grid=ExposureGrid(rtol=1e-9) or leave it out",
        )
    return grid


def _check_dvid(model: Model, dvid: str | None, problems: list[Violation]) -> str:
    """The output to summarise; adds ``dvid_required`` or ``dvid_unknown`` to ``problems``."""
    outputs = list(model.outputs)
    if dvid is None:
        if len(outputs) > 1:
            problems.append(
                Violation(
                    "dvid_required",
                    f"`{model.name}` has several outputs; say which one",
                    value=None,
                    expected=f"dvid among {outputs}",
                    fix=f"pass dvid={outputs[0]!r}",
                )
            )
        return outputs[0] if outputs else ""
    if dvid not in outputs:
        problems.append(
            Violation(
                "dvid_unknown",
                f"`{dvid}` is not an output of `{model.name}`",
                value=repr(dvid),
                expected=f"one of {outputs}",
                fix="pass one of the model's outputs",
            )
        )
    return dvid


def _check_window(
    model: Model,
    interval_ends: Sequence[float],
    horizon: float | None,
    problems: list[Violation],
) -> tuple[list[float], Any]:
    """The sorted interval ends and the horizon; adds their problems to ``problems``."""
    ends: list[float] = []
    try:
        ends = sorted({float(e) for e in interval_ends})
    except (TypeError, ValueError):
        ends = []
    if not ends or not all(math.isfinite(e) and e > 0 for e in ends):
        problems.append(
            Violation(
                "interval_ends_invalid",
                "`interval_ends` must be positive finite times (AUC from 0 to each)",
                value=repr(interval_ends),
                expected=f"e.g. (28, 90) in {model.time_unit}",
                fix="pass interval_ends=(28, 90)",
            )
        )
        ends = [1.0]
    hz = max(ends) if horizon is None else horizon
    if not (isinstance(hz, int | float) and math.isfinite(hz) and hz >= max(ends)):
        problems.append(
            Violation(
                "horizon_invalid",
                "`horizon` must be a finite time at or after the last interval end",
                value=repr(horizon),
                expected=f">= {max(ends):g} {model.time_unit}",
                fix="leave horizon=None (the last interval end)",
            )
        )
        hz = max(ends)
    return ends, hz


def _check_lloq(model: Model, lloq: float | None, dv: str, problems: list[Violation]) -> None:
    """Add ``lloq_invalid`` unless the limit is absent or a positive finite number."""
    if lloq is not None and not (
        isinstance(lloq, int | float) and math.isfinite(lloq) and lloq > 0
    ):
        problems.append(
            Violation(
                "lloq_invalid",
                "`lloq` must be a positive finite concentration",
                value=repr(lloq),
                expected=f"e.g. 50 ({model.outputs.get(dv, '')})",
                fix="pass the assay's limit, or lloq=None to skip time above LLOQ",
            )
        )


def _check_params_type(params: Any, problems: list[Violation]) -> None:
    """Raise every problem so far plus ``params_type`` when ``params`` is not a DataFrame."""
    if not isinstance(params, pd.DataFrame):
        raise SpecError(
            "`params` must be a table of per-subject parameters",
            problems
            + [
                Violation(
                    "params_type",
                    "`params` is not a pandas DataFrame",
                    value=type(params).__name__,
                    expected="DataFrame with `ID` and one column per structural parameter",
                    fix="use `fit.table()` or build a DataFrame with `ID` and parameter columns",
                )
            ],
        )


def _check_columns(model: Model, params: pd.DataFrame, problems: list[Violation]) -> None:
    """Add a missing ``ID`` and every structural parameter neither given nor fixed."""
    fixed = model.parameters.set_index("name")["fixed"]
    needed = [n for n in model.thetas if n not in params.columns and not bool(fixed[n])]
    if "ID" not in params.columns:
        problems.append(
            Violation(
                "missing_column",
                "`params` has no `ID` column",
                column="ID",
                expected="one row per subject (and draw) with an `ID`",
                fix="add the subject identifier as `ID`",
            )
        )
    for n in needed:
        problems.append(
            Violation(
                "parameter_missing",
                f"`params` has no column for structural parameter `{n}` of `{model.name}`",
                column=n,
                expected=f"columns named as the model's parameters: {list(model.thetas)}",
                fix=f"add `{n}` or fix it with `model.fix({n}=...)`",
            )
        )


def _check_duplicates(params: pd.DataFrame, problems: list[Violation]) -> None:
    """Add ``duplicate_subject`` when an ``ID`` (and ``draw``) has more than one row."""
    if "ID" not in params.columns:
        return
    keys = ["ID", "draw"] if "draw" in params.columns else ["ID"]
    dup = params.duplicated(keys, keep=False).to_numpy()
    if dup.any():
        ids = sorted({str(v) for v in params.loc[dup, "ID"]})
        problems.append(
            Violation(
                "duplicate_subject",
                f"`params` has more than one row per {' and '.join(keys)}",
                value=", ".join(ids[:10]) + (" ..." if len(ids) > 10 else ""),
                rows=tuple(int(r) + 1 for r in np.flatnonzero(dup)[:50]),
                expected=f"one row per {' and '.join(keys)}",
                fix="add a `draw` column to tell posterior draws apart, or drop duplicates",
            )
        )


def validate_inputs(
    model: Model,
    params: pd.DataFrame,
    interval_ends: Sequence[float],
    lloq: float | None,
    dvid: str | None,
    horizon: float | None,
) -> tuple[str, list[float], float, list[str]]:
    """Output, interval ends, horizon and the parameter columns given; every problem at once.

    Raises
    ------
    SpecError
        ``dvid_required``, ``dvid_unknown``, ``interval_ends_invalid``, ``horizon_invalid``,
        ``lloq_invalid``, ``params_type``, ``missing_column``, ``parameter_missing``,
        ``duplicate_subject``, in this order.
    """
    problems: list[Violation] = []
    dv = _check_dvid(model, dvid, problems)
    ends, hz = _check_window(model, interval_ends, horizon, problems)
    _check_lloq(model, lloq, dv, problems)
    _check_params_type(params, problems)
    _check_columns(model, params, problems)
    _check_duplicates(params, problems)
    if problems:
        raise SpecError(
            f"cannot compute model-based exposure: {len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}",
            problems,
        )
    return dv, ends, float(hz), [n for n in model.thetas if n in params.columns]
