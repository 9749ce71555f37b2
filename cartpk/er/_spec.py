"""E-R specifications (TOML): validated in full before anything runs, then run.

A specification names its input, either a prepared per-subject table or the trial data
from which :func:`cartpk.er_subjects` derives one, and a list of analyses::

    title = "Exposure-response, simulated example trial"
    data = "example:trial.csv"          # or: subjects = "subjects.csv"
    lesions = "example:lesions.csv"
    log = "ln"                          # exposure enters as natural log ("log10" possible)
    level = 0.95
    # draws = "exposure_draws.csv"      # optional: ID, draw, cmax, ... (posterior draws)

    [[analysis]]
    endpoint = "crs_grade"
    model = "ordinal"
    exposure = "cmax"
    covariates = ["SLD0"]
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cartpk.er._design import LOG_BASES, MODELS
from cartpk.er._draws import ERDraws, er_draws
from cartpk.er._fit import ESTIMATE_COLUMNS, ERFit, fit_er
from cartpk.errors import SpecError, Violation

__all__ = [
    "ANALYSIS_KEYS",
    "SPEC_KEYS",
    "ERAnalysis",
    "ERReport",
    "ERSpec",
    "read_er_spec",
    "run_er",
]

#: top-level keys of an E-R specification and what they hold
SPEC_KEYS: dict[str, str] = {
    "title": "free text",
    "seed": "integer recorded in the manifest (the fits are deterministic)",
    "subjects": "per-subject CSV (ID, exposure, endpoints, covariates)",
    "data": "long trial CSV ('example:trial.csv' for the bundled one)",
    "lesions": "RECIST lesion CSV for the data route ('example:lesions.csv')",
    "draws": "long CSV of exposure draws: ID, draw, <exposure columns>",
    "log": "'ln' (natural log, default) or 'log10' exposure",
    "level": "confidence level, default 0.95",
    "dvid": "data route: DVID whose NCA gives the exposure (default 'QPCR')",
    "interval": "data route: AUC interval in days, default [0, 28]",
    "cytokines": "data route: cytokine DVIDs, default ['IL6', 'IFNG']",
    "min_sd_days": "data route: RECIST minimum SD duration (default 42)",
    "confirm_days": "data route: RECIST confirmation interval (default 28)",
    "analysis": "list of [[analysis]] tables",
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

    @property
    def label(self) -> str:
        """File-name friendly label: ``<endpoint>_<exposure>_<model>``."""
        return f"{self.endpoint}_{self.exposure}_{self.model}"


@dataclass(frozen=True)
class ERSpec:
    """A validated E-R specification; paths are resolved."""

    analyses: tuple[ERAnalysis, ...]
    subjects: Path | None = None
    data: Path | None = None
    lesions: Path | None = None
    draws: Path | None = None
    level: float = 0.95
    seed: int | None = None
    title: str = ""
    dvid: str = "QPCR"
    interval: tuple[float, float] = (0.0, 28.0)
    cytokines: tuple[str, ...] = ("IL6", "IFNG")
    min_sd_days: float = 42.0
    confirm_days: float = 28.0
    source: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def inputs(self) -> list[Path]:
        """Input files (for the manifest's SHA-256 digests)."""
        return [p for p in (self.subjects, self.data, self.lesions, self.draws) if p]


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
    for key in raw:
        if key not in SPEC_KEYS:
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
    paths: dict[str, Path | None] = {}
    for key in ("subjects", "data", "lesions", "draws"):
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
    level = raw.get("level", 0.95)
    if not _number(level) or not 0 < level < 1:
        problems.append(
            _v("value_invalid", "level", "must be a number in (0, 1)", level, "e.g. 0.95")
        )
    seed = raw.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        problems.append(_v("value_invalid", "seed", "must be an integer", seed))
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

    analyses: list[ERAnalysis] = []
    items = raw.get("analysis")
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
    for i, a in enumerate(items, start=1):
        where = f"analysis[{i}]"
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
            problems.append(
                _v("value_invalid", f"{where}.event", "must be a column name", a["event"])
            )
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
                )
            )
    if problems:
        raise SpecError(
            f"the E-R specification has {len(problems)} problem(s); nothing was run", problems
        )
    return ERSpec(
        analyses=tuple(analyses),
        subjects=paths.get("subjects"),
        data=paths.get("data"),
        lesions=paths.get("lesions"),
        draws=paths.get("draws"),
        level=float(level),
        seed=seed,
        title=str(raw.get("title", "")),
        dvid=str(raw.get("dvid", "QPCR")),
        interval=(float(interval[0]), float(interval[1])),
        cytokines=tuple(cytokines or ()),
        min_sd_days=float(raw.get("min_sd_days", 42)),
        confirm_days=float(raw.get("confirm_days", 28)),
        source=source,
        raw=dict(raw),
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
        ``toml_invalid`` (not TOML; the parser's line and column are given) or any code of
        the validation (every problem listed once).
    FileNotFoundError
        The specification itself does not exist.
    """
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = f"{p.name} is not valid TOML: {err}"
        raise SpecError(msg, [Violation("toml_invalid", msg, fix="fix the TOML syntax")]) from None
    try:
        return parse_er_spec(raw, base=p.resolve().parent, source=p)
    except SpecError as err:
        located = [_with_line(v, text, p.name) for v in err.violations]
        raise SpecError(err.summary, located, code=err.code) from None


def _line(text: str, key: str) -> int | None:
    """1-based line of ``key`` (``log``, ``analysis[2].model``) in the TOML text, if found."""
    lines = text.splitlines()
    headers = [n for n, ln in enumerate(lines) if ln.strip().startswith("[")]
    m = re.fullmatch(r"analysis\[(\d+)\](?:\.(\w+))?", key)
    if m is None:  # top-level key: before the first table
        stop = headers[0] if headers else len(lines)
        for n in range(stop):
            if re.match(rf"\s*{re.escape(key)}\s*=", lines[n]):
                return n + 1
        return None
    tables = [n for n in headers if lines[n].strip().startswith("[[analysis]]")]
    i = int(m.group(1)) - 1
    if i >= len(tables):
        return None
    start = tables[i]
    stop = next((n for n in headers if n > start), len(lines))
    for n in range(start + 1, stop):
        if m.group(2) and re.match(rf"\s*{re.escape(m.group(2))}\s*=", lines[n]):
            return n + 1
    return start + 1  # a missing key: point at its table


def _with_line(v: Violation, text: str, name: str) -> Violation:
    line = _line(text, v.column) if v.column else None
    if line is None:
        return v
    return dataclasses.replace(v, message=f"{v.message} ({name}, line {line})")


def check_columns(spec: ERSpec, subjects: pd.DataFrame, draws: pd.DataFrame | None = None) -> None:
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
    if draws is not None and "draw" not in draws.columns:
        problems.append(
            _v(
                "column_unknown",
                "draws",
                "the draws table has no `draw` column",
                expected="ID, draw, <exposure columns>",
                fix="add the draw index",
            )
        )
    if problems:
        # one problem per (key, value): the same missing column named once per analysis key
        unique = list({(v.column, v.value): v for v in problems}.values())
        raise SpecError(
            f"the E-R specification names {len(unique)} unknown column(s); nothing was run", unique
        )


@dataclass(frozen=True, eq=False)
class ERReport:
    """Everything :func:`run_er` produced.

    Attributes
    ----------
    estimates : DataFrame
        All fits' rows (:data:`cartpk.er.ESTIMATE_COLUMNS`), then pooled exposure-draw rows.
    fits : list of (ERAnalysis, ERFit)
    draws : list of (ERAnalysis, ERDraws)
        Empty without exposure draws.
    subjects : DataFrame
        The per-subject table analysed.
    exclusions : DataFrame
        ``endpoint, exposure, model, ID, code, reason``.
    """

    estimates: pd.DataFrame
    fits: list[tuple[ERAnalysis, ERFit]]
    draws: list[tuple[ERAnalysis, ERDraws]]
    subjects: pd.DataFrame
    exclusions: pd.DataFrame


def load_subjects(spec: ERSpec) -> pd.DataFrame:
    """The per-subject table of a specification (read, or derived from the trial data)."""
    if spec.subjects is not None:
        table = pd.read_csv(spec.subjects)
        if "ID" in table.columns:
            table["ID"] = table["ID"].astype(str).str.strip()
        return table
    from cartpk.er._subjects import er_subjects

    assert spec.data is not None
    return er_subjects(
        spec.data,
        spec.lesions,
        dvid=spec.dvid,
        interval=spec.interval,
        cytokines=spec.cytokines,
        min_sd_days=spec.min_sd_days,
        confirm_days=spec.confirm_days,
    )


def run_er(spec: ERSpec, subjects: pd.DataFrame | None = None) -> ERReport:
    """Run every analysis of a validated specification.

    Parameters
    ----------
    spec : ERSpec
        From :func:`read_er_spec`.
    subjects : DataFrame, optional
        The per-subject table, if already loaded (otherwise :func:`load_subjects`).

    Returns
    -------
    ERReport

    Raises
    ------
    SpecError
        ``column_unknown`` before any fit when an analysis names a missing column.
    """
    table = load_subjects(spec) if subjects is None else subjects
    draws_table = pd.read_csv(spec.draws) if spec.draws is not None else None
    check_columns(spec, table, draws_table)
    fits: list[tuple[ERAnalysis, ERFit]] = []
    pooled: list[tuple[ERAnalysis, ERDraws]] = []
    blocks = []
    excl = []
    for a in spec.analyses:
        kw: dict[str, Any] = {
            "exposure": a.exposure,
            "model": a.model,
            "covariates": a.covariates,
            "log": a.log,
            "event": a.event,
            "threshold": a.threshold,
            "level": spec.level,
        }
        fit = fit_er(table, a.endpoint, hill=a.hill, **kw)
        fits.append((a, fit))
        blocks.append(fit.estimates)
        if len(fit.exclusions):
            excl.append(
                fit.exclusions.assign(endpoint=a.endpoint, exposure=a.exposure, model=a.model)
            )
        if draws_table is not None and a.model != "emax" and a.exposure in draws_table.columns:
            d = er_draws(table, draws_table, a.endpoint, **kw)
            pooled.append((a, d))
    estimates = (
        pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame(columns=ESTIMATE_COLUMNS)
    )
    if pooled:
        estimates = pd.concat([estimates, *(d.pooled for _, d in pooled)], ignore_index=True)
    exclusions = (
        pd.concat(excl, ignore_index=True)
        if excl
        else pd.DataFrame(columns=["ID", "code", "reason", "endpoint", "exposure", "model"])
    )
    exclusions = exclusions[["endpoint", "exposure", "model", "ID", "code", "reason"]]
    return ERReport(
        estimates=estimates, fits=fits, draws=pooled, subjects=table, exclusions=exclusions
    )
