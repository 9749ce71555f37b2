"""One vocabulary (issue 18): ``level``, ``interval`` and ``workers`` in every fitter and fit
specification. The old names (``ci_level``, ``ci``, ``n_jobs``, ``cores``) still work, give the
same result and warn once (``FutureWarning`` naming the new name); old and new together is an
error saying which to keep."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pandas as pd
import pytest

import cartpk as ck
from cartpk.cli import main
from cartpk.errors import SpecError
from cartpk.fit import fit_subject, subjects_from_dataset
from cartpk.fit._options import RENAMED, renamed
from cartpk.fit._population_result import PopulationFit
from cartpk.fit._spec import INDIVIDUAL_OPTIONS, parse_fit_spec, read_fit_spec

DAYS = [1, 2, 3, 5, 7, 10, 14, 21, 28, 42, 60, 90, 180, 365]
#: cheap per-patient fits: one start, Wald intervals, in this process
CHEAP = {"workers": 1, "n_starts": 1, "interval": "wald", "seed": 1}


@pytest.fixture(scope="module")
def model():
    return ck.load_model("stein2019")


@pytest.fixture(scope="module")
def sim(model):
    return ck.simulate(model, n=2, seed=4, lloq=50, days=DAYS)


def _caught(call, *args, **kwargs):
    """``call(*args, **kwargs)`` and the warnings it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call(*args, **kwargs)
    return out, caught


def _one_future_warning(caught, old: str, new: str) -> None:
    assert [w.category for w in caught] == [FutureWarning]
    message = str(caught[0].message)
    assert message.startswith(f"`{old}`") and f"is renamed `{new}`" in message
    assert caught[0].filename == __file__  # points at the caller's line


def test_the_renames_are_one_table():
    assert RENAMED["fit_individual"] == {"ci": "interval", "ci_level": "level", "n_jobs": "workers"}
    assert RENAMED["fit_population"] == {"ci": "level", "cores": "workers"}
    assert RENAMED["individual"] is RENAMED["fit_individual"]  # the fit spec's keys
    for table in RENAMED.values():
        assert set(table.values()) <= {"level", "interval", "workers"}


@pytest.mark.parametrize(
    ("old", "new", "value"),
    [("ci_level", "level", 0.9), ("ci", "interval", "wald"), ("n_jobs", "workers", 1)],
)
def test_fit_individual_old_name_warns_once_and_gives_the_same_fit(model, sim, old, new, value):
    base = {k: v for k, v in CHEAP.items() if k != new}
    expected = ck.fit_individual(model, sim, **base, **{new: value}).table()
    got, caught = _caught(ck.fit_individual, model, sim, **base, **{old: value})
    _one_future_warning(caught, old, new)
    pd.testing.assert_frame_equal(got.table(), expected)


def test_fit_subject_old_names_give_the_same_intervals(model, sim):
    sub = subjects_from_dataset(model, ck.read_dataset(sim))[0]
    expected = fit_subject(model, sub, n_starts=1, interval="wald", level=0.8)
    got, caught = _caught(fit_subject, model, sub, n_starts=1, ci="wald", ci_level=0.8)
    assert [w.category for w in caught] == [FutureWarning, FutureWarning]
    assert (got.lower, got.upper, got.ci_method) == (
        expected.lower,
        expected.upper,
        expected.ci_method,
    )


@pytest.mark.parametrize(
    ("call", "old", "new"),
    [
        (ck.fit_individual, "ci_level", "level"),
        (ck.fit_individual, "n_jobs", "workers"),
        (fit_subject, "ci", "interval"),
        (ck.fit_population, "ci", "level"),
        (ck.fit_population, "cores", "workers"),
        (PopulationFit.from_idata, "ci", "level"),
    ],
)
def test_old_and_new_name_together_is_an_error_saying_which_to_keep(call, old, new):
    value = {"level": 0.9, "interval": "wald", "workers": 1}[new]
    with pytest.raises(SpecError) as err:
        call(None, None, **{old: value, new: value})  # raised before the arguments are read
    (problem,) = err.value.violations
    assert problem.code == "option_renamed"
    assert problem.fix == f"keep `{new}` and remove `{old}`"


