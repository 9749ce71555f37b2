"""Observed (non-compartmental) exposure: Cmax, Tmax, AUClast, AUC over an interval,
lambda_z, half-life, AUCinf, with CDISC ``PPTESTCD`` names and recorded BLQ rules.

The public functions are re-exported as :func:`cartpk.nca` and :func:`cartpk.nca_summary`.
Layout: ``_core`` (pure NumPy kernels, vectorised over profiles), ``_registry`` (one entry
per parameter: code, wide name, label, unit), ``_options`` (BLQ and lambda_z rules),
``_nca`` (the table API) and ``_summary`` (label-style descriptive statistics).
"""

from cartpk.noncompartmental._nca import NCAResult, nca
from cartpk.noncompartmental._options import BLQRules, LambdaZ
from cartpk.noncompartmental._registry import PARAMETERS, Parameter
from cartpk.noncompartmental._summary import nca_summary

__all__ = ["PARAMETERS", "BLQRules", "LambdaZ", "NCAResult", "Parameter", "nca", "nca_summary"]
