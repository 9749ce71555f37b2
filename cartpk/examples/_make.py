"""Generate the bundled example trial. SIMULATED DATA - no value comes from a real patient.

Run ``python -m cartpk.examples._make`` (seeded, reproducible) to rewrite
``cartpk/examples/trial.csv``, ``cartpk/examples/lesions.csv`` and
``cartpk/examples/mechanistic.csv`` (the joint qPCR + tumour-size example of the mechanistic
model, :func:`make_mechanistic`, with its truth in :data:`MECH_TRUTH`) and
``cartpk/examples/rich.csv`` (a PK-intensive cohort for per-patient fits and the bootstrap,
:func:`make_rich`; its truth is the declared ``stein2019``).

Design: 32 simulated patients with cervical cancer, 8 per target antigen (GD2, PSMA, MUC1,
MSLN), three dose levels (1e7, 3e7, 1e8 CAR+ cells), one infusion at day 0 (the shape of the
originating trial, ``/work/shared/reference/trial.md``).

Where the values come from
--------------------------
* qPCR (copies/ug gDNA) on days 7, 14, 21, 28, 60, 90: the catalogue model ``stein2019``
  (Stein 2019 structure, IIV and residual error) with **lower, solid-tumour expansion**.
  CAR-T products in solid tumours expand far less than CD19 products in B-ALL (Stein 2019
  typical Cmax 24,000 copies/ug; tisagenlecleucel in DLBCL, JULIET, about 5,800 copies/ug,
  Awasthi 2020 / label NCA). No population estimate for solid tumours was available, so the
  typical values here are **assumptions** chosen to sit well below both: Cmax 600 copies/ug,
  fold expansion 300 (R0 2 copies/ug), persisting fraction 0.02 (so that the persistence
  phase sits around the LLOQ and many day-60/90 samples are BLQ). Dose enters as a power
  effect on Cmax (exponent 0.5 around 3e7 cells) and the target antigen as shifts on
  log(Cmax) (PSMA -0.3, MUC1 -0.6, MSLN +0.2 vs GD2): illustrative, not published.
  LLOQ 20 copies/ug (the 10-50 range of pivotal CAR-T qPCR assays, data_conventions.md §7).
* IL-6 and IFN-gamma (pg/mL) on days 1, 3, 5, 7, 10, 14, 21, 28: baseline plus an Emax
  function of the individual CAR-T level, scaled by baseline tumour burden (production
  proportional to CAR-T x target, as in Hardiansyah & Ng 2019; with IL-6 kdeg about 4/day
  the turnover is fast enough to follow the CAR-T level). LLOQ 2 pg/mL. Illustrative values.
* CRS grade (0-4, onset day) from a latent log peak IL-6 with noise; grade 0 rows are
  written at day 28 (end of the CRS observation window). ``AE_NEUTROPENIA``,
  ``AE_ANEMIA`` and ``AE_FATIGUE`` rows only for subjects with the event (grade >= 1).
* Lesions (RECIST 1.1 input) at days -7 (baseline), 28, 56, 84, 168, 252, 364: the sum of
  diameters follows a Claret-type tumour-growth-inhibition curve driven by the individual
  CAR-T AUC0-28d, ``SLD(t)/SLD0 = exp(KL t - KD (1 - exp(-lambda t)) / lambda)``, with
  lesion-level and measurement noise; assessments stop after progression. New lesions can
  appear on progression; non-target lesions follow the response.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from cartpk.model import categorical, load_model, power
from cartpk.simulation import simulate, simulate_parameters

__all__ = [
    "make_lesions",
    "make_mechanistic",
    "make_rich",
    "make_trial",
    "main",
    "mechanistic_model",
    "trial_model",
]

SEED = 20240611
N_PER_TARGET = 8
TARGETS = ("GD2", "PSMA", "MUC1", "MSLN")
DOSE_LEVELS = (1.0e7, 3.0e7, 1.0e8)  # CAR+ cells
QPCR_DAYS = (7.0, 14.0, 21.0, 28.0, 60.0, 90.0)
QPCR_LLOQ = 20.0  # copies/ug
CYTOKINE_DAYS = (1.0, 3.0, 5.0, 7.0, 10.0, 14.0, 21.0, 28.0)
CYTOKINE_LLOQ = 2.0  # pg/mL
LESION_DAYS = (-7.0, 28.0, 56.0, 84.0, 168.0, 252.0, 364.0)
COLUMNS = [
    "ID", "TIME", "DV", "EVID", "AMT", "MDV", "CENS", "LLOQ", "DVID",
    "TARGET", "DOSE", "SLD0", "LDC", "AGE", "WT",
]  # fmt: skip


def trial_model():  # noqa: ANN201 - returns a cartpk Model
    """``stein2019`` with the solid-tumour assumptions of this example (module docstring)."""
    return (
        load_model("stein2019")
        .with_ini(cmax=600.0, foldx=300.0, fb=0.02)
        .with_covariates(
            power("cmax", on="DOSE", ref=3.0e7, coef=0.5),
            categorical(
                "cmax",
                on="TARGET",
                reference="GD2",
                levels=list(TARGETS),
                coef={"PSMA": -0.3, "MUC1": -0.6, "MSLN": 0.2},
            ),
        )
    )


def _lesion_plan(rng: np.random.Generator, sid: str) -> list[dict[str, object]]:
    """Baseline lesions of one subject: 1-4 targets (<= 2 per organ), 0-2 non-targets."""
    organs = ["CERVIX", "LYMPH_NODE", "LUNG", "LIVER", "PERITONEUM"]
    n_target = int(rng.integers(1, 5))
    chosen = ["CERVIX"] + list(rng.choice(organs[1:], size=n_target - 1, replace=True))
    plan = []
    per_organ: dict[str, int] = {}
    k = 0
    for organ in chosen:
        if per_organ.get(organ, 0) >= 2:
            continue
        per_organ[organ] = per_organ.get(organ, 0) + 1
        k += 1
        nodal = organ == "LYMPH_NODE"
        base = rng.uniform(16, 35) if nodal else rng.uniform(12, 60)
        plan.append(
            {"LESION": f"T{k}", "KIND": "TARGET", "NODAL": int(nodal), "ORGAN": organ,
             "BASE": round(float(base)), "SENS": float(rng.normal(1.0, 0.15))}
        )  # fmt: skip
    for j in range(int(rng.integers(0, 3))):
        organ = str(rng.choice(["LYMPH_NODE", "BONE", "PLEURA"]))
        plan.append(
            {"LESION": f"NT{j + 1}", "KIND": "NONTARGET", "NODAL": int(organ == "LYMPH_NODE"),
             "ORGAN": organ, "BASE": np.nan, "SENS": 1.0}
        )  # fmt: skip
    return plan


def make_lesions(
    rng: np.random.Generator, subjects: pd.DataFrame, auc28: np.ndarray
) -> pd.DataFrame:
    """RECIST lesion table; ``subjects`` has ``ID``; returns ``ID, DAY, LESION, ...``."""
    kl, lam = 0.007, 0.02  # 1/day: growth (doubling ~100 d), loss of effect (resistance)
    kd = 0.018 * (auc28 / np.median(auc28)) ** 0.7 * np.exp(rng.normal(0.0, 0.6, auc28.size))
    rows = []
    for i, sid in enumerate(subjects["ID"]):
        plan = _lesion_plan(rng, sid)
        nadir = np.inf
        new_lesion = False
        for day in LESION_DAYS:
            t = max(day, 0.0)
            ratio = float(np.exp(kl * t - kd[i] * (1.0 - np.exp(-lam * t)) / lam))
            diam_sum = 0.0
            for les in plan:
                if les["KIND"] == "TARGET":
                    d = les["BASE"] * ratio ** les["SENS"] * np.exp(rng.normal(0.0, 0.04))
                    d = float(les["BASE"]) if day < 0 else float(np.round(d))
                    if les["NODAL"]:
                        d, status = max(d, 6.0), "PRESENT"
                    elif d < 5.0:
                        d, status = 0.0, "ABSENT"
                    else:
                        status = "PRESENT"
                    diam_sum += d
                    rows.append({"ID": sid, "DAY": day, **_keep(les), "DIAM_MM": d,
                                 "STATUS": status})  # fmt: skip
                else:
                    status = "PRESENT"
                    if ratio < 0.15 and day > 0:
                        status = "ABSENT"
                    elif ratio > 1.6 and rng.random() < 0.3:
                        status = "UNEQUIVOCAL_PD"
                    rows.append({"ID": sid, "DAY": day, **_keep(les), "DIAM_MM": np.nan,
                                 "STATUS": status})  # fmt: skip
            if day > 0 and not new_lesion and ratio > 1.2 and rng.random() < 0.5:
                new_lesion = True
                rows.append({"ID": sid, "DAY": day, "LESION": "N1", "KIND": "NEW", "NODAL": 0,
                             "ORGAN": "LIVER", "DIAM_MM": np.nan, "STATUS": "UNEQUIVOCAL"})  # fmt: skip
            progressed = diam_sum >= 1.2 * nadir and diam_sum - nadir >= 5.0
            nadir = min(nadir, diam_sum)
            if day > 0 and (progressed or new_lesion):
                break  # off study after progression
    cols = ["ID", "DAY", "LESION", "KIND", "NODAL", "DIAM_MM", "STATUS", "ORGAN"]
    return pd.DataFrame(rows, columns=cols)


def _keep(les: dict[str, object]) -> dict[str, object]:
    return {k: les[k] for k in ("LESION", "KIND", "NODAL", "ORGAN")}


def make_trial(seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build ``(trial, lesions)`` tables (SIMULATED)."""
    rng = np.random.default_rng(seed)
    n = N_PER_TARGET * len(TARGETS)
    ids = [str(101 + i) for i in range(n)]
    targets = np.repeat(TARGETS, N_PER_TARGET)
    doses = np.tile(np.repeat(DOSE_LEVELS, 3), n)[:n]  # 3, 3, 2 per target -> 2-3 per level
    cov = pd.DataFrame(
        {
            "TARGET": targets,
            "DOSE": doses,
            "LDC": rng.choice(["FLU/CY", "CY"], size=n, p=[0.75, 0.25]),
            "AGE": np.round(rng.uniform(28, 70, n)).astype(int),
            "WT": np.round(rng.normal(62, 10, n).clip(40, 100), 1),
        }
    )
    model = trial_model()
    pk_seed = int(rng.integers(2**31))
    ind = simulate_parameters(model, covariates=cov, seed=pk_seed)
    sim = simulate(model, covariates=cov, seed=pk_seed, days=QPCR_DAYS, lloq=QPCR_LLOQ)
    params = {k: ind[k].to_numpy() for k in model.typical()}
    auc28 = type(model).auc(np, 28.0, **params)

    # lesions first: baseline SLD (a covariate of the trial table) is their sum
    lesions = make_lesions(rng, pd.DataFrame({"ID": ids}), auc28)
    base = lesions[(lesions["DAY"] < 0) & (lesions["KIND"] == "TARGET")]
    sld0 = base.groupby("ID")["DIAM_MM"].sum().reindex(ids).to_numpy()
    cov.insert(2, "SLD0", sld0)

    sim["ID"] = sim["ID"].map(dict(zip([str(i + 1) for i in range(n)], ids, strict=True)))
    sim = sim.drop(columns=[c for c in cov.columns if c in sim.columns])
    burden = sld0 / 80.0
    rows = [sim]

    # cytokines: baseline + Emax(CAR-T level) x tumour burden, log-normal noise, LLOQ
    t = np.asarray(CYTOKINE_DAYS)
    car = model.evaluate(np, t, {k: v[:, None] for k, v in params.items()})["QPCR"]
    peaks = {}
    for dvid, base_level, emax, ec50 in (("IL6", 3.0, 400.0, 2000.0), ("IFNG", 4.0, 200.0, 2000.0)):
        b = base_level * np.exp(rng.normal(0, 0.4, n))[:, None]
        e = (emax * burden * np.exp(rng.normal(0, 0.7, n)))[:, None]
        f = b + e * car / (ec50 + car)
        y = f * np.exp(rng.normal(0, 0.3, f.shape))
        cens = y < CYTOKINE_LLOQ
        y = np.where(cens, CYTOKINE_LLOQ, np.round(y, 1))
        peaks[dvid] = f.max(axis=1)
        rows.append(_obs_frame(ids, t, y, cens, CYTOKINE_LLOQ, dvid))

    # CRS grade from the latent peak IL-6; onset before the CAR-T peak
    latent = np.log(peaks["IL6"]) + rng.normal(0, 0.5, n)
    crs = np.digitize(latent, np.log([20.0, 60.0, 200.0, 800.0]))
    onset = np.clip(np.round(0.4 * params["tmax"] + rng.normal(0, 1.0, n)), 1, 14)
    rows.append(_event_frame(ids, np.where(crs > 0, onset, 28.0), crs, "CRS"))
    ldc_flu = (cov["LDC"] == "FLU/CY").to_numpy()
    for term, p, grades, p_grade in (
        ("AE_NEUTROPENIA", np.where(ldc_flu, 0.8, 0.5), [1, 2, 3, 4], [0.1, 0.2, 0.45, 0.25]),
        ("AE_ANEMIA", np.full(n, 0.45), [1, 2, 3], [0.45, 0.4, 0.15]),
        ("AE_FATIGUE", np.full(n, 0.5), [1, 2, 3], [0.6, 0.35, 0.05]),
    ):
        has = rng.random(n) < p
        g = rng.choice(grades, size=n, p=p_grade)
        day = np.round(rng.uniform(1, 21, n))
        rows.append(_event_frame([i for i, h in zip(ids, has, strict=True) if h], day[has],
                                 g[has], term))  # fmt: skip

    trial = pd.concat(rows, ignore_index=True)
    trial = trial.merge(cov.assign(ID=ids), on="ID", how="left", validate="many_to_one")
    trial["DV"] = trial["DV"].round(2)
    trial["_id"] = trial["ID"].astype(int)
    trial["_dose"] = trial["EVID"] != 1
    trial = trial.sort_values(["_id", "TIME", "_dose", "DVID"], kind="stable")
    trial = trial[COLUMNS].reset_index(drop=True)
    return trial, lesions


