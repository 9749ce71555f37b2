"""cartpk: CAR-T cellular kinetics.

Data → model → simulate → fit → diagnostics → exposure → response → report → cli.
The public API is re-exported here lazily, so ``import cartpk`` stays light (no pymc,
jax, dask or matplotlib at import time).

Quick start
-----------
>>> import cartpk as ck
>>> model = ck.load_model("stein2019_smooth")     # Stein 2019; see ck.list_models()
>>> model = model.with_iiv(drop=["foldx", "tmax", "fb", "beta"])  # what days 7-90 inform
>>> table = ck.simulate(model, n=60, seed=1, lloq=50, days=[7, 14, 21, 28, 60, 90])
>>> data = ck.read_dataset(table)                  # validated long table (or a CSV path)
>>> fits = ck.fit_individual(model, data)          # per-patient M3 fits  # doctest: +SKIP
>>> pop = ck.fit_population(model, data)           # Bayesian population  # doctest: +SKIP
>>> ml = ck.fit_saem(model, data)                 # maximum likelihood (SAEM)  # doctest: +SKIP
>>> exposure = ck.calibrated_exposure(pop)         # model-based Cmax, AUC  # doctest: +SKIP
>>> observed = ck.nca(data, interval=(0, 28))      # NCA with PKNCA's rules
>>> sorted(set(observed.wide.columns) & {"cmax", "tmax"})
['cmax', 'tmax']

From the command line: ``cartpk demo`` runs the whole analysis on the bundled trial;
``cartpk --help`` lists the commands. Units: time in days, qPCR in copies/µg gDNA.

The names here are what an analysis needs; everything else lives in its stage, in the
order data flows: ``cartpk.data``, ``cartpk.model`` (declaring a model: ``theta``,
``omega``, ``additive``, ``proportional``, ...), ``cartpk.simulation``
(``simulate_parameters``), ``cartpk.fit`` (``fit_subject``, ``population_model``,
``population_priors``), ``cartpk.diagnostics``, ``cartpk.noncompartmental``
(``nca_summary``), ``cartpk.exposure``, ``cartpk.response``, ``cartpk.er``
(``ERFit``, ``er_plot``), ``cartpk.report`` and ``cartpk.batch``.
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it (imported on first attribute access)
_LAZY: dict[str, str] = {
    # foundation
    "CartpkError": "cartpk.errors",
    "CartpkWarning": "cartpk.errors",
    "DatasetError": "cartpk.errors",
    "FitError": "cartpk.errors",
    "ModelError": "cartpk.errors",
    "SpecError": "cartpk.errors",
    "Violation": "cartpk.errors",
    "run_folder": "cartpk.run",
    # data
    "Dataset": "cartpk.data",
    "check_dataset": "cartpk.data",
    "read_dataset": "cartpk.data",
    "examples": "cartpk.examples",
    # cdisc (SDTM / ADaM in)
    "read_adam": "cartpk.cdisc",
    "read_sdtm": "cartpk.cdisc",
    # model
    "ClosedFormModel": "cartpk.model",
    "Model": "cartpk.model",
    "OdeModel": "cartpk.model",
    "list_models": "cartpk.model",
    "load_model": "cartpk.model",
    # simulate
    "simulate": "cartpk.simulation",
    # fit
    "FitStatus": "cartpk.fit",
    "IndividualFit": "cartpk.fit",
    "fit_individual": "cartpk.fit",
    "PopulationFit": "cartpk.fit.population",
    "fit_population": "cartpk.fit.population",
    "fit_saem": "cartpk.fit.saem",
    # diagnostics
    "diagnostics": "cartpk.diagnostics",
    "check_convergence": "cartpk.diagnostics",
    "plot_gof": "cartpk.diagnostics",
    "plot_individual": "cartpk.diagnostics",
    "plot_vpc": "cartpk.diagnostics",
    "vpc": "cartpk.diagnostics",
    # exposure (observed)
    "nca": "cartpk.noncompartmental",
    # exposure (model-based)
    "calibrated_exposure": "cartpk.exposure",
    "compare_exposure": "cartpk.exposure",
    "exposure": "cartpk.exposure",
    "model_exposure": "cartpk.exposure",
    # response
    "recist": "cartpk.response",
    "ae_summary": "cartpk.response",
    "crs_summary": "cartpk.response",
    "cytokine_peaks": "cartpk.response",
    # exposure-response
    "er_subjects": "cartpk.er",
    "fit_er": "cartpk.er",
    "run_er": "cartpk.er",
    # report
    "build_report": "cartpk.report",
    # batch (Dask studies)
    "bootstrap": "cartpk.batch",
    "fit_many": "cartpk.batch",
    "sse": "cartpk.batch",
}

__all__ = ["__version__", *sorted(_LAZY)]

if TYPE_CHECKING:  # pragma: no cover
    from cartpk import diagnostics as diagnostics
    from cartpk import examples as examples
    from cartpk import exposure as exposure
    from cartpk.batch import bootstrap as bootstrap
    from cartpk.batch import fit_many as fit_many
    from cartpk.batch import sse as sse
    from cartpk.cdisc import read_adam as read_adam
    from cartpk.cdisc import read_sdtm as read_sdtm
    from cartpk.data import Dataset as Dataset
    from cartpk.data import check_dataset as check_dataset
    from cartpk.data import read_dataset as read_dataset
    from cartpk.diagnostics import check_convergence as check_convergence
    from cartpk.diagnostics import plot_gof as plot_gof
    from cartpk.diagnostics import plot_individual as plot_individual
    from cartpk.diagnostics import plot_vpc as plot_vpc
    from cartpk.diagnostics import vpc as vpc
    from cartpk.er import er_subjects as er_subjects
    from cartpk.er import fit_er as fit_er
    from cartpk.er import run_er as run_er
    from cartpk.errors import CartpkError as CartpkError
    from cartpk.errors import CartpkWarning as CartpkWarning
    from cartpk.errors import DatasetError as DatasetError
    from cartpk.errors import FitError as FitError
    from cartpk.errors import ModelError as ModelError
    from cartpk.errors import SpecError as SpecError
    from cartpk.errors import Violation as Violation
    from cartpk.exposure import calibrated_exposure as calibrated_exposure
    from cartpk.exposure import compare_exposure as compare_exposure
    from cartpk.exposure import model_exposure as model_exposure
    from cartpk.fit import FitStatus as FitStatus
    from cartpk.fit import IndividualFit as IndividualFit
    from cartpk.fit import fit_individual as fit_individual
    from cartpk.fit.population import PopulationFit as PopulationFit
    from cartpk.fit.population import fit_population as fit_population
    from cartpk.fit.saem import fit_saem as fit_saem
    from cartpk.model import ClosedFormModel as ClosedFormModel
    from cartpk.model import Model as Model
    from cartpk.model import OdeModel as OdeModel
    from cartpk.model import list_models as list_models
    from cartpk.model import load_model as load_model
    from cartpk.noncompartmental import nca as nca
    from cartpk.report import build_report as build_report
    from cartpk.response import ae_summary as ae_summary
    from cartpk.response import crs_summary as crs_summary
    from cartpk.response import cytokine_peaks as cytokine_peaks
    from cartpk.response import recist as recist
    from cartpk.run import run_folder as run_folder
    from cartpk.simulation import simulate as simulate


#: the stages, reachable as ``cartpk.<stage>`` without importing them first
_STAGES = frozenset(
    {"data", "model", "simulation", "fit", "noncompartmental", "response", "er", "report", "batch"}
)


def __getattr__(name: str) -> Any:
    if name in _STAGES:
        return _importlib.import_module(f"cartpk.{name}")
    try:
        modname = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'cartpk' has no attribute {name!r}") from None
    module = _importlib.import_module(modname)
    value = module if modname.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # the public API only (not the helpers this module imports)
    return sorted(__all__)
