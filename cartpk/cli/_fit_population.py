"""``method = "population"`` of ``cartpk fit``: a hierarchical Bayesian fit and its checks.

Spec keys (all optional besides ``model``/``data``, validated here before anything runs):
``dvid``, ``drop_iiv`` (random effects to remove, e.g. ``["foldx"]``), ``blq`` ("m3"), ``priors`` ("weak"), ``sampler`` ("nutpie"), ``draws`` (1000),
``tune`` (1000), ``chains`` (4), ``target_accept`` (0.9), ``init`` ("jitter"; "declared":
chains start at the declared values), ``ode_engine`` ("jax" or "scipy"; default jax for explicit solvers, scipy for stiff ones), ``ode_method`` (solver instead of the declaration's, e.g. "Tsit5"),
``mass_matrix`` ("diag"; "low_rank" with nutpie), ``centered`` (random effects sampled
centred, e.g. ``["gamma"]``), ``vpc_replicates`` (200),
``rhat_max``, ``ess_bulk_min``, ``ess_tail_min``, ``divergences_max``, ``bfmi_min``.

Registered in :data:`cartpk.cli._fit.METHODS` as ``"population"``. Files written to the run folder: ``posterior.nc`` (ArviZ NetCDF), ``population.csv``,
``individual_parameters.csv`` (also as ``individual.csv``), ``diagnostics.csv`` and
``diagnostics.json``, ``priors.csv``, ``predictions.csv``, ``vpc.csv``, ``vpc_blq.csv``,
``pcvpc.csv``, ``vpc.png``, ``pcvpc.png``, ``gof.png``, ``individual_fits.png``. The run's status
is ``failed_checks`` and the exit code 1 when a convergence threshold is missed.

``population.csv`` ends with ``prior_width_ratio`` (posterior / prior 95 % interval width on the
prior's scale) and ``prior_dominated`` (ratio > 0.5); ``diagnostics.json`` lists those parameters
as ``prior_dominated`` (information only: they do not fail the run). See
:mod:`cartpk.fit.population`, "How much of an interval is prior".
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Mapping
from typing import Any

from cartpk.cli._fit import FitMethod
from cartpk.errors import CartpkWarning, Violation

__all__ = ["OPTIONS", "POPULATION"]

#: spec key -> (type, default)
OPTIONS: dict[str, tuple[type | tuple[type, ...], Any]] = {
    "dvid": ((str, list), None),  # one DVID or a list; default every model output
    "drop_iiv": (
        list,
        None,
    ),  # parameters whose random effect is removed (model.with_iiv(drop=...))
    "blq": (str, "m3"),
    "priors": (str, "weak"),
    "sampler": (str, "nutpie"),
    "draws": (int, 1000),
    "tune": (int, 1000),
    "chains": (int, 4),
    "target_accept": (float, 0.9),
    "init": (str, "jitter"),  # "declared": chains start at the declared ([ini]) values
    "ode_method": (str, None),  # ODE models: solver instead of the declaration's
    "ode_engine": (str, None),  # ODE models: "jax" or "scipy" (default: jax for explicit solvers)
    "mass_matrix": (str, "diag"),  # nutpie: "low_rank" for correlated posteriors
    "centered": (list, None),  # random effects sampled centred (well-informed ones)
    "vpc_replicates": (int, 200),
    "rhat_max": (float, 1.01),
    "ess_bulk_min": (float, 400.0),
    "ess_tail_min": (float, 400.0),
    "divergences_max": (int, 0),
    "bfmi_min": (float, 0.3),
}


def _check(options: Mapping[str, Any]) -> list[Violation]:
    """Type and value checks of the population options (every problem, before anything runs)."""
    problems = []
    for key, value in options.items():
        if key not in OPTIONS or value is None:
            continue
        typ, default = OPTIONS[key]
        ok = isinstance(value, typ) and not isinstance(value, bool)
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            problems.append(
                Violation(
                    "spec_option_value",
                    f"`{key}` has the wrong type",
                    column=key,
                    value=repr(value),
                    expected=getattr(typ, "__name__", "a string or a list of strings"),
                    fix=f"e.g. {key} = {default!r}",
                )
            )
    choices = {
        "blq": ("m3", "m4", "m1"),
        "priors": ("weak", "literature"),
        "sampler": ("nutpie", "pymc"),
        "init": ("jitter", "declared"),
        "ode_engine": ("jax", "scipy"),
        "mass_matrix": ("diag", "low_rank"),
    }
    for key, valid in choices.items():
        if key in options and options[key] not in valid:
            problems.append(
                Violation(
                    "spec_option_value",
                    f"`{key}` has an invalid value",
                    column=key,
                    value=repr(options[key]),
                    expected="one of " + ", ".join(repr(v) for v in valid),
                    fix=f"set `{key}` to one of the valid values",
                )
            )
    return problems


def _run(
    model: Any,
    dataset: Any,
    *,
    seed: int | None,
    options: Mapping[str, Any],
    folder: Any,
    quiet: bool = False,
) -> bool:
    """Fit, check and write a population fit into an open run folder.

    Parameters
    ----------
    model : cartpk.model.Model
        The loaded declaration.
    dataset : cartpk.data.Dataset
        The validated data.
    seed : int, optional
        Master seed (sampler and simulations); 1 when the spec gives none.
    options : mapping
        The spec's options (keys of :data:`OPTIONS`, validated by :func:`_check`).
    folder : cartpk.run.RunFolder
        Open run folder.
    quiet : bool, default False
        Hide the sampler's progress bar (it is shown only on a terminal otherwise).

    Returns
    -------
    bool
        Whether every convergence threshold was met.
    """
    import cartpk as ck
    from cartpk import diagnostics as dg
    from cartpk.cli._common import wants_progress

    opt = {k: options.get(k, default) for k, (_, default) in OPTIONS.items()}
    seed = 1 if seed is None else int(seed)
    if opt["drop_iiv"]:
        model = model.with_iiv(drop=[str(p) for p in opt["drop_iiv"]])
    thresholds = dg.ConvergenceThresholds(
        rhat_max=float(opt["rhat_max"]),
        ess_bulk_min=float(opt["ess_bulk_min"]),
        ess_tail_min=float(opt["ess_tail_min"]),
        divergences_max=int(opt["divergences_max"]),
        bfmi_min=float(opt["bfmi_min"]),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CartpkWarning)
        fit = ck.fit_population(
            model,
            dataset,
            dvid=opt["dvid"],
            blq=opt["blq"],
            priors=opt["priors"],
            sampler=opt["sampler"],
            draws=int(opt["draws"]),
            tune=int(opt["tune"]),
            chains=int(opt["chains"]),
            target_accept=float(opt["target_accept"]),
            init=str(opt["init"]),
            ode_engine=opt["ode_engine"],
            ode_method=opt["ode_method"],
            mass_matrix=str(opt["mass_matrix"]),
            centered=list(opt["centered"] or ()),
            seed=seed,
            thresholds=thresholds,
            progress=wants_progress(quiet),
        )
    notes = [str(w.message) for w in caught if isinstance(w.message, CartpkWarning)]
    for note in notes:
        print(f"warning {note}", file=sys.stderr)
    fit.idata.to_netcdf(str(folder.file("posterior.nc")))
    folder.write_csv("population.csv", fit.parameters)
    folder.write_csv("individual_parameters.csv", fit.individual)
    folder.write_csv("individual.csv", fit.individual)
    folder.write_csv("diagnostics.csv", fit.diagnostics)
    folder.write_csv("priors.csv", fit.priors)
    if len(fit.excluded):
        folder.write_csv("excluded.csv", fit.excluded)
    summary = dict(fit.summary)
    summary["warnings"] = notes
    folder.write_json("diagnostics.json", _jsonable(summary))

    n = int(opt["vpc_replicates"])
    sims = fit.simulate(n, seed=seed)
    pred = dg.predictions(fit, n=n, seed=seed, simulations=sims)
    folder.write_csv("predictions.csv", pred)
    v = dg.vpc(fit, n=n, seed=seed, simulations=sims)
    pc = dg.vpc(fit, n=n, seed=seed, simulations=sims, prediction_corrected=True)
    folder.write_csv("vpc.csv", v.percentiles)
    folder.write_csv("vpc_blq.csv", v.blq)
    folder.write_csv("pcvpc.csv", pc.percentiles)
    dg.plot_vpc(v, folder.file("vpc.png"), observations=fit.observations)
    dg.plot_vpc(pc, folder.file("pcvpc.png"))
    dg.plot_gof(pred, folder.file("gof.png"))
    dg.plot_individual(fit, folder.file("individual_fits.png"))
    folder.manifest["results"] = {
        "method": "population",
        "converged": fit.converged,
        "failed": fit.summary["failed"],
        "blq": fit.summary["blq"],
        "priors": fit.summary["priors"],
        "sampler": fit.summary["sampler"],
    }
    return fit.converged


POPULATION = FitMethod(options=frozenset(OPTIONS), run=_run, check=_check)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item"):
        return _jsonable(obj.item())
    return obj
