"""Studies on Dask: simulation-estimation, bootstraps and batches of fits.

Two simulation-estimation studies: :func:`sse` (a model's parameters) and
:func:`er_chain_sse` (exposure-response slopes through the population fit ->
model-based exposure -> E-R chain, against the NCA route).

Every study runs its tasks on a ``dask.distributed`` cluster (a ``LocalCluster`` by
default, or a running scheduler given by its address), writes one result file per task
into the study folder and resumes an interrupted study without redoing finished tasks.
Seeds come from one master seed (``numpy.random.SeedSequence.spawn``), so the numbers do
not depend on the number of workers. Dask itself is imported only when a study runs.
"""

from cartpk.batch._bootstrap import BootstrapResult as BootstrapResult
from cartpk.batch._bootstrap import bootstrap as bootstrap
from cartpk.batch._bootstrap import percentile_intervals as percentile_intervals
from cartpk.batch._bootstrap import resample_subjects as resample_subjects
from cartpk.batch._er_chain import ChainFit as ChainFit
from cartpk.batch._er_chain import ERChainResult as ERChainResult
from cartpk.batch._er_chain import EROutcomes as EROutcomes
from cartpk.batch._er_chain import er_chain_sse as er_chain_sse
from cartpk.batch._er_chain import summarise_er_chain as summarise_er_chain
from cartpk.batch._er_chain_spec import er_chain_from_spec as er_chain_from_spec
from cartpk.batch._estimators import IndividualFitEstimator as IndividualFitEstimator
from cartpk.batch._estimators import fit_table as fit_table
from cartpk.batch._estimators import median_interval as median_interval
from cartpk.batch._fit_many import FitManyResult as FitManyResult
from cartpk.batch._fit_many import fit_many as fit_many
from cartpk.batch._fit_many import run_individual_spec as run_individual_spec
from cartpk.batch._runner import dask_client as dask_client
from cartpk.batch._runner import spawn_seeds as spawn_seeds
from cartpk.batch._saem_estimator import SaemEstimator as SaemEstimator
from cartpk.batch._scm import ScmResult as ScmResult
from cartpk.batch._scm import scm as scm
from cartpk.batch._scm_spec import Candidate as Candidate
from cartpk.batch._scm_spec import scm_from_spec as scm_from_spec
from cartpk.batch._spec import ESTIMATORS as ESTIMATORS
from cartpk.batch._spec import StudySpec as StudySpec
from cartpk.batch._spec import estimator_from_spec as estimator_from_spec
from cartpk.batch._spec import load_spec as load_spec
from cartpk.batch._sse import Estimator as Estimator
from cartpk.batch._sse import SSEResult as SSEResult
from cartpk.batch._sse import estimates_frame as estimates_frame
from cartpk.batch._sse import sse as sse
from cartpk.batch._sse import summarise_sse as summarise_sse

__all__ = [
    "ESTIMATORS",
    "BootstrapResult",
    "Candidate",
    "ChainFit",
    "ERChainResult",
    "EROutcomes",
    "Estimator",
    "FitManyResult",
    "IndividualFitEstimator",
    "SaemEstimator",
    "ScmResult",
    "SSEResult",
    "StudySpec",
    "bootstrap",
    "dask_client",
    "er_chain_from_spec",
    "er_chain_sse",
    "estimates_frame",
    "estimator_from_spec",
    "fit_many",
    "fit_table",
    "load_spec",
    "median_interval",
    "percentile_intervals",
    "resample_subjects",
    "run_individual_spec",
    "scm",
    "scm_from_spec",
    "spawn_seeds",
    "sse",
    "summarise_er_chain",
    "summarise_sse",
]
