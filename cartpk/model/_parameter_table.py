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
            dict(
                name=t.name,
                role="structural",
                initial=t.value,
                lower=lo,
                upper=hi,
                fixed=t.fixed,
                transform=t.transform,
                unit=t.unit,
                label=t.label,
            )
        )
    thetas = b.theta_map
    for n, sd in b.iiv.entries:
        tr = thetas[n].transform if n in thetas else None
        scale = f"{tr}({n})" if tr else n
        rows.append(
            dict(
                name=f"omega_{n}",
                role="iiv",
                initial=sd,
                lower=0.0,
                upper=math.inf,
                fixed=f"omega_{n}" in b.fixed,
                transform="log",
                unit="1" if tr else thetas[n].unit if n in thetas else "1",
                label=f"IIV SD of {scale}",
            )
        )
    for dv, em in b.error:
        unit = {
            "log_additive": "1 (natural-log scale)",
            "proportional": "1 (fraction of prediction)",
        }
        for role, (nm, v) in zip(em.roles, em.sigmas, strict=True):
            rows.append(
                dict(
                    name=nm,
                    role="residual",
                    initial=v,
                    lower=0.0,
                    upper=math.inf,
                    fixed=nm in b.fixed,
                    transform="log",
                    unit=unit.get(em.kind, model.outputs.get(dv, ""))
                    if role != "sigma_prop"
                    else "1 (fraction of prediction)",
                    label=f"{em.kind} residual {role} of {dv}",
                )
            )
    for eff in b.covariates:
        for nm, v in eff.coefficients.items():
            what = (
                f"power exponent of {eff.on}/{eff.ref:g}"  # type: ignore[attr-defined]
                if not isinstance(eff, Categorical)
                else f"shift for {eff.on}={nm.rsplit('_', 1)[-1].upper()} vs {eff.reference}"
            )
            rows.append(
                dict(
                    name=nm,
                    role="covariate",
                    initial=v,
                    lower=-math.inf,
                    upper=math.inf,
                    fixed=nm in b.fixed,
                    transform=None,
                    unit="1",
                    label=f"{what} on transformed {eff.param}",
                )
            )
    return rows
