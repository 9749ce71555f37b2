"""`cartpk fit SPEC.toml` with `method = "population"`: spec checks and the run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import cartpk as ck
from cartpk.cli import main
from cartpk.cli._fit import load_spec
from cartpk.errors import SpecError

REPO = Path(__file__).resolve().parents[2]


def _spec(tmp_path: Path, body: str, n: int = 6) -> Path:
    model = ck.load_model("stein2019_smooth").with_iiv(drop=["foldx", "tmax", "fb", "beta"])
    ck.simulate(model, n=n, seed=3, lloq=50).to_csv(tmp_path / "data.csv", index=False)
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'model = "stein2019_smooth"\ndata = "data.csv"\nmethod = "population"\nseed = 3\n' + body
    )
    return spec


def test_shipped_spec_is_valid():
    spec = load_spec(REPO / "fits" / "stein2019_bayes.toml")
    assert spec.method == "bayes" and spec.model == "stein2019_smooth"
    assert spec.options["blq"] == "m3"


def test_invalid_population_options_are_all_reported(tmp_path):
    spec = _spec(
        tmp_path,
        'priors = "vague"\nsampler = "gibbs"\ndraws = "many"\nthin = 2\nmass_matrix = "dense"\n',
    )
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    codes = sorted(v.code for v in err.value.violations)
    assert codes == ["spec_option_value"] * 4 + ["spec_unknown_key"]
    assert main(["fit", str(spec), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_unconverged_fit_writes_folder_and_exits_1(tmp_path, capsys):
    spec = _spec(
        tmp_path,
        "[options]\ndraws = 20\ntune = 20\nchains = 2\nvpc_replicates = 20\n"
        'drop_iiv = ["foldx", "tmax", "fb", "beta"]\n',
    )
    out = tmp_path / "run"
    assert main(["fit", str(spec), "--out", str(out), "--quiet"]) == 1
    for name in (
        "posterior.nc",
        "population.csv",
        "individual_parameters.csv",
        "diagnostics.csv",
        "diagnostics.json",
        "vpc.png",
        "pcvpc.png",
        "gof.png",
        "individual_fits.png",
        "manifest.json",
    ):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed_checks"
    assert manifest["results"]["converged"] is False
    diag = json.loads((out / "diagnostics.json").read_text())
    assert {"rhat_max", "ess_bulk_min", "divergences", "failed"} <= set(diag)
    # how much of each interval is prior: a column of population.csv, a list in the JSON
    pop = pd.read_csv(out / "population.csv")
    assert list(pop.columns[-2:]) == ["prior_width_ratio", "prior_dominated"]
    assert diag["prior_dominated"] == pop.loc[pop["prior_dominated"], "parameter"].tolist()
    assert diag["prior_dominated_ratio"] == 0.5
    free = pop.loc[~pop["fixed"], "prior_width_ratio"]
    assert free.notna().all() and (free > 0).all()
    assert "not_converged" in capsys.readouterr().err
