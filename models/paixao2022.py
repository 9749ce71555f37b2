"""Paixão et al. 2022: multiphasic CAR-T kinetics via phenotypic differentiation, with tumour.

Paixão EA, Barros LRC, Fassoni AC, Almeida RC. Modeling patient-specific CAR-T cell
dynamics: multiphasic kinetics via phenotypic differentiation. Cancers 2022;14(22):5576.
doi:10.3390/cancers14225576. Functional CAR-T cells (distributed ``cd`` and effector
``ct``), memory ``cm`` and exhausted ``cn`` phenotypes and tumour ``tumour``; it extends
the CARTmath model of Barros et al. 2021 (Cancers 13(12):2941, doi:10.3390/cancers13122941).
All populations in cells, time in days::

    dCD/dt = -eta CD                                                  (distribution)
    dCT/dt =  eta CD + phi CT - rho CT + theta T CM - alpha T CT - lam T CT
    dCM/dt =  eps CT - theta T CM - mu CM
    dCN/dt =  lam T CT - mu_n CN                                      (exhaustion)
    dT/dt  =  r T (1 - b T) - gamma CT T

Provenance, honestly: the CARTmath core (``phi, rho, eps, theta, alpha, mu, r, b,
gamma`` terms) is checked against Barros 2021 and its authors' code (cartpk reference
notes ``models.md`` 3.3, tag V); the distributed and exhausted compartments are the
structure of Paixão 2022 as **recalled** (``models.md`` 3.4, tag R, not checked against the
paper's Eqs. 1-5). Values: the HDLM-2 + CAR-T123 column of Barros 2021 Table 2 (a
preclinical, mouse-scale parameter set) for the core; ``eta``, ``lam``, ``mu_n``, the
tumour burden and the dose are **assumptions of this file** (Paixão's per-patient
estimates are not transcribed), chosen at the preclinical scale of the core values
(1e7 tumour cells, 1e6 CAR-T cells) so that the typical subject shows distribution,
expansion, contraction and persistence, and tumour clearance. ``phi < rho`` (effectors vanish without tumour) and
``phi > rho - eps`` (Barros 2021 constraints) hold for these values.

Observations, with their conversions stated:

* ``QPCR`` (copies/ug genomic DNA) = ``qpcr_per_cell`` x (CD + CT + CM + CN): one
  vector copy per CAR-T cell, 151,515 diploid cells per ug DNA (6.6 pg DNA per cell), and
  every model CAR-T cell counted among 5e9 circulating leukocytes (5 L blood x 1e6
  leukocytes/mL after lymphodepletion): ``151515 / 5e9 = 3.03e-5`` copies/ug per cell.
* ``SOD`` (mm): the tumour as one sphere of ``cells_per_ml`` = 1e9 cells/mL (the usual
  1 cm^3 ~ 1e9 cells rule), diameter ``10 (6 T / (pi cells_per_ml))^(1/3)`` mm.
"""

import math

from cartpk.model import OdeModel, assumed, log_additive, omega, proportional, provenance, verified
from cartpk.model import theta as declare


