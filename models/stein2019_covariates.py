"""Stein 2019 (smooth gate) with covariates for a multi-antigen solid-tumour trial.

The structure, typical values and variability are those of ``stein2019_smooth`` (itself
Stein et al. 2019, CPT Pharmacometrics Syst Pharmacol 8:285, doi:10.1002/psp4.12388, with a
sigmoid switch at ``tmax`` for gradient samplers). Stein 2019 retained no covariate (its
final model is the base model); the effects declared here are the ones the cervical-cancer
trial is designed around (``../shared/reference/trial.md``): the target antigen as a
categorical shift of ``log(cmax)`` (reference GD2; PSMA, MUC1, MSLN) and the infused dose as
a power effect on ``cmax`` (reference 3e7 CAR+ cells, the middle dose level of the trial).
Coefficients start at 0 (no effect): they are estimated, never assumed.
"""

from cartpk.model import ClosedFormModel, assumed, categorical, power

from .stein2019 import Stein2019
from .stein2019_smooth import Stein2019Smooth


class Stein2019Covariates(ClosedFormModel):
    """Stein 2019 (smooth gate) with target-antigen and dose effects on ``cmax``."""

    name = "stein2019_covariates"
    reference = Stein2019Smooth.reference + "; covariates: this trial's design (trial.md)"
    time_unit = "day"
    outputs = {"QPCR": "copies/ug"}
    default_dose = Stein2019Smooth.default_dose
    ini = Stein2019Smooth.ini
    covariates = [
        power("cmax", on="DOSE", ref=3.0e7),  # -> cov_cmax_dose, exponent
        categorical(  # -> cov_cmax_target_<level>, shift of log(cmax) vs GD2
            "cmax", on="TARGET", reference="GD2", levels=["GD2", "PSMA", "MUC1", "MSLN"]
        ),
    ]
    predict = Stein2019Smooth.predict
    omega_reading = Stein2019.omega_reading  # Table 1 random effects as "variance" or "sd"
    provenance = Stein2019.provenance.with_blocks(
        structure=assumed(
            "stein2019_smooth: Stein 2019 with cartpk's own sigmoid gate at tmax (after Li & "
            "Cheng 2025, preprint)"
        ),
        typical=assumed(
            "Stein 2019 Table 1 B-ALL values (via nlmixr2lib) used as starting values for a "
            "solid-tumour trial: not estimates for this population"
        ),
        covariates=assumed(
            "this trial's design (reference notes trial.md): dose power and target-antigen "
            "shift on cmax, coefficients start at 0 (no effect), to be estimated"
        ),
    )
