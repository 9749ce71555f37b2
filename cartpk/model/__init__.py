"""Model declaration: parameters, variability, residual error, covariates, the catalogue.

A model is declared once (see ``models/stein2019.py``) and evaluated by every engine
through an array namespace ``xp``. This package imports NumPy at most.
"""

from cartpk.model._base import Model as Model
from cartpk.model._base import ParameterBlock as ParameterBlock
from cartpk.model._catalogue import list_models as list_models
from cartpk.model._catalogue import load_model as load_model
from cartpk.model._closed_form import ClosedFormModel as ClosedFormModel
from cartpk.model._ode_model import OdeModel as OdeModel
from cartpk.model._params import Categorical as Categorical
from cartpk.model._params import CovariateEffect as CovariateEffect
from cartpk.model._params import ErrorModel as ErrorModel
from cartpk.model._params import Omega as Omega
from cartpk.model._params import Power as Power
from cartpk.model._params import Theta as Theta
from cartpk.model._params import additive as additive
from cartpk.model._params import categorical as categorical
from cartpk.model._params import combined as combined
from cartpk.model._params import log_additive as log_additive
from cartpk.model._params import omega as omega
from cartpk.model._params import power as power
from cartpk.model._params import proportional as proportional
from cartpk.model._params import theta as theta
from cartpk.model._priors import PriorSet as PriorSet
from cartpk.model._priors import TypicalPrior as TypicalPrior
from cartpk.model._priors import prior_set as prior_set
from cartpk.model._priors import typical_prior as typical_prior
from cartpk.model._provenance import BLOCKS as BLOCKS
from cartpk.model._provenance import LEVELS as LEVELS
from cartpk.model._provenance import Evidence as Evidence
from cartpk.model._provenance import Provenance as Provenance
from cartpk.model._provenance import assumed as assumed
from cartpk.model._provenance import provenance as provenance
from cartpk.model._provenance import transcribed as transcribed
from cartpk.model._provenance import verified as verified

__all__ = [
    "BLOCKS",
    "LEVELS",
    "Categorical",
    "ClosedFormModel",
    "CovariateEffect",
    "ErrorModel",
    "Evidence",
    "Model",
    "OdeModel",
    "Omega",
    "ParameterBlock",
    "Power",
    "PriorSet",
    "Provenance",
    "Theta",
    "TypicalPrior",
    "additive",
    "assumed",
    "categorical",
    "combined",
    "list_models",
    "load_model",
    "log_additive",
    "omega",
    "power",
    "prior_set",
    "proportional",
    "provenance",
    "theta",
    "transcribed",
    "typical_prior",
    "verified",
]