def test_fit_population_maps_ci_to_level_and_cores_to_workers():
    (mapped, problems), caught = _caught(
        renamed, {"ci": 0.9, "cores": 2, "draws": 5}, RENAMED["fit_population"]
    )
    assert mapped == {"level": 0.9, "workers": 2, "draws": 5} and problems == []
    assert [w.category for w in caught] == [FutureWarning, FutureWarning]
    data = ck.read_dataset(ck.simulate(ck.load_model("stein2019_smooth"), n=2, seed=1, days=DAYS))
    model = ck.load_model("stein2019_smooth")
    with warnings.catch_warnings(record=True) as caught:  # checked before anything is sampled
        warnings.simplefilter("always")
        with pytest.raises(SpecError) as err:
            ck.fit_population(model, data, ci=1.5)
    _one_future_warning(caught, "ci", "level")
    assert err.value.violations[0].message == "`level` must lie in (0, 1)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SpecError) as err:
            ck.fit_population(model, data, cores=1, draws=0)
    _one_future_warning(caught, "cores", "workers")
    assert [v.message for v in err.value.violations] == ["`draws` must be an integer >= 1"]


# ---------------------------------------------------------------------------------------
# fit specifications

SPEC = {"model": "stein2019", "data": "example:trial.csv", "method": "individual"}


def test_spec_keys_are_the_new_names():
    assert {"level", "interval", "workers"} <= set(INDIVIDUAL_OPTIONS)
    assert not {"ci_level", "ci", "n_jobs"} & set(INDIVIDUAL_OPTIONS)


def test_spec_old_keys_work_with_one_warning_each():
    raw = {**SPEC, "ci_level": 0.9, "options": {"n_jobs": 1, "ci": "profile"}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = parse_fit_spec(raw)
    assert spec.options == {"level": 0.9, "workers": 1, "interval": "profile"}
    assert [w.category for w in caught] == [FutureWarning] * 3
    shown = sorted(str(w.message).split(" is renamed ")[0] for w in caught)
    assert shown == ["`ci_level`", "`options.ci`", "`options.n_jobs`"]
    assert spec.raw == raw  # what the manifest records: the spec as written
    new = parse_fit_spec({**SPEC, "level": 0.9, "options": {"workers": 1, "interval": "profile"}})
    assert new.options == spec.options


def test_spec_old_and_new_key_together_is_a_problem_on_its_line(tmp_path):
    p = tmp_path / "fit.toml"
    p.write_text(
        textwrap.dedent(
            """
            model = "stein2019"
            data = "example:trial.csv"
            ci_level = 0.9
            level = 0.9
            [options]
            n_jobs = 2
            workers = 2
            """
        )
    )
    with pytest.raises(SpecError) as err:
        read_fit_spec(p)
    found = {(v.code, v.column): v for v in err.value.violations}
    assert set(found) == {("option_renamed", "ci_level"), ("option_renamed", "options.n_jobs")}
    assert found["option_renamed", "ci_level"].value == "fit.toml, line 4: ci_level = 0.9"
    assert found["option_renamed", "options.n_jobs"].fix == "keep `workers` and remove `n_jobs`"


def test_spec_old_key_with_an_invalid_value_is_reported_as_written(tmp_path):
    p = tmp_path / "fit.toml"
    p.write_text('model = "stein2019"\ndata = "example:trial.csv"\nci_level = 2.5\n')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(SpecError) as err:
            read_fit_spec(p)
    (problem,) = err.value.violations
    assert problem.column == "ci_level" and "line 3: ci_level = 2.5" in str(problem.value)


def test_cartpk_fit_shows_an_old_key_as_a_deprecation_and_fits_the_same(tmp_path, sim, capsys):
    data = tmp_path / "sim.csv"
    sim.to_csv(data, index=False)
    body = 'model = "stein2019"\ndata = "sim.csv"\nseed = 1\nn_starts = 1\n{key} = "wald"\n'
    tables = {}
    for key in ("interval", "ci"):
        spec = tmp_path / f"{key}.toml"
        spec.write_text(body.format(key=key))
        with warnings.catch_warnings():
            warnings.simplefilter("always", FutureWarning)  # shown as the CLI shows it
            assert main(["fit", str(spec), "--out", str(tmp_path / key), "--quiet"]) == 0
        err = capsys.readouterr().err
        said = "warning [deprecated]: `ci` (ci.toml) is renamed `interval`"
        assert (said in err) == (key == "ci")
        tables[key] = pd.read_csv(Path(tmp_path / key / "individual.csv"))
    pd.testing.assert_frame_equal(tables["ci"], tables["interval"])
