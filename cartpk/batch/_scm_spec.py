"""Candidates of the step-wise covariate search and its specification file (``cartpk scm``).

A specification is a SAEM fit specification (``model``, ``data``, ``seed``, ``fix``,
``[ini]``, ``[options]``: read by :func:`cartpk.fit._spec.parse_fit_spec` with
``method = "saem"``) plus the search's own keys::

    forward_p  = 0.05          # p-value of forward inclusion (dOFV 3.84 for 1 df)
    backward_p = 0.01          # p-value of backward elimination (dOFV 6.63 for 1 df)

    [[candidate]]              # one table per candidate effect
    parameter = "cmax"         # an estimated structural parameter
    covariate = "WT"           # a subject-level column of the data
    kind      = "power"        # "power" (reference: a number) or "categorical"
    reference = 70.0           # categorical: the reference level, as the data write it
    # levels = ["F", "M"]      # categorical: every level (default: those in the data)
    # name = "cmax-WT"         # label in the tables (default parameter-covariate)

Every problem of the file, its candidates and their columns in the data is listed in one
:class:`~cartpk.errors.SpecError` before anything runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cartpk.errors import ModelError, SpecError, Violation
from cartpk.spec import Field, check_fields, raise_problems, read_toml

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.data import Dataset
    from cartpk.model import CovariateEffect, Model

__all__ = ["KINDS", "SCM_KEYS", "Candidate", "candidate_problems", "scm_from_spec"]

#: kinds of candidate effect -> what ``reference`` holds
KINDS = {"power": "a number > 0", "categorical": "a string: the reference level"}


def _p_value(doc: str, default: float) -> Field:
    return Field("number", doc, low=0, high=1, low_open=True, high_open=True, default=default)


#: the search's keys (the rest of the file is a SAEM fit specification)
SCM_KEYS: dict[str, Field] = {
    "candidate": Field("list", "[[candidate]] tables: the candidate effects", required=True),
    "forward_p": _p_value("p-value of forward inclusion", 0.05),
    "backward_p": _p_value("p-value of backward elimination", 0.01),
}

#: keys of one ``[[candidate]]`` table (``reference`` is checked by kind)
CANDIDATE_KEYS: dict[str, Field] = {
    "parameter": Field("str", "an estimated structural parameter", required=True),
    "covariate": Field("str", "a subject-level column of the data", required=True),
    "kind": Field("str", "kind of effect", choices=tuple(KINDS), required=True),
    "levels": Field("list[str]", "every level of a categorical covariate"),
    "name": Field("str", "label of the candidate in the tables"),
}


@dataclass(frozen=True)
class Candidate:
    """One candidate covariate effect of the search.

    Attributes
    ----------
    label : str
        Its name in the tables (default ``<parameter>-<covariate>``).
    effect : CovariateEffect
        The declaration added to the model (:func:`cartpk.model.power`,
        :func:`cartpk.model.categorical`).
    """

    label: str
    effect: CovariateEffect

    @property
    def parameter(self) -> str:
        """The parameter the effect acts on."""
        return str(self.effect.param)

    @property
    def covariate(self) -> str:
        """The data column."""
        return str(self.effect.on)

    @property
    def kind(self) -> str:
        """``"power"`` or ``"categorical"`` (the effect's class, lower case)."""
        return type(self.effect).__name__.lower()

    @property
    def df(self) -> int:
        """Degrees of freedom: the coefficients the effect adds (categorical: levels - 1)."""
        return len(self.effect.coefficients)

    def describe(self) -> dict[str, Any]:
        """JSON description (the study's identity and ``scm_result.json``)."""
        return {
            "label": self.label,
            "parameter": self.parameter,
            "covariate": self.covariate,
            "kind": self.kind,
            "df": self.df,
            "coefficients": list(self.effect.coefficients),
            "declaration": repr(self.effect),
        }

    @classmethod
    def of(cls, item: Candidate | CovariateEffect) -> Candidate:
        """A candidate as given, or an effect labelled ``<parameter>-<covariate>``."""
        if isinstance(item, Candidate):
            return item
        return cls(f"{item.param}-{item.on}", item)


def _effect(table: Mapping[str, Any], data: Dataset | None, where: str) -> CovariateEffect:
    """The declaration of one candidate table (levels from the data when not given)."""
    from cartpk.model import categorical, power

    ref = table.get("reference")
    if table["kind"] == "power":
        if not isinstance(ref, int | float) or isinstance(ref, bool):
            raise _bad_reference(table, where)
        return power(table["parameter"], on=table["covariate"], ref=float(ref))
    if not isinstance(ref, str):
        raise _bad_reference(table, where)
    levels = table.get("levels")
    if levels is None:
        col = data.covariates[table["covariate"]] if data is not None else []
        levels = sorted({str(v) for v in col} | {ref}, key=lambda v: (v != ref, v))
    return categorical(table["parameter"], on=table["covariate"], reference=ref, levels=levels)


def _bad_reference(table: Mapping[str, Any], where: str) -> ModelError:
    kind = table["kind"]
    return ModelError(
        "invalid reference",
        [
            Violation(
                "scm_candidate_reference",
                f"`{where}.reference` of a {kind} candidate must be {KINDS[kind]}",
                column=f"{where}.reference",
                value=repr(table.get("reference")),
                expected=KINDS[kind],
                fix='write e.g. reference = 70.0 (power) or reference = "M" (categorical)',
            )
        ],
    )


def _candidate_violation(code: str, message: str, where: str, **extra: Any) -> Violation:
    return Violation(code, message, column=where, **extra)


def _check_against(
    cand: Candidate, where: str, model: Model | None, data: Dataset | None
) -> list[Violation]:
    """The problems of one candidate with the base model and the data."""
    problems = []
    if model is not None:
        theta = model.thetas.get(cand.parameter)
        if theta is None or theta.fixed:
            what = "is fixed" if theta is not None else "is not a structural parameter"
            problems.append(
                _candidate_violation(
                    "scm_candidate_parameter",
                    f"`{where}.parameter` {cand.parameter!r} {what} of `{model.name}`",
                    f"{where}.parameter",
                    value=repr(cand.parameter),
                    expected="an estimated parameter among "
                    + ", ".join(n for n, t in model.thetas.items() if not t.fixed),
                    fix="correct the name, or unfix the parameter",
                )
            )
    if data is not None:
        if cand.covariate not in data.covariates.columns:
            return [
                *problems,
                _candidate_violation(
                    "scm_candidate_covariate",
                    f"`{where}.covariate` {cand.covariate!r} is not a column of the data",
                    f"{where}.covariate",
                    value=repr(cand.covariate),
                    expected="one of " + ", ".join(c for c in data.covariates.columns if c != "ID"),
                    fix="correct the name (subject-level columns only)",
                ),
            ]
        for text in cand.effect.problems(data.covariates[cand.covariate].to_numpy()):
            problems.append(
                _candidate_violation(
                    "scm_candidate_values", f"`{where}`: {text}", f"{where}.covariate"
                )
            )
    return problems


def candidate_problems(
    candidates: Sequence[Candidate],
    model: Model | None,
    data: Dataset | None,
    numbers: Sequence[int] | None = None,
) -> list[Violation]:
    """Every problem of a list of candidates with the base model and the data.

    Parameters
    ----------
    candidates : sequence of Candidate
        The candidates, in order (``candidate[1]`` is the first).
    model : Model, optional
        The base model (``fix`` applied): each parameter must be estimated, and no
        coefficient may already be in it.
    data : Dataset, optional
        Each covariate must be a subject-level column with usable values.
    numbers : sequence of int, optional
        The candidates' positions in the specification (default 1, 2, ...).

    Returns
    -------
    list of Violation
        ``scm_no_candidates``, ``scm_candidate_parameter``, ``scm_candidate_covariate``,
        ``scm_candidate_values``, ``scm_candidate_duplicate`` (a label or coefficient
        given twice, or already in the base model); empty when all are usable.
    """
    if not candidates:
        return [
            Violation(
                "scm_no_candidates",
                "no candidate effect to search",
                column="candidate",
                fix="add [[candidate]] tables (parameter, covariate, kind, reference)",
            )
        ]
    problems: list[Violation] = []
    seen: dict[str, str] = {}
    if model is not None:
        seen = {c: "the base model" for e in model.covariates for c in e.coefficients}
    labels: set[str] = set()
    for k, cand in zip(numbers or range(1, len(candidates) + 1), candidates, strict=True):
        where = f"candidate[{k}]"
        problems += _check_against(cand, where, model, data)
        clash = [c for c in cand.effect.coefficients if c in seen] + (
            [cand.label] if cand.label in labels else []
        )
        if clash:
            problems.append(
                _candidate_violation(
                    "scm_candidate_duplicate",
                    f"`{where}` repeats {', '.join(clash)} ({seen.get(clash[0], 'a label')})",
                    where,
                    fix="give each parameter-covariate pair once; name candidates apart",
                )
            )
        seen.update({c: f"in {where}" for c in cand.effect.coefficients})
        labels.add(cand.label)
    return problems


def _candidates(
    tables: Any, data: Dataset | None
) -> tuple[list[tuple[int, Candidate]], list[Violation]]:
    """The candidates of the ``[[candidate]]`` tables (with their 1-based positions), and
    the problems of their keys."""
    if not isinstance(tables, list):
        return [], []  # `candidate` is checked as a key of the file
    if not all(isinstance(t, dict) for t in tables):
        return [], [
            Violation(
                "spec_type",
                "`candidate` must be a list of tables ([[candidate]])",
                column="candidate",
                value=repr(tables),
                fix="write each candidate as a [[candidate]] table",
            )
        ]
    out: list[tuple[int, Candidate]] = []
    problems: list[Violation] = []
    for k, table in enumerate(tables, start=1):
        where = f"candidate[{k}]"
        found = check_fields(table, CANDIDATE_KEYS, prefix=where, allowed=("reference",))
        if "reference" not in table:
            found.append(Violation("spec_missing_key", f"`{where}.reference` is required"))
        problems += found
        if found:
            continue
        try:
            effect = _effect(table, data, where)
        except ModelError as err:
            problems += [v if v.column else replace(v, column=where) for v in err.violations]
            continue
        out.append((k, Candidate(table.get("name") or f"{effect.param}-{effect.on}", effect)))
    return out, problems


def _base(raw: Mapping[str, Any], base: Path) -> tuple[Any, Any]:
    """The base model (``fix`` and ``drop_iiv`` applied) and the data, where they load."""
    from cartpk.data import read_dataset
    from cartpk.fit._spec import parse_fit_spec

    try:
        fit = parse_fit_spec(
            {"model": raw.get("model"), "data": raw.get("data"), "method": "saem"},
            base=base,
            method="saem",
        )
    except SpecError:  # the full parse reports it
        return None, None
    from cartpk.model import load_model

    model = load_model(fit.model)
    fix = raw.get("fix")
    names = set(model.parameters["name"])
    if isinstance(fix, list) and all(isinstance(f, str) and f in names for f in fix):
        model = model.fix(*fix)
    return model, read_dataset(fit.data)


def _with_own_keys(v: Violation) -> Violation:
    """An unknown-key problem of the fit specification, naming the search's keys too."""
    if v.code != "spec_unknown_key" or not str(v.expected).startswith("one of "):
        return v
    names = {*str(v.expected)[len("one of ") :].split(", "), *SCM_KEYS}
    return replace(v, expected="one of " + ", ".join(sorted(names)))


def scm_from_spec(spec: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of :func:`cartpk.batch.scm` from a specification file or mapping.

    Parameters
    ----------
    spec : path or mapping
        The TOML file (a relative ``data`` path is relative to it) or its parsed mapping
        (``data`` relative to the current folder).

    Returns
    -------
    dict
        ``model`` (``ini`` and ``fix`` applied), ``data`` (the CSV path), ``candidates``,
        ``options`` (of :func:`cartpk.fit_saem`), ``seed``, ``forward_p``, ``backward_p``
        and ``spec_file``.

    Raises
    ------
    SpecError
        Every problem at once: the fit specification's (``spec_unknown_key``,
        ``spec_option_value``, ``unknown_model``, ``spec_data_missing``...), the search's
        keys, each candidate's (:func:`candidate_problems`, ``scm_candidate_reference``,
        ``covariate_reference``...), ``spec_method`` when ``method`` is not ``"saem"``.
    """
    from cartpk.fit._spec import parse_fit_spec
    from cartpk.spec import SpecText

    text = read_toml(spec) if not isinstance(spec, Mapping) else SpecText(dict(spec))
    base = text.path.resolve().parent if text.path is not None else Path.cwd()
    raw = dict(text.raw)
    own = {k: raw.pop(k) for k in list(raw) if k in SCM_KEYS}
    problems = check_fields(own, {**SCM_KEYS, "candidate": Field("list", "[[candidate]] tables")})

    if raw.setdefault("method", "saem") != "saem":
        problems.append(
            Violation(
                "spec_method",
                "a covariate search fits by SAEM",
                column="method",
                value=repr(raw["method"]),
                expected='method = "saem", or no `method`',
                fix="remove `method`",
            )
        )
        raw["method"] = "saem"
    fitted = None
    try:
        fitted = parse_fit_spec(raw, base=base, text=text, method="saem")
    except SpecError as err:
        problems += [_with_own_keys(v) for v in err.violations]
    model, data = _base(raw, base)
    cands, found = _candidates(own.get("candidate", []), data)
    problems += found
    if cands or not found:
        problems += candidate_problems([c for _, c in cands], model, data, [k for k, _ in cands])
    raise_problems(problems, text)
    assert fitted is not None
    from cartpk.model import load_model

    model = load_model(fitted.model).with_ini(**fitted.ini)
    return {
        "model": model.fix(*fitted.fix) if fitted.fix else model,
        "data": fitted.data,
        "candidates": [c for _, c in cands],
        "options": dict(fitted.options),
        "seed": 0 if fitted.seed is None else int(fitted.seed),
        "forward_p": float(own.get("forward_p", SCM_KEYS["forward_p"].default)),
        "backward_p": float(own.get("backward_p", SCM_KEYS["backward_p"].default)),
        "spec_file": text.path,
    }