class Paixao2022(OdeModel):
    """Distributed/effector, memory, exhausted CAR-T + tumour (CARTmath family)."""

    name = "paixao2022"
    reference = "Paixão EA et al. 2022, Cancers 14:5576, doi:10.3390/cancers14225576"
    time_unit = "day"
    outputs = {"QPCR": "copies/ug", "SOD": "mm"}
    default_dose = 1.0e6  # CAR+ cells (assumption of this file, mouse scale)
    states = ("cd", "ct", "cm", "cn", "tumour")
    dosed_states = ("cd",)
    # stiff while the tumour is large (theta T ~ 60/day at 1e7 cells): implicit BDF
    solver = {"method": "BDF", "rtol": 1e-7, "atol": 1e-4}

    # CARTmath core, HDLM-2 + CAR-T123 (Barros 2021 Table 2)
    phi = declare(0.265, unit="1/day", label="effector expansion")  # Barros Table 2
    rho = declare(0.350, unit="1/day", label="effector death/differentiation")  # Table 2
    eps = declare(0.150, unit="1/day", label="effector -> memory")  # Barros Table 2
    theta = declare(6.0e-6, unit="1/(cell day)", label="memory -> effector by tumour")  # T2
    alpha = declare(4.5e-8, unit="1/(cell day)", label="effector inhibition by tumour")  # T2
    mu = declare(5.0e-3, unit="1/day", label="memory death")  # Barros Table 2
    r = declare(5.650026e-2, unit="1/day", label="tumour growth")  # Barros Table 2
    b = declare(1.404029e-12, unit="1/cell", label="inverse carrying capacity")  # Table 2
    gamma = declare(3.715843e-6, unit="1/(cell day)", label="tumour killing")  # Table 2
    # Paixão 2022 compartments: values are assumptions of this file
    eta = declare(1.0, unit="1/day", label="distribution rate (assumed)")
    lam = declare(1.0e-8, unit="1/(cell day)", label="exhaustion by tumour (assumed)")
    mu_n = declare(0.1, unit="1/day", label="exhausted death (assumed)")
    tumour0 = declare(1.0e7, unit="cells", label="baseline tumour burden (assumed)")
    # observation conversions (module docstring)
    qpcr_per_cell = declare(
        151515.0 / 5e9, unit="copies/ug/cell", label="qPCR per CAR-T cell", fixed=True
    )
    cells_per_ml = declare(1e9, unit="cells/mL", label="tumour cell density", fixed=True)

    # placeholder IIV; none on phi: a draw above rho would break phi < rho (unbounded growth)
    iiv = omega(sd={"theta": 0.5, "gamma": 0.5, "tumour0": 1.0, "eps": 0.3})
    error = {"QPCR": log_additive(sigma=0.5), "SOD": proportional(sigma=0.1)}  # placeholder

    provenance = provenance(
        structure=[
            verified(
                "Barros 2021 (Cancers 13:2941) equations as in the authors' code "
                "tmglncc/CARTmath server.R (models.md 3.3 tag V; audit 2026-12 section 1c)",
                covers="CARTmath core",
            ),
            assumed(
                "Paixao 2022 Eqs 1-5 recalled, not checked (only the abstract was retrievable)",
                covers="distributed cd and exhausted cn compartments",
            ),
        ],
        typical=[
            verified(
                "Barros 2021 Table 2, HDLM-2 + CAR-T123 column, identical in the authors' "
                "code (models.md 3.3 tag V); preclinical, mouse scale",
                covers="phi, rho, eps, theta, alpha, mu, r, b, gamma",
            ),
            assumed("assumptions of this file", covers="eta, lam, mu_n"),
        ],
        baseline=assumed("tumour0 1e7 cells: assumption of this file (mouse scale)"),
        iiv=assumed("placeholder of this file"),
        error=assumed("placeholder of this file"),
        dose=assumed("1e6 CAR+ cells: assumption of this file (mouse scale)"),
        observation=assumed(
            "qPCR 3.03e-5 copies/ug per cell and 1e9 tumour cells/mL: conversions of this "
            "file (module docstring)"
        ),
    )

    @staticmethod
    def rhs(xp, time, y, *, phi, rho, eps, theta, alpha, mu, r, b, gamma, eta, lam, mu_n):
        """Rates of change (cells/day)."""
        cd, ct, cm, cn, tum = y["cd"], y["ct"], y["cm"], y["cn"], y["tumour"]
        recall = theta * tum * cm
        exhaust = lam * tum * ct
        return {
            "cd": -eta * cd,
            "ct": eta * cd + (phi - rho) * ct + recall - alpha * tum * ct - exhaust,
            "cm": eps * ct - recall - mu * cm,
            "cn": exhaust - mu_n * cn,
            "tumour": r * tum * (1.0 - b * tum) - gamma * ct * tum,
        }

    @staticmethod
    def initial(xp, *, tumour0, dose):
        """The dose (CAR+ cells) starts distributing; the tumour at its baseline."""
        zero = 0.0 * tumour0
        return {"cd": dose + zero, "ct": zero, "cm": zero, "cn": zero, "tumour": tumour0}

    @staticmethod
    def observe(xp, y, *, qpcr_per_cell, cells_per_ml):
        """qPCR of all CAR-T phenotypes; tumour as the diameter of an equivalent sphere."""
        total = y["cd"] + y["ct"] + y["cm"] + y["cn"]
        volume_ml = y["tumour"] / cells_per_ml
        # clamp: a solver's tiny negative overshoot must not give a complex root; the floor
        # is 1e-30 mL, not 0, so that automatic differentiation (JAX engine) does not form
        # 0 * d(v^(1/3))/dv = 0 * inf = NaN on an eradicated tumour (SOD 1e-9 mm there)
        sod = 10.0 * (6.0 * xp.maximum(volume_ml, 1e-30) / math.pi) ** (1.0 / 3.0)
        return {"QPCR": qpcr_per_cell * total, "SOD": sod}
