"""Observed (non-compartmental) exposure: Cmax, Tmax, AUClast, AUC over an interval,
lambda_z, half-life, AUCinf, with CDISC ``PPTESTCD`` names and recorded BLQ rules.

:func:`nca` is re-exported as :func:`cartpk.nca`; :func:`nca_summary` is used from here.
Layout: ``_core`` (pure NumPy kernels, vectorised over profiles), ``_registry`` (one entry
per parameter: code, wide name, label, unit, what it depends on and how it is computed),
``_calc`` (the compute functions), ``_options`` (BLQ and lambda_z rules), ``_nca`` (the
table API; ``_nca_steps`` walks the registry in dependency order) and ``_summary``
(label-style descriptive statistics).

BLQ samples and interval AUCs (issue 22; details in ``docs/nca_blq.md``)
------------------------------------------------------------------------
The default BLQ rule is PKNCA's ``conc.blq = list(first="keep", middle="drop",
last="keep")``: a BLQ sample before the first quantifiable one is 0, one between
quantifiable samples is dropped, one after the last quantifiable sample (``Tlast``) is 0.
:class:`BLQRules` keeps the other choices (``after="drop"`` is the rule before issue 22).

An interval AUC such as AUC0-28d (``AUCINT``, wide ``auc_0_28d``) then exists for every
profile with a sample, and ``PPANMETH`` in the long table says how it was obtained:

* ``interpolated``: the interval ends at or before ``Tlast``;
* ``blq_zero``: it ends after ``Tlast`` and a BLQ zero follows ``Tlast``; the level runs
  linearly from ``Clast`` to that zero (a log-linear line cannot reach 0, so linear under
  either AUC method, as in PKNCA) and is 0 after it, lambda_z is not used;
* ``extrapolated_lambda_z``: it ends after ``Tlast``, the last sample is quantifiable,
  and ``Clast/lambda_z * (1 - exp(-lambda_z (end - Tlast)))`` is added;
* ``all_blq``: no sample is quantifiable and the BLQ samples are 0; the AUC is 0 (PKNCA
  gives 0 for an all-zero profile).

A missing ``AUCINT`` (e.g. the last sample is quantifiable, before the interval end, and
lambda_z is missing) has an empty ``PPANMETH`` and a ``REASON``.
"""

from cartpk.noncompartmental._nca import NCAResult, nca
from cartpk.noncompartmental._options import BLQRules, LambdaZ
from cartpk.noncompartmental._registry import PARAMETERS, Parameter
from cartpk.noncompartmental._summary import nca_summary

__all__ = ["PARAMETERS", "BLQRules", "LambdaZ", "NCAResult", "Parameter", "nca", "nca_summary"]
