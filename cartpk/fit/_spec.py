"""Fit specifications (``fits/*.toml`` with ``method``): the keys, their rules, one reader.

``cartpk fit`` and the default runner of :func:`cartpk.fit_many` both read a fit
specification here, so a key means the same in both::

    model  = "stein2019"            # catalogue name (`cartpk models`)
    data   = "example:trial.csv"    # CSV path relative to the spec file, or a bundled file
    method = "individual"           # a key of METHOD_OPTIONS
    seed   = 20261125               # integer >= 0
    blq    = "m3"                   # options of the method: top level or [options], not both
    level  = 0.95                   # (renamed keys, e.g. ci_level, still work: RENAMED)
    fix    = ["phi"]                # parameters held fixed at their (ini) values
    [ini]                           # initial / typical values by parameter name
    cmax = 600.0

The rules are data (:class:`cartpk.spec.Field`): :data:`TOP_KEYS`,
:data:`INDIVIDUAL_OPTIONS` and :data:`POPULATION_OPTIONS`. An option under its deprecated
name (``ci_level``, ``ci``, ``n_jobs``; :data:`cartpk.fit._options.RENAMED`) works as its
new one, with a ``FutureWarning``; written with its new name too it is a problem.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cartpk.errors import Violation
from cartpk.fit._likelihood import BLQ_METHODS
from cartpk.fit._options import RENAMED, renamed
from cartpk.spec import COMMON, Field, SpecText, check_fields, raise_problems, read_toml

__all__ = [
    "INDIVIDUAL_OPTIONS",
    "METHOD_OPTIONS",
    "OPTION_CODES",
    "POPULATION_OPTIONS",
    "TOP_KEYS",
    "FitSpec",
    "parse_fit_spec",
    "read_fit_spec",
]

#: codes of option problems (historical: every option problem is ``spec_option_value``)
OPTION_CODES = {"type": "spec_option_value", "value": "spec_option_value"}

_BLQ = Field("str", "censoring method of BLQ records", choices=tuple(BLQ_METHODS), default="m3")
_ENGINE = Field("str", "ODE engine", choices=("jax", "scipy"))
_SOLVER = Field("str", "ODE solver instead of the declaration's, e.g. 'Tsit5'")

#: options of ``method = "individual"`` (:func:`cartpk.fit_individual`)
INDIVIDUAL_OPTIONS: dict[str, Field] = {
    "dvid": COMMON["dvid"],
    "blq": _BLQ,
    "prior": Field("str", "MAP prior", choices=("none", "population"), default="none"),
    "sigma": Field("str", "residual error", choices=("fixed", "estimate"), default="fixed"),
    # left out: 8 for stacked closed-form fits, 4 per subject (see fit_individual)
    "n_starts": Field("int", "starts of each subject's optimisation", low=1),
    "workers": COMMON["workers"],
    "level": COMMON["level"],
    "bounds": Field("table[bounds]", "natural-scale [lower, upper] by parameter name"),
    "interval": Field(
        "str", "interval method", choices=("auto", "wald", "profile"), default="auto"
    ),
    "gradient": Field("str", "gradient", choices=("auto", "exact", "fd"), default="auto"),
    "ode_engine": _ENGINE,
    "ode_method": _SOLVER,
}

#: options of ``method = "population"`` / ``"bayes"`` (:func:`cartpk.fit_population`)
POPULATION_OPTIONS: dict[str, Field] = {
    "dvid": COMMON["dvid"],
    "drop_iiv": Field("list[str]", "parameters whose random effect is removed"),
    "blq": _BLQ,
    # "weak", "literature" or a set the model declares (checked against the model);
    # left out: the model's default_priors
    "priors": Field("str", "prior set: 'weak', 'literature' or one the model declares"),
    "sampler": Field("str", "sampler", choices=("nutpie", "pymc"), default="nutpie"),
    "draws": COMMON["draws"],
    "tune": COMMON["tune"],
    "chains": COMMON["chains"],
    "target_accept": COMMON["target_accept"],
    "init": Field("str", "chain starts", choices=("ebe", "jitter", "declared"), default="ebe"),
    "extend": Field("int", "extra rounds of chains when a threshold is missed", low=0, default=2),
    "resample": Field(
        "bool", "resample unmixed subjects' random effects given each draw", default=True
    ),
    "ode_method": _SOLVER,
    "ode_engine": _ENGINE,
    "mass_matrix": Field("str", "nutpie mass matrix", choices=("diag", "low_rank"), default="diag"),
    "centered": Field("list[str]", "random effects sampled centred"),
    "vpc_replicates": Field("int", "simulated replicates of the VPC", low=1, default=200),
    "rhat_max": Field("number", "largest R-hat that passes", low=1, default=1.01),
    "ess_bulk_min": Field("number", "smallest bulk ESS that passes", low=0, default=400.0),
    "ess_tail_min": Field("number", "smallest tail ESS that passes", low=0, default=400.0),
    "divergences_max": Field("int", "most divergences that pass", low=0, default=0),
    "bfmi_min": Field("number", "smallest BFMI that passes", low=0, default=0.3),
}

#: options of ``method = "saem"`` (:func:`cartpk.fit.saem.fit_saem`)
SAEM_OPTIONS: dict[str, Field] = {
    "dvid": COMMON["dvid"],
    "drop_iiv": POPULATION_OPTIONS["drop_iiv"],
    "blq": Field("str", "censoring method of BLQ records", choices=("m3", "m1"), default="m3"),
    "explore": Field("int", "SAEM iterations with step 1 (K1)", low=1, default=300),
    "smooth": Field("int", "SAEM iterations with step 1/k (K2)", low=4, default=200),
    "chains": Field("int", "E-step chains per subject (default: 50 subject-chains)", low=1),
    "is_samples": Field("int", "importance samples per subject for -2LL", low=10, default=2000),
    "fim_samples": Field("int", "importance samples per subject for the FIM", low=10, default=500),
    "level": COMMON["level"],
    "vpc_replicates": POPULATION_OPTIONS["vpc_replicates"],
    "profile": Field("list[str]", "typical values without IIV given profile-likelihood intervals"),
}

#: fit method -> its options
METHOD_OPTIONS: dict[str, dict[str, Field]] = {
    "individual": INDIVIDUAL_OPTIONS,
    "population": POPULATION_OPTIONS,
    "bayes": POPULATION_OPTIONS,  # the name for the same method
    "saem": SAEM_OPTIONS,
}

#: top-level keys of a fit specification (besides the method's options)
TOP_KEYS: dict[str, Field] = {
    "model": COMMON["model"].replace(required=True),
    "data": COMMON["data"].replace(required=True),
    "method": Field("str", "fit method", choices=tuple(METHOD_OPTIONS), default="individual"),
    "seed": COMMON["seed"],
    "options": Field("table", "the method's options, instead of the top level"),
    "name": COMMON["name"],
    "description": COMMON["description"],
    "ini": Field("table[number]", "initial / typical values by parameter name"),
    "fix": Field("list[str]", "parameters held fixed at their (ini) values"),
}


@dataclass(frozen=True)
class FitSpec:
    """A validated fit specification."""

    raw: dict[str, Any]
    model: str
    data: Path
    method: str
    seed: int | None
    options: dict[str, Any]
    ini: dict[str, float] = field(default_factory=dict)
    fix: tuple[str, ...] = ()


def _resolve_data(value: str, base: Path) -> Path:
    if value.startswith("example:"):
        from cartpk.examples import path as example_path

        return example_path(value.split(":", 1)[1])
    p = Path(value)
    return p if p.is_absolute() else base / p


def _model_checks(
    raw: Mapping[str, Any], ini: dict[str, Any], options: Mapping[str, Any]
) -> list[Violation]:
    """The model loads; ``ini``, ``fix`` and ``bounds`` name its parameters."""
    from cartpk.errors import ModelError
    from cartpk.model import list_models, load_model

    try:
        loaded = load_model(raw["model"])
    except ModelError as err:
        names = ", ".join(list_models()["name"].astype(str)) if err.code == "unknown_model" else ""
        return [
            Violation(
                "unknown_model" if err.code == "unknown_model" else err.code,
                f"`model` {raw['model']!r} cannot be loaded",
                column="model",
                value=repr(raw["model"]),
                expected=f"one of {names}" if names else err.summary,
                fix="run `cartpk models` to list the catalogue",
            )
        ]
    problems = []
    params = [str(n) for n in loaded.parameters["name"]]
    for k in ini:
        if k not in params:
            problems.append(
                Violation(
                    "spec_ini",
                    f"`ini.{k}` is not a parameter of model `{raw['model']}`",
                    column=f"ini.{k}",
                    value=repr(k),
                    expected="names among " + ", ".join(params),
                    fix="correct the name (`cartpk models` lists each model's parameters)",
                )
            )
    if ini and all(k in params for k in ini):
        try:
            loaded.with_ini(**{k: float(v) for k, v in ini.items()})
        except ModelError as err:
            problems.append(
                Violation(
                    "spec_ini",
                    "`ini` holds a name the model does not have or an invalid value",
                    column="ini",
                    value=", ".join(f"{k} = {v}" for k, v in ini.items()),
                    expected="names among " + ", ".join(params),
                    fix=err.summary,
                )
            )
    priors = options.get("priors")
    from cartpk.fit.population import prior_set_names

    known = prior_set_names(loaded)
    if isinstance(priors, str) and priors not in known:
        problems.append(
            _not_a_choice(
                "spec_option_value",
                f"`priors` names no prior set of model `{raw['model']}`",
                "priors",
                priors,
                known,
                fix=f"correct the name, or leave `priors` out for the model's default "
                f"({loaded.default_priors!r})",
            )
        )
    named = (
        ("fix", "spec_fix", raw.get("fix", []) if isinstance(raw.get("fix"), list) else []),
        ("bounds", "spec_option_value", list(options.get("bounds") or {})),
    )
    for key, code, names in named:
        unknown = [str(n) for n in names if n not in params]
        if unknown:
            problems.append(
                Violation(
                    code,
                    f"`{key}` names parameters the model does not have",
                    column=key,
                    value=", ".join(unknown),
                    expected="names among " + ", ".join(params),
                    fix="correct the names (`cartpk models` lists each model's parameters)",
                )
            )
    return problems


def _not_a_choice(
    code: str, message: str, key: str, value: str, choices: Iterable[str], *, fix: str
) -> Violation:
    """The problem of ``key = value`` where ``value`` is none of ``choices``."""
    return Violation(
        code,
        message,
        column=key,
        value=repr(value),
        expected="one of " + ", ".join(map(repr, choices)),
        fix=fix,
    )


def _method_options(
    raw: Mapping[str, Any], rules: Mapping[str, Field], renames: Mapping[str, str], source: str
) -> tuple[dict[str, Any], list[Violation]]:
    """The method's options (top level and ``[options]``) under their new names, and their
    problems; a key under its deprecated name is checked as written, then renamed (one
    ``FutureWarning``)."""
    aliases = {old: rules[new] for old, new in renames.items() if new in rules}
    nested = raw.get("options", {})
    nested = nested if isinstance(nested, dict) else {}
    top_opts = {k: v for k, v in raw.items() if k in rules or k in aliases}
    problems: list[Violation] = []
    for table, prefix in ((top_opts, ""), (nested, "options")):
        current = {k: v for k, v in table.items() if k not in aliases}
        old = {k: v for k, v in table.items() if k in aliases}
        problems += check_fields(current, rules, prefix=prefix, codes=OPTION_CODES)
        problems += check_fields(old, aliases, prefix=prefix, codes=OPTION_CODES)
    top_opts, found = renamed(top_opts, renames, source=source, stacklevel=3)
    problems += found
    nested, found = renamed(nested, renames, where="options", source=source, stacklevel=3)
    problems += found
    for key in sorted(set(top_opts) & set(nested)):
        problems.append(
            Violation(
                "spec_duplicate_key",
                f"`{key}` is given both at the top level and in [options]",
                column=key,
                fix="keep one",
            )
        )
    return {**top_opts, **{k: v for k, v in nested.items() if k in rules}}, problems


def parse_fit_spec(
    raw: Mapping[str, Any],
    *,
    base: str | os.PathLike[str] = ".",
    text: SpecText | None = None,
    method: str | None = None,
) -> FitSpec:
    """Validate a fit specification mapping; raise one ``SpecError`` listing every problem.

    Parameters
    ----------
    raw : mapping
        The specification as parsed from TOML.
    base : path, optional
        Folder that a relative ``data`` path is relative to.
    text : SpecText, optional
        The file read, to name each problem's line.
    method : str, optional
        Only this method may run (the specification's ``method`` must be it, default
        ``"individual"``), e.g. ``"individual"`` for :func:`cartpk.fit_many`.

    Returns
    -------
    FitSpec

    Raises
    ------
    SpecError
        ``spec_unknown_key``, ``spec_missing_key``, ``spec_type``, ``spec_value``,
        ``unknown_method``, ``spec_method``, ``spec_option_value``, ``spec_duplicate_key``,
        ``spec_ini``, ``spec_fix``, ``unknown_model``, ``spec_data_missing``,
        ``option_renamed`` (an option under its deprecated and its new name); no data
        are read.

    Warns
    -----
    FutureWarning
        For each option under its deprecated name (:data:`cartpk.fit._options.RENAMED`),
        which works as the new one.
    """
    raw = dict(raw)
    problems: list[Violation] = []
    chosen = raw.get("method", "individual")
    renames = RENAMED.get(method or chosen, {}) if isinstance(chosen, str) else {}
    rules = METHOD_OPTIONS.get(chosen, {}) if isinstance(chosen, str) else {}
    if method is not None:
        rules = METHOD_OPTIONS[method]
        if chosen != method:
            problems.append(
                Violation(
                    "spec_method",
                    f"`method = {chosen!r}` cannot run here",
                    column="method",
                    value=repr(chosen),
                    expected=f"method = {method!r}",
                    fix="pass `runner=` to `fit_many` for other kinds of fits",
                )
            )
    elif isinstance(chosen, str) and chosen not in METHOD_OPTIONS:
        problems.append(
            _not_a_choice(
                "unknown_method",
                f"`method` {chosen!r} is not a fit method",
                "method",
                chosen,
                METHOD_OPTIONS,
                fix="set `method` to a valid choice",
            )
        )
    top_rules = {**TOP_KEYS, "method": TOP_KEYS["method"].replace(choices=())}
    top = {k: v for k, v in raw.items() if k not in rules and k not in renames}
    problems += check_fields(top, top_rules, allowed=rules)
    options, found = _method_options(
        raw, rules, renames, f" ({text.name})" if text is not None else ""
    )
    problems += found

    def valid(key: str, value: Any, table: Mapping[str, Field]) -> bool:
        return key in table and not check_fields({key: value}, {key: table[key]})

    ini = raw.get("ini", {}) if valid("ini", raw.get("ini", {}), TOP_KEYS) else {}
    fix = raw.get("fix", []) if valid("fix", raw.get("fix", []), TOP_KEYS) else []
    bounds = options.get("bounds", {})
    if isinstance(raw.get("model"), str):
        problems += _model_checks(
            {**raw, "fix": fix},
            dict(ini),
            {
                **({"bounds": bounds} if valid("bounds", bounds, rules) else {}),
                **(
                    {"priors": options["priors"]}
                    if valid("priors", options.get("priors"), rules)
                    else {}
                ),
            },
        )
    data = None
    if isinstance(raw.get("data"), str):
        try:
            data = _resolve_data(raw["data"], Path(base))
            if not data.is_file():
                raise FileNotFoundError(str(data))
        except FileNotFoundError as err:
            problems.append(
                Violation(
                    "spec_data_missing",
                    "`data` names no readable file",
                    column="data",
                    value=repr(raw["data"]),
                    expected="a CSV path relative to the spec file, or 'example:trial.csv'",
                    fix=f"check the path ({err})",
                )
            )
    raise_problems(problems, text)
    assert data is not None and isinstance(chosen, str)
    return FitSpec(
        raw=raw,
        model=str(raw["model"]),
        data=data,
        method=chosen,
        seed=raw.get("seed"),
        options=options,
        ini={k: float(v) for k, v in raw.get("ini", {}).items()},
        fix=tuple(raw.get("fix", ())),
    )


def read_fit_spec(path: str | os.PathLike[str], *, method: str | None = None) -> FitSpec:
    """Read and validate a fit specification file (see :func:`parse_fit_spec`).

    Raises
    ------
    SpecError
        ``spec_encoding``, ``spec_unreadable`` or any problem of :func:`parse_fit_spec`,
        each naming its key, line and the raw text there.
    """
    spec = read_toml(path)
    assert spec.path is not None
    return parse_fit_spec(spec.raw, base=spec.path.resolve().parent, text=spec, method=method)
