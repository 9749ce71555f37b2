"""Study specifications (TOML): read, validate in full, then report every problem once.

An SSE specification (``fits/long/stein2019_sse_seed.toml``)::

    model = "stein2019"
    days = [7, 14, 21, 28, 60, 90]
    n_subjects = 20
    n_replicates = 100
    seed = 20261125
    lloq = 50.0              # optional
    dose = 1e8               # optional, CAR+ cells

    [estimator]              # optional; these are the defaults
    kind = "individual_fits"
    summary = "median"       # "median": typical values; "individual": per subject
    blq = "m3"

``kind = "import"`` with ``target = "module:attribute"`` plugs in any picklable
estimator (a function or instance ``estimator(dataset, model) -> DataFrame``) importable
here and on every Dask worker.

A top-level ``kind`` chooses what an SSE studies: ``"parameters"`` (the default: the
model's parameters, as above) or ``"er_chain"``, the exposure-response chain
(:func:`cartpk.batch.er_chain_sse`; ``fits/long/er_chain_sse.toml``)::

    kind = "er_chain"
    model = "stein2019_smooth"
    days = [7, 14, 21, 28, 60, 90]
    n_subjects = 150
    n_replicates = 100
    seed = 20261201
    lloq = 120.0             # optional, as dose
    level = 0.95             # optional: confidence level of the E-R intervals

    [truth]                  # optional: typical values of the simulation (natural scale)
    cmax = 24000.0
    iiv_sd = { cmax = 0.81, alpha = 0.5 }   # log-scale SDs; thetas not listed: no IIV

    [fit]                    # optional: cartpk.batch.ChainFit fields, plus
    iiv = ["cmax", "alpha"]  # random effects of the fitted declaration (default: iiv_sd's)
    initial = { tmax = 14.0 }               # its typical values (default: the catalogue's)
    chains = 2

    [outcomes]               # optional: cartpk.batch.EROutcomes fields (the true slopes)
    crs_slope = 1.0

Such a spec loads with ``kind="sse"`` and comes back as a :class:`StudySpec` of kind
``"er_chain"``; it has no ``[estimator]``.

A bootstrap specification names ``data`` (a CSV path, relative to the spec file, or
``example:trial.csv`` for a bundled file) and ``n_bootstrap`` instead of the design keys.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cartpk.errors import Violation
from cartpk.spec import COMMON, Field, SpecText, check_fields, key_line, raise_problems, read_toml

__all__ = ["ESTIMATORS", "KEYS", "StudySpec", "estimator_from_spec", "load_spec"]

# estimator kind -> "module:attribute"; options are the dataclass fields of the class
ESTIMATORS: dict[str, str] = {
    "individual_fits": "cartpk.batch._estimators:IndividualFitEstimator",
    "saem": "cartpk.batch._saem_estimator:SaemEstimator",
}

_POSITIVE = {"low": 0, "low_open": True}
_DESIGN: dict[str, Field] = {
    "model": COMMON["model"].replace(required=True),
    "days": Field("list[number]", "sampling days, e.g. [7, 14]", required=True, **_POSITIVE),
    "n_subjects": Field("int", "subjects per replicate", required=True, low=1),
    "n_replicates": Field("int", "replicate trials", required=True, low=1),
    "seed": COMMON["seed"].replace(required=True),
    "lloq": Field("number", "LLOQ of the simulated samples", **_POSITIVE),
    "dose": Field("number", "dose, CAR+ cells", **_POSITIVE),
    "name": COMMON["name"],
    "description": COMMON["description"],
}
#: spec kind -> its top-level keys and their rules (:class:`cartpk.spec.Field`)
KEYS: dict[str, dict[str, Field]] = {
    "sse": {
        "kind": Field("str", "what the SSE studies: 'parameters' or 'er_chain'"),
        **_DESIGN,
        "estimator": Field("table", "[estimator] kind and options"),
    },
    "er_chain": {
        "kind": Field("str", "'er_chain'", required=True),
        **_DESIGN,
        "level": COMMON["level"],
        "truth": Field("table", "[truth] of the simulation"),
        "fit": Field("table", "[fit] of each replicate's population fit"),
        "outcomes": Field("table", "[outcomes]: the true slopes"),
    },
    "bootstrap": {
        "model": COMMON["model"].replace(required=True),
        "data": COMMON["data"].replace(required=True),
        "seed": COMMON["seed"].replace(required=True),
        "n_bootstrap": Field("int", "bootstrap samples", low=2),
        "level": COMMON["level"],
        "name": COMMON["name"],
        "description": COMMON["description"],
        "estimator": Field("table", "[estimator] kind and options"),
    },
}


def _estimator_rules() -> dict[str, Field]:
    """Rules of the ``individual_fits`` options: those of ``cartpk fit``'s individual method."""
    from cartpk.fit._spec import INDIVIDUAL_OPTIONS as IND

    return {
        "kind": Field("str", "estimator kind"),
        "summary": Field("str", "what is summarised", choices=("median", "individual")),
        "blq": IND["blq"],
        "prior": IND["prior"],
        "sigma": IND["sigma"],
        "n_starts": IND["n_starts"],
        "level": COMMON["level"],
        "ci": IND["interval"],  # fit_individual's `interval`, under the estimator's name
        "parameters": Field("list[str]", "parameters reported"),
    }


