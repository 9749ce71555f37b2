"""FIT: censored likelihood (`_likelihood`), per-subject maximum likelihood (`individual`).

The likelihood is generic over the array namespace so every engine evaluates the same
censored terms of the same declaration.
"""

from cartpk.fit._convergence import PopulationStatus as PopulationStatus
from cartpk.fit._likelihood import BLQ_METHODS as BLQ_METHODS
from cartpk.fit._likelihood import BlqMethod as BlqMethod
from cartpk.fit._likelihood import censoring_interval as censoring_interval
from cartpk.fit._likelihood import check_blq as check_blq
from cartpk.fit._likelihood import log_ndtr as log_ndtr
from cartpk.fit._likelihood import loglik as loglik
from cartpk.fit._saved import POPULATION_METHODS as POPULATION_METHODS
from cartpk.fit._saved import read_population_run as read_population_run
from cartpk.fit.individual import FitStatus as FitStatus
from cartpk.fit.individual import IndividualFit as IndividualFit
from cartpk.fit.individual import SubjectData as SubjectData
from cartpk.fit.individual import SubjectFit as SubjectFit
from cartpk.fit.individual import fit_individual as fit_individual
from cartpk.fit.individual import fit_subject as fit_subject
from cartpk.fit.individual import subjects_from_dataset as subjects_from_dataset

#: population names, importable from here without loading the population module first
_POPULATION = frozenset(
    {"PopulationFit", "fit_population", "population_model", "population_priors"}
)


def __getattr__(name: str) -> object:
    if name in _POPULATION:
        from cartpk.fit import population

        return getattr(population, name)
    raise AttributeError(f"module 'cartpk.fit' has no attribute {name!r}")


__all__ = [
    "BLQ_METHODS",
    "BlqMethod",
    "FitStatus",
    "IndividualFit",
    "POPULATION_METHODS",
    "PopulationFit",
    "PopulationStatus",
    "SubjectData",
    "SubjectFit",
    "censoring_interval",
    "check_blq",
    "fit_individual",
    "fit_population",
    "fit_subject",
    "log_ndtr",
    "loglik",
    "population_model",
    "population_priors",
    "read_population_run",
    "subjects_from_dataset",
]
