"""The E-R specification's ``fit`` key: every way a population run folder can be wrong
is a clear error before any fit (the happy path is ``test_er_chain.py``, slow)."""

from __future__ import annotations

import json

import pytest
from _er_spec_file import analysis, write_er_spec

import cartpk as ck
from cartpk.cli import main
from cartpk.er import parse_er_spec, read_er_spec
from cartpk.fit import read_population_run
from cartpk.run import sha256_file

ANALYSIS = [{"endpoint": "crs_grade", "model": "ordinal", "exposure": "cmax"}]


def _folder(tmp_path, spec: dict, *, posterior: bool = True, status: str = "ok"):
    """A run folder as `cartpk fit` writes it (manifest; posterior.nc a placeholder)."""
    run = tmp_path / "pop"
    run.mkdir()
    data = tmp_path / "trial.csv"
    data.write_text("ID,TIME,DV\n1,7,100\n")
    manifest = {
        "cartpk_run": 1,
        "spec": {"data": "trial.csv", **spec},
        "inputs": {str(tmp_path / "fit.toml"): "x", str(data): sha256_file(data)},
        "status": status,
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    if posterior:
        (run / "posterior.nc").write_bytes(b"")
    return run, data


def test_fit_key_names_a_missing_folder_with_the_other_problems(tmp_path):
    with pytest.raises(ck.SpecError) as info:
        parse_er_spec(
            {"data": "example:trial.csv", "fit": "nowhere", "level": 2, "analysis": ANALYSIS},
            base=tmp_path,
        )
    codes = sorted(v.code for v in info.value.violations)
    assert codes == ["fit_not_found", "value_invalid"]


def test_fit_key_must_be_a_path(tmp_path):
    with pytest.raises(ck.SpecError) as info:
        parse_er_spec({"data": "example:trial.csv", "fit": 3, "analysis": ANALYSIS}, base=tmp_path)
    assert [v.code for v in info.value.violations] == ["value_invalid"]


def test_landmark_needs_lesions_on_the_data_route(tmp_path):
    with pytest.raises(ck.SpecError) as info:
        parse_er_spec(
            {"data": "example:trial.csv", "landmark": 28, "analysis": ANALYSIS}, base=tmp_path
        )
    assert [v.code for v in info.value.violations] == ["key_missing"]
    spec = parse_er_spec(
        {"data": "example:trial.csv", "lesions": "example:lesions.csv", "landmark": 28,
         "analysis": ANALYSIS},
        base=tmp_path,
    )  # fmt: skip
    assert spec.landmark == 28.0


@pytest.mark.parametrize(
    ("spec", "posterior", "code"),
    [
        ({"method": "individual", "model": "stein2019"}, True, "fit_not_population"),
        ({"method": "bayes", "model": "stein2019_smooth"}, False, "fit_posterior_missing"),
    ],
)
def test_read_population_run_refuses_what_is_not_a_population_posterior(
    tmp_path, spec, posterior, code
):
    run, _ = _folder(tmp_path, spec, posterior=posterior)
    with pytest.raises(ck.SpecError) as info:
        read_population_run(run)
    assert info.value.violations[0].code == code
    assert info.value.violations[0].fix


def test_read_population_run_refuses_data_changed_since_the_fit(tmp_path):
    run, data = _folder(tmp_path, {"method": "bayes", "model": "stein2019_smooth"})
    data.write_text("ID,TIME,DV\n1,7,200\n")  # edited after the fit
    with pytest.raises(ck.SpecError) as info:
        read_population_run(run)
    assert info.value.violations[0].code == "fit_data_changed"


def test_read_population_run_without_a_manifest(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ck.SpecError) as info:
        read_population_run(tmp_path / "empty")
    assert info.value.violations[0].code == "fit_not_found"


def test_cli_er_with_an_individual_fit_folder_exits_2_without_a_run(tmp_path, capsys):
    _folder(tmp_path, {"method": "individual", "model": "stein2019"})
    spec = write_er_spec(
        tmp_path, 'data = "example:trial.csv"\nfit = "pop"\n' + analysis("crs_grade", "ordinal")
    )
    read_er_spec(spec)  # the spec itself is valid: the folder exists
    assert main(["er", str(spec), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "[fit_not_population]" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
