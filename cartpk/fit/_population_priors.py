"""Priors of the generated population model, as data: the built-in ``weak`` and
``literature`` sets, the sets a model declares, and their intervals (the numbers are
documented in :mod:`cartpk.fit.population`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from cartpk.errors import SpecError, Violation
from cartpk.model import Model

if TYPE_CHECKING:  # pragma: no cover
    pass

PriorChoice = Literal["weak", "literature"]

_PRIOR_SD = {"weak": 1.5, "literature": 0.5}  # SD of mu_<P> on the transformed scale
_SCALE_FACTOR = {"weak": 2.0, "literature": 1.0}  # HalfNormal scale / declared SD
_COV_SD = {"weak": 1.0, "literature": 0.5}
_SCALE_FLOOR = 0.05

#: ``prior_width_ratio`` above which a parameter is reported as ``prior_dominated``: its
#: posterior interval is more than half as wide as its prior's (module documentation).
PRIOR_DOMINATED_RATIO = 0.5


# ---------------------------------------------------------------------------------------
# priors as data


def _transform_label(transform: str | None, name: str) -> str:
    return f"{transform}({name})" if transform else name


def _sd_prior(parameter: str, role: str, scale: float, on: str, source: str) -> dict[str, Any]:
    """A row of :func:`population_priors` for an SD (IIV or residual): ``HalfNormal`` with
    ``scale`` floored at ``_SCALE_FLOOR`` and rounded to 3 decimals."""
    return dict(
        parameter=parameter,
        role=role,
        distribution="HalfNormal",
        loc=0.0,
        scale=round(max(scale, _SCALE_FLOOR), 3),
        lower=0.0,
        upper=math.inf,
        on=on,
        source=source,
    )


def prior_set_names(model: Model) -> tuple[str, ...]:
    """Every prior set :func:`fit_population` accepts for ``model``: the built-in
    ``"weak"`` and ``"literature"``, then the sets the model declares."""
    return (*_PRIOR_SD, *model.prior_sets)


def prior_set_name(model: Model, priors: str | None = None) -> str:
    """The prior set a fit of ``model`` uses: ``priors``, or the model's ``default_priors``.

    Parameters
    ----------
    model : Model
        A model declaration; its ``prior_sets`` add names to ``"weak"`` and ``"literature"``.
    priors : str, optional
        A set name; ``None`` takes ``model.default_priors`` (``"weak"`` unless declared).

    Returns
    -------
    str
        The set's name.

    Raises
    ------
    SpecError
        ``priors`` when ``priors`` names no set of ``model``.

    Examples
    --------
    >>> import cartpk as ck
    >>> prior_set_name(ck.load_model("stein2019")), prior_set_name(ck.load_model("stein2019_covariates"))
    ('weak', 'solid_tumour')
    """
    name = model.default_priors if priors is None else priors
    known = prior_set_names(model)
    if name not in known:
        raise SpecError(
            f"Unknown prior choice `priors={priors!r}` for model `{model.name}`.",
            [
                Violation(
                    "priors",
                    "`priors` must name a prior set of the model",
                    value=repr(priors),
                    expected=" or ".join(map(repr, known)),
                    fix=f"use one of {', '.join(map(repr, known))}, or leave `priors` unset "
                    f"for the model's default ({model.default_priors!r})",
                )
            ],
        )
    return str(name)


def population_priors(model: Model, priors: PriorChoice | str | None = None) -> pd.DataFrame:
    """The priors :func:`fit_population` puts on every free parameter of ``model``.

    Parameters
    ----------
    model : Model
        A model declaration.
    priors : {"weak", "literature"} or a set the model declares, optional
        ``"weak"``: weakly informative, centred on the declaration's values;
        ``"literature"``: the declaration's (published) values with tighter SDs; a name in
        ``model.prior_sets`` (``"solid_tumour"`` of ``stein2019_covariates``): that set's
        typical-value priors, its base set's numbers elsewhere. ``None`` (default): the
        model's ``default_priors``. See the module documentation for the numbers.

    Returns
    -------
    pandas.DataFrame
        ``parameter, role, distribution, loc, scale, lower, upper, on, source`` with
        ``parameter`` the PyMC variable (``mu_cmax``, ``omega_cmax``, ``sigma``,
        ``cov_cmax_dose``), ``on`` the scale the numbers refer to (``log(cmax)``) and
        ``source`` where the centre comes from (the declaration, or the prior set's citation).
        ``attrs["priors"]`` holds the set's name.

    Raises
    ------
    SpecError
        ``priors`` when ``priors`` names no set of ``model``.

    Examples
    --------
    >>> import cartpk as ck
    >>> p = population_priors(ck.load_model("stein2019"), "literature")
    >>> row = p.set_index("parameter").loc["omega_foldx"]
    >>> row["distribution"], float(row["scale"])  # Table 1 variance 2.4 -> SD 1.549
    ('HalfNormal', 1.549)
    """
    set_name = prior_set_name(model, priors)
    declared = model.prior_sets.get(set_name)
    base = declared.base if declared is not None else set_name
    typical = dict(declared.typical) if declared is not None else {}
    iiv_source = (
        f"2 x the declared IIV SD ({base} set)" if base == "weak" else "the declared IIV SD"
    )
    rows: list[dict[str, Any]] = []
    fixed = model.ini.fixed
    sd = _PRIOR_SD[base]
    for t in model.thetas.values():
        if t.fixed:
            continue
        own = typical.get(t.name)
        centre = own.value if own is not None else t.value
        loc = float(model.to_transformed({t.name: centre})[t.name])
        if own is not None:
            scale = own.sd if t.transform else own.sd * max(abs(centre), 1.0)
        else:
            scale = sd if t.transform else sd * max(abs(t.value), 1.0)
        lo, hi = t.natural_bounds()
        tlo = (
            float(model.to_transformed({t.name: lo})[t.name]) if t.lower is not None else -math.inf
        )
        thi = float(model.to_transformed({t.name: hi})[t.name]) if t.upper is not None else math.inf
        rows.append(
            dict(
                parameter=f"mu_{t.name}",
                role="typical",
                distribution="Normal" if math.isinf(tlo) and math.isinf(thi) else "TruncatedNormal",
                loc=loc,
                scale=scale,
                lower=tlo,
                upper=thi,
                on=_transform_label(t.transform, t.name),
                source=own.source if own is not None else f"declared value ({base} set)",
            )
        )
    factor = _SCALE_FACTOR[base]
    for n, s in model.iiv.entries:
        if f"omega_{n}" in fixed:
            continue
        on = f"SD of {_transform_label(model.thetas[n].transform, n)}"
        rows.append(_sd_prior(f"omega_{n}", "iiv", factor * s, on, iiv_source))
    for em in model.error.values():
        for name, v in em.sigmas:
            if name in fixed:
                continue
            on = f"{em.kind} residual SD"
            rows.append(_sd_prior(name, "residual", factor * v, on, f"declared value ({base} set)"))
    for eff in model.covariates:
        for name, v in eff.coefficients.items():
            if name in fixed:
                continue
            rows.append(
                dict(
                    parameter=name,
                    role="covariate",
                    distribution="Normal",
                    loc=float(v),
                    scale=_COV_SD[base],
                    lower=-math.inf,
                    upper=math.inf,
                    on=f"shift of {_transform_label(model.thetas[eff.param].transform, eff.param)}",
                    source=f"declared value ({base} set)",
                )
            )
    cols = ["parameter", "role", "distribution", "loc", "scale", "lower", "upper", "on", "source"]
    out = pd.DataFrame(rows, columns=cols)
    out.attrs["priors"] = set_name
    return out


def _prior_interval(prior: Mapping[str, Any], level: float) -> tuple[float, float]:
    """Equal-tailed ``level`` interval of one row of :func:`population_priors`, exactly.

    Parameters
    ----------
    prior : mapping
        A row of :func:`population_priors` (``distribution, loc, scale, lower, upper``).
    level : float
        Probability of the interval, in (0, 1).

    Returns
    -------
    (float, float)
        Lower and upper quantile on the prior's own scale (its ``on`` column).
    """
    from scipy import stats

    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    dist, loc, scale = str(prior["distribution"]), float(prior["loc"]), float(prior["scale"])
    if dist == "Normal":
        frozen = stats.norm(loc=loc, scale=scale)
    elif dist == "TruncatedNormal":
        a = (float(prior["lower"]) - loc) / scale  # +-inf where a side is open
        b = (float(prior["upper"]) - loc) / scale
        frozen = stats.truncnorm(a, b, loc=loc, scale=scale)
    elif dist == "HalfNormal":
        frozen = stats.halfnorm(loc=0.0, scale=scale)
    else:  # pragma: no cover - population_priors writes only the three above
        raise ValueError(f"no quantiles for prior distribution {dist!r}")
    return float(frozen.ppf(lo_q)), float(frozen.ppf(hi_q))
