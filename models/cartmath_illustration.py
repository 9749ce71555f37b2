"""A CARTmath-derived illustration: effector/memory CAR-T and tumour (Barros 2021), with
distributed and exhausted compartments after Paixão et al. 2022. Not a reproduction of Paixão
2022: its compartments could not be checked against the paper (see "Provenance" below).

Named ``cartmath_illustration`` for that reason: it was catalogued as ``paixao2022`` until
2026-12, and ``load_model("paixao2022")`` now fails with ``model_renamed``, saying why, rather
than let a user read this file as that paper's model.

Sources:

* Barros LRC et al. CARTmath - a mathematical model of CAR-T immunotherapy in preclinical
  studies of hematological cancers. Cancers 2021;13(12):2941. doi:10.3390/cancers13122941.
  The authors' code (cited as "E.A. Paixão, G.T. Naozuka, A.M.P. Valli, L.R.C. Barros,
  R.C. Almeida, CARTmath, version 1.0, 2020", doi:10.5281/zenodo.4450376), GitHub
  ``tmglncc/CARTmath`` at commit 4688e802fda4c1b5c86224513251d6cbda6b8f3f: ``rk4.R``
  (``deriv``: the three equations of the core below) and ``server.R`` (lines 1974-2064 of
  that commit: the defaults of every data set but ex4-ex6 and ex8, which are the HDLM-2 +
  CAR-T123 column of Barros 2021 Table 2 per the reference notes, ``models.md`` 3.3); the same values and equations in
  ``erkara/cancer_immunology`` ``cartMath/fig4_abc.m`` ("parameters from the paper").
* Paixão EA, Barros LRC, Fassoni AC, Almeida RC. Modeling patient-specific CAR-T cell
  dynamics: multiphasic kinetics via phenotypic differentiation. Cancers 2022;14(22):5576.
  doi:10.3390/cancers14225576. Only the abstract and introduction could be read
  (https://www.mdpi.com/2072-6694/14/22/5576, stored copy): "functional (distributed and
  effector), memory, and exhausted phenotypes, integrated with the dynamics of cancer
  cells". The equations (Eqs. 1-5), the parameter table and the per-patient estimates were
  not reachable: no copy of the full text, no code of the authors (the ``tmglncc``
  repositories hold CARTmath only) and no independent transcription was found; Fassoni &
  Braga 2025 (arXiv 2410.08034), which analyses "a previously validated model", was
  readable as an abstract only.

All populations in cells, time in days::

    dCD/dt = -eta CD                                                  (distribution)
    dCT/dt =  eta CD + phi CT - rho CT + theta T CM - alpha T CT - lam T CT
    dCM/dt =  eps CT - theta T CM - mu CM
    dCN/dt =  lam T CT - mu_n CN                                      (exhaustion)
    dT/dt  =  r T (1 - b T) - gamma CT T

Provenance, block by block:

* **verified** - the CARTmath core (the ``phi, rho, eps, theta, alpha, mu, r, b, gamma``
  terms, with ``CD = CN = 0`` and ``lam = 0``) is ``deriv`` of CARTmath ``rk4.R``, and its
  values are the HDLM-2 + CAR-T123 defaults of CARTmath ``server.R`` (Barros 2021 Table 2):
  ``tests/model/test_catalogue_publications.py`` compares both. A preclinical, mouse-scale
  parameter set.
* **assumed** - the distributed (``CD``, rate ``eta``) and exhausted (``CN``, rates ``lam``
  and ``mu_n``) compartments, i.e. the two lines marked above and the ``eta CD`` and
  ``lam T CT`` terms of ``dCT/dt``: a form recalled from Paixão 2022, not checked against
  its equations; and the values ``eta = 1/day``, ``lam = 1e-8 /(cell day)``,
  ``mu_n = 0.1/day``, the baseline tumour (1e7 cells), the default dose (1e6 CAR+ cells), the
  IIV, the residual errors and the observation conversions: assumptions of this file, chosen
  at the preclinical scale of the core so that the typical subject shows distribution,
  expansion, contraction and persistence, and tumour clearance. ``phi < rho`` (effectors
  vanish without tumour) and ``phi > rho - eps`` (Barros 2021 constraints) hold.

Scale, and what not to read from it: the baseline tumour of 1e7 cells is a sphere of
2.7 mm, below the 10-mm minimum of a measurable lesion (RECIST 1.1, Eisenhauer et al. 2009),
so RECIST categories of a simulation at the typical values mean nothing; the mechanistic
example (``cartpk/examples/_make.py``, ``MECH_TRUTH``) replaces all typical values by
clinical-scale assumptions of its own (tumour 3.5e10 cells) and keeps only these equations
and the two observation conversions.

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


class CartmathIllustration(OdeModel):
    """CARTmath core (verified) with distributed and exhausted compartments (assumed)."""

    name = "cartmath_illustration"
    reference = (
        "CARTmath-derived illustration, not a reproduction: core of Barros LRC et al. 2021, "
        "Cancers 13:2941, doi:10.3390/cancers13122941; distributed/exhausted compartments "
        "after Paixão EA et al. 2022, Cancers 14:5576, doi:10.3390/cancers14225576 (unchecked)"
    )
    time_unit = "day"
    outputs = {"QPCR": "copies/ug", "SOD": "mm"}
    default_dose = 1.0e6  # CAR+ cells (assumption of this file, mouse scale)
    states = ("cd", "ct", "cm", "cn", "tumour")
    dosed_states = ("cd",)
    # stiff while the tumour is large (theta T ~ 60/day at 1e7 cells): implicit BDF
    solver = {"method": "BDF", "rtol": 1e-7, "atol": 1e-4}

    # CARTmath core, HDLM-2 + CAR-T123 (Barros 2021 Table 2 = CARTmath server.R defaults)
    phi = declare(0.265, unit="1/day", label="effector expansion")  # Barros Table 2
    rho = declare(0.350, unit="1/day", label="effector death/differentiation")  # Table 2
    eps = declare(0.150, unit="1/day", label="effector -> memory")  # Barros Table 2
    theta = declare(6.0e-6, unit="1/(cell day)", label="memory -> effector by tumour")  # T2
    alpha = declare(4.5e-8, unit="1/(cell day)", label="effector inhibition by tumour")  # T2
    mu = declare(5.0e-3, unit="1/day", label="memory death")  # Barros Table 2
    r = declare(5.650026e-2, unit="1/day", label="tumour growth")  # Barros Table 2
    b = declare(1.404029e-12, unit="1/cell", label="inverse carrying capacity")  # Table 2
    gamma = declare(3.715843e-6, unit="1/(cell day)", label="tumour killing")  # Table 2
    # compartments after Paixão 2022 (form recalled, unchecked): values are assumptions
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
                "Barros 2021 (Cancers 13:2941) core = deriv() of the authors' code "
                "tmglncc/CARTmath rk4.R at 4688e802 (tests/model/test_catalogue_publications.py)",
                covers="CARTmath core: effector, memory, tumour",
            ),
            assumed(
                "recalled after Paixao 2022 (Cancers 14:5576); its Eqs 1-5 were not reachable "
                "(abstract and introduction only): a CARTmath-derived illustration",
                covers="distributed cd and exhausted cn compartments (eta, lam, mu_n terms)",
            ),
        ],
        typical=[
            verified(
                "HDLM-2 + CAR-T123 defaults of tmglncc/CARTmath server.R at 4688e802 (Barros "
                "2021 Table 2; tests/model/test_catalogue_publications.py); mouse scale",
                covers="phi, rho, eps, theta, alpha, mu, r, b, gamma",
            ),
            assumed("assumptions of this file", covers="eta, lam, mu_n"),
        ],
        baseline=assumed(
            "tumour0 1e7 cells: assumption of this file (mouse scale; a 2.7-mm sphere, below "
            "RECIST 1.1's 10-mm measurable lesion)"
        ),
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
