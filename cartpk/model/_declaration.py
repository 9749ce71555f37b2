"""Checks of a model declaration at class creation: every problem of the parameters,
variability, residual error, covariate effects, equations, provenance and prior sets,
collected into one list (:class:`cartpk.model.Model` raises them in one ``ModelError``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cartpk.errors import Violation
from cartpk.model._params import CovariateEffect, ErrorModel, Omega
from cartpk.model._priors import BASE_PRIOR_SETS, PriorSet
from cartpk.model._provenance import check_provenance

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.model._base import Model, ParameterBlock

__all__ = ["declaration_problems", "prior_set_problems"]


def prior_set_problems(cls: type[Model], block: ParameterBlock) -> list[Violation]:
    """Problems of the prior sets ``cls`` declares (``prior_sets``, ``default_priors``)."""
    out: list[Violation] = []
    for name, ps in dict(cls.prior_sets).items():
        if name in BASE_PRIOR_SETS or not isinstance(ps, PriorSet):
            out.append(
                Violation(
                    "prior_set_type",
                    f"`prior_sets[{name!r}]` is not a new prior set",
                    value=type(ps).__name__,
                    expected=f"prior_set(...) under a name other than {BASE_PRIOR_SETS}",
                    fix="declare prior_sets = {'name': prior_set(...)}",
                )
            )
            continue
        out.extend(ps.problems(name, block.theta_map))
    known = (*BASE_PRIOR_SETS, *cls.prior_sets)
    if cls.default_priors not in known:
        out.append(
            Violation(
                "default_priors",
                "`default_priors` names no prior set of the model",
                value=repr(cls.default_priors),
                expected=" or ".join(map(repr, known)),
                fix="name a declared prior set",
            )
        )
    return out


def declaration_problems(
    cls: type[Model], block: ParameterBlock, *, iiv_obj: Any, covs_obj: Any
) -> list[Violation]:
    """Every problem of the declaration of ``cls`` with parameter block ``block``."""
    where = f"model `{cls.__name__}`"
    names = set(block.theta_map)
    out = _header_problems(cls, where)
    out.extend(_theta_problems(block))
    out.extend(_iiv_problems(iiv_obj, names, where))
    out.extend(_error_problems(cls, block))
    out.extend(_covariate_problems(covs_obj, block, names))
    out.extend(check_provenance(cls.provenance, where))
    out.extend(cls._check_prior_sets(block))
    out.extend(cls._check_equations(names))
    return out


def _header_problems(cls: type[Model], where: str) -> list[Violation]:
    """A missing ``name`` or ``outputs``."""
    out: list[Violation] = []
    if not cls.name:
        out.append(
            Violation(
                "model_name",
                f"{where} has no `name`",
                expected='a catalogue name, e.g. name = "stein2019"',
                fix="add a `name` class attribute",
            )
        )
    if not cls.outputs:
        out.append(
            Violation(
                "model_outputs",
                f"{where} declares no `outputs`",
                expected='outputs = {"QPCR": "copies/ug"}',
                fix="add an `outputs` mapping DVID -> unit",
            )
        )
    return out


def _theta_problems(block: ParameterBlock) -> list[Violation]:
    """The problems each theta finds in its own declaration."""
    return [
        Violation(
            "theta_value",
            f"theta `{t.name}`: {msg}",
            value=repr(t.value),
            fix=f"correct the declaration of `{t.name}`",
        )
        for t in block.thetas
        for msg in t.problems()
    ]


def _iiv_problems(iiv_obj: Any, names: set[str], where: str) -> list[Violation]:
    """An ``iiv`` that is not an ``omega(...)``, or names a parameter that is no theta."""
    if not isinstance(iiv_obj, Omega):
        return [
            Violation(
                "iiv_type",
                "`iiv` must be declared with `omega(sd=...)` or `omega(var=...)`",
                value=type(iiv_obj).__name__,
                fix="wrap the values: iiv = omega(sd={...})",
            )
        ]
    return [
        Violation(
            "iiv_unknown",
            f"`iiv` names `{n}`, which is not a theta of {where}",
            value=n,
            expected=f"one of {sorted(names)}",
            fix=f"declare theta `{n}` or remove it from `iiv`",
        )
        for n in iiv_obj.names
        if n not in names
    ]


def _error_problems(cls: type[Model], block: ParameterBlock) -> list[Violation]:
    """Residual error models of the wrong type, for unknown outputs, or missing."""
    out: list[Violation] = []
    for dv, em in block.error:
        if not isinstance(em, ErrorModel):
            out.append(
                Violation(
                    "error_type",
                    f"error model of `{dv}` is not a cartpk error model",
                    value=type(em).__name__,
                    fix="use log_additive(), proportional(), additive() or combined()",
                )
            )
        if dv not in cls.outputs:
            out.append(
                Violation(
                    "error_unknown_output",
                    f"error model given for `{dv}`, which is not an output",
                    value=dv,
                    expected=f"one of {sorted(cls.outputs)}",
                    fix="key the error mapping by the DVIDs in `outputs`",
                )
            )
    missing_err = [dv for dv in cls.outputs if dv not in dict(block.error)]
    for dv in missing_err:
        out.append(
            Violation(
                "error_missing",
                f"output `{dv}` has no residual error model",
                value=dv,
                fix='declare `error = log_additive(sigma=...)` or `error = {"DV": ...}`',
            )
        )
    return out


def _covariate_problems(covs_obj: Any, block: ParameterBlock, names: set[str]) -> list[Violation]:
    """Covariate entries that are not effects, act on no theta, or repeat a coefficient."""
    if not isinstance(covs_obj, Sequence | tuple):
        return [
            Violation(
                "covariates_type",
                "`covariates` must be a list of power()/categorical() effects",
                value=type(covs_obj).__name__,
                fix="covariates = [power('cmax', on='DOSE', ref=1e8)]",
            )
        ]
    out: list[Violation] = []
    seen: set[str] = set()
    for eff in block.covariates:
        if not isinstance(eff, CovariateEffect):
            out.append(
                Violation(
                    "covariate_type",
                    "a covariate entry is not a power()/categorical() effect",
                    value=repr(eff),
                    fix="build covariate effects with power() or categorical()",
                )
            )
            continue
        if eff.param not in names:
            out.append(
                Violation(
                    "covariate_unknown_param",
                    f"covariate effect of `{eff.on}` on `{eff.param}`, which is not a theta",
                    value=eff.param,
                    expected=f"one of {sorted(names)}",
                    fix="name a declared theta in the covariate effect",
                )
            )
        for c in eff.coefficients:
            if c in seen:
                out.append(
                    Violation(
                        "covariate_duplicate",
                        f"covariate coefficient `{c}` is declared twice",
                        value=c,
                        fix="declare each covariate effect once",
                    )
                )
            seen.add(c)
    return out


# -- construction ---------------------------------------------------------------------
