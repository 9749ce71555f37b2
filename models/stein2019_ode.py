"""Stein et al. 2019 as an ODE: effector and memory-like transgene pools.

Stein AM et al. 2019, CPT Pharmacometrics Syst Pharmacol 8:285, doi:10.1002/psp4.12388,
Figure 2 (compartmental model) and supplement ("Analytical solution for the compartmental
model")::

    t <  tmax:  dE/dt =  rho E,                       E(0) = R0 = cmax / foldx,  M = 0
    t >= tmax:  dE/dt = -alpha E
                dM/dt =  k E - beta M,  k = fb (alpha - beta)
    observed transgene = E + M

The inflow ``k E`` into M is not subtracted from E (E's total loss rate is ``alpha``); that
is what makes ``E + M`` the closed form of ``stein2019`` exactly. The parameter block
(values, variability, residual error) is the one of ``stein2019``, not a copy.
"""

from cartpk.model import OdeModel, verified

from .stein2019 import Stein2019


class Stein2019Ode(OdeModel):
    """Effector (E) and memory (M) pools; agrees with the closed form ``stein2019``."""

    name = "stein2019_ode"
    reference = Stein2019.reference + " (Figure 2, ODE form)"
    time_unit = "day"
    outputs = {"QPCR": "copies/ug"}
    default_dose = Stein2019.default_dose
    states = ("effector", "memory")
    ini = Stein2019.ini  # same thetas, IIV and residual error as the closed form
    omega_reading = Stein2019.omega_reading  # Table 1 random effects as "variance" or "sd"
    provenance = Stein2019.provenance.with_blocks(
        structure=verified(
            "Stein 2019 Figure 2 ODE; agrees with the closed form stein2019 to <= 1e-6 "
            "(tests/model/test_stein2019.py), which reproduces the abstract's 0.78 / 4.3 / "
            "220 d"
        )
    )
    # A non-stiff problem with a switch at tmax: an explicit high-order method with tight
    # tolerances steps over the switch accurately (agreement with the closed form <= 1e-6).
    solver = {"method": "DOP853", "rtol": 1e-11, "atol": 1e-12}

    @staticmethod
    def rhs(xp, time, y, *, foldx, tmax, alpha, fb, beta):
        """d/dt of the effector and memory pools (copies/ug/day)."""
        rho = xp.log(foldx) / tmax
        expanding = time < tmax
        d_effector = xp.where(expanding, rho, -alpha) * y["effector"]
        d_memory = xp.where(
            expanding, 0.0, fb * (alpha - beta) * y["effector"] - beta * y["memory"]
        )
        return {"effector": d_effector, "memory": d_memory}

    @staticmethod
    def breakpoints(xp, *, tmax):
        """The switch from expansion to contraction: integrate piecewise around it."""
        return {"tmax": tmax}

    @staticmethod
    def initial(xp, *, cmax, foldx):
        """State at infusion: ``R0 = cmax / foldx`` effector transgene, no memory."""
        return {"effector": cmax / foldx, "memory": 0.0 * cmax}

    @staticmethod
    def observe(xp, y):
        """qPCR measures all transgene copies: effector + memory."""
        return {"QPCR": y["effector"] + y["memory"]}