def _obs_frame(ids, t, y, cens, lloq, dvid) -> pd.DataFrame:  # noqa: ANN001
    n, k = y.shape
    return pd.DataFrame(
        {
            "ID": np.repeat(ids, k), "TIME": np.tile(t, n), "DV": y.reshape(-1), "EVID": 0,
            "AMT": 0.0, "MDV": 0, "CENS": cens.reshape(-1).astype(int), "LLOQ": lloq,
            "DVID": dvid,
        }
    )  # fmt: skip


def _event_frame(ids, day, grade, term) -> pd.DataFrame:  # noqa: ANN001
    return pd.DataFrame(
        {
            "ID": list(ids), "TIME": np.asarray(day, dtype=float),
            "DV": np.asarray(grade, dtype=float), "EVID": 0, "AMT": 0.0, "MDV": 0, "CENS": 0,
            "LLOQ": np.nan, "DVID": term,
        }
    )  # fmt: skip


# ---------------------------------------------------------------------------------------
# mechanistic example: joint qPCR + tumour size from cartmath_illustration (known truth)

MECH_SEED = 20261125
MECH_N = 40
MECH_DOSES = (1.0e7, 5.0e7)  # CAR+ cells, alternating
MECH_QPCR_DAYS = (7.0, 14.0, 21.0, 28.0, 60.0, 90.0)
MECH_SOD_DAYS = (0.0, 28.0, 56.0, 84.0)  # day 0 recorded after the infusion record
MECH_QPCR_LLOQ = 200.0  # copies/ug
#: typical values the mechanistic example was simulated with (clinical scale; assumptions,
#: chosen so that CAR-T expand for about 3 weeks, contract, persist, and the tumour shrinks
#: by about half: Paixao's per-patient estimates are not transcribed, see models/cartmath_illustration.py)
MECH_TRUTH = {
    "phi": 0.07, "rho": 0.18, "eps": 0.24, "theta": 4.0e-12, "alpha": 4.0e-14, "mu": 0.04,
    "r": 0.008, "b": 1.0e-12, "gamma": 8.0e-9, "eta": 1.0, "lam": 9.0e-13, "mu_n": 0.1,
    "tumour0": 3.5e10,
}  # fmt: skip
#: random effects (SD of the log) and residual errors of the truth
MECH_IIV = {"gamma": 0.5, "tumour0": 0.3, "eps": 0.3}
MECH_SIGMA = {"sigma_qpcr": 0.4, "sigma_sod": 0.1}
#: parameters the example's fit holds fixed (at the truth): the data cannot inform them
MECH_FIXED = ("phi", "theta", "alpha", "r", "b", "eta", "lam", "mu_n")


