"""Declaration helpers: typical values, variability, residual error and covariate effects.

Everything here is a small frozen value object. Nothing imports a numerical library other
than NumPy, and NumPy only for the simulation helpers of the residual-error models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cartpk.errors import ModelError, Violation
from cartpk.model._transforms import TRANSFORMS

__all__ = [
    "Categorical",
    "CovariateEffect",
    "ErrorModel",
    "Omega",
    "Power",
    "Theta",
    "Transform",
    "additive",
    "categorical",
    "combined",
    "log_additive",
    "omega",
    "power",
    "proportional",
    "theta",
]

Transform = Literal["log", "logit"] | None
ErrorKind = Literal["log_additive", "proportional", "additive", "combined"]


@dataclass(frozen=True)
class Theta:
    """A structural parameter: typical value on the natural scale plus its metadata.

    Create with :func:`theta`; the name is given by the class attribute it is assigned to.
    """

    value: float
    unit: str = "1"
    transform: Transform = "log"
    lower: float | None = None
    upper: float | None = None
    label: str = ""
    fixed: bool = False
    name: str = ""

    def natural_bounds(self) -> tuple[float, float]:
        """Bounds on the natural scale implied by the transform, narrowed by ``lower``/``upper``."""
        scale = TRANSFORMS.get(self.transform)
        lo, hi = scale.natural_range if scale is not None else (-math.inf, math.inf)
        if self.lower is not None:
            lo = max(lo, float(self.lower))
        if self.upper is not None:
            hi = min(hi, float(self.upper))
        return lo, hi

    def problems(self) -> list[str]:
        """Describe what is inconsistent in this declaration (empty when valid)."""
        out: list[str] = []
        if self.transform not in ("log", "logit", None):
            out.append(f"transform {self.transform!r} is not one of 'log', 'logit', None")
            return out
        lo, hi = self.natural_bounds()
        v = self.value
        if not math.isfinite(v):
            out.append(f"typical value {v!r} is not finite")
        elif self.transform == "log" and v <= 0:
            out.append(f"typical value {v!r} must be > 0 for a 'log' transform")
        elif self.transform == "logit" and not 0 < v < 1:
            out.append(f"typical value {v!r} must lie in (0, 1) for a 'logit' transform")
        elif not lo <= v <= hi:
            out.append(f"typical value {v!r} lies outside the bounds [{lo}, {hi}]")
        if lo > hi:
            out.append(f"lower bound {lo} is above upper bound {hi}")
        return out


def theta(
    value: float,
    *,
    unit: str = "1",
    transform: Transform = "log",
    lower: float | None = None,
    upper: float | None = None,
    label: str = "",
    fixed: bool = False,
) -> Theta:
    """Declare a structural parameter.

    Parameters
    ----------
    value : float
        Typical value on the natural scale (the value a paper's table prints).
    unit : str, default "1"
        Unit in ASCII (``"1/day"``, ``"copies/ug"``); ``"1"`` for dimensionless.
    transform : {"log", "logit", None}, default "log"
        Estimation scale. ``"log"`` implies a positive parameter, ``"logit"`` one in (0, 1);
        random effects and covariate effects act on this scale.
    lower, upper : float, optional
        Natural-scale bounds; they can only narrow the range the transform implies.
    label : str, optional
        Human-readable description for tables and reports.
    fixed : bool, default False
        Whether estimation engines keep the value fixed.

    Returns
    -------
    Theta

    Examples
    --------
    >>> theta(9.3, unit="day", label="peak time").transform
    'log'
    """
    return Theta(
        value=float(value),
        unit=unit,
        transform=transform,
        lower=None if lower is None else float(lower),
        upper=None if upper is None else float(upper),
        label=label,
        fixed=bool(fixed),
    )


@dataclass(frozen=True)
class Omega:
    """Inter-individual variability: SD of the random effect on each parameter's transformed scale.

    Always stored as standard deviations, whichever of ``sd=``/``var=`` declared it. The
    estimated quantity is named ``omega_<name>``.
    """

    entries: tuple[tuple[str, float], ...] = ()
    fixed: frozenset[str] = field(default_factory=frozenset)

    @property
    def sd(self) -> dict[str, float]:
        """``{parameter: SD}`` on the transformed scale."""
        return dict(self.entries)

    @property
    def var(self) -> dict[str, float]:
        """``{parameter: variance}`` on the transformed scale."""
        return {k: v * v for k, v in self.entries}

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the parameters that carry a random effect."""
        return tuple(k for k, _ in self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.sd

    def __len__(self) -> int:
        return len(self.entries)


def omega(
    *,
    sd: Mapping[str, float] | None = None,
    var: Mapping[str, float] | None = None,
    fixed: Sequence[str] = (),
) -> Omega:
    """Declare inter-individual variability, stating whether the numbers are SDs or variances.

    Parameters
    ----------
    sd : mapping of str to float, optional
        ``{parameter: SD of the random effect on the transformed scale}``.
    var : mapping of str to float, optional
        ``{parameter: variance}``; stored as ``sqrt(var)``.
    fixed : sequence of str, optional
        Parameters whose SD estimation engines keep fixed.

    Returns
    -------
    Omega

    Raises
    ------
    ModelError
        ``omega_scale`` when both or neither of ``sd``/``var`` are given, or a value is
        negative or not finite (code ``omega_value``).

    Notes
    -----
    With ``transform="log"`` the individual value is ``P_i = P_tv * exp(eta_i)``,
    ``eta_i ~ N(0, omega^2)``; the CV of a log-normal is ``sqrt(exp(omega^2) - 1)``.

    Examples
    --------
    >>> omega(var={"cmax": 0.64}).sd
    {'cmax': 0.8}
    """
    if (sd is None) == (var is None):
        raise ModelError(
            "`omega` needs exactly one of `sd=` or `var=`.",
            [
                Violation(
                    "omega_scale",
                    "the scale of the random-effect values is ambiguous",
                    expected="omega(sd={...}) or omega(var={...})",
                    fix="say whether the published numbers are SDs or variances",
                )
            ],
        )
    given = dict(sd if sd is not None else var or {})
    scale = "SD" if sd is not None else "variance"
    bad = _invalid_scales(
        given,
        "omega_value",
        "random-effect " + scale + " of `{name}` is invalid",
        "drop `{name}` from the omega block or give a non-negative value",
    )
    if bad:
        raise ModelError("`omega` has invalid values.", bad)
    entries = tuple(
        (str(k), float(v) if sd is not None else math.sqrt(float(v))) for k, v in given.items()
    )
    return Omega(entries=entries, fixed=frozenset(fixed))


# ---------------------------------------------------------------------------------------
# residual error


@dataclass(frozen=True)
class ErrorModel:
    """A named residual-error model.

    ``sigmas`` maps the parameter names (``sigma``, or ``sigma_add``/``sigma_prop``) to
    their initial values; :meth:`renamed` adds a DVID suffix when a model has several
    outputs.

    Notes
    -----
    =============== ================================= ===================================
    kind            observation ``y`` given ``f``      SD
    =============== ================================= ===================================
    log_additive    ``log y = log f + eps``           ``sigma`` on the natural-log scale
    proportional    ``y = f + eps``                   ``sigma * f``
    additive        ``y = f + eps``                   ``sigma`` (unit of the output)
    combined        ``y = f + eps``                   ``sqrt(sigma_add^2 + sigma_prop^2 f^2)``
    =============== ================================= ===================================

    ``combined`` is NONMEM's / nlmixr2's "combined2" (variances add); Monolix's default
    "combined1" (``SD = a + b f``) is a different model.
    """

    kind: ErrorKind
    sigmas: tuple[tuple[str, float], ...]
    roles: tuple[str, ...]  # "sigma", "sigma_add", "sigma_prop": meaning of each entry

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names of this error model."""
        return tuple(k for k, _ in self.sigmas)

    @property
    def values(self) -> dict[str, float]:
        """``{name: initial value}``."""
        return dict(self.sigmas)

    @property
    def scale(self) -> Literal["log", "linear"]:
        """Scale on which the residual is normal: ``"log"`` for log_additive."""
        return "log" if self.kind == "log_additive" else "linear"

    def renamed(self, suffix: str) -> ErrorModel:
        """Return a copy whose parameter names end in ``_<suffix>``."""
        sigmas = tuple(
            (f"{role}_{suffix}", v) for role, (_, v) in zip(self.roles, self.sigmas, strict=True)
        )
        return ErrorModel(kind=self.kind, sigmas=sigmas, roles=self.roles)

    def with_values(self, values: Mapping[str, float]) -> ErrorModel:
        """Return a copy with some initial values replaced (by name)."""
        sigmas = tuple((k, float(values.get(k, v))) for k, v in self.sigmas)
        return ErrorModel(kind=self.kind, sigmas=sigmas, roles=self.roles)

    def sd(self, xp: Any, f: Any, values: Mapping[str, Any] | None = None) -> Any:
        """SD of the residual on its own scale (log scale for log_additive).

        Parameters
        ----------
        xp : module
            Array namespace (``numpy`` or ``pytensor.tensor``).
        f : array
            Prediction on the natural scale.
        values : mapping, optional
            Values of this model's sigma parameters by name; the declared ones by default.
        """
        vals = dict(self.sigmas)
        if values is not None:
            vals.update({k: values[k] for k in self.names if k in values})
        by_role = {role: vals[name] for role, name in zip(self.roles, self.names, strict=True)}
        if self.kind == "log_additive" or self.kind == "additive":
            return by_role["sigma"] + 0.0 * f
        if self.kind == "proportional":
            return by_role["sigma"] * xp.abs(f)
        return xp.sqrt(by_role["sigma_add"] ** 2 + (by_role["sigma_prop"] * f) ** 2)

    def sample(
        self,
        rng: np.random.Generator,
        f: np.ndarray,
        values: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        """Draw observations around prediction ``f`` (NumPy)."""
        f = np.asarray(f, dtype=float)
        eps = rng.standard_normal(f.shape)
        sd = np.asarray(self.sd(np, f, values), dtype=float)
        if self.kind == "log_additive":
            # a prediction of exactly 0 stays 0; tiny negative solver round-off counts as 0
            with np.errstate(divide="ignore"):
                return np.exp(np.log(np.maximum(f, 0.0)) + sd * eps)
        return f + sd * eps


def _invalid_scales(
    values: Mapping[str, Any], code: str, message: str, fix: str
) -> list[Violation]:
    """A violation ``code`` for each value that is not a finite number >= 0 (an SD or a
    variance); ``message`` and ``fix`` name the value by ``{name}``."""
    return [
        Violation(
            code,
            message.format(name=k),
            value=repr(v),
            expected="a finite number >= 0",
            fix=fix.format(name=k),
        )
        for k, v in values.items()
        if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0)
    ]


def _check_sigma(**values: float) -> None:
    bad = _invalid_scales(
        values,
        "sigma_value",
        "residual-error parameter `{name}` is invalid",
        "give `{name}` as a non-negative SD",
    )
    if bad:
        raise ModelError("Invalid residual-error declaration.", bad)


def log_additive(*, sigma: float) -> ErrorModel:
    """Additive error on the natural-log scale: ``log y = log f + eps``, ``eps ~ N(0, sigma^2)``.

    Parameters
    ----------
    sigma : float
        SD of the residual on the natural-log scale (Stein 2019's "constant error on the log
        scale", approximately a proportional error of CV ``sigma`` for small ``sigma``).
    """
    _check_sigma(sigma=sigma)
    return ErrorModel("log_additive", (("sigma", float(sigma)),), ("sigma",))


def proportional(*, sigma: float) -> ErrorModel:
    """Proportional error: ``y = f + eps``, ``SD = sigma * f`` (``sigma`` dimensionless)."""
    _check_sigma(sigma=sigma)
    return ErrorModel("proportional", (("sigma", float(sigma)),), ("sigma",))


def additive(*, sigma: float) -> ErrorModel:
    """Additive error: ``y = f + eps``, ``SD = sigma`` in the unit of the output."""
    _check_sigma(sigma=sigma)
    return ErrorModel("additive", (("sigma", float(sigma)),), ("sigma",))


def combined(*, sigma_add: float, sigma_prop: float) -> ErrorModel:
    """Combined additive + proportional error, variances adding.

    ``y = f + eps``, ``SD = sqrt(sigma_add^2 + sigma_prop^2 * f^2)``: NONMEM's and
    nlmixr2's "combined2". Monolix's default "combined1" (``SD = a + b f``) differs.
    """
    _check_sigma(sigma_add=sigma_add, sigma_prop=sigma_prop)
    return ErrorModel(
        "combined",
        (("sigma_add", float(sigma_add)), ("sigma_prop", float(sigma_prop))),
        ("sigma_add", "sigma_prop"),
    )


# ---------------------------------------------------------------------------------------
# covariate effects


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(text)).strip("_").lower()


@dataclass(frozen=True)
class CovariateEffect:
    """Base of covariate effects; each shifts ``param`` on its transformed scale."""

    param: str
    on: str

    @property
    def coefficients(self) -> dict[str, float]:  # pragma: no cover - overridden
        """``{coefficient name: initial value}``."""
        raise NotImplementedError

    def shift(
        self, xp: Any, column: np.ndarray, coefficients: Mapping[str, Any]
    ) -> Any:  # pragma: no cover
        """Shift on the transformed scale for covariate values ``column``."""
        raise NotImplementedError

    def problems(self, column: np.ndarray) -> list[str]:  # pragma: no cover
        """Describe invalid covariate values (empty when all usable)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Power(CovariateEffect):
    """Power effect of a continuous covariate: shift ``coef * log(COV / ref)``.

    On a log-transformed parameter this is the classical ``P = P_tv * (COV/ref)^coef``.
    """

    ref: float = 1.0
    coef: float = 0.0

    @property
    def name(self) -> str:
        """Coefficient name ``cov_<param>_<covariate>``."""
        return f"cov_{self.param}_{_slug(self.on)}"

    @property
    def coefficients(self) -> dict[str, float]:
        return {self.name: self.coef}

    def shift(self, xp: Any, column: np.ndarray, coefficients: Mapping[str, Any]) -> Any:
        x = np.log(np.asarray(column, dtype=float) / self.ref)
        return coefficients[self.name] * x

    def problems(self, column: np.ndarray) -> list[str]:
        try:
            x = np.asarray(column, dtype=float)
        except (TypeError, ValueError):
            return [f"`{self.on}` is not numeric"]
        if not np.all(np.isfinite(x) & (x > 0)):
            return [f"`{self.on}` must be finite and > 0 for a power effect"]
        return []


@dataclass(frozen=True)
class Categorical(CovariateEffect):
    """Categorical effect: one additive shift per non-reference level on the transformed scale."""

    reference: str = ""
    levels: tuple[str, ...] = ()
    coef: tuple[tuple[str, float], ...] = ()

    def name_of(self, level: str) -> str:
        """Coefficient name ``cov_<param>_<covariate>_<level>``."""
        return f"cov_{self.param}_{_slug(self.on)}_{_slug(level)}"

    @property
    def coefficients(self) -> dict[str, float]:
        init = dict(self.coef)
        return {
            self.name_of(lv): float(init.get(lv, 0.0)) for lv in self.levels if lv != self.reference
        }

    def shift(self, xp: Any, column: np.ndarray, coefficients: Mapping[str, Any]) -> Any:
        col = np.asarray(column).astype(str)
        total: Any = 0.0
        for lv in self.levels:
            if lv == self.reference:
                continue
            total = total + coefficients[self.name_of(lv)] * (col == lv).astype(float)
        return total

    def problems(self, column: np.ndarray) -> list[str]:
        col = np.asarray(column).astype(str)
        unknown = sorted(set(col) - set(self.levels))
        if unknown:
            return [f"`{self.on}` has levels {unknown} not declared in {list(self.levels)}"]
        return []


def power(param: str, *, on: str, ref: float, coef: float = 0.0) -> Power:
    """Declare a power effect of continuous covariate ``on`` on parameter ``param``.

    Parameters
    ----------
    param : str
        Structural parameter name.
    on : str
        Covariate column (e.g. ``"DOSE"``, ``"WT"``).
    ref : float
        Reference value (the covariate value at which the typical value applies).
    coef : float, default 0.0
        Initial exponent; the coefficient is named ``cov_<param>_<on lower-case>``.

    Notes
    -----
    The shift on the transformed scale is ``coef * log(COV / ref)``; with a ``log``
    transform, ``P_i = P_tv * (COV / ref) ** coef``.

    Examples
    --------
    >>> power("cmax", on="DOSE", ref=1e8).name
    'cov_cmax_dose'
    """
    if not (math.isfinite(ref) and ref > 0):
        raise ModelError(
            f"Power covariate effect on `{param}` has an invalid reference.",
            [
                Violation(
                    "covariate_ref",
                    f"`ref` of the power effect of `{on}` on `{param}` must be > 0",
                    value=repr(ref),
                    expected="a finite number > 0",
                    fix="use a typical covariate value, e.g. the median",
                )
            ],
        )
    return Power(param=param, on=on, ref=float(ref), coef=float(coef))


def categorical(
    param: str,
    *,
    on: str,
    reference: str,
    levels: Sequence[str],
    coef: Mapping[str, float] | None = None,
) -> Categorical:
    """Declare a categorical covariate effect (additive shifts on the transformed scale).

    Parameters
    ----------
    param : str
        Structural parameter name.
    on : str
        Covariate column (e.g. ``"TARGET"``).
    reference : str
        Level at which the typical value applies (no coefficient).
    levels : sequence of str
        Every level the covariate may take, the reference included.
    coef : mapping of str to float, optional
        Initial shift per non-reference level (0 by default).

    Returns
    -------
    Categorical
        Coefficients named ``cov_<param>_<on>_<level>`` (lower case).

    Examples
    --------
    >>> e = categorical("cmax", on="TARGET", reference="GD2", levels=["GD2", "PSMA"])
    >>> list(e.coefficients)
    ['cov_cmax_target_psma']
    """
    levels = tuple(str(x) for x in levels)
    problems = []
    if str(reference) not in levels:
        problems.append(
            Violation(
                "covariate_reference",
                f"reference level {reference!r} of `{on}` is not among the levels",
                value=repr(list(levels)),
                expected="`reference` to be one of `levels`",
                fix=f"add {reference!r} to `levels`",
            )
        )
    unknown = sorted(set(coef or {}) - set(levels))
    if unknown:
        problems.append(
            Violation(
                "covariate_level",
                f"coefficients given for undeclared levels of `{on}`",
                value=repr(unknown),
                expected=f"levels among {list(levels)}",
                fix="declare the level in `levels` or drop its coefficient",
            )
        )
    if problems:
        raise ModelError(f"Categorical covariate effect on `{param}` is invalid.", problems)
    return Categorical(
        param=param,
        on=on,
        reference=str(reference),
        levels=levels,
        coef=tuple((str(k), float(v)) for k, v in (coef or {}).items()),
    )