@dataclass(frozen=True)
class StudySpec:
    """A validated study specification.

    Attributes
    ----------
    kind : {"sse", "er_chain", "bootstrap"}
        ``"er_chain"``: an SSE spec with ``kind = "er_chain"``.
    values : dict
        The top-level keys as read (``estimator`` excluded; an ``er_chain`` spec's
        ``truth``, ``fit`` and ``outcomes`` tables included).
    estimator : dict
        ``kind`` and the estimator's options.
    path : Path or None
        The TOML file, if read from one.
    """

    kind: str
    values: dict[str, Any]
    estimator: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def model(self) -> str:
        """Catalogue name of the model."""
        return str(self.values["model"])

    @property
    def data(self) -> str | None:
        """Data path (resolved against the spec's folder), ``None`` for an SSE."""
        raw = self.values.get("data")
        if raw is None:
            return None
        if raw.startswith("example:"):
            from cartpk.examples import path as example_path

            return str(example_path(raw.split(":", 1)[1]))
        p = Path(raw)
        if not p.is_absolute() and self.path is not None:
            p = self.path.parent / p
        return str(p)

    def as_dict(self) -> dict[str, Any]:
        """The specification as one mapping (what the manifest records)."""
        return {**self.values, "estimator": dict(self.estimator)}


def _line(text: str, key: str, table: str | None = None) -> int | None:
    """1-based line of ``key`` (inside ``[table]`` when given) in TOML ``text``."""
    return key_line(text, f"{table}.{key}" if table else key)


def load_spec(source: str | os.PathLike[str] | Mapping[str, Any], *, kind: str) -> StudySpec:
    """Read and validate a study specification.

    Parameters
    ----------
    source : path or mapping
        A TOML file or its parsed content.
    kind : {"sse", "bootstrap"}
        What the specification is for. An SSE spec with ``kind = "er_chain"`` is checked
        as one (its ``[truth]``, ``[fit]`` and ``[outcomes]`` tables included).

    Returns
    -------
    StudySpec
        Of kind ``"er_chain"`` for an E-R chain SSE.

    Raises
    ------
    SpecError
        Every problem at once: ``spec_unreadable``, ``spec_unknown_key`` (with its line and
        the valid keys), ``spec_missing_key``, ``spec_type``, ``spec_value``,
        ``unknown_model``, ``unknown_estimator``, ``estimator_option``,
        ``estimator_import``; for ``er_chain``: ``truth_option``, ``fit_option``,
        ``outcomes_option``.
    FileNotFoundError
        ``source`` is a path that does not exist.
    """
    if isinstance(source, Mapping):
        read = SpecText(raw=dict(source))
    else:
        read = read_toml(source)
    raw, text, path, where = read.raw, read.text, read.path, read.name

    def at(key: str, table: str | None = None) -> str:
        n = _line(text, key, table) if text else None
        return f"{where}, line {n}: {text.splitlines()[n - 1].strip()}" if n else where

    problems: list[Violation] = []
    if kind == "sse" and "kind" in raw:
        study = raw["kind"]
        if study == "er_chain":
            kind = "er_chain"
        elif isinstance(study, str) and study != "parameters":
            problems.append(
                Violation(
                    "spec_value",
                    "unknown SSE `kind`",
                    value=at("kind"),
                    expected="one of er_chain, parameters",
                    fix='write kind = "er_chain", or leave `kind` out for a parameter SSE',
                )
            )
    keys = KEYS[kind]
    problems += check_fields(raw, keys)
    values = {k: v for k, v in raw.items() if k in keys and k != "estimator"}
    days = values.get("days")
    if isinstance(days, list) and not days:
        problems.append(
            Violation(
                "spec_value",
                "`days` must be a non-empty list of positive days",
                column="days",
                value=repr(days),
                fix="e.g. days = [7, 14]",
            )
        )
    elif isinstance(days, list) and len(set(map(repr, days))) != len(days):
        problems.append(
            Violation(
                "spec_value",
                "`days` has repeated days",
                column="days",
                value=repr(days),
                fix="list each sampling day once",
            )
        )
    if isinstance(values.get("model"), str):
        from cartpk.model import list_models

        names = list_models()["name"].tolist()
        if values["model"] not in names:
            problems.append(
                Violation(
                    "unknown_model",
                    f"there is no model `{values['model']}` in the catalogue",
                    column="model",
                    value=repr(values["model"]),
                    expected=f"one of {', '.join(names)}",
                    fix="run `cartpk models` to list the catalogue",
                )
            )
    est = dict(raw.get("estimator", {})) if isinstance(raw.get("estimator"), dict) else {}
    if kind != "er_chain":
        est.setdefault("kind", "individual_fits")
    if kind == "er_chain":
        # no estimator: the chain is fixed; its tables are checked against the model
        if not any(p.code == "unknown_model" for p in problems):
            problems.extend(_check_er_chain(values, at))
    elif not isinstance(est["kind"], str):
        problems += check_fields({"kind": est["kind"]}, _estimator_rules(), prefix="estimator")
    elif est["kind"] == "import":
        problems.extend(_check_import(est, at))
    elif est["kind"] not in ESTIMATORS:
        problems.append(
            Violation(
                "unknown_estimator",
                f"unknown estimator `{est['kind']}`",
                value=at("kind", "estimator"),
                expected=f"one of {', '.join(sorted([*ESTIMATORS, 'import']))}",
                fix="choose a known estimator kind",
            )
        )
    else:
        problems.extend(_check_options(est, at))
    raise_problems(problems, read)
    return StudySpec(kind=kind, values=values, estimator=est, path=path)