def mechanistic_model():  # noqa: ANN201 - returns a cartpk Model
    """``cartmath_illustration`` at the truth of the mechanistic example (:data:`MECH_TRUTH`)."""
    return (
        load_model("cartmath_illustration")
        .with_ini(**MECH_TRUTH, **MECH_SIGMA)
        .with_iiv(drop=["theta"], sd=MECH_IIV)
        .fix(*MECH_FIXED)
    )


def make_mechanistic(seed: int = MECH_SEED) -> pd.DataFrame:
    """The SIMULATED joint qPCR + tumour-size example (``mechanistic.csv``).

    40 subjects, two dose levels, qPCR on days 7-90 (LLOQ 200 copies/ug, M3-censored) and
    the tumour as the diameter of an equivalent sphere (``SOD``, mm) on days 0, 28, 56, 84,
    from :func:`mechanistic_model` (IIV on gamma, tumour0 and eps; log-additive qPCR and
    proportional SOD residual error).
    """
    dose = np.array([MECH_DOSES[i % len(MECH_DOSES)] for i in range(MECH_N)])
    sim = simulate(
        mechanistic_model(),
        n=MECH_N,
        seed=seed,
        days={"QPCR": MECH_QPCR_DAYS, "SOD": MECH_SOD_DAYS},
        lloq={"QPCR": MECH_QPCR_LLOQ},
        dose=dose,
    )
    sim["DV"] = sim["DV"].round(3)
    return sim


