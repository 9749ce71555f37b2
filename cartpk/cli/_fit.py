"""``cartpk fit SPEC.toml --out DIR``: fit a catalogue model to a dataset from a specification.

The TOML specification names::

    model  = "stein2019"            # catalogue name (`cartpk models`)
    data   = "example:trial.csv"    # CSV path relative to the spec file, or a bundled file
    method = "individual"           # a key of METHODS
    seed   = 20261125
    # options of the method, at top level or in an [options] table (not both), e.g.
    blq = "m3"
    prior = "population"
    # optional: initial / typical values by parameter name (any role), e.g. population
    # estimates to centre MAP priors on (``model.with_ini``)
    [ini]
    cmax = 600.0
    omega_cmax = 0.8
    # optional, top level: parameters held fixed at their (ini) values (``model.fix``)
    fix = ["phi", "theta"]

Everything is validated before anything runs: an unknown key, model, method or option
raises :class:`cartpk.errors.SpecError` naming the key and the valid choices (exit 2).
Results go to a run folder (``cartpk.run.run_folder``) with ``manifest.json`` holding the
spec and the seed. Exit 0 when every check passed, 1 when the fit ran but a check failed
(for ``individual``: a subject did not converge).

Methods dispatch through :data:`METHODS` (``method name -> "module:attribute"`` of a
:class:`FitMethod`), so another method is added with one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.data import Dataset
    from cartpk.model import Model
    from cartpk.run import RunFolder

__all__ = ["METHODS", "FitMethod", "add_parser", "load_spec", "run"]

#: fit method -> "module:attribute" of its :class:`FitMethod` (imported on use)
METHODS: dict[str, str] = {
    "individual": "cartpk.cli._fit:INDIVIDUAL",
    "population": "cartpk.cli._fit_population:POPULATION",
    "bayes": "cartpk.cli._fit_population:POPULATION",  # the name for the same method
}

_TOP_KEYS = {"model", "data", "method", "seed", "options", "name", "description", "ini", "fix"}


@dataclass(frozen=True)
class FitMethod:
    """A fit method of ``cartpk fit``.

    Attributes
    ----------
    options : frozenset of str
        Option keys the method accepts (top level or in ``[options]``).
    run : callable
        ``run(model, dataset, *, seed, options, folder, quiet) -> bool``: fits, writes its
        files into ``folder`` (a :class:`cartpk.run.RunFolder`) and returns whether every
        check passed.
    check : callable, optional
        ``check(options) -> list of Violation``: validates option values before anything
        runs.
    """

    options: frozenset[str]
    run: Callable[..., bool]
    check: Callable[[Mapping[str, Any]], list[Any]] | None = None


def _method(name: str) -> FitMethod:
    mod, attr = METHODS[name].split(":")
    return getattr(importlib.import_module(mod), attr)


# ---------------------------------------------------------------------------------------
# method "individual"

_IND_OPTIONS = frozenset(
    {
        "blq",
        "dvid",
        "prior",
        "sigma",
        "n_starts",
        "n_jobs",
        "ci_level",
        "bounds",
        "ci",
        "gradient",
        "ode_engine",
        "ode_method",
    }
)


def _check_individual(options: Mapping[str, Any]) -> list[Any]:
    from cartpk.errors import Violation
    from cartpk.fit._likelihood import BLQ_METHODS

    out = []
    choices: dict[str, tuple[Any, ...]] = {
        "blq": tuple(BLQ_METHODS),
        "prior": ("none", "population"),
        "sigma": ("fixed", "estimate"),
        "ci": ("auto", "wald", "profile"),
        "gradient": ("auto", "exact", "fd"),
        "ode_engine": ("jax", "scipy"),
    }
    for key, valid in choices.items():
        if key in options and options[key] not in valid:
            out.append(
                Violation(
                    "spec_option_value",
                    f"`{key}` has an invalid value",
                    column=key,
                    value=repr(options[key]),
                    expected="one of " + ", ".join(repr(v) for v in valid),
                    fix=f"set `{key}` to one of the valid values",
                )
            )
    for key in ("n_starts", "n_jobs"):
        v = options.get(key)
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            out.append(
                Violation(
                    "spec_option_value",
                    f"`{key}` must be an integer >= 1",
                    column=key,
                    value=repr(v),
                    expected="an integer >= 1",
                    fix=f"e.g. {key} = 4",
                )
            )
    return out


def _run_individual(
    model: Model,
    dataset: Dataset,
    *,
    seed: int | None,
    options: Mapping[str, Any],
    folder: RunFolder,
    quiet: bool = False,
) -> bool:
    from cartpk.fit import fit_individual

    opts = dict(options)
    if opts.get("prior") == "none":
        opts["prior"] = None
    if "bounds" in opts:
        opts["bounds"] = {k: tuple(v) for k, v in opts["bounds"].items()}
    fit = fit_individual(model, dataset, seed=seed, progress=False if quiet else None, **opts)
    folder.write_csv("individual.csv", fit.table())
    folder.write_csv("parameters.csv", fit.parameters)
    folder.write_csv("predictions.csv", fit.predictions)
    if not fit.excluded.empty:
        folder.write_csv("excluded.csv", fit.excluded)
    fit.plot_fits(folder.file("individual_fits.png"))
    fit.plot_residuals(folder.file("iwres.png"))
    status = fit.status
    folder.manifest["results"] = {
        "method": "individual",
        "blq": fit.blq,
        "prior": fit.prior,
        "sigma": fit.sigma,
        "subjects": len(status),
        "converged": int(status["converged"].sum()),
        "status_counts": status["status"].value_counts().to_dict(),
    }
    return bool(fit.converged)


INDIVIDUAL = FitMethod(options=_IND_OPTIONS, run=_run_individual, check=_check_individual)


# ---------------------------------------------------------------------------------------
# the specification


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


def _with_line(v: Any, text: str) -> Any:
    """Name the spec line of a violation's key (``line 7: ...``) when the key is written."""
    import re
    from dataclasses import replace

    if not v.column:
        return v
    key = str(v.column).split(".")[-1]
    for n, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line) or line.strip() == f"[{key}]":
            where = f"line {n}"
            return replace(v, value=f"{where}: {v.value}" if v.value else where)
    return v


