"""E-R specifications: every problem reported at once, naming the key and the valid choices."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _er_spec_file import analysis, write_er_spec
from er_helpers import simulate_subjects

import cartpk as ck
from cartpk.er import parse_er_spec, run_er


def _read(tmp_path: Path, *analyses: str) -> ck.er.ERSpec:
    """The specification ``subjects = "subjects.csv"`` with ``analyses``, read."""
    return ck.er.read_er_spec(
        write_er_spec(tmp_path, 'subjects = "subjects.csv"\n' + "".join(analyses))
    )


@pytest.fixture
def subjects_csv(tmp_path, rng) -> Path:
    p = tmp_path / "subjects.csv"
    simulate_subjects(rng, n=60).to_csv(p, index=False)
    return p


def test_read_er_spec_valid(tmp_path, subjects_csv):
    spec = _read(tmp_path, analysis("orr", "logistic", ["cmax", "auc"], covariates=["SLD0"]))
    assert spec.subjects == subjects_csv
    assert [a.exposure for a in spec.analyses] == ["cmax", "auc"]
    assert spec.analyses[0].log == "ln"


def test_read_er_spec_lists_every_problem_with_choices(tmp_path, subjects_csv):
    with pytest.raises(ck.SpecError) as info:
        ck.er.read_er_spec(write_er_spec(tmp_path, """
            subjects = "subjects.csv"
            colour = "blue"
            log = "log2"
            [[analysis]]
            endpoint = "orr"
            model = "probit"
            exposure = "cmax"
            covariate = ["SLD0"]
            [[analysis]]
            endpoint = "pfs_time"
            model = "cox"
        """))  # fmt: skip
    err = info.value
    codes = sorted(v.code for v in err.violations)
    assert codes == ["key_missing", "key_missing", "key_unknown", "key_unknown", "log_unknown",
                     "model_unknown"]  # fmt: skip
    text = str(err)
    assert "`colour`" in text and "`analysis[1].covariate`" in text
    assert "`analysis[1].model`" in text and "ordinal, logistic, emax, loglinear, cox" in text
    assert "`analysis[2].exposure`" in text and "`analysis[2].event`" in text
    model = next(v for v in err.violations if v.code == "model_unknown")
    assert model.value.startswith("er.toml, line 7: model")  # line 1 is the blank after `"""`
    bad_key = next(v for v in err.violations if v.column == "analysis[1].covariate")
    assert "covariates" in bad_key.expected


def test_parse_er_spec_needs_exactly_one_input():
    with pytest.raises(ck.SpecError) as info:
        parse_er_spec({"analysis": [{"endpoint": "a", "model": "ordinal", "exposure": "c"}]})
    assert info.value.code == "input_conflict"


def test_parse_er_spec_missing_file_and_unknown_example(tmp_path):
    with pytest.raises(ck.SpecError) as info:
        parse_er_spec({"data": "example:nope.csv", "lesions": "nope.csv",
                       "analysis": [{"endpoint": "a", "model": "ordinal", "exposure": "c"}]},
                      base=tmp_path)  # fmt: skip
    assert sorted(v.code for v in info.value.violations) == ["example_unknown", "file_not_found"]
    assert "example:trial.csv" in str(info.value)


def test_run_er_unknown_column_names_key_and_columns(tmp_path, subjects_csv):
    spec = _read(tmp_path, analysis("crs", "ordinal", covariates=["SLD"]))
    with pytest.raises(ck.SpecError) as info:
        run_er(spec)
    err = info.value
    assert {v.column for v in err.violations} == {"analysis[1].endpoint",
                                                 "analysis[1].covariates"}  # fmt: skip
    assert all("crs_grade" in v.expected for v in err.violations)


def test_run_er_table_has_rows_per_term(tmp_path, subjects_csv):
    spec = _read(tmp_path, analysis("crs_grade", "logistic", threshold=2))
    report = run_er(spec)
    assert list(report.estimates["term"]) == ["intercept", "log(cmax)"]
    assert isinstance(report.subjects, pd.DataFrame) and len(report.subjects) == 60


def test_er_spec_residual_of_emax(tmp_path, subjects_csv):
    spec = _read(
        tmp_path, analysis("pfs_time", "emax"), analysis("pfs_time", "emax", residual="natural")
    )
    log, nat = spec.analyses
    assert (log.residual, nat.residual) == ("log", "natural")
    assert log.label == "pfs_time_cmax_emax" and nat.label == "pfs_time_cmax_emax_natural"
    report = run_er(spec)
    scales = report.estimates.groupby("analysis")["scale"].first()
    assert scales["analysis[1]"].startswith("log (") and scales["analysis[2]"].startswith("natural")
    assert [f.residual for _, f in report.fits] == ["log", "natural"]


def test_er_spec_residual_is_checked(tmp_path, subjects_csv):
    with pytest.raises(ck.SpecError) as info:
        _read(
            tmp_path,
            analysis("pfs_time", "emax", residual="additive"),
            analysis("orr", "logistic", residual="log"),
        )
    keys = {v.column: v for v in info.value.violations}
    assert set(keys) == {"analysis[1].residual", "analysis[2].residual"}
    assert all(v.code == "value_invalid" for v in keys.values())
    assert "'natural'" in keys["analysis[1].residual"].expected
