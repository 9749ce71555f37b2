"""A population fit read back from its run folder (``cartpk fit`` with ``method = "bayes"``).

The run folder's ``manifest.json`` holds the specification as written (model, ``[ini]``,
``fix``, ``[options]``) and the SHA-256 of the data file; ``posterior.nc`` holds the
posterior. :func:`read_population_run` rebuilds the declaration exactly as ``cartpk fit``
did (catalogue model, then ``with_ini``, ``fix`` and ``with_iiv(drop=...)``), reads the
data, checks that they are the data that were fitted, and returns the
:class:`~cartpk.fit.population.PopulationFit` (tables and diagnostics recomputed from the
posterior, as :meth:`PopulationFit.from_idata` does).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cartpk.errors import CartpkWarning, SpecError, Violation

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.fit.population import PopulationFit

__all__ = ["POPULATION_METHODS", "read_population_run"]

#: ``method`` values of a fit specification that run the Bayesian population fit
POPULATION_METHODS = ("bayes", "population")


def _error(
    code: str, message: str, *, value: Any = None, expected: str = "", fix: str = ""
) -> SpecError:
    return SpecError(
        message,
        [
            Violation(
                code,
                message,
                column="fit",
                value=None if value is None else str(value),
                expected=expected,
                fix=fix,
            )
        ],
    )


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    if not folder.is_dir() or not path.is_file():
        raise _error(
            "fit_not_found",
            f"no cartpk run folder at {folder} (no manifest.json)",
            value=folder,
            expected="the --out folder of `cartpk fit` with method = 'bayes'",
            fix="run the population fit first, or correct the path (relative to the spec)",
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise _error(
            "fit_unreadable",
            f"{path} is not readable JSON: {err}",
            value=path,
            fix="rerun the population fit into a new folder",
        ) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("spec"), dict):
        raise _error(
            "fit_not_population",
            f"{folder} is not a run folder of `cartpk fit` (its manifest holds no spec)",
            value=folder,
            expected="a population fit run folder",
            fix="point `fit` at the folder written by `cartpk fit SPEC.toml --out DIR`",
        )
    return manifest


def _data_path(manifest: dict[str, Any], folder: Path) -> Path:
    """The fitted data file: the manifest's input named by the spec's ``data``."""
    spec = manifest["spec"]
    value = str(spec.get("data", ""))
    inputs = manifest.get("inputs") or {}
    if value.startswith("example:"):
        from cartpk.examples import path as example_path

        candidates = [example_path(value.split(":", 1)[1])]
    else:
        name = Path(value).name
        candidates = [Path(p) for p in inputs if Path(p).name == name]
    for p in candidates:
        if p.is_file():
            return p
    raise _error(
        "fit_data_missing",
        f"the data of the population fit in {folder} are no longer at "
        + (", ".join(str(c) for c in candidates) or repr(value)),
        value=value,
        expected="the data file the fit read (its path is in the run's manifest.json)",
        fix="restore the data file at that path, or rerun the fit",
    )


def _check_digest(manifest: dict[str, Any], data: Path, folder: Path) -> None:
    from cartpk.run import sha256_file

    recorded = {Path(p).name: h for p, h in (manifest.get("inputs") or {}).items()}
    want = recorded.get(data.name)
    if want is not None and sha256_file(data) != want:
        raise _error(
            "fit_data_changed",
            f"{data} changed since the population fit in {folder} read it "
            "(its SHA-256 differs from the manifest's)",
            value=data,
            expected=f"SHA-256 {want}",
            fix="rerun the population fit on the current data",
        )


def read_population_run(folder: str | os.PathLike[str]) -> PopulationFit:
    """Rebuild a Bayesian population fit from its run folder.

    Parameters
    ----------
    folder : path
        The ``--out`` folder of ``cartpk fit SPEC.toml`` with ``method = "bayes"`` (or
        ``"population"``): ``manifest.json`` and ``posterior.nc``.

    Returns
    -------
    PopulationFit
        With the declaration, data and options of the run.

    Raises
    ------
    SpecError
        ``fit_not_found`` (no run folder), ``fit_unreadable``, ``fit_not_population``
        (another method, or not a fit), ``fit_posterior_missing``, ``fit_data_missing``,
        ``fit_data_changed`` (the data file's SHA-256 differs from the manifest's).

    Warns
    -----
    CartpkWarning
        ``fit_not_converged`` when the run's status is not ``ok`` (a convergence check
        failed): results computed from it carry that caveat.
    """
    import arviz as az

    from cartpk.data import read_dataset
    from cartpk.fit.population import PopulationFit
    from cartpk.model import load_model

    path = Path(folder)
    manifest = _manifest(path)
    spec = manifest["spec"]
    method = str(spec.get("method", ""))
    if method not in POPULATION_METHODS:
        raise _error(
            "fit_not_population",
            f"{path} holds a fit with method = {method!r}, not a population fit",
            value=method,
            expected="method = 'bayes' (hierarchical Bayesian population fit)",
            fix='fit the population model (`method = "bayes"`) and point `fit` at its folder',
        )
    posterior = path / "posterior.nc"
    if not posterior.is_file():
        raise _error(
            "fit_posterior_missing",
            f"{path} has no posterior.nc",
            value=posterior,
            fix="rerun the population fit",
        )
    data = _data_path(manifest, path)
    _check_digest(manifest, data, path)
    model = load_model(str(spec["model"]))
    if spec.get("ini"):
        model = model.with_ini(**{k: float(v) for k, v in spec["ini"].items()})
    if spec.get("fix"):
        model = model.fix(*[str(p) for p in spec["fix"]])
    options = spec.get("options") or {}
    if options.get("drop_iiv"):
        model = model.with_iiv(drop=[str(p) for p in options["drop_iiv"]])
    dataset = read_dataset(data)
    idata = az.from_netcdf(str(posterior))
    if manifest.get("status", "ok") != "ok":
        warnings.warn(
            CartpkWarning(
                f"the population fit in {path} did not pass its convergence checks "
                f"(status {manifest.get('status')!r}); exposure computed from it may be "
                "unreliable (see its diagnostics.json)",
                code="fit_not_converged",
            ),
            stacklevel=2,
        )
    return PopulationFit.from_idata(
        model,
        dataset,
        idata,
        dvid=options.get("dvid"),
        blq=options.get("blq", "m3"),
        priors=options.get("priors"),  # None: the model's default_priors
    )
