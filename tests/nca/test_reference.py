"""NCA against published values and closed forms.

* Phoenix WinNonlin on R's ``datasets::Theoph`` (12 subjects), both AUC methods, as printed
  in the NonCompart validation report (see ``tests/reference/nca/README.md``).
* NonCompart's documented interval AUC of Theoph subject 8.
* The Stein et al. (2019) bi-exponential CAR-T model: closed-form AUC vs NCA of dense,
  noise-free samples.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cartpk as ck

REF = Path(__file__).resolve().parents[1] / "reference" / "nca"


@pytest.fixture(scope="module")
def theoph() -> pd.DataFrame:
    """R ``datasets::Theoph`` (Boeckmann, Sheiner & Beal 1994), hours and mg/L."""
    df = pd.read_csv(REF / "theoph.csv")
    return df.rename(columns={"Subject": "ID", "Time": "TIME", "conc": "DV"})[["ID", "TIME", "DV"]]


@pytest.mark.parametrize("method", ["linear", "linuplogdown"])
def test_theoph_matches_winnonlin_to_printed_precision(theoph, method):
    """Han S. (2018) "Validation of Noncompartmental Analysis Performed by NonCompart R
    package", asancpt/NonCompart-tests validation.md, Appendix A, Tests 1 and 2
    (WinNonlin 6.3/7.0 column, 7 decimals; "Log" = linear-up/log-down)."""
    ref = pd.read_csv(REF / "winnonlin_theoph.csv")
    ref = ref[ref.METHOD == method].assign(ID=lambda d: d.Subject.astype(str))
    res = ck.nca(theoph, auc_method=method, interval=None, time_unit="h", conc_unit="mg/L")
    got = ref.merge(res.long, on=["ID", "PPTESTCD"], how="left", validate="one_to_one")
    assert len(got) == 12 * 16 and got.PPORRES.notna().all()
    # printed with 7 decimals: agreement within one unit of the last printed digit
    err = (got.PPORRES - got.WINNONLIN).abs()
    worst = got.loc[err.idxmax(), ["ID", "PPTESTCD", "PPORRES", "WINNONLIN"]]
    assert err.max() <= 1e-7, worst.to_dict()


def test_theoph_units_and_lambda_z_rule_match_winnonlin(theoph):
    res = ck.nca(theoph, interval=None, time_unit="h", conc_unit="mg/L")
    units = res.long.drop_duplicates("PPTESTCD").set_index("PPTESTCD")["PPORRESU"]
    assert units["AUCLST"] == "h*mg/L" and units["LAMZ"] == "1/h"
    # subject 6: all 7 points after Tmax (1.15 h) are used, from 2.03 h (WinNonlin LAMZLL)
    s6 = res.wide.set_index("ID").loc["6"]
    assert s6.lambda_z_npoints == 7 and s6.lambda_z_lower == 2.03


def test_theoph_subject_8_interval_auc_matches_noncompart_documentation(theoph):
    """Kim H et al. NonCompart/ncar book (asancpt.github.io/book-ncar-en, ch. 3.1):
    ``IntAUC(Time, Concentration, t1 = 0.5, t2 = 11, Res)`` for subject 8 prints 58.26022
    (linear interpolation at both ends)."""
    res = ck.nca(theoph[theoph.ID == 8], interval=(0.5, 11), time_unit="h")
    assert res.wide.loc[0, "auc_0p5_11h"] == pytest.approx(58.26022, abs=5e-6)


# Stein AM et al. 2019, CPT Pharmacometrics Syst Pharmacol 8:285 (doi:10.1002/psp4.12388),
# typical values of Table 1 (as transcribed in shared/reference/models.md section 1.3).
STEIN = {"foldx": 3900.0, "tmax": 9.3, "cmax": 24000.0, "alpha": 0.16, "fb": 0.0079, "beta": 0.0032}


def _stein_conc(t: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """Closed form, models.md section 1.2 (paper supplement, "Analytical solution"):
    C = R0 exp(rho t) before Tmax, Cmax[(1-FB) e^{-alpha tau} + FB e^{-beta tau}] after,
    rho = ln(foldx)/Tmax, R0 = Cmax/foldx, tau = t - Tmax."""
    rho = math.log(p["foldx"]) / p["tmax"]
    r0 = p["cmax"] / p["foldx"]
    tau = np.maximum(t - p["tmax"], 0.0)
    up = r0 * np.exp(rho * np.minimum(t, p["tmax"]))
    down = p["cmax"] * (
        (1 - p["fb"]) * np.exp(-p["alpha"] * tau) + p["fb"] * np.exp(-p["beta"] * tau)
    )
    return np.where(t < p["tmax"], up, down)


def _stein_auc(t_end: float, p: dict[str, float]) -> float:
    """AUC(0, t_end) for t_end >= Tmax, models.md section 1.2:
    (Cmax - R0)/rho + Cmax[(1-FB)(1-e^{-alpha tau})/alpha + FB(1-e^{-beta tau})/beta]."""
    rho = math.log(p["foldx"]) / p["tmax"]
    r0 = p["cmax"] / p["foldx"]
    tau = t_end - p["tmax"]
    a, b, fb = p["alpha"], p["beta"], p["fb"]
    decline = (1 - fb) * -math.expm1(-a * tau) / a + fb * -math.expm1(-b * tau) / b
    return (p["cmax"] - r0) / rho + p["cmax"] * decline


@pytest.mark.parametrize("method", ["linear", "linuplogdown"])
def test_stein_closed_form_auc_0_28_vs_dense_nca(method):
    h = 0.05
    t = np.round(np.arange(0.0, 28.0 + h / 2, h), 10)  # includes Tmax = 9.3 exactly
    df = pd.DataFrame({"ID": "1", "TIME": t, "DV": _stein_conc(t, STEIN)})
    res = ck.nca(df, auc_method=method, interval=(0, 28))
    exact = _stein_auc(28.0, STEIN)
    # trapezoid error (Euler-Maclaurin leading term) is h^2/12 * |f'(b) - f'(a)| per smooth
    # piece: the rise gains rho (Cmax - R0); the decline (linear only) Cmax (1-FB) alpha.
    p = STEIN
    rho = math.log(p["foldx"]) / p["tmax"]
    bound = h**2 / 12 * rho * (p["cmax"] - p["cmax"] / p["foldx"])
    if method == "linear":
        bound += h**2 / 12 * p["cmax"] * ((1 - p["fb"]) * p["alpha"] + p["fb"] * p["beta"])
    got = res.wide.loc[0, "auc_0_28d"]
    assert got == pytest.approx(exact, abs=1.05 * bound)
    assert abs(got - exact) > 0  # a sampled estimate, not the closed form itself
    assert res.wide.loc[0, "cmax"] == pytest.approx(STEIN["cmax"], rel=1e-12)
    assert res.wide.loc[0, "tmax"] == pytest.approx(STEIN["tmax"])


def test_stein_terminal_phase_gives_beta_and_aucinf():
    # dense to day 28, then daily to day 365: the terminal phase is the persistence phase
    t = np.unique(np.r_[np.round(np.arange(0.0, 28.0, 0.05), 10), np.arange(28.0, 366.0)])
    df = pd.DataFrame({"ID": "1", "TIME": t, "DV": _stein_conc(t, STEIN)})
    res = ck.nca(df, auc_method="linuplogdown")
    w = res.wide.iloc[0]
    # the best-fit rule's 1e-4 tie tolerance lets in earlier points that still carry a
    # trace of the faster alpha phase, so lambda_z sits slightly above beta, never below
    assert STEIN["beta"] < w.lambda_z < 1.01 * STEIN["beta"]
    p = STEIN
    rho = math.log(p["foldx"]) / p["tmax"]
    auc_inf = (p["cmax"] - p["cmax"] / p["foldx"]) / rho + p["cmax"] * (
        (1 - p["fb"]) / p["alpha"] + p["fb"] / p["beta"]
    )
    assert w.aucinf_obs == pytest.approx(auc_inf, rel=2e-3)


# PKNCA's own expected values (humanpred/pknca, tests/testthat/test-auc.R at commit
# f793878b, ``pk.calc.auc`` with ``auc.type="AUCall"`` and the default ``conc.blq =
# list(first="keep", middle="drop", last="keep")``): the AUCall-type interval AUC runs
# linearly from Clast to the first BLQ zero and is 0 after it, as cartpk's default does.
# A recorded 0 is BLQ in both packages.
_PKNCA_CONC = [0.0, 2, 0, 1, 2, 1, 0, 0]
_LN2 = math.log(2.0)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("linear", 1 + 3 + 1.5 + 1.5 + 0.5),
        ("linuplogdown", 1 + 2 / _LN2 + 1.5 + 1 / _LN2 + 0.5),
    ],
)
def test_pknca_blq_in_the_middle_dropped_and_at_the_end_kept(method, expected):
    """test-auc.R, "Confirm BLQ in the middle or end are calculated correctly", second
    block (middle "drop", last "keep"), AUCall over (0, 7)."""
    df = pd.DataFrame({"ID": "1", "TIME": np.arange(8.0), "DV": _PKNCA_CONC})
    res = ck.nca(df, auc_method=method, interval=(0, 7))
    assert res.wide.loc[0, "auc_0_7d"] == pytest.approx(expected, rel=1e-14)
    auc = res.long[res.long.PPTESTCD == "AUCINT"].iloc[0]
    assert auc.PPANMETH == "blq_zero"


def test_pknca_multiple_blq_at_the_end():
    """test-auc.R, "Linear AUC when when there are multiple BLQ values at the end":
    conc 0, 1, 0, 0, 0, 0, 0 at 0..6, AUCall over (0, 6) = 1."""
    df = pd.DataFrame({"ID": "1", "TIME": np.arange(7.0), "DV": [0.0, 1, 0, 0, 0, 0, 0]})
    res = ck.nca(df, auc_method="linear", interval=(0, 6))
    assert res.wide.loc[0, "auc_0_6d"] == pytest.approx(1.0, rel=1e-15)


def test_pknca_interval_ending_between_tlast_and_the_blq_zero():
    """test-auc.R, "interpolation of times within the time interval": conc 0, 2, 0, 1, 2,
    1, 0 at 0..5, 7; AUCall over (0, 6). The concentration at 6 is interpolated linearly
    towards the zero at 7 (0.5) in both packages.

    Linear: PKNCA's 1 + 3 + 1.5 + 1.5 + 0.75, matched exactly. Linear-up/log-down: PKNCA
    integrates the piece 5-6 (1 -> 0.5) with the log trapezoid, 0.5/ln 2 = 0.7213;
    cartpk takes the area under the linear interpolant it used, 0.75, so that the pieces
    add up: AUC(0, 6) + AUC(6, 7) = AUC(0, 7). A deliberate, documented difference
    (docs/nca_blq.md)."""
    t = [0.0, 1, 2, 3, 4, 5, 7]
    df = pd.DataFrame({"ID": "1", "TIME": t, "DV": [0.0, 2, 0, 1, 2, 1, 0]})
    lin = ck.nca(df, auc_method="linear", interval=(0, 6))
    assert lin.wide.loc[0, "auc_0_6d"] == pytest.approx(1 + 3 + 1.5 + 1.5 + 0.75, rel=1e-15)
    log = ck.nca(df, auc_method="linuplogdown", interval=[(0, 6), (6, 7), (0, 7)])
    w = log.wide.iloc[0]
    head = 1 + 2 / _LN2 + 1.5 + 1 / _LN2
    assert w.auc_0_6d == pytest.approx(head + 0.75, rel=1e-14)
    assert w.auc_6_7d == pytest.approx(0.25, rel=1e-14)
    assert w.auc_0_6d + w.auc_6_7d == pytest.approx(w.auc_0_7d, rel=1e-14)