def load_spec(path: str | Path) -> FitSpec:
    """Read and validate a fit specification; raise one ``SpecError`` listing every problem.

    Raises
    ------
    SpecError
        ``spec_unreadable``, ``spec_missing_key``, ``spec_unknown_key``, ``unknown_model``,
        ``unknown_method``, ``spec_option_value``, ``spec_data_missing``, ``spec_seed``.
    """
    from cartpk.errors import ModelError, SpecError, Violation
    from cartpk.model import list_models, load_model

    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise SpecError(
            f"{path.name} is not valid TOML.",
            [Violation("spec_unreadable", str(err), value=str(path), fix="correct the TOML")],
        ) from None
    problems: list[Violation] = []
    method = raw.get("method", "individual")
    if method not in METHODS:
        problems.append(
            Violation(
                "unknown_method",
                f"`method` {method!r} is not a fit method",
                column="method",
                value=repr(method),
                expected="one of " + ", ".join(repr(m) for m in METHODS),
                fix="set `method` to a valid choice",
            )
        )
        allowed: frozenset[str] = frozenset()
        fm = None
    else:
        fm = _method(method)
        allowed = fm.options
    for key in ("model", "data"):
        if key not in raw:
            problems.append(
                Violation(
                    "spec_missing_key",
                    f"required key `{key}` is missing",
                    column=key,
                    expected=f"`{key} = ...` at the top level",
                    fix='e.g. model = "stein2019", data = "example:trial.csv"',
                )
            )
    unknown = sorted(set(raw) - _TOP_KEYS - allowed)
    nested = raw.get("options", {})
    if not isinstance(nested, dict):
        problems.append(
            Violation(
                "spec_option_value",
                "`options` must be a table",
                column="options",
                value=repr(nested),
                fix="write `[options]` followed by `key = value` lines",
            )
        )
        nested = {}
    unknown += [f"options.{k}" for k in sorted(set(nested) - allowed)]
    for key in unknown:
        problems.append(
            Violation(
                "spec_unknown_key",
                f"unknown key `{key}`",
                column=key,
                expected="keys among " + ", ".join(sorted(_TOP_KEYS | allowed)),
                fix="remove it or correct its spelling",
            )
        )
    top_opts = {k: v for k, v in raw.items() if k in allowed}
    both = sorted(set(top_opts) & set(nested))
    for key in both:
        problems.append(
            Violation(
                "spec_duplicate_key",
                f"`{key}` is given both at the top level and in [options]",
                column=key,
                fix="keep one",
            )
        )
    options = {**top_opts, **{k: v for k, v in nested.items() if k in allowed}}
    if fm is not None and fm.check is not None:
        problems += fm.check(options)
    ini = raw.get("ini", {})
    if not isinstance(ini, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in ini.values()
    ):
        problems.append(
            Violation(
                "spec_ini",
                "`ini` must be a table of numbers by parameter name",
                column="ini",
                value=repr(ini),
                fix="write `[ini]` followed by lines such as `cmax = 600.0`",
            )
        )
        ini = {}
    fix = raw.get("fix", [])
    if not isinstance(fix, list) or not all(isinstance(v, str) for v in fix):
        problems.append(
            Violation(
                "spec_fix",
                "`fix` must be a list of parameter names",
                column="fix",
                value=repr(fix),
                fix='write e.g. `fix = ["phi", "theta"]` at the top level',
            )
        )
        fix = []
    if "model" in raw:
        try:
            loaded = load_model(str(raw["model"]))
        except ModelError as err:
            loaded = None
            names = (
                ", ".join(list_models()["name"].astype(str)) if err.code == "unknown_model" else ""
            )
            problems.append(
                Violation(
                    "unknown_model" if err.code == "unknown_model" else err.code,
                    f"`model` {raw['model']!r} cannot be loaded",
                    column="model",
                    value=repr(raw["model"]),
                    expected=f"one of {names}" if names else err.summary,
                    fix="run `cartpk models` to list the catalogue",
                )
            )
        if loaded is not None and ini:
            try:
                loaded.with_ini(**{k: float(v) for k, v in ini.items()})
            except ModelError as err:
                problems.append(
                    Violation(
                        "spec_ini",
                        "`ini` holds a name the model does not have or an invalid value",
                        column="ini",
                        value=", ".join(f"{k} = {v}" for k, v in ini.items()),
                        expected="names among " + ", ".join(loaded.parameters["name"].astype(str)),
                        fix=err.summary,
                    )
                )
        if loaded is not None and fix:
            unknown = [n for n in fix if n not in set(loaded.parameters["name"].astype(str))]
            if unknown:
                problems.append(
                    Violation(
                        "spec_fix",
                        "`fix` names parameters the model does not have",
                        column="fix",
                        value=", ".join(unknown),
                        expected="names among " + ", ".join(loaded.parameters["name"].astype(str)),
                        fix="correct the names (`cartpk models` lists each model's parameters)",
                    )
                )
    data = None
    if "data" in raw:
        try:
            data = _resolve_data(str(raw["data"]), path.resolve().parent)
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
    seed = raw.get("seed")
    if seed is not None and not (isinstance(seed, int) and not isinstance(seed, bool)):
        problems.append(
            Violation(
                "spec_seed",
                "`seed` must be an integer",
                column="seed",
                value=repr(seed),
                fix="e.g. seed = 20261125",
            )
        )
    if problems:
        text = path.read_text(encoding="utf-8")
        problems = [_with_line(v, text) for v in problems]
        raise SpecError(
            f"{path.name} has {len(problems)} problem{'s' if len(problems) > 1 else ''}; "
            "nothing was run.",
            problems,
        )
    assert data is not None
    return FitSpec(
        raw=raw,
        model=str(raw["model"]),
        data=data,
        method=method,
        seed=seed,
        options=options,
        ini={k: float(v) for k, v in ini.items()},
        fix=tuple(fix),
    )


