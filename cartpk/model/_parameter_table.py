"""The parameter table of a declaration (:attr:`cartpk.model.Model.parameters`): one row
per typical value, IIV SD, residual-error parameter and covariate coefficient, with role,
value, bounds, transform, unit and whether it is fixed."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from cartpk.model._params import Categorical

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.model._base import Model

__all__ = ["parameter_rows"]


def parameter_rows(model: Model) -> list[dict[str, Any]]:
    """One dict per parameter of ``model`` (the rows of ``model.parameters``)."""
    b = model._block
    rows: list[dict[str, Any]] = []
    for t in b.thetas:
        lo, hi = t.natural_bounds()
        rows.append(
            _row(
                t.name,
                "structural",
                t.value,
                t.fixed,
                t.unit,
                t.label,
                lower=lo,
                upper=hi,
                transform=t.transform,
            )
        )
    thetas = b.theta_map
    for n, sd in b.iiv.entries:
        tr = thetas[n].transform if n in thetas else None
        scale = f"{tr}({n})" if tr else n
        unit = "1" if tr else thetas[n].unit if n in thetas else "1"
        rows.append(
            _row(f"omega_{n}", "iiv", sd, f"omega_{n}" in b.fixed, unit, f"IIV SD of {scale}")
        )
    for dv, em in b.error:
        units = {
            "log_additive": "1 (natural-log scale)",
            "proportional": "1 (fraction of prediction)",
        }
        for role, (nm, v) in zip(em.roles, em.sigmas, strict=True):
            unit = (
                units.get(em.kind, model.outputs.get(dv, ""))
                if role != "sigma_prop"
                else "1 (fraction of prediction)"
            )
            label = f"{em.kind} residual {role} of {dv}"
            rows.append(_row(nm, "residual", v, nm in b.fixed, unit, label))
    for eff in b.covariates:
        for nm, v in eff.coefficients.items():
            what = (
                f"power exponent of {eff.on}/{eff.ref:g}"  # type: ignore[attr-defined]
                if not isinstance(eff, Categorical)
                else f"shift for {eff.on}={nm.rsplit('_', 1)[-1].upper()} vs {eff.reference}"
            )
            label = f"{what} on transformed {eff.param}"
            rows.append(
                _row(nm, "covariate", v, nm in b.fixed, "1", label, lower=-math.inf, transform=None)
            )
    return rows


def _row(
    name: str,
    role: str,
    initial: float,
    fixed: bool,
    unit: str,
    label: str,
    *,
    lower: float = 0.0,
    upper: float = math.inf,
    transform: str | None = "log",
) -> dict[str, Any]:
    """One row of the table, its columns in order; by default a positive parameter
    estimated on the log scale (an IIV SD or a residual error)."""
    return dict(
        name=name,
        role=role,
        initial=initial,
        lower=lower,
        upper=upper,
        fixed=fixed,
        transform=transform,
        unit=unit,
        label=label,
    )
