"""E-R specifications (TOML): validated in full before anything runs, then run.

A specification names its input, either a prepared per-subject table or the trial data
from which :func:`cartpk.er_subjects` derives one, and a list of analyses::

    title = "Exposure-response, simulated example trial"
    data = "example:trial.csv"          # or: subjects = "subjects.csv"
    lesions = "example:lesions.csv"
    log = "ln"                          # exposure enters as natural log ("log10" possible)
    level = 0.95
    fit = "runs/population"             # optional: model-based exposure from this fit

With ``fit`` (the run folder of a population fit, ``cartpk fit`` with ``method = "bayes"``,
a path relative to the specification) the exposure columns of the subject table are the
model's (:func:`cartpk.exposure.calibrated_exposure`: each subject's posterior mean of the
log exposure), NCA's are kept as ``<column>_nca`` and, on the data route, every analysis is
also fitted on NCA's exposure for comparison (``exposure_source`` says which).

    [[analysis]]
    endpoint = "crs_grade"
    model = "ordinal"
    exposure = "cmax"
    covariates = ["SLD0"]

    [[analysis]]
    endpoint = "il6_cmax"
    model = "emax"
    exposure = "cmax"
    residual = "log"                    # default: log-normal residuals ("natural": additive)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cartpk.er._design import LOG_BASES, MODELS
from cartpk.er._emax import RESIDUALS
from cartpk.errors import SpecError, Violation
from cartpk.spec import COMMON, check_value, locate, read_toml

__all__ = [
    "ANALYSIS_KEYS",
    "REMOVED_KEYS",
    "SPEC_KEYS",
    "ERAnalysis",
    "ERSpec",
    "check_columns",
    "parse_er_spec",
    "read_er_spec",
]

#: top-level keys of an E-R specification and what they hold
SPEC_KEYS: dict[str, str] = {
    "title": "free text",
    "seed": "integer recorded in the manifest (the fits are deterministic)",
    "subjects": "per-subject CSV (ID, exposure, endpoints, covariates)",
    "data": "long trial CSV ('example:trial.csv' for the bundled one)",
    "lesions": "RECIST lesion CSV for the data route ('example:lesions.csv')",
    "fit": "run folder of a population fit (method = 'bayes'): model-based exposure",
    "landmark": "data route: PFS landmark in days (subjects with an event before it excluded)",
    "log": "'ln' (natural log, default) or 'log10' exposure",
    "level": "confidence level, default 0.95",
    "dvid": "data route: DVID whose NCA gives the exposure (default 'QPCR')",
    "interval": "data route: AUC interval in days, default [0, 28]",
    "cytokines": "data route: cytokine DVIDs, default ['IL6', 'IFNG']",
    "min_sd_days": "data route: RECIST minimum SD duration (default 42)",
    "confirm_days": "data route: RECIST confirmation interval (default 28)",
    "analysis": "list of [[analysis]] tables",
}
#: keys that earlier versions accepted, and why they are gone
REMOVED_KEYS: dict[str, str] = {
    "draws": (
        "refitting once per posterior draw of exposure and pooling (Rubin's rules) "
        "attenuates the slopes (each draw is the true exposure plus independent noise); "
        "give `fit = '<population fit run folder>'` instead: the subjects' posterior mean "
        "log exposure (regression calibration, docs/er_exposure.md)"
    ),
}
#: keys of one [[analysis]] table
ANALYSIS_KEYS: dict[str, str] = {
    "endpoint": "outcome column (required)",
    "model": "one of " + ", ".join(MODELS) + " (required)",
    "exposure": "exposure column, or a list of them (required)",
    "covariates": "list of adjustment columns",
    "event": "cox: event indicator column (1 event, 0 censored)",
    "threshold": "logistic: outcome = endpoint >= threshold",
    "hill": "emax: estimate a Hill coefficient (true/false)",
    "residual": "emax: 'log' (log-normal residuals, fit on ln endpoint; default) or 'natural'",
    "log": "override the top-level log base",
}


@dataclass(frozen=True)
class ERAnalysis:
    """One analysis of a specification (one exposure)."""

    endpoint: str
    model: str
    exposure: str
    covariates: tuple[str, ...] = ()
    event: str | None = None
    threshold: float | None = None
    hill: bool = False
    log: str = "ln"
    key: str = "analysis[1]"
    residual: str = "log"

    @property
    def label(self) -> str:
        """File-name label, unique per analysis: ``<endpoint>_<exposure>_<model>``, then
        ``_ge<threshold>``, ``_adj_<covariates>``, ``_hill``, ``_log10`` and ``_natural`` (an
        Emax fit on the natural scale) where they apply."""
        parts = [self.endpoint, self.exposure, self.model]
        if self.threshold is not None:
            parts.append(f"ge{self.threshold:g}")
        if self.covariates:
            parts.append("adj_" + "_".join(self.covariates))
        if self.hill:
            parts.append("hill")
        if self.log != "ln":
            parts.append(self.log)
        if self.model == "emax" and self.residual != "log":
            parts.append(self.residual)
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", "_".join(parts))


@dataclass(frozen=True)
class ERSpec:
    """A validated E-R specification; paths are resolved."""

    analyses: tuple[ERAnalysis, ...]
    subjects: Path | None = None
    data: Path | None = None
    lesions: Path | None = None
    fit: Path | None = None
    level: float = 0.95
    seed: int | None = None
    title: str = ""
    dvid: str = "QPCR"
    interval: tuple[float, float] = (0.0, 28.0)
    cytokines: tuple[str, ...] = ("IL6", "IFNG")
    min_sd_days: float = 42.0
    confirm_days: float = 28.0
    landmark: float | None = None
    source: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def inputs(self) -> list[Path]:
        """Input files (for the manifest's SHA-256 digests); a fit adds its posterior."""
        files = [p for p in (self.subjects, self.data, self.lesions) if p]
        if self.fit is not None:
            files += [
                p for p in (self.fit / "posterior.nc", self.fit / "manifest.json") if p.is_file()
            ]
        return files


_CODES = {"type": "value_invalid", "value": "value_invalid"}


def _v(
    code: str, key: str, message: str, value: Any = None, expected: str = "", fix: str = ""
) -> Violation:
    return Violation(
        code,
        f"`{key}`: {message}",
        column=key,
        value=None if value is None else repr(value),
        expected=expected,
        fix=fix,
    )


def _resolve(value: str, base: Path, key: str, problems: list[Violation]) -> Path | None:
    if value.startswith("example:"):
        from cartpk import examples

        name = value.split(":", 1)[1]
        try:
            return examples.path(name)
        except FileNotFoundError:
            problems.append(
                _v(
                    "example_unknown",
                    key,
                    "no bundled example of that name",
                    value,
                    "one of: " + ", ".join(f"example:{f}" for f in examples.files()),
                    "use one of the listed names",
                )
            )
            return None
    p = Path(value)
    p = p if p.is_absolute() else base / p
    if not p.is_file():
        problems.append(
            _v(
                "file_not_found",
                key,
                f"no such file: {p}",
                value,
                "a CSV path relative to the specification",
                "check the path (or use 'example:trial.csv')",
            )
        )
        return None
    return p


def _str_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_er_spec(
    raw: Mapping[str, Any], *, base: str | os.PathLike[str] = ".", source: Path | None = None
) -> ERSpec:
    """Validate a specification mapping (as read from TOML); raise once with every problem.

    Raises
    ------
    SpecError
        ``key_unknown``, ``key_missing``, ``input_conflict``, ``model_unknown``,
        ``log_unknown``, ``value_invalid``, ``file_not_found``, ``example_unknown``,
        ``analysis_missing``.
    """
    base = Path(base)
    problems: list[Violation] = []
    _check_keys(raw, problems)
    paths = _input_paths(raw, base, problems)
    log, interval, cytokines = _check_options(raw, problems)
    analyses = _parse_analyses(raw.get("analysis"), log, problems)
    if problems:
        raise SpecError(
            f"the E-R specification has {len(problems)} problem(s); nothing was run", problems
        )
    return ERSpec(
        analyses=tuple(analyses),
        subjects=paths.get("subjects"),
        data=paths.get("data"),
        lesions=paths.get("lesions"),
        fit=paths.get("fit"),
        level=float(raw.get("level", 0.95)),
        seed=raw.get("seed"),
        title=str(raw.get("title", "")),
        dvid=str(raw.get("dvid", "QPCR")),
        interval=(float(interval[0]), float(interval[1])),
        cytokines=tuple(cytokines or ()),
        min_sd_days=float(raw.get("min_sd_days", 42)),
        confirm_days=float(raw.get("confirm_days", 28)),
        landmark=float(raw["landmark"]) if _number(raw.get("landmark")) else None,
        source=source,
        raw=dict(raw),
    )


def _check_keys(raw: Mapping[str, Any], problems: list[Violation]) -> None:
    """Report removed and unknown top-level keys, and not exactly one input."""
    for key in raw:
        if key in REMOVED_KEYS:
            problems.append(
                _v("key_removed", key, "is no longer supported", key, fix=REMOVED_KEYS[key])
            )
        elif key not in SPEC_KEYS:
            problems.append(
                _v(
                    "key_unknown",
                    key,
                    "unknown key",
                    key,
                    "one of: " + ", ".join(SPEC_KEYS),
                    "remove or rename the key",
                )
            )
    if ("subjects" in raw) == ("data" in raw):
        problems.append(
            _v(
                "input_conflict",
                "subjects/data",
                "give exactly one of `subjects` (prepared table) and `data`",
                expected="subjects = 'x.csv' or data = 'example:trial.csv'",
                fix="keep one input",
            )
        )


def _input_paths(
    raw: Mapping[str, Any], base: Path, problems: list[Violation]
) -> dict[str, Path | None]:
    """The resolved ``fit``, ``subjects``, ``data`` and ``lesions`` paths that are given;
    keys of the data route given with ``subjects`` reported."""
    paths: dict[str, Path | None] = {}
    if "fit" in raw:
        if not isinstance(raw["fit"], str):
            problems.append(_v("value_invalid", "fit", "must be a path string", raw["fit"]))
        else:
            paths["fit"] = _fit_dir(raw["fit"], base, problems)
    _check_landmark(raw, problems)
    for key in ("subjects", "data", "lesions"):
        if key in raw:
            if not isinstance(raw[key], str):
                problems.append(_v("value_invalid", key, "must be a path string", raw[key]))
            else:
                paths[key] = _resolve(raw[key], base, key, problems)
    if "lesions" in raw and "subjects" in raw:
        problems.append(
            _v(
                "input_conflict",
                "lesions",
                "`lesions` belongs to the data route, not to `subjects`",
                fix="derive response columns in your subject table, or use `data`",
            )
        )
    return paths


def _fit_dir(value: str, base: Path, problems: list[Violation]) -> Path:
    """The population fit's run folder (relative to ``base``); reported when it has no
    ``manifest.json``."""
    fit_dir = Path(value)
    fit_dir = fit_dir if fit_dir.is_absolute() else base / fit_dir
    if not (fit_dir / "manifest.json").is_file():
        problems.append(
            _v(
                "fit_not_found",
                "fit",
                f"no run folder of a population fit at {fit_dir}",
                value,
                "the --out folder of `cartpk fit` (method = 'bayes'), relative to "
                "the specification",
                "run the population fit first, or correct the path",
            )
        )
    return fit_dir


def _check_landmark(raw: Mapping[str, Any], problems: list[Violation]) -> None:
    """Report a ``landmark`` that is not days >= 0, or given without the lesion table."""
    if "landmark" in raw and (not _number(raw["landmark"]) or raw["landmark"] < 0):
        problems.append(
            _v("value_invalid", "landmark", "must be a number of days >= 0", raw["landmark"])
        )
    if "landmark" in raw and "data" in raw and "lesions" not in raw:
        problems.append(
            _v(
                "key_missing",
                "lesions",
                "`landmark` applies to PFS, which needs the RECIST lesion table",
                expected="lesions = 'lesions.csv'",
                fix="add `lesions`, or remove `landmark`",
            )
        )
    if "landmark" in raw and "subjects" in raw:
        problems.append(
            _v(
                "input_conflict",
                "landmark",
                "`landmark` belongs to the data route, not to `subjects`",
                fix="apply the landmark in your subject table, or use `data`",
            )
        )


def _check_options(
    raw: Mapping[str, Any], problems: list[Violation]
) -> tuple[Any, list[Any], list[str] | None]:
    """Check the top-level options; return the log base, the interval (the default when it
    is invalid) and the cytokines (None when invalid)."""
    log = raw.get("log", "ln")
    if log not in LOG_BASES:
        problems.append(
            _v(
                "log_unknown",
                "log",
                "unknown log base",
                log,
                "'ln' (natural) or 'log10'",
                "set log = 'ln'",
            )
        )
    # the keys every kind of specification shares: one rule each (cartpk.spec.COMMON)
    for key in ("level", "seed"):
        if key in raw:
            problems += check_value(key, COMMON[key], raw[key], _CODES)
    interval = raw.get("interval", [0, 28])
    if (
        not isinstance(interval, list)
        or len(interval) != 2
        or not all(_number(v) for v in interval)
        or not interval[0] < interval[1]
    ):
        problems.append(
            _v(
                "value_invalid",
                "interval",
                "must be [start, end] in days",
                interval,
                "e.g. [0, 28]",
            )
        )
        interval = [0, 28]
    cytokines = _str_list(raw.get("cytokines", ["IL6", "IFNG"]))
    if cytokines is None:
        problems.append(
            _v(
                "value_invalid",
                "cytokines",
                "must be a list of DVIDs",
                raw.get("cytokines"),
                "e.g. ['IL6', 'IFNG']",
            )
        )
    for key in ("min_sd_days", "confirm_days"):
        if key in raw and (not _number(raw[key]) or raw[key] < 0):
            problems.append(_v("value_invalid", key, "must be a number of days >= 0", raw[key]))
    for key in ("title", "dvid"):
        if key in raw and not isinstance(raw[key], str):
            problems.append(_v("value_invalid", key, "must be a string", raw[key]))
    return log, interval, cytokines


def _parse_analyses(items: Any, log: Any, problems: list[Violation]) -> list[ERAnalysis]:
    """One :class:`ERAnalysis` per exposure of each valid-looking ``[[analysis]]`` table
    (``log``: the top-level base); every problem reported."""
    if not isinstance(items, list) or not items or not all(isinstance(a, dict) for a in items):
        problems.append(
            _v(
                "analysis_missing",
                "analysis",
                "no [[analysis]] table",
                expected="at least one [[analysis]] with endpoint, model, exposure",
                fix="add [[analysis]] tables",
            )
        )
        items = []
    analyses: list[ERAnalysis] = []
    for i, a in enumerate(items, start=1):
        where = f"analysis[{i}]"
        _check_analysis_keys(a, where, problems)
        model = a.get("model")
        if "model" in a and model not in MODELS:
            problems.append(
                _v(
                    "model_unknown",
                    f"{where}.model",
                    "unknown model",
                    model,
                    "one of: " + ", ".join(MODELS),
                    "choose a listed model",
                )
            )
        alog = a.get("log", log)
        if "log" in a and alog not in LOG_BASES:
            problems.append(
                _v("log_unknown", f"{where}.log", "unknown log base", alog, "'ln' or 'log10'")
            )
        exposures, covs = _analysis_columns(a, where, problems)
        _check_model_options(a, where, model, covs, problems)
        for e in exposures:
            analyses.append(
                ERAnalysis(
                    endpoint=str(a.get("endpoint", "")),
                    model=str(model),
                    exposure=e,
                    covariates=tuple(covs),
                    event=a.get("event"),
                    threshold=float(a["threshold"]) if _number(a.get("threshold")) else None,
                    hill=bool(a.get("hill", False)),
                    log=str(alog),
                    key=where,
                    residual=str(a.get("residual", "log")),
                )
            )
    return analyses


def _check_analysis_keys(a: Mapping[str, Any], where: str, problems: list[Violation]) -> None:
    """Report unknown keys of one ``[[analysis]]`` and missing required ones."""
    for key in a:
        if key not in ANALYSIS_KEYS:
            problems.append(
                _v(
                    "key_unknown",
                    f"{where}.{key}",
                    "unknown key",
                    key,
                    "one of: " + ", ".join(ANALYSIS_KEYS),
                    "remove or rename the key",
                )
            )
    for key in ("endpoint", "model", "exposure"):
        if key not in a:
            problems.append(
                _v(
                    "key_missing",
                    f"{where}.{key}",
                    "is required",
                    expected=ANALYSIS_KEYS[key],
                    fix=f"add `{key} = ...`",
                )
            )


def _analysis_columns(
    a: Mapping[str, Any], where: str, problems: list[Violation]
) -> tuple[list[str], list[str]]:
    """The exposure and covariate columns of one ``[[analysis]]`` (empty when invalid);
    an endpoint that is not a name reported."""
    exposures = _str_list(a.get("exposure", []))
    if exposures is None or ("exposure" in a and not exposures):
        problems.append(
            _v(
                "value_invalid",
                f"{where}.exposure",
                "must be a column name or a list of them",
                a.get("exposure"),
            )
        )
        exposures = []
    covs = _str_list(a.get("covariates", []))
    if covs is None:
        problems.append(
            _v(
                "value_invalid",
                f"{where}.covariates",
                "must be a list of column names",
                a.get("covariates"),
            )
        )
        covs = []
    if not isinstance(a.get("endpoint", ""), str):
        problems.append(
            _v("value_invalid", f"{where}.endpoint", "must be a column name", a.get("endpoint"))
        )
    return exposures, covs


def _check_model_options(
    a: Mapping[str, Any], where: str, model: Any, covs: list[str], problems: list[Violation]
) -> None:
    """Report options of one ``[[analysis]]`` that its model lacks or needs."""
    if model == "cox" and "event" not in a:
        problems.append(
            _v(
                "key_missing",
                f"{where}.event",
                "a Cox model needs `event`",
                expected="the event indicator column",
                fix="add event = '...'",
            )
        )
    if "event" in a and model != "cox":
        problems.append(
            _v(
                "value_invalid",
                f"{where}.event",
                "only used by model 'cox'",
                a["event"],
                fix="remove `event`",
            )
        )
    if "event" in a and not isinstance(a["event"], str):
        problems.append(_v("value_invalid", f"{where}.event", "must be a column name", a["event"]))
    if "threshold" in a and (model != "logistic" or not _number(a["threshold"])):
        problems.append(
            _v(
                "value_invalid",
                f"{where}.threshold",
                "a number, for model 'logistic' only",
                a["threshold"],
            )
        )
    if "hill" in a and (model != "emax" or not isinstance(a["hill"], bool)):
        problems.append(
            _v("value_invalid", f"{where}.hill", "true/false, for model 'emax' only", a["hill"])
        )
    if "residual" in a and (model != "emax" or a["residual"] not in RESIDUALS):
        problems.append(
            _v(
                "value_invalid",
                f"{where}.residual",
                "'log' or 'natural', for model 'emax' only",
                a["residual"],
                "'log' (log-normal residuals, default) or 'natural' (additive)",
                "set residual = 'log', or remove it",
            )
        )
    if model == "emax" and covs:
        problems.append(
            _v(
                "value_invalid",
                f"{where}.covariates",
                "not supported by model 'emax'",
                covs,
                fix="use model 'loglinear' for an adjusted analysis",
            )
        )


def read_er_spec(path: str | os.PathLike[str]) -> ERSpec:
    """Read and validate an E-R specification (TOML); relative paths are from its folder.

    Parameters
    ----------
    path : path
        The ``.toml`` file.

    Returns
    -------
    ERSpec

    Raises
    ------
    SpecError
        ``spec_encoding`` (not UTF-8), ``spec_unreadable`` (not TOML; the parser's line is
        given) or any code of the validation (every problem listed once, with its line and
        the text written there).
    FileNotFoundError
        The specification itself does not exist.
    """
    read = read_toml(path)
    p = read.path
    assert p is not None
    try:
        return parse_er_spec(read.raw, base=p.resolve().parent, source=p)
    except SpecError as err:
        raise SpecError(err.summary, locate(err.violations, read), code=err.code) from None


def check_columns(spec: ERSpec, subjects: pd.DataFrame) -> None:
    """Check that every column an analysis names exists; raise once listing all.

    Raises
    ------
    SpecError
        ``column_unknown`` naming the analysis key and the available columns.
    """
    columns = [str(c) for c in subjects.columns]
    choices = "one of: " + ", ".join(columns)
    problems: list[Violation] = []
    for a in spec.analyses:
        named = {
            "endpoint": [a.endpoint],
            "exposure": [a.exposure],
            "covariates": list(a.covariates),
            "event": [a.event] if a.event else [],
        }
        for key, cols in named.items():
            for c in cols:
                if c not in columns:
                    problems.append(
                        _v(
                            "column_unknown",
                            f"{a.key}.{key}",
                            "no such column in the subject table",
                            c,
                            choices,
                            "use one of the listed columns",
                        )
                    )
    if "ID" not in columns:
        problems.append(
            _v(
                "column_unknown",
                "subjects",
                "the subject table has no `ID`",
                expected="an ID column",
                fix="add ID",
            )
        )
    if problems:
        # one problem per (key, value): the same missing column named once per analysis key
        unique = list({(v.column, v.value): v for v in problems}.values())
        raise SpecError(
            f"the E-R specification names {len(unique)} unknown column(s); nothing was run", unique
        )
