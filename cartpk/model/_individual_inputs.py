"""Inputs of :meth:`cartpk.model.Model.individual_parameters` checked at once: random
effects only where the model has IIV, every covariate column an effect needs, and values
each effect accepts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.errors import ModelError, Violation

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from cartpk.model._base import Model

__all__ = ["individual_inputs"]


def individual_inputs(
    model: Model,
    etas: Mapping[str, Any],
    covariates: pd.DataFrame | Mapping[str, Any] | None,
) -> tuple[dict[str, np.ndarray], int | None]:
    """The covariate columns the effects use and the number of subjects they give.

    Raises
    ------
    ModelError
        ``eta_without_iiv``, ``covariate_missing``, ``covariate_value``: every problem.
    """
    problems: list[Violation] = []
    for k in etas:
        if k not in model.iiv:
            problems.append(
                Violation(
                    "eta_without_iiv",
                    f"a random effect was given for `{k}`, which has no IIV in `{model.name}`",
                    value=k,
                    expected=f"one of {list(model.iiv.names)}",
                    fix="add IIV with `with_iiv(sd=...)` or drop the random effect",
                )
            )
    n: int | None = None
    cov_cols: dict[str, np.ndarray] = {}
    if covariates is not None:
        cov_map = (
            {c: np.asarray(covariates[c]) for c in covariates.columns}
            if hasattr(covariates, "columns")
            else {c: np.asarray(v) for c, v in covariates.items()}
        )
        for c in model.covariate_columns:
            if c not in cov_map:
                problems.append(
                    Violation(
                        "covariate_missing",
                        f"covariate column `{c}` is needed by `{model.name}` but missing",
                        column=c,
                        expected=f"columns {model.covariate_columns}",
                        fix=f"add `{c}` (one value per subject) or remove the effect",
                    )
                )
            else:
                cov_cols[c] = cov_map[c]
        lens = {len(v) for v in cov_map.values()}
        n = lens.pop() if len(lens) == 1 else None
    elif model.covariate_columns:
        problems.append(
            Violation(
                "covariate_missing",
                f"`{model.name}` has covariate effects but no covariates were given",
                expected=f"columns {model.covariate_columns}",
                fix="pass `covariates=` (one row per subject)",
            )
        )
    for eff in model._block.covariates:
        if eff.on in cov_cols:
            for msg in eff.problems(cov_cols[eff.on]):
                problems.append(
                    Violation("covariate_value", msg, column=eff.on, fix="correct the column")
                )
    if problems:
        raise ModelError(f"Cannot build individual parameters for `{model.name}`.", problems)
    return cov_cols, n
