"""Named prior sets a model declares for its typical values, each number with its source.

A population fit puts a prior on every free parameter (``cartpk.fit.population``): by
default ``mu_<P>`` is centred on the declared typical value. A model whose declared values
come from another population (Stein 2019's B-ALL values in a solid-tumour covariate model)
can declare, beside them, what a fit should believe instead::

    prior_sets = {
        "solid_tumour": prior_set(
            base="weak",
            description="solid-tumour CAR-T: expansion far below B-ALL",
            cmax=typical_prior(774.6, sd=1.752, source="95 % between 25 and 24,000 ..."),
        ),
    }
    default_priors = "solid_tumour"

A set lists typical-value priors only: the centre on the natural scale and the SD on the
parameter's transformed scale (``log(cmax)``). Everything it does not list (other typical
values, every ``omega_<P>``, the residual error, covariate effects) takes the numbers of its
``base`` set, ``"weak"`` or ``"literature"``, so the random-effect priors always follow the
model's own IIV block, whichever reading of a published omega column it carries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cartpk.errors import ModelError, Violation

__all__ = ["BASE_PRIOR_SETS", "PriorSet", "TypicalPrior", "prior_set", "typical_prior"]

#: Prior sets every model has (``cartpk.fit.population`` gives their numbers).
BASE_PRIOR_SETS: tuple[str, ...] = ("weak", "literature")


@dataclass(frozen=True)
class TypicalPrior:
    """Prior of one typical value: Normal(h(``value``), ``sd``) on its transformed scale.

    Attributes
    ----------
    value : float
        Centre on the natural scale (the unit of the theta).
    sd : float
        SD on the theta's transformed scale (``log`` for a log-transformed theta).
    source : str
        Where the numbers come from (citation, and how they were derived).
    """

    value: float
    sd: float
    source: str


@dataclass(frozen=True)
class PriorSet:
    """Typical-value priors of a named prior set; the rest comes from ``base``."""

    base: str = "weak"
    description: str = ""
    typical: Mapping[str, TypicalPrior] = field(default_factory=dict)

    def problems(self, name: str, thetas: Mapping[str, Any]) -> list[Violation]:
        """Declaration problems of the set ``name`` against the model's ``thetas``."""
        where = f"prior set `{name}`"
        out: list[Violation] = []
        if self.base not in BASE_PRIOR_SETS:
            out.append(
                Violation(
                    "prior_set_base",
                    f"{where} has an unknown base",
                    value=repr(self.base),
                    expected=" or ".join(map(repr, BASE_PRIOR_SETS)),
                    fix='use base="weak" (default) or base="literature"',
                )
            )
        for pname, prior in self.typical.items():
            theta = thetas.get(pname)
            if theta is None:
                out.append(
                    Violation(
                        "prior_set_parameter",
                        f"{where} names `{pname}`, not a theta of the model",
                        value=pname,
                        expected=f"one of {sorted(thetas)}",
                        fix="name a declared typical value",
                    )
                )
                continue
            lo, hi = theta.natural_bounds()
            if not (math.isfinite(prior.value) and lo < prior.value < hi):
                out.append(
                    Violation(
                        "prior_set_value",
                        f"{where}: the centre of `{pname}` is outside its range",
                        value=repr(prior.value),
                        expected=f"a number in ({lo:g}, {hi:g})",
                        fix=f"give `{pname}` a centre inside the theta's bounds",
                    )
                )
            if not (math.isfinite(prior.sd) and prior.sd > 0):
                out.append(
                    Violation(
                        "prior_set_value",
                        f"{where}: the SD of `{pname}` is not a positive number",
                        value=repr(prior.sd),
                        expected="a finite number > 0 (on the transformed scale)",
                        fix=f"give `{pname}` a positive SD",
                    )
                )
            if not prior.source.strip():
                out.append(
                    Violation(
                        "prior_set_source",
                        f"{where}: the prior of `{pname}` cites no source",
                        fix="say where the centre and the width come from",
                    )
                )
        return out


def typical_prior(value: float, *, sd: float, source: str) -> TypicalPrior:
    """Declare the prior of one typical value (see :class:`TypicalPrior`)."""
    return TypicalPrior(value=float(value), sd=float(sd), source=str(source))


def prior_set(*, base: str = "weak", description: str = "", **typical: TypicalPrior) -> PriorSet:
    """Declare a named prior set: typical-value priors by parameter name, the rest from ``base``.

    Parameters
    ----------
    base : {"weak", "literature"}, default "weak"
        The set whose numbers every parameter not listed takes.
    description : str
        One line saying what the set is for.
    **typical : TypicalPrior
        ``name=typical_prior(value, sd=..., source=...)`` per typical value.

    Returns
    -------
    PriorSet
        Validated against the model's thetas when the model class is created
        (``prior_set_base``, ``prior_set_parameter``, ``prior_set_value``,
        ``prior_set_source``).

    Raises
    ------
    ModelError
        ``prior_set_type`` when a value is not a :func:`typical_prior`.
    """
    bad = [k for k, v in typical.items() if not isinstance(v, TypicalPrior)]
    if bad:
        raise ModelError(
            "`prior_set` takes typical_prior(...) values.",
            [
                Violation(
                    "prior_set_type",
                    f"`{k}` is not a typical_prior(...)",
                    value=type(typical[k]).__name__,
                    expected="typical_prior(value, sd=..., source=...)",
                    fix=f"write {k}=typical_prior(value, sd=..., source='...')",
                )
                for k in bad
            ],
        )
    return PriorSet(base=base, description=description, typical=dict(typical))