# ---------------------------------------------------------------------------------------
# the command


def add_parser(sub: Any) -> None:
    """Register the ``fit`` command."""
    p = sub.add_parser(
        "fit",
        help="fit a model to data from a TOML specification (fits/*.toml)",
        description="Fit a catalogue model to a dataset as a TOML specification says "
        "(model, data, method, seed, options) and write a run folder.",
    )
    p.add_argument("spec", metavar="SPEC.toml", help="fit specification")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder to create")
    p.add_argument("--force", action="store_true", help="replace DIR if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk fit``; returns the exit code."""
    from cartpk.data import read_dataset
    from cartpk.model import load_model
    from cartpk.run import run_folder

    spec = load_spec(args.spec)
    out = Path(args.out)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; choose another `--out` or pass --force")
    model = load_model(spec.model)
    if spec.ini:
        model = model.with_ini(**spec.ini)
    if spec.fix:
        model = model.fix(*spec.fix)
    dataset = read_dataset(spec.data)
    method = _method(spec.method)
    command = ["cartpk", "fit", str(args.spec), "--out", str(args.out)]
    with run_folder(
        out,
        command=command,
        spec=spec.raw,
        seed=spec.seed,
        inputs=[args.spec, spec.data],
        overwrite=args.force,
    ) as folder:
        ok = method.run(
            model,
            dataset,
            seed=spec.seed,
            options=spec.options,
            folder=folder,
            quiet=bool(args.quiet),
        )
        if not ok:
            folder.status = "failed_checks"
    if not ok:
        print(
            f"{out}: fit ran but checks failed (see manifest.json and individual.csv)",
            file=sys.stderr,
        )
        return 1
    print(f"{out}: {spec.method} fit of {spec.model} done")
    return 0
