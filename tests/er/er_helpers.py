"""Simulators of per-subject exposure-response data with known truth (seeded)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

# true values used by the simulators (natural-log exposure)
BETA_BINARY = 0.8  # log-odds per e-fold Cmax
BETA_ORDINAL = 1.0  # cumulative log-odds per e-fold Cmax
THRESHOLDS = (-0.5, 1.0, 2.5)  # logit P(grade >= g) = beta x - theta_g, x = ln(cmax) - 6
GAMMA_SLD0 = 0.01  # per mm of baseline SLD
HR_PER_2FOLD = 0.7  # Cox: hazard ratio per doubling of Cmax
EMAX_TRUE = {"E0": 10.0, "Emax": 100.0, "EC50": 50.0}


def simulate_subjects(rng: np.random.Generator, n: int = 200) -> pd.DataFrame:
    """Cmax log-normal around e^6 copies/ug, SLD0 ~ N(80, 30) mm; endpoints from the truth."""
    lc = rng.normal(6.0, 1.0, n)
    sld = rng.normal(80.0, 30.0, n)
    x = lc - 6.0
    z = sld - 80.0
    orr = (rng.random(n) < expit(-0.4 + BETA_BINARY * x + GAMMA_SLD0 * z)).astype(int)
    latent = BETA_ORDINAL * x + GAMMA_SLD0 * z + rng.logistic(size=n)
    grade = np.searchsorted(np.array(THRESHOLDS), latent)  # 0..3
    beta_cox = np.log(HR_PER_2FOLD) / np.log(2.0)
    t = rng.exponential(1.0 / (0.01 * np.exp(beta_cox * x + GAMMA_SLD0 * z)))
    cens = rng.uniform(50, 300, n)
    return pd.DataFrame(
        {
            "ID": [f"S{i:03d}" for i in range(n)],
            "cmax": np.exp(lc),
            "SLD0": sld,
            "orr": orr,
            "crs_grade": grade,
            "pfs_time": np.minimum(t, cens),
            "pfs_event": (t <= cens).astype(int),
        }
    )


def simulate_emax(
    rng: np.random.Generator, n: int = 120, top: float = 3000.0, cv: float | None = None
) -> pd.DataFrame:
    """Exposure log-uniform on [1, top]; ``E(C) = E0 + Emax C / (EC50 + C)`` and either
    ``E(C) + N(0, 5)`` (``cv=None``) or ``E(C) exp(N(0, s))``, log-normal with
    ``s = sqrt(ln(1 + cv^2))`` (e.g. ``cv=0.8``: the spread of cytokine peaks)."""
    c = np.exp(rng.uniform(0.0, np.log(top), n))
    p = EMAX_TRUE
    mean = p["E0"] + p["Emax"] * c / (p["EC50"] + c)
    if cv is None:
        y = mean + rng.normal(0.0, 5.0, n)
    else:
        y = mean * np.exp(rng.normal(0.0, np.sqrt(np.log1p(cv**2)), n))
    return pd.DataFrame({"ID": [str(i) for i in range(n)], "auc": c, "peak": y})
