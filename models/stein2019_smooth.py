"""Stein et al. 2019 with a smooth (sigmoid) switch at ``tmax``, for gradient-based samplers.

Same parameters, variability and residual error as ``stein2019`` (Stein AM et al. 2019,
CPT Pharmacometrics Syst Pharmacol 8:285, doi:10.1002/psp4.12388), plus a fixed gate width.
The hard switch at ``tmax`` makes the likelihood non-smooth in ``tmax`` where an observation
sits near the peak, which hurts HMC/NUTS. Li Y & Cheng Y (preprint, 2025) replace the
discontinuous switch by a smooth S-shaped gate; following that idea, the log level is a
blend of the two branches::

    g(t)    = 1 / (1 + exp(-(t - tmax) / gate))
    log C   = (1 - g) log C_expansion(t) + g log C_decline(t)

Both branches equal ``cmax`` at ``tmax``, so the curve passes through ``cmax`` at ``tmax``;
away from ``tmax`` (more than a few ``gate`` widths) it equals the closed form of
``stein2019``.

**``cmax`` is not this model's peak.** Just after ``tmax`` the gate still weights the rising
branch, so the curve keeps rising for a fraction of a day: at the typical values the peak
is 1.034 x ``cmax`` (24,812 copies/ug), 0.19 day after ``tmax``; over +-1 SD of the IIV of
``foldx``, ``tmax`` and ``alpha`` the ratio peak / ``cmax`` spans 1.000-1.130, over +-2 SD
1.000-1.331 (fast expansion and fast contraction give the largest excess;
``tests/model/test_catalogue_traps.py``). Likewise ``tmax`` is not the time of the peak.
The model-based Cmax and Tmax of ``model_exposure`` and ``calibrated_exposure`` are the
profile's maximum and its time, never these parameters; read ``cmax`` and ``tmax`` as the
level and time at the switch. (In ``stein2019``, with its hard switch, ``cmax`` is the
peak.) The likelihood is unchanged by this statement: the parameters keep Stein's names
and typical values so that fits and priors match ``stein2019``. The gate width
0.25 day is our choice (not from a paper): at the seed design's nearest samples to the
typical peak (days 7 and 14, 2.3 days from 9.3) the gate is within 1e-4 of 0 or 1.
"""

from cartpk.model import assumed, theta

from .stein2019 import Stein2019


class Stein2019Smooth(Stein2019):
    """Stein 2019 with a sigmoid gate of width ``gate`` at ``tmax``.

    A derivation of :class:`Stein2019`: its outputs, default dose, parameters, variability,
    residual error and ``omega_reading`` are inherited; ``gate`` and ``predict`` are new.
    Stein's closed-form ``auc`` does not apply to this ``predict`` and is never used for it
    (``cartpk.exposure`` takes an ``auc`` only from the class declaring ``predict``).
    """

    name = "stein2019_smooth"
    reference = Stein2019.reference + " (smooth gate after Li & Cheng 2025, preprint)"
    gate = theta(0.25, unit="day", transform="log", fixed=True, label="switch width")  # ours
    provenance = Stein2019.provenance.with_blocks(
        structure=assumed(
            "sigmoid gate at tmax: cartpk's own design after Li & Cheng 2025 (preprint, "
            "details not public), gate width 0.25 d ours; away from tmax it equals the "
            "verified stein2019 closed form (tests/model/test_stein2019.py)"
        )
    )

    @staticmethod
    def predict(xp, time, *, foldx, tmax, cmax, alpha, fb, beta, gate):
        """Transgene level (copies/ug) at ``time``; smooth in every parameter."""
        g = 0.5 * (1.0 + xp.tanh((time - tmax) / (2.0 * gate)))  # logistic, overflow-free
        tau = time - tmax
        log_up = xp.log(cmax) + xp.log(foldx) * (time / tmax - 1.0)
        log_down = xp.log(cmax) + xp.logaddexp(
            xp.log(1.0 - fb) - alpha * tau, xp.log(fb) - beta * tau
        )
        return {"QPCR": xp.exp((1.0 - g) * log_up + g * log_down)}
