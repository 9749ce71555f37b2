"""Model base classes: one declaration, evaluated by every engine through an array namespace.

A model is a class whose body declares parameters (:func:`theta`), variability
(:func:`omega`), the residual error and covariate effects, plus the equations
(``predict`` for a closed form; ``rhs``/``initial``/``observe`` for an ODE). At class creation
the declaration is checked once, and every problem is reported in one :class:`ModelError`.
Instances are immutable values: :meth:`Model.fix`, :meth:`Model.with_ini`,
:meth:`Model.with_iiv` and :meth:`Model.with_covariates` return new models.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from cartpk.errors import ModelError, Violation
from cartpk.model._equations import _DATA_ARGS, _EvalPlan, _raw
from cartpk.model._export_methods import ExportMethods
from cartpk.model._individual_inputs import individual_inputs
from cartpk.model._parameter_table import parameter_rows
from cartpk.model._params import (
    Categorical,
    CovariateEffect,
    ErrorModel,
    Omega,
    Theta,
    omega,
)
from cartpk.model._priors import PriorSet
from cartpk.model._provenance import Provenance
from cartpk.model._transforms import transform_of

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Model", "ParameterBlock"]

Role = Literal["structural", "iiv", "residual", "covariate"]


# ---------------------------------------------------------------------------------------
# the parameter block (nlmixr2's ``ini``)


@dataclass(frozen=True)
class ParameterBlock:
    """Everything a model declares besides its equations (nlmixr2's ``ini`` block).

    Attributes
    ----------
    thetas : tuple of Theta
        Structural parameters in declaration order, each with its ``name``.
    iiv : Omega
        Random-effect SDs on the transformed scale.
    error : tuple of (str, ErrorModel)
        Residual error model per output (DVID).
    covariates : tuple of CovariateEffect
        Covariate effects.
    fixed : frozenset of str
        Fixed non-structural parameters (``omega_<name>``, ``sigma``, ``cov_...``).
    """

    thetas: tuple[Theta, ...] = ()
    iiv: Omega = field(default_factory=Omega)
    error: tuple[tuple[str, ErrorModel], ...] = ()
    covariates: tuple[CovariateEffect, ...] = ()
    fixed: frozenset[str] = field(default_factory=frozenset)

    @property
    def theta_map(self) -> dict[str, Theta]:
        """``{name: Theta}`` in declaration order."""
        return {t.name: t for t in self.thetas}

    @property
    def error_map(self) -> dict[str, ErrorModel]:
        """``{DVID: ErrorModel}``."""
        return dict(self.error)


def _normalise_error(error: Any, outputs: Mapping[str, str]) -> tuple[tuple[str, ErrorModel], ...]:
    """One ErrorModel for a single-output model, or a mapping DVID -> ErrorModel.

    With several outputs, sigma names get a ``_<dvid>`` suffix so that every name is unique.
    """
    if error is None:
        return ()
    if isinstance(error, ErrorModel):
        return tuple((dv, error) for dv in outputs)
    items = list(dict(error).items())
    if len(items) == 1:
        return ((str(items[0][0]), items[0][1]),)
    return tuple((str(dv), em.renamed(dv.lower())) for dv, em in items)


# ---------------------------------------------------------------------------------------
# descriptors: class access gives the declaration, instance access the instance's value


class _ThetaAttr:
    """``Model.foldx`` -> declared Theta; ``model.foldx`` -> the instance's current Theta."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type) -> Theta:
        block = owner._class_block if obj is None else obj._block
        return block.theta_map[self.name]


class _IniAttr:
    """``Model.ini`` -> declared ParameterBlock; ``model.ini`` -> the instance's block."""

    def __get__(self, obj: Any, owner: type) -> ParameterBlock:
        if obj is None:
            return owner.__dict__.get("_class_block") or owner._class_block
        return obj._block


# ---------------------------------------------------------------------------------------
# transforms


def _forward(xp: Any, transform: str | None, value: Any) -> Any:
    return transform_of(transform).forward(xp, value)


def _backward(xp: Any, transform: str | None, value: Any) -> Any:
    return transform_of(transform).backward(xp, value)


# ---------------------------------------------------------------------------------------
# pickling: a model travels as (its class, its parameter block)

_CATALOGUE_PACKAGE = "cartpk._catalogue"


def _rebuild_model(cls: type[Model], block: ParameterBlock) -> Model:
    """Unpickle a model of an importable (or by-value pickled) class.

    Parameters
    ----------
    cls : type
        The model class.
    block : ParameterBlock
        The instance's parameter block (values, fixed flags, IIV, error, covariates).

    Returns
    -------
    Model
        ``cls`` with ``block``.
    """
    return cls._from_block(block)


def _rebuild_catalogue_model(module: str, qualname: str, block: ParameterBlock) -> Model:
    """Unpickle a catalogue model: register the catalogue package, then find its class.

    A catalogue model's class lives in ``cartpk._catalogue.<file>``, a package that a source
    checkout registers only when the catalogue is first used, so a fresh process could not
    resolve the class by the usual import. The package is registered here first.

    Parameters
    ----------
    module : str
        The class's module (``"cartpk._catalogue.stein2019"``).
    qualname : str
        The class's qualified name in that module (``"Stein2019"``).
    block : ParameterBlock
        The instance's parameter block (values, fixed flags, IIV, error, covariates).

    Returns
    -------
    Model
        The catalogue model with ``block``.
    """
    from cartpk.model._catalogue import _package

    _package()
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return _rebuild_model(obj, block)


# ---------------------------------------------------------------------------------------
# the base class


class Model(ExportMethods):
    """Base of every cartpk model; subclass :class:`ClosedFormModel` or :class:`OdeModel`.

    Class attributes a model declares: ``name`` (catalogue name), ``reference`` (citation),
    ``time_unit`` (``"day"``), ``outputs`` (``{DVID: unit}``), the thetas, ``iiv``,
    ``error``, ``covariates`` and optionally ``default_dose`` (``AMT`` of the simulated
    dose record, CAR+ cells) and ``provenance`` (:func:`cartpk.model.provenance`: how each
    parameter block was checked). ``ini = Other.ini`` reuses another model's parameter block.
    """

    _abstract: ClassVar[bool] = True
    kind: ClassVar[str] = "model"
    name: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    time_unit: ClassVar[str] = "day"
    outputs: ClassVar[Mapping[str, str]] = {}
    default_dose: ClassVar[float | None] = None
    dose_unit: ClassVar[str] = "CAR+ cells"
    #: how each parameter block was checked (``cartpk.model.provenance``); empty if undeclared
    provenance: ClassVar[Provenance] = Provenance()
    #: named typical-value prior sets besides "weak" and "literature" (``cartpk.model.prior_set``)
    prior_sets: ClassVar[Mapping[str, PriorSet]] = {}
    #: the prior set a population fit uses when none is named
    default_priors: ClassVar[str] = "weak"
    _class_block: ClassVar[ParameterBlock] = ParameterBlock()

    ini = _IniAttr()

    # -- class creation ------------------------------------------------------------------
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = dict(cls.__dict__)
        if own.get("_abstract", False):
            return
        cls._abstract = False
        # equations given as plain functions are static (they take `xp` first, not self)
        for attr in cls._equation_names():
            if attr in own and inspect.isfunction(own[attr]):
                setattr(cls, attr, staticmethod(own[attr]))
        parent = next(
            (b._class_block for b in cls.__mro__[1:] if "_class_block" in b.__dict__),
            ParameterBlock(),
        )
        block = own.get("ini", parent)
        if "ini" in own:
            delattr(cls, "ini")
            if not isinstance(block, ParameterBlock):
                raise ModelError(
                    f"Model `{cls.__name__}`: `ini` must be another model's `.ini` block.",
                    [
                        Violation(
                            "ini_type",
                            "`ini` is not a parameter block",
                            value=type(block).__name__,
                            expected="`ini = OtherModel.ini`",
                            fix="assign another model's `.ini`, or declare thetas one by one",
                        )
                    ],
                )
        thetas = block.theta_map
        for key, val in own.items():
            if isinstance(val, Theta):
                thetas[key] = replace(val, name=key)
                setattr(cls, key, _ThetaAttr(key))
        for t in block.thetas:  # inherited thetas are reachable as attributes too
            if not isinstance(cls.__dict__.get(t.name), _ThetaAttr):
                setattr(cls, t.name, _ThetaAttr(t.name))
        iiv = own.get("iiv", block.iiv)
        outputs = dict(cls.outputs)
        error = own.get("error", None)
        errors = _normalise_error(error, outputs) if "error" in own else block.error
        covs = tuple(own.get("covariates", block.covariates))
        fixed = set(block.fixed)
        if "iiv" in own and isinstance(iiv, Omega):
            fixed = {f for f in fixed if not f.startswith("omega_")}
            fixed |= {f"omega_{n}" for n in iiv.fixed}
        for attr in ("iiv", "error", "covariates"):
            if attr in own:
                delattr(cls, attr)
        new = ParameterBlock(
            thetas=tuple(thetas.values()),
            iiv=iiv if isinstance(iiv, Omega) else Omega(),
            error=errors,
            covariates=covs,
            fixed=frozenset(fixed),
        )
        problems = cls._check_declaration(new, iiv_obj=iiv, covs_obj=own.get("covariates", covs))
        if problems:
            raise ModelError(
                f"Model `{cls.__name__}` has {len(problems)} declaration "
                f"problem{'s' if len(problems) > 1 else ''}.",
                problems,
                code=problems[0].code,
            )
        cls._class_block = new

    @classmethod
    def _check_prior_sets(cls, block: ParameterBlock) -> list[Violation]:
        from cartpk.model._declaration import prior_set_problems

        return prior_set_problems(cls, block)

    @classmethod
    def _equation_names(cls) -> tuple[str, ...]:
        return ()

    @classmethod
    def _check_equations(cls, names: set[str]) -> list[Violation]:  # pragma: no cover
        return []

    @classmethod
    def _check_declaration(
        cls, block: ParameterBlock, *, iiv_obj: Any, covs_obj: Any
    ) -> list[Violation]:
        from cartpk.model._declaration import declaration_problems

        return declaration_problems(cls, block, iiv_obj=iiv_obj, covs_obj=covs_obj)

    def __init__(self) -> None:
        if type(self)._abstract:
            raise ModelError(
                f"`{type(self).__name__}` is an abstract base; subclass it to declare a model.",
                [
                    Violation(
                        "model_abstract",
                        f"`{type(self).__name__}` cannot be instantiated",
                        fix="subclass ClosedFormModel or OdeModel",
                    )
                ],
            )
        object.__setattr__(self, "_block", type(self)._class_block)

    @classmethod
    def _from_block(cls, block: ParameterBlock) -> Model:
        new = cls.__new__(cls)
        object.__setattr__(new, "_block", block)
        return new

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(
            f"cartpk models are immutable; use `fix`, `with_ini`, `with_iiv` or "
            f"`with_covariates` to get a changed copy (tried to set `{key}`)."
        )

    def __delattr__(self, key: str) -> None:
        raise AttributeError("cartpk models are immutable.")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the model's class and its parameter block.

        Everything an instance holds besides its class is its :class:`ParameterBlock`
        (values, fixed flags, IIV, residual error, covariate effects), so a changed model
        (``fix``, ``with_ini``, ``with_iiv``, ...) round-trips exactly. A catalogue model's
        class is named by module and qualified name and resolved after the catalogue
        package is registered, so it unpickles in a fresh process; other classes are
        pickled as usual (by reference, or by value under cloudpickle). Cached evaluation
        facts are not pickled; the copy recomputes them.
        """
        cls = type(self)
        if cls.__module__.startswith(_CATALOGUE_PACKAGE + "."):
            return (_rebuild_catalogue_model, (cls.__module__, cls.__qualname__, self._block))
        return (_rebuild_model, (cls, self._block))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._block == self._block  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._block))

    def __repr__(self) -> str:
        free = [n for n, r in self._fixed_map().items() if not r]
        return (
            f"<{type(self).__name__} {self.name!r} ({self.kind}): {len(self._block.thetas)} thetas, "
            f"{len(self._block.iiv)} IIV, outputs {list(self.outputs)}, {len(free)} free parameters>"
        )

    # -- introspection --------------------------------------------------------------------
    @property
    def thetas(self) -> dict[str, Theta]:
        """Structural parameters ``{name: Theta}`` (natural scale) in declaration order."""
        return self._block.theta_map

    @property
    def iiv(self) -> Omega:
        """Random-effect SDs on the transformed scale."""
        return self._block.iiv

    @property
    def error(self) -> dict[str, ErrorModel]:
        """Residual error model per output ``{DVID: ErrorModel}``."""
        return self._block.error_map

    @property
    def covariates(self) -> tuple[CovariateEffect, ...]:
        """Declared covariate effects."""
        return self._block.covariates

    @property
    def covariate_columns(self) -> list[str]:
        """Dataset columns the covariate effects need (unique, declaration order)."""
        return list(dict.fromkeys(e.on for e in self._block.covariates))

    def _rows(self) -> list[dict[str, Any]]:
        return parameter_rows(self)

    @property
    def parameters(self) -> pd.DataFrame:
        """Parameter table: ``name, role, initial, lower, upper, fixed, transform, unit, label``.

        Roles are ``structural`` (thetas, natural scale), ``iiv`` (``omega_<name>``, SD on the
        transformed scale), ``residual`` (``sigma``...) and ``covariate`` (``cov_...``).
        ``transform`` is the estimation scale of the parameter itself.
        """
        import pandas as pd

        cols = ["name", "role", "initial", "lower", "upper", "fixed", "transform", "unit", "label"]
        return pd.DataFrame(self._rows(), columns=cols)

    def _fixed_map(self) -> dict[str, bool]:
        return {r["name"]: bool(r["fixed"]) for r in self._rows()}

    def _transforms(self) -> dict[str, str | None]:
        return {r["name"]: r["transform"] for r in self._rows()}

    def parameter_names(self, role: Role | None = None, *, free: bool = False) -> list[str]:
        """Names of parameters of ``role`` (all roles by default); ``free=True`` drops fixed ones."""
        return [
            r["name"]
            for r in self._rows()
            if (role is None or r["role"] == role) and not (free and r["fixed"])
        ]

    def typical(self) -> dict[str, float]:
        """Typical values of the structural parameters on the natural scale ``{name: value}``."""
        return {t.name: t.value for t in self._block.thetas}

    def initial_values(self) -> dict[str, float]:
        """Initial values of every parameter (thetas, ``omega_*``, sigmas, ``cov_*``) by name."""
        return {r["name"]: float(r["initial"]) for r in self._rows()}

    def describe(self) -> str:
        """Multi-line description: reference, outputs, parameter table and the equations."""
        lines = [f"{type(self).__name__} - {self.name} ({self.kind})"]
        if self.reference:
            lines.append(f"Reference: {self.reference}")
        lines.append("Outputs: " + ", ".join(f"{k} [{v}]" for k, v in self.outputs.items()))
        lines.append(f"Time unit: {self.time_unit}")
        lines.append("")
        lines.append(self.parameters.to_string(index=False))
        lines.append("")
        for attr in type(self)._equation_names():
            func = _raw(type(self), attr)
            if func is None:
                continue
            try:
                lines.append(inspect.getsource(func).rstrip())
            except (OSError, TypeError):  # pragma: no cover - source not available
                lines.append(f"{attr}{inspect.signature(func)}")
        return "\n".join(lines)

    # -- transformations returning new models ----------------------------------------------
    def _unknown(self, names: Iterable[str], what: str) -> None:
        known = set(self.parameter_names())
        bad = [n for n in names if n not in known]
        if bad:
            raise ModelError(
                f"{what}: {len(bad)} unknown parameter name{'s' if len(bad) > 1 else ''} for "
                f"model `{self.name}`.",
                [
                    Violation(
                        "unknown_parameter",
                        f"`{n}` is not a parameter of `{self.name}`",
                        value=n,
                        expected=f"one of {sorted(known)}",
                        fix="use a name from `model.parameters`",
                    )
                    for n in bad
                ],
            )

    def _with_values(self, values: Mapping[str, Any], fix: bool | None) -> Model:
        self._unknown(values, "Cannot change values")
        b = self._block
        thetas = []
        problems: list[Violation] = []
        for t in b.thetas:
            if t.name in values:
                v = values[t.name]
                if isinstance(v, Theta):
                    t = replace(v, name=t.name)
                elif v is not None:
                    t = replace(t, value=float(v))
            if fix is not None and t.name in values:
                t = replace(t, fixed=fix)
            for msg in t.problems():
                problems.append(
                    Violation("theta_value", f"theta `{t.name}`: {msg}", value=repr(t.value))
                )
            thetas.append(t)
        sd = dict(b.iiv.entries)
        for n in list(sd):
            v = values.get(f"omega_{n}")
            if v is not None:
                if not (math.isfinite(float(v)) and float(v) >= 0):
                    problems.append(
                        Violation("omega_value", f"`omega_{n}` must be >= 0", value=repr(v))
                    )
                sd[n] = float(v)
        error = tuple(
            (dv, em.with_values({k: float(v) for k, v in values.items() if v is not None}))
            for dv, em in b.error
        )
        covs = []
        for eff in b.covariates:
            coefs = {k: float(values[k]) for k in eff.coefficients if values.get(k) is not None}
            if coefs and isinstance(eff, Categorical):
                init = dict(eff.coef)
                for lv in eff.levels:
                    if eff.name_of(lv) in coefs:
                        init[lv] = coefs[eff.name_of(lv)]
                eff = replace(eff, coef=tuple(init.items()))
            elif coefs:
                eff = replace(eff, coef=next(iter(coefs.values())))
            covs.append(eff)
        if problems:
            raise ModelError(f"Invalid values for model `{self.name}`.", problems)
        fixed = set(b.fixed)
        theta_names = {t.name for t in thetas}
        if fix is not None:
            extra = {n for n in values if n not in theta_names}
            fixed = fixed | extra if fix else fixed - extra
        block = ParameterBlock(
            thetas=tuple(thetas),
            iiv=Omega(tuple(sd.items()), b.iiv.fixed),
            error=error,
            covariates=tuple(covs),
            fixed=frozenset(fixed),
        )
        return type(self)._from_block(block)

    def fix(self, *names: str, **values: float) -> Model:
        """Return a new model with parameters fixed (by name, any role).

        Parameters
        ----------
        *names : str
            Parameters to fix at their current value.
        **values : float
            Parameters to fix at the given value (natural scale; SD for ``omega_*``).

        Examples
        --------
        >>> import cartpk as ck
        >>> m = ck.load_model("stein2019").fix(fb=0.0079)
        >>> m.thetas["fb"].fixed
        True
        """
        vals: dict[str, Any] = {n: None for n in names}
        vals.update(values)
        return self._with_values(vals, fix=True)

    def unfix(self, *names: str) -> Model:
        """Return a new model with the named parameters free again."""
        return self._with_values({n: None for n in names}, fix=False)

    def with_ini(self, **values: float | Theta) -> Model:
        """Return a new model with new initial/typical values (by name, any role).

        A structural parameter may be given a full :func:`theta` declaration instead of a
        number. Fixed flags are kept.
        """
        return self._with_values(values, fix=None)

    def with_iiv(
        self,
        *,
        drop: Sequence[str] = (),
        sd: Mapping[str, float] | None = None,
        var: Mapping[str, float] | None = None,
    ) -> Model:
        """Return a new model with random effects removed, added or changed.

        Parameters
        ----------
        drop : sequence of str
            Structural parameters that lose their random effect.
        sd, var : mapping of str to float, optional
            New or changed random effects, as SDs or as variances (on the transformed scale).
        """
        b = self._block
        given: dict[str, float] = {}
        if sd is not None:
            given.update(omega(sd=sd).sd)
        if var is not None:
            given.update(omega(var=var).sd)
        names = set(b.theta_map)
        bad = [n for n in [*drop, *given] if n not in names]
        if bad:
            raise ModelError(
                f"Cannot change IIV of model `{self.name}`.",
                [
                    Violation(
                        "iiv_unknown",
                        f"`{n}` is not a theta of `{self.name}`",
                        value=n,
                        expected=f"one of {sorted(names)}",
                        fix="name a structural parameter",
                    )
                    for n in bad
                ],
            )
        entries = {k: v for k, v in b.iiv.entries if k not in set(drop)}
        entries.update(given)
        order = [t.name for t in b.thetas if t.name in entries]
        fixed = frozenset(f for f in b.fixed if not (f.startswith("omega_") and f[6:] in drop))
        block = replace(
            b,
            iiv=Omega(tuple((k, entries[k]) for k in order), b.iiv.fixed - set(drop)),
            fixed=fixed,
        )
        return type(self)._from_block(block)

    def with_covariates(self, *effects: CovariateEffect, replace_all: bool = False) -> Model:
        """Return a new model with covariate effects added (or all replaced).

        Parameters
        ----------
        *effects : CovariateEffect
            Effects built with :func:`power` or :func:`categorical`.
        replace_all : bool, default False
            Drop the existing effects first (``with_covariates(replace_all=True)`` removes all).
        """
        b = self._block
        covs = (() if replace_all else b.covariates) + tuple(effects)
        cls = type(self)
        problems = cls._check_declaration(replace(b, covariates=covs), iiv_obj=b.iiv, covs_obj=covs)
        problems = [p for p in problems if p.code.startswith("covariate")]
        if problems:
            raise ModelError(f"Invalid covariate effects for model `{self.name}`.", problems)
        return cls._from_block(replace(b, covariates=covs))

    def with_error(self, error: ErrorModel | Mapping[str, ErrorModel]) -> Model:
        """Return a new model with another residual error model."""
        errors = _normalise_error(error, self.outputs)
        return type(self)._from_block(replace(self._block, error=errors))

    # -- helpers every engine needs --------------------------------------------------------
    def to_transformed(self, values: Mapping[str, Any], *, xp: Any = np) -> dict[str, Any]:
        """Map natural-scale values to the estimation scale, by name.

        Thetas use their declared transform; ``omega_*`` and sigmas are log-transformed;
        covariate coefficients are unchanged. ``xp`` may be ``pytensor.tensor``.
        """
        self._unknown(values, "Cannot transform")
        tr = self._transforms()
        return {k: _forward(xp, tr[k], v) for k, v in values.items()}

    def from_transformed(self, values: Mapping[str, Any], *, xp: Any = np) -> dict[str, Any]:
        """Inverse of :meth:`to_transformed`, by name."""
        self._unknown(values, "Cannot transform")
        tr = self._transforms()
        return {k: _backward(xp, tr[k], v) for k, v in values.items()}

    def individual_parameters(
        self,
        typical: Mapping[str, Any] | None = None,
        eta: Mapping[str, Any] | None = None,
        covariates: pd.DataFrame | Mapping[str, Any] | None = None,
        *,
        xp: Any = np,
    ) -> dict[str, Any]:
        """Individual structural parameters from typical values, random effects and covariates.

        ``h(P_i) = h(P_tv) + sum(covariate shifts) + eta_i``, ``h`` the parameter's transform.

        Parameters
        ----------
        typical : mapping, optional
            Typical values on the natural scale by name; may also hold ``cov_*``
            coefficients. Missing names take the model's current values.
        eta : mapping of str to array, optional
            Random effects by structural parameter name (``"cmax"`` or ``"eta_cmax"``), one
            value per subject; only parameters with IIV may have one.
        covariates : DataFrame or mapping of column -> array, optional
            One row per subject, same order as ``eta``; must hold :attr:`covariate_columns`.
        xp : module, default numpy
            Array namespace (``pytensor.tensor`` for PyMC).

        Returns
        -------
        dict of str to array
            Every structural parameter on the natural scale, shape ``(n_subjects,)`` (scalars
            when neither ``eta`` nor ``covariates`` give a subject axis).

        Raises
        ------
        ModelError
            ``unknown_parameter``, ``eta_without_iiv``, ``covariate_missing``,
            ``covariate_value`` - all problems at once.
        """
        vals = self.initial_values()
        if typical:
            self._unknown(typical, "Cannot build individual parameters")
            vals.update(typical)
        etas = {(k[4:] if k.startswith("eta_") else k): v for k, v in (eta or {}).items()}
        cov_cols, n = individual_inputs(self, etas, covariates)
        if n is None:
            for v in etas.values():
                if isinstance(v, np.ndarray | list | tuple) and np.ndim(v) >= 1:
                    n = int(np.shape(v)[0])
                    break
        out: dict[str, Any] = {}
        for t in self._block.thetas:
            v0 = vals[t.name]
            numeric = isinstance(v0, int | float | np.number | np.ndarray)
            h: Any = _forward(np if numeric else xp, t.transform, v0)
            if t.name in etas and isinstance(etas[t.name], list | tuple):
                etas[t.name] = np.asarray(etas[t.name], dtype=float)
            for eff in self._block.covariates:
                if eff.param == t.name:
                    h = h + eff.shift(xp, cov_cols[eff.on], vals)
            if t.name in etas:
                h = h + etas[t.name]
            if n is not None and isinstance(h, float | np.floating | np.ndarray):
                h = np.broadcast_to(h, (n,)).astype(float)
            out[t.name] = _backward(
                xp if not isinstance(h, float | np.ndarray) else np, t.transform, h
            )
        return out

    def _eval_plan(self) -> _EvalPlan:
        """What :meth:`_split_params` needs from the declaration, computed once per instance.

        Models are immutable (every change returns a new instance through
        :meth:`_from_block`, which starts without a plan), so the plan of an instance never
        goes stale and is never shared with a differently configured model.
        """
        plan = self.__dict__.get("_plan")
        if plan is None:
            b = self._block
            plan = _EvalPlan(
                known=frozenset(self.parameter_names()),
                structural=frozenset(b.theta_map),
                free=tuple(t.name for t in b.thetas if not t.fixed),
                fixed=tuple((t.name, t.value) for t in b.thetas if t.fixed),
            )
            object.__setattr__(self, "_plan", plan)
        return plan

    def _split_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Structural values for evaluation: given ones, fixed ones from the model."""
        plan = self._eval_plan()
        known = plan.known
        structural = plan.structural
        unknown = [k for k in params if k not in known and k not in _DATA_ARGS]
        missing = [n for n in plan.free if n not in params]
        if unknown or missing:
            raise ModelError(
                f"Cannot evaluate `{self.name}`: parameters do not match the declaration.",
                [
                    Violation(
                        "unknown_parameter",
                        f"`{k}` is not a parameter of `{self.name}`",
                        value=k,
                        expected=f"names among {sorted(structural)}",
                        fix="pass parameters by their declared names",
                    )
                    for k in unknown
                ]
                + [
                    Violation(
                        "missing_parameter",
                        f"no value for `{k}` (it is not fixed)",
                        value=k,
                        fix=f"pass `{k}` or fix it with `model.fix({k}=...)`",
                    )
                    for k in missing
                ],
            )
        vals = dict(plan.fixed)
        vals.update({k: v for k, v in params.items() if k in structural})
        return vals

    def evaluate(
        self,
        xp: Any,
        time: Any,
        params: Mapping[str, Any],
        *,
        dose: Any = None,
    ) -> dict[str, Any]:  # pragma: no cover - overridden
        """Predictions ``{DVID: array}`` at ``time`` for structural ``params`` (by name)."""
        raise NotImplementedError