def _check_er_chain(values: dict[str, Any], at: Any) -> list[Violation]:
    """The ``[truth]``, ``[fit]`` and ``[outcomes]`` tables, each problem with its line."""
    from cartpk.batch._er_chain_spec import check_er_chain_tables

    tables = {k: values[k] for k in ("truth", "fit", "outcomes") if isinstance(values.get(k), dict)}
    found = check_er_chain_tables({**tables, "model": values.get("model")})
    out = []
    for v in found:
        table = v.code.removesuffix("_option")
        where = at(v.column, table) if v.column else at(table)
        shown = where if ", line " in where or not v.value else f"{where}: {v.value}"
        out.append(dataclasses.replace(v, value=shown))
    return out


_EST_CODES = {
    "unknown": "estimator_option",
    "type": "estimator_option",
    "value": "estimator_option",
}


def _check_options(est: dict[str, Any], at: Any) -> list[Violation]:
    cls = _estimator_class(est["kind"])
    fields = {f.name for f in dataclasses.fields(cls)}
    problems = [
        Violation(
            "estimator_option",
            f"`{key}` is not an option of estimator `{est['kind']}`",
            value=at(key, "estimator"),
            expected=f"one of {', '.join(sorted(fields))}",
            fix=f"remove `{key}` or correct its spelling",
        )
        for key in est
        if key != "kind" and key not in fields
    ]
    if est["kind"] == "individual_fits" and not problems:
        problems += check_fields(
            est, _estimator_rules(), prefix="estimator", codes=_EST_CODES, allowed=fields
        )
    if not problems:
        try:
            cls(**{k: v for k, v in est.items() if k != "kind"})
        except (TypeError, ValueError) as err:
            problems.append(
                Violation(
                    "estimator_option",
                    f"invalid options of estimator `{est['kind']}`: {err}",
                    value=at("estimator"),
                    fix="see the estimator's documentation",
                )
            )
    return problems


def _import_target(target: str) -> Any:
    import importlib

    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _check_import(est: dict[str, Any], at: Any) -> list[Violation]:
    problems = [
        Violation(
            "estimator_option",
            f"`{key}` is not an option of estimator `import`",
            value=at(key, "estimator"),
            expected="kind, target",
            fix=f"remove `{key}`",
        )
        for key in est
        if key not in ("kind", "target")
    ]
    target = est.get("target")
    if not isinstance(target, str) or not re.fullmatch(r"[\w.]+:[\w.]+", target):
        problems.append(
            Violation(
                "estimator_option",
                'estimator `import` needs `target = "module:attribute"`',
                value=at("target", "estimator") + f": {target!r}",
                fix='e.g. target = "mypackage.estimators:my_estimator"',
            )
        )
        return problems
    expected = fix = ""
    try:
        obj = _import_target(target)
    except (ImportError, AttributeError) as err:
        message = f"cannot import `{target}`: {err}"
        fix = "check the module is importable here and on every Dask worker"
    else:
        if callable(obj):
            return problems
        message = f"`{target}` is not callable"
        expected = "estimator(dataset, model) -> DataFrame"
    where = at("target", "estimator")
    problems.append(Violation("estimator_import", message, value=where, expected=expected, fix=fix))
    return problems


def _estimator_class(kind: str) -> type:
    import importlib

    module, attr = ESTIMATORS[kind].split(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def estimator_from_spec(spec: StudySpec) -> Any:
    """Build the estimator a validated specification names."""
    if spec.estimator["kind"] == "import":
        return _import_target(spec.estimator["target"])
    opts = {k: v for k, v in spec.estimator.items() if k != "kind"}
    return _estimator_class(spec.estimator["kind"])(**opts)
