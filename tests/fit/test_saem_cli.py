"""`cartpk fit` with ``method = "saem"``: the run folder, its files and columns, the
manifest's results, and the exit code when the checks fail (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cartpk.cli import main

pytestmark = pytest.mark.slow  # two or more SAEM fits through the CLI (quick-suite time)

REPO = Path(__file__).resolve().parents[2]
SHORT = "explore = 80\nsmooth = 40\nis_samples = 300\nfim_samples = 150\n"


def _spec(tmp_path: Path, extra: str = "") -> Path:
    """fits/stein2019_saem.toml with fewer iterations (and ``extra`` options)."""
    text = (REPO / "fits" / "stein2019_saem.toml").read_text()
    text = text.replace("explore = 300", "").replace("smooth = 200", "")
    p = tmp_path / "saem.toml"
    p.write_text(text + SHORT + extra)
    return p


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("saem")
    out = tmp / "run"
    code = main(["fit", str(_spec(tmp)), "--out", str(out), "--quiet"])
    return code, out


def test_saem_run_folder_has_the_tables_the_issue_names(run):
    code, out = run
    assert code == 0
    pop = pd.read_csv(out / "population.csv")
    # the issue's words: `population.csv` (`parameter, estimate, se, rse_pct, lower, upper, unit`)
    assert list(pop.columns[:7]) == "parameter, estimate, se, rse_pct, lower, upper, unit".split(
        ", "
    )
    free = pop[~pop["fixed"]]
    assert set(free["parameter"]) == {"tmax", "cmax", "alpha", "omega_cmax", "omega_alpha", "sigma"}
    assert free["se"].notna().all() and (free["lower"] < free["upper"]).all()
    diag = json.loads((out / "diagnostics.json").read_text())
    for key in (
        "minus2ll",
        "minus2ll_mc_se",
        "aic",
        "bic",
        "n_parameters",
        "iterations",
        "sa_drift",
    ):
        assert key in diag, key
    assert diag["n_parameters"] == 6 and diag["aic"] == pytest.approx(diag["minus2ll"] + 12)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["results"]["method"] == "saem" and manifest["results"]["converged"]
    ind = pd.read_csv(out / "individual.csv", dtype={"ID": str})
    assert len(ind) == diag["n_subjects"] and {"cmax", "cmax_mean", "eta_cmax"} <= set(ind.columns)
    for name in ("trace.csv", "trace.png", "covariance.csv"):
        assert (out / name).is_file(), name


def test_saem_run_folder_has_the_bayesian_fits_checks(run):
    """GOF, VPC, pcVPC and individual fits from the same diagnostics functions as the
    Bayesian fit, simulated at the estimates: the simulated BLQ fraction per time bin brackets
    the observed one and the NPDs are centred with unit spread (the model is the truth)."""
    _, out = run
    for name in (
        "predictions.csv",
        "vpc.csv",
        "vpc_blq.csv",
        "pcvpc.csv",
        "vpc.png",
        "pcvpc.png",
        "gof.png",
        "individual_fits.png",
    ):
        assert (out / name).is_file(), name
    pred = pd.read_csv(out / "predictions.csv")
    assert {"PRED", "IPRED", "IPRED_lower", "IPRED_upper", "NPD"} <= set(pred.columns)
    assert abs(pred["NPD"].mean()) < 0.3 and 0.7 < pred["NPD"].std() < 1.3
    blq = pd.read_csv(out / "vpc_blq.csv")
    inside = (blq["sim_lower"] - 0.05 <= blq["observed"]) & (
        blq["observed"] <= blq["sim_upper"] + 0.05
    )
    assert inside.all(), blq


def test_saem_run_that_fails_its_checks_exits_1(tmp_path, capsys):
    """Every structural parameter free on days 7-90: beta and foldx are not identified, the
    run says so and exits 1."""
    spec = _spec(tmp_path)
    spec.write_text(spec.read_text().replace('fix = ["foldx", "fb", "beta"]', ""))
    code = main(["fit", str(spec), "--out", str(tmp_path / "run")])
    assert code == 1
    err = capsys.readouterr().err
    assert "NOT converged" in err and "diagnostics.json" in err


def test_saem_spec_profile_adds_profile_likelihood_intervals(tmp_path, capsys):
    """``profile = ["tmax"]``: population.csv gains the profile-likelihood interval of tmax
    (around the estimate, near its Wald interval), diagnostics.json its refits, and the
    terminal says it."""
    out = tmp_path / "run"
    spec = _spec(tmp_path, 'profile = ["tmax"]\nvpc_replicates = 20\n')
    assert main(["fit", str(spec), "--out", str(out)]) == 0
    pop = pd.read_csv(out / "population.csv").set_index("parameter")
    row = pop.loc["tmax"]
    assert row["profile_lower"] < row["estimate"] < row["profile_upper"]
    wald = row["upper"] - row["lower"]
    assert abs((row["profile_upper"] - row["profile_lower"]) / wald - 1) < 0.5
    assert pop.drop(index="tmax")["profile_lower"].isna().all()
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["profile"]["tmax"]["refits"] >= 2
    assert "profile-likelihood interval of tmax" in capsys.readouterr().err
