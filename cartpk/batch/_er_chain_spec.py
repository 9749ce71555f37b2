"""The E-R chain SSE from a specification (``kind = "er_chain"`` in ``cartpk sse``): the
truth and fitted declarations, every table's problems at once, the study's arguments."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cartpk.batch._er_chain_options import ChainFit, EROutcomes, _positive
from cartpk.errors import SpecError, Violation

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.batch._spec import StudySpec

__all__ = ["FIT_MODEL_KEYS", "check_er_chain_tables", "er_chain_from_spec"]


# ---------------------------------------------------------------------------------------
# from a specification


@dataclass(frozen=True)
class _Models:
    truth: Any
    fitted: Any
    problems: list[Violation] = field(default_factory=list)


def _build_models(model: str, truth: Mapping[str, Any], fit: Mapping[str, Any]) -> _Models:
    """The truth and fitted declarations a specification describes; problems, not raises.

    ``[truth]``: typical values (any parameter but ``omega_*``) and ``iiv_sd`` (the IIV
    SDs of the simulation; thetas not listed have none). ``[fit]``: ``iiv`` (thetas with a
    random effect in the fitted declaration, default those of ``iiv_sd``) and ``initial``
    (its starting/typical values, default the catalogue's).
    """
    from cartpk.errors import ModelError
    from cartpk.model import load_model

    base = load_model(model)
    problems: list[Violation] = []
    names = set(base.parameter_names())
    thetas = list(base.thetas)
    with_iiv = [n for n, _ in base.iiv.entries]

    def unknown(
        key: str, table: str, allowed: Sequence[str], what: str, column: str | None = None
    ) -> None:
        problems.append(
            Violation(
                f"{table}_option",
                f"`{key}` is not {what} of `{model}`",
                column=column or key,
                value=key,
                expected=f"one of {', '.join(allowed)}",
                fix=f"remove `{key}` or correct its spelling",
            )
        )

    def table_of(value: Any, table: str, message: str, column: str) -> Mapping[str, Any]:
        """``value`` when it is a table; else ``{}``, with the problem ``message``."""
        if isinstance(value, Mapping):
            return value
        problems.append(Violation(f"{table}_option", message, column=column, value=repr(value)))
        return {}

    values = {k: v for k, v in truth.items() if k != "iiv_sd"}
    for k, v in values.items():
        if k not in names or k.startswith("omega_"):
            allowed = [n for n in base.parameter_names() if not n.startswith("omega_")]
            unknown(k, "truth", [*allowed, "iiv_sd"], "a parameter (IIV goes in `iiv_sd`)")
        elif not _positive(v):
            problems.append(
                Violation(
                    "truth_option",
                    f"`{k}` of `[truth]` must be a positive number (natural scale)",
                    column=k,
                    value=repr(v),
                    fix=f"give `{k}` on its natural scale",
                )
            )
    sd = table_of(
        truth.get("iiv_sd", {name: s for name, s in base.iiv.entries}),
        "truth",
        "`iiv_sd` of `[truth]` must be a table of SDs, e.g. {cmax = 0.81}",
        "iiv_sd",
    )
    for k, v in sd.items():
        if k not in thetas:
            unknown(k, "truth", thetas, "a structural parameter", column="iiv_sd")
        elif not _positive(v):
            problems.append(
                Violation(
                    "truth_option",
                    f"IIV SD of `{k}` must be positive",
                    column="iiv_sd",
                    value=f"{k} = {v!r}",
                    fix="leave a parameter out of `iiv_sd` for no IIV",
                )
            )
    iiv = fit.get("iiv", [k for k in sd if k in thetas])
    if not isinstance(iiv, list | tuple) or not all(isinstance(x, str) for x in iiv):
        problems.append(
            Violation(
                "fit_option",
                "`iiv` of `[fit]` must be a list of parameter names",
                column="iiv",
                value=repr(iiv),
                fix='e.g. iiv = ["cmax", "alpha"]',
            )
        )
        iiv = []
    for k in iiv:
        if k not in with_iiv:
            unknown(k, "fit", with_iiv, "a parameter with a declared random effect", "iiv")
    initial = table_of(
        fit.get("initial", {}), "fit", "`initial` of `[fit]` must be a table of values", "initial"
    )
    for k, v in initial.items():
        if k not in names:
            unknown(k, "fit", sorted(names), "a parameter", column="initial")
        elif not _positive(v):
            problems.append(
                Violation(
                    "fit_option",
                    f"`initial.{k}` must be a positive number",
                    column="initial",
                    value=f"{k} = {v!r}",
                )
            )
    if problems:
        return _Models(None, None, problems)
    try:
        truth_model = base.with_iiv(
            drop=[n for n in with_iiv if n not in sd], sd={k: float(v) for k, v in sd.items()}
        ).with_ini(**{k: float(v) for k, v in values.items()})
        fitted = base.with_iiv(drop=[n for n in with_iiv if n not in iiv]).with_ini(
            **{k: float(v) for k, v in initial.items()}
        )
    except (ModelError, ValueError) as err:
        problems.append(
            Violation(
                "truth_option",
                f"the declarations cannot be built: {err}",
                column="",
                fix="check the values against `cartpk models` and the model's bounds",
            )
        )
        return _Models(None, None, problems)
    return _Models(truth_model, fitted)


#: keys of ``[fit]`` that build the fitted declaration rather than set the sampler
FIT_MODEL_KEYS = ("iiv", "initial")


def check_er_chain_tables(values: Mapping[str, Any]) -> list[Violation]:
    """Problems of the ``[truth]``, ``[fit]`` and ``[outcomes]`` tables (``column``: key)."""
    problems: list[Violation] = []
    truth = values.get("truth", {})
    fit = values.get("fit", {})
    outcomes = values.get("outcomes", {})
    fit_fields = {f.name for f in dataclasses.fields(ChainFit)}
    out_fields = {f.name for f in dataclasses.fields(EROutcomes)}
    for table, given, allowed in (
        ("fit", fit, fit_fields | set(FIT_MODEL_KEYS)),
        ("outcomes", outcomes, out_fields),
    ):
        for key in given:
            if key not in allowed:
                problems.append(
                    Violation(
                        f"{table}_option",
                        f"`{key}` is not an option of `[{table}]`",
                        column=key,
                        value=key,
                        expected=f"one of {', '.join(sorted(allowed))}",
                        fix=f"remove `{key}` or correct its spelling",
                    )
                )
    for cls, given in ((ChainFit, fit), (EROutcomes, outcomes)):
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            cls(**{k: v for k, v in given.items() if k in known})
        except SpecError as err:
            problems.extend(err.violations)
    if isinstance(values.get("model"), str):
        problems.extend(_build_models(values["model"], truth, fit).problems)
    return problems


def er_chain_from_spec(spec: StudySpec) -> dict[str, Any]:
    """Arguments of :func:`er_chain_sse` from a validated ``kind = "er_chain"`` spec.

    Returns
    -------
    dict
        ``truth, fitted, design, n_replicates, seed, n_subjects, outcomes, fit, lloq,
        dose, level``; add ``out`` (and cluster options) and call :func:`er_chain_sse`.
    """
    v = spec.values
    fit_table = dict(v.get("fit", {}))
    models = _build_models(spec.model, v.get("truth", {}), fit_table)
    if models.problems:  # pragma: no cover - load_spec reported them already
        raise SpecError("Invalid er_chain specification.", models.problems)
    return {
        "truth": models.truth,
        "fitted": models.fitted,
        "design": v["days"],
        "n_replicates": v["n_replicates"],
        "seed": v["seed"],
        "n_subjects": v["n_subjects"],
        "outcomes": EROutcomes(**dict(v.get("outcomes", {}))),
        "fit": ChainFit(**{k: x for k, x in fit_table.items() if k not in FIT_MODEL_KEYS}),
        "lloq": v.get("lloq"),
        "dose": v.get("dose"),
        "level": float(v.get("level", 0.95)),
    }
