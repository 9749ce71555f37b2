"""Claret-type tumour growth inhibition of the sum of diameters, driven by CAR-T exposure.

Claret L, Girard P, Hoff PM, et al. Model-based prediction of phase III overall survival
in colorectal cancer on the basis of phase II tumor dynamics. J Clin Oncol
2009;27(25):4103-4108. doi:10.1200/JCO.2008.21.0807 (cartpk reference notes ``models.md``
section 5.1)::

    dSOD/dt = kl SOD - kd C(t) exp(-lam t) SOD,      SOD(0) = sod0

``kl`` is the net growth rate, ``kd`` the kill rate per unit exposure and ``exp(-lam t)``
the resistance term. For CAR-T the exposure ``C(t)`` is the transgene level of the Stein
2019 closed form (``models/stein2019.py``), called here as that model's own ``predict``
(no second copy of its equations), with its parameter block reused (values and variability; the
observation is the tumour, ``SOD``; the driver's qPCR is observed through ``stein2019``).
Solution, used by the tests::

    SOD(t) = sod0 exp(kl t - kd int_0^t C(s) exp(-lam s) ds)

Values: the Stein 2019 Table 1 block for the driver; ``sod0``, ``kl``, ``kd``, ``lam``
and the SOD error are **assumptions of this file** (no CAR-T TGI estimates are in the
reference notes): 60 mm baseline, untreated doubling in ~230 days (``kl = 0.003/day``), a
kill rate of 0.05/day at the typical Cmax of 24,000 copies/ug, and resistance with a
35-day half-life.

Provenance. Only the abstract of Claret 2009 could be read (stored copies of the Certara,
Scilit and DDMoRe pages): an exposure-response TGI model "of drug effect (and resistance)"
fitted to capecitabine phase II (n = 34) and fluorouracil phase III (n = 252) tumour sizes,
with the daily dose as time-varying exposure (DDMoRe DDMODEL00000090,
http://repository.ddmore.eu/model/DDMODEL00000090). Its parameter table was not reachable,
and the abstract's numbers (survival 431 vs 401 days) come from its survival model, which
is not part of this file. The TGI form is **transcribed**: Genentech ``jmpost``'s
Claret-Bruno model (``inst/stan/lm-claret-bruno/functions.stan`` at commit
2fe8b76dd6a52d169a6594d390ca8138dd4c9b58) codes the constant-exposure solution
``b exp(g t - (p / c) (1 - exp(-c t)))``, which this ODE reproduces with ``g = kl``,
``p = kd C``, ``c = lam`` when ``C`` is held constant
(``tests/model/test_catalogue_publications.py``). Driving the kill by the CAR-T transgene
level instead of a chemotherapy dose is cartpk's adaptation (**assumed**), as are all TGI
values.
"""

import math

from cartpk.model import OdeModel, assumed, omega, proportional, provenance, theta, transcribed

from .stein2019 import Stein2019


class ClaretTgi(OdeModel):
    """SOD growth and CAR-T-driven shrinkage with resistance (Claret 2009 form)."""

    name = "claret_tgi"
    reference = (
        "Claret L et al. 2009, J Clin Oncol 27:4103, doi:10.1200/JCO.2008.21.0807 (TGI form); "
        "driver: " + Stein2019.reference
    )
    time_unit = "day"
    outputs = {"SOD": "mm"}
    default_dose = Stein2019.default_dose
    states = ("sod",)
    ini = Stein2019.ini  # foldx, tmax, cmax, alpha, fb, beta: values and IIV
    solver = {"method": "LSODA", "rtol": 1e-9, "atol": 1e-9}

    sod0 = theta(60.0, unit="mm", label="baseline sum of diameters (assumed)")
    kl = theta(0.003, unit="1/day", label="tumour growth rate (assumed)")
    kd = theta(0.05 / 24000.0, unit="ug/copies/day", label="kill per exposure (assumed)")
    lam = theta(math.log(2.0) / 35.0, unit="1/day", label="resistance onset (assumed)")

    iiv = omega(
        var={"foldx": 2.4, "tmax": 0.38, "cmax": 0.65, "alpha": 0.91, "fb": 0.80, "beta": 0.86}
        | {"sod0": 0.25, "kl": 0.5, "kd": 0.5}  # Stein 2019 Table 1; TGI part placeholder
    )
    error = proportional(sigma=0.1)  # assumed

    provenance = provenance(
        structure=[
            transcribed(
                "Claret 2009 TGI form as in Genentech/jmpost lm-claret-bruno/functions.stan "
                "at 2fe8b76d (constant-exposure solution; tests/model/"
                "test_catalogue_publications.py); paper read as abstract only",
                covers="growth kl, exposure-driven kill kd, resistance exp(-lam t)",
            ),
            assumed(
                "cartpk's CAR-T adaptation: the stein2019 transgene level replaces Claret's "
                "chemotherapy dose as exposure",
                covers="exposure C(t)",
            ),
        ],
        typical=[
            transcribed(
                "Stein 2019 Table 1 via nlmixr2lib Stein_2019_Tisagenlecleucel.R",
                covers="driver: foldx, tmax, cmax, alpha, fb, beta",
            ),
            assumed("assumptions of this file", covers="sod0, kl, kd, lam"),
        ],
        iiv=[
            transcribed(
                "Stein 2019 Table 1 read as omega^2 (nlmixr2lib)", covers="driver parameters"
            ),
            assumed("placeholder of this file", covers="sod0, kl, kd"),
        ],
        error=assumed("placeholder of this file"),
        dose=transcribed("Stein 2019 Table 2 median total dose (unused by the equations)"),
    )

    @staticmethod
    def exposure(xp, time, *, foldx, tmax, cmax, alpha, fb, beta):
        """The driver: Stein 2019 transgene level (copies/ug) from the Stein model itself."""
        return Stein2019.predict(
            xp, time, foldx=foldx, tmax=tmax, cmax=cmax, alpha=alpha, fb=fb, beta=beta
        )["QPCR"]

    @staticmethod
    def rhs(xp, time, y, *, foldx, tmax, cmax, alpha, fb, beta, kl, kd, lam):
        """dSOD/dt (mm/day)."""
        c = ClaretTgi.exposure(
            xp, time, foldx=foldx, tmax=tmax, cmax=cmax, alpha=alpha, fb=fb, beta=beta
        )
        return {"sod": (kl - kd * c * xp.exp(-lam * time)) * y["sod"]}

    @staticmethod
    def breakpoints(xp, *, tmax):
        """The driver's kink at ``tmax``: integrate piecewise around it."""
        return {"tmax": tmax}

    @staticmethod
    def initial(xp, *, sod0):
        """Baseline SOD."""
        return {"sod": sod0}

    @staticmethod
    def observe(xp, y):
        """Sum of diameters (mm)."""
        return {"SOD": y["sod"]}
