"""Every fit-spec key has one API argument, with the same name except where the README's
table says otherwise (issue 21: spec keys and API arguments correspond one to one)."""

from __future__ import annotations

import dataclasses
import inspect

import cartpk as ck
from cartpk.diagnostics import ConvergenceThresholds
from cartpk.fit._spec import INDIVIDUAL_OPTIONS, POPULATION_OPTIONS


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