RICH_SEED = 20261203
RICH_N = 40
RICH_DAYS = (1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 14.0, 21.0, 28.0, 42.0, 60.0, 90.0, 180.0, 365.0)
RICH_DOSE = 3.0e7  # CAR+ cells (no effect in the closed form without covariates)
#: ``rich.csv`` is ``stein2019`` as declared (Stein 2019 Table 1: B-ALL typical values,
#: IIV and residual error), so its truth is ``load_model("stein2019").typical()``. The
#: solid-tumour values of ``trial.csv`` leave 40-50 % of a rich design's samples BLQ (day 1-3
#: before expansion, the persistence phase after), too few for per-patient maximum likelihood.
RICH_MODEL = "stein2019"


def make_rich(seed: int = RICH_SEED) -> pd.DataFrame:
    """The SIMULATED PK-intensive cohort (``rich.csv``).

    40 subjects, one infusion of 3e7 CAR+ cells, qPCR on days 1, 2, 3, 5, 7, 10, 14, 21, 28,
    42, 60, 90, 180, 365 (LLOQ 20 copies/ug, ``CENS=1`` below it; about 16 % BLQ), from
    ``stein2019`` as declared (:data:`RICH_MODEL`): a design that per-patient
    maximum-likelihood fits identify, for ``fits/stein2019_bootstrap.toml``.
    """
    model = load_model(RICH_MODEL)
    sim = simulate(model, n=RICH_N, seed=seed, days=RICH_DAYS, lloq=QPCR_LLOQ, dose=RICH_DOSE)
    sim["DV"] = sim["DV"].round(3)
    return sim


def main(argv: list[str] | None = None) -> int:
    """Write ``trial.csv``, ``lesions.csv``, ``mechanistic.csv`` and ``rich.csv`` (default:
    next to this file)."""
    parser = argparse.ArgumentParser(description="Regenerate the SIMULATED example trial.")
    parser.add_argument("--out", default=str(Path(__file__).parent), help="output folder")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    trial, lesions = make_trial(args.seed)
    out = Path(args.out)
    # No comment line in the CSVs (not every reader skips them); README.md says SIMULATED.
    trial.to_csv(out / "trial.csv", index=False)
    lesions.to_csv(out / "lesions.csv", index=False)
    make_mechanistic().to_csv(out / "mechanistic.csv", index=False)
    make_rich().to_csv(out / "rich.csv", index=False)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
