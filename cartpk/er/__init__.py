"""RESPONSE: exposure-response models on a per-subject table.

Proportional-odds (ordinal) models for CRS / AE grades, logistic regression for objective
response and grade >= 3 events (Firth penalisation when the data are separated), Emax or
log-linear models for cytokine peaks and Cox models for PFS / duration of response, with
exposure entering as its log (natural by default, ``log10`` on request) and effects
reported per 2-fold and per 10-fold increase in exposure. Exposure uncertainty is
measured with error: a specification's ``fit`` key feeds each subject's model-based
exposure from a population fit (the posterior mean of its log, regression calibration),
which keeps slopes unbiased where observed NCA exposure attenuates them
(``docs/er_exposure.md``).

Public names: :func:`fit_er`, :class:`ERFit`, :class:`ERStatus`, :func:`er_plot`, :func:`er_subjects`, :func:`read_er_spec`,
:func:`run_er`, :func:`load_subjects`, :data:`FAILED`, :class:`ERSpec`, :class:`ERReport`,
:data:`ESTIMATE_COLUMNS`, :func:`widen_for_calibration`.
"""

from cartpk.er._calibration import widen_for_calibration as widen_for_calibration
from cartpk.er._design import MODELS as MODELS
from cartpk.er._design import is_separated as is_separated
from cartpk.er._fit import ESTIMATE_COLUMNS as ESTIMATE_COLUMNS
from cartpk.er._fit import ERFit as ERFit
from cartpk.er._fit import fit_er as fit_er
from cartpk.er._plots import er_plot as er_plot
from cartpk.er._plots import exposure_quartiles as exposure_quartiles
from cartpk.er._run import REPORT_COLUMNS as REPORT_COLUMNS
from cartpk.er._run import ERReport as ERReport
from cartpk.er._run import load_subjects as load_subjects
from cartpk.er._run import run_er as run_er
from cartpk.er._spec import ERAnalysis as ERAnalysis
from cartpk.er._spec import ERSpec as ERSpec
from cartpk.er._spec import parse_er_spec as parse_er_spec
from cartpk.er._spec import read_er_spec as read_er_spec
from cartpk.er._status import FAILED as FAILED
from cartpk.er._status import ERStatus as ERStatus
from cartpk.er._subjects import er_subjects as er_subjects

__all__ = [
    "ESTIMATE_COLUMNS",
    "FAILED",
    "MODELS",
    "REPORT_COLUMNS",
    "ERAnalysis",
    "ERFit",
    "ERReport",
    "ERSpec",
    "ERStatus",
    "er_plot",
    "er_subjects",
    "exposure_quartiles",
    "fit_er",
    "is_separated",
    "load_subjects",
    "parse_er_spec",
    "read_er_spec",
    "run_er",
    "widen_for_calibration",
]
