"""Every fit-spec key has one API argument, with the same name except where the README's
table says otherwise (issue 21: spec keys and API arguments correspond one to one)."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import cartpk as ck
from cartpk.diagnostics import ConvergenceThresholds
from cartpk.fit._options import RENAMED
from cartpk.fit._spec import INDIVIDUAL_OPTIONS, POPULATION_OPTIONS

README = Path(__file__).resolve().parents[1] / "README.md"

#: the README's table: deprecated name -> its name now (issue 18), in specs and the API
DEPRECATED = {
    "fit_individual": {"ci_level": "level", "ci": "interval", "n_jobs": "workers"},
    "fit_population": {"ci": "level", "cores": "workers"},
}


def _arguments(func: object) -> set[str]:
    return set(inspect.signature(func).parameters)  # type: ignore[arg-type]


def test_individual_spec_options_are_fit_individual_arguments():
    assert set(INDIVIDUAL_OPTIONS) <= _arguments(ck.fit_individual)


def test_population_spec_options_are_fit_population_arguments_or_the_documented_ones():
    thresholds = {f.name for f in dataclasses.fields(ConvergenceThresholds)}
    other = set(POPULATION_OPTIONS) - _arguments(ck.fit_population)
    assert other == thresholds | {"vpc_replicates"}  # the README's table
    assert {"thresholds"} <= _arguments(ck.fit_population)
    assert "n" in _arguments(ck.vpc)


def test_deprecated_names_are_the_readme_table_and_no_longer_arguments():
    for func, table in DEPRECATED.items():
        assert RENAMED[func] == table
        arguments = _arguments(getattr(ck, func))
        assert set(table.values()) <= arguments and not set(table) & arguments
    assert RENAMED["individual"] == DEPRECATED["fit_individual"]  # the fit spec's keys
    assert set(DEPRECATED["fit_individual"].values()) <= set(INDIVIDUAL_OPTIONS)
    assert not set(DEPRECATED["fit_individual"]) & set(INDIVIDUAL_OPTIONS)
    readme = README.read_text(encoding="utf-8")
    for table in DEPRECATED.values():
        for old, new in table.items():
            assert f"`{old}` (now `{new}`)" in readme


def test_saem_spec_options_are_fit_saem_arguments():
    from cartpk.fit._spec import SAEM_OPTIONS

    # vpc_replicates: the run folder's VPC (cartpk.vpc's n), as for the Bayesian fit
    assert set(SAEM_OPTIONS) - {"vpc_replicates"} <= _arguments(ck.fit_saem)
    assert "vpc_replicates" in SAEM_OPTIONS and "n" in _arguments(ck.vpc)
