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
:class:`FitMethod`), so another method is added with one line here and its option rules in
:data:`cartpk.fit._spec.METHOD_OPTIONS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.data import Dataset
    from cartpk.fit._spec import FitSpec
    from cartpk.model import Model
    from cartpk.run import RunFolder

__all__ = ["METHODS", "FitJob", "FitMethod", "load_spec", "run"]

#: fit method -> "module:attribute" of its :class:`FitMethod` (imported on use)
METHODS: dict[str, str] = {
    "individual": "cartpk.cli._fit:INDIVIDUAL",
    "population": "cartpk.cli._fit_population:POPULATION",
    "bayes": "cartpk.cli._fit_population:POPULATION",  # the name for the same method
    "saem": "cartpk.cli._fit_saem:SAEM",
}


#: the file that says why a method's checks failed
_CHECKS_FILE = {"individual": "individual.csv", "saem": "diagnostics.json"}


@dataclass(frozen=True)
class FitJob:
    """What a fit method is given: the model, the data, the spec's seed and options, and the
    open run folder to write into.

    Attributes
    ----------
    model : cartpk.model.Model
        The loaded declaration (the spec's ``ini`` and ``fix`` applied).
    dataset : cartpk.data.Dataset
        The validated data.
    seed : int, optional
        The spec's seed (each method has its default when it is None).
    options : mapping
        The spec's options of the method, validated by :func:`load_spec`.
    folder : cartpk.run.RunFolder
        The open run folder.
    quiet : bool, default False
        No progress bar or status lines (``--quiet``).
    """

    model: Model
    dataset: Dataset
    seed: int | None
    options: Mapping[str, Any]
    folder: RunFolder
    quiet: bool = False

    def settings(self, defaults: Mapping[str, tuple[str, Any]]) -> dict[str, Any]:
        """Every option of ``defaults`` (name -> (kind, default)): the spec's value or the
        default."""
        return {k: self.options.get(k, default) for k, (_, default) in defaults.items()}


@dataclass(frozen=True)
class FitMethod:
    """A fit method of ``cartpk fit``.

    The method's options are checked with the rest of the specification, before anything
    runs, by :func:`load_spec` (the rules of each method are
    :data:`cartpk.fit._spec.METHOD_OPTIONS`).

    Attributes
    ----------
    run : callable
        ``run(job) -> bool``: fits ``job.model`` to ``job.dataset`` (a :class:`FitJob`),
        writes its files into ``job.folder`` and returns whether every check passed.
    """

    run: Callable[[FitJob], bool]


def _method(name: str) -> FitMethod:
    mod, attr = METHODS[name].split(":")
    return getattr(importlib.import_module(mod), attr)


# ---------------------------------------------------------------------------------------
# method "individual"


def _run_individual(job: FitJob) -> bool:
    from cartpk.fit import fit_individual

    model, dataset, folder, quiet = job.model, job.dataset, job.folder, job.quiet
    opts = dict(job.options)
    if opts.get("prior") == "none":
        opts["prior"] = None
    if "bounds" in opts:
        opts["bounds"] = {k: tuple(v) for k, v in opts["bounds"].items()}
    if not quiet:
        print(
            f"cartpk: per-patient fits of {model.name} on {len(dataset.subjects)} subjects "
            f"(BLQ: {opts.get('blq', 'm3')}) ...",
            file=sys.stderr,
            flush=True,
        )
    fit = fit_individual(model, dataset, seed=job.seed, progress=False if quiet else None, **opts)
    if not quiet:
        print(_individual_summary(fit), file=sys.stderr, flush=True)
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


def _individual_summary(fit: Any) -> str:
    """End-of-fit lines: subjects converged, statuses, parameters the data do not identify."""
    status = fit.status
    counts = status["status"].value_counts()
    others = (
        ""
        if set(counts.index) <= {"converged"}
        else " (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")"
    )
    lines = [f"cartpk: {int(status['converged'].sum())}/{len(status)} subjects converged{others}"]
    par = fit.parameters
    if "identifiable" in par.columns and len(par):
        weak = (
            par.assign(n_i=~par["identifiable"].astype(bool))
            .groupby("parameter", sort=False)["n_i"]
            .agg(["sum", "size"])
        )
        weak = weak[weak["sum"] > 0].sort_values("sum", ascending=False)
        if len(weak):
            shown = ", ".join(f"{n} ({int(r['sum'])}/{int(r['size'])})" for n, r in weak.iterrows())
            lines.append(f"cartpk: not identifiable by the data in some subjects: {shown}")
    lines.append("cartpk: individual.csv, parameters.csv and individual_fits.png in the run folder")
    return "\n".join(lines)


INDIVIDUAL = FitMethod(run=_run_individual)


# ---------------------------------------------------------------------------------------
# the specification


def load_spec(path: str | Path) -> FitSpec:
    """Read and validate a fit specification; raise one ``SpecError`` listing every problem.

    The one reader of fit specifications (:func:`cartpk.fit._spec.read_fit_spec`, also
    behind :func:`cartpk.fit_many`); nothing of the data is read.

    Raises
    ------
    SpecError
        ``spec_encoding``, ``spec_unreadable``, ``spec_missing_key``, ``spec_unknown_key``,
        ``spec_type``, ``spec_value``, ``unknown_model``, ``unknown_method``,
        ``spec_option_value``, ``spec_data_missing``, ``spec_ini``, ``spec_fix``, each
        naming its key and the line written.
    """
    from cartpk.fit._spec import read_fit_spec

    return read_fit_spec(path)


# ---------------------------------------------------------------------------------------
# the command


def run(args: argparse.Namespace) -> int:
    """Run ``cartpk fit``; returns the exit code."""
    from cartpk.data import read_dataset
    from cartpk.model import load_model
    from cartpk.run import run_folder

    spec = load_spec(args.spec)
    out = Path(args.out)
    from cartpk.run import check_out

    check_out(out, force=args.force, inputs=[args.spec, spec.data])  # before any work
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
            FitJob(model, dataset, spec.seed, spec.options, folder, quiet=bool(args.quiet))
        )
        if not ok:
            folder.status = "failed_checks"
    if not ok:
        print(
            f"{out}: fit ran but checks failed (see manifest.json and "
            f"{_CHECKS_FILE.get(spec.method, 'diagnostics.csv')})",
            file=sys.stderr,
        )
        return 1
    print(f"{out}: {spec.method} fit of {spec.model} done")
    return 0
