"""The data dictionary describes the batch studies' and ``cartpk run``'s tables too (new-user
walk: their columns were "(not described)")."""

from __future__ import annotations

import pytest

from cartpk.units import describe_columns

SSE = "parameter,level,true,n,n_converged,convergence_pct,mean_estimate,bias,rel_bias_pct,rmse,rel_rmse_pct,median_abs_rel_error_pct,n_ci,coverage_pct,identified_pct"  # noqa: E501
BOOT = "parameter,estimate,lower,upper,level,boot_median,boot_se,n_ok,n"
RUN = "spec,kind,status,exit_code,runtime_s,convergence,key_results,run_folder"


@pytest.mark.parametrize(
    ("file", "header"), [("summary.csv", SSE), ("intervals.csv", BOOT), ("summary.csv", RUN)]
)
def test_every_column_of_the_study_tables_is_described(file, header):
    rows = describe_columns(file, header.split(","))
    assert not [r["column"] for r in rows if r["description"] == "(not described)"]


def test_study_values_take_the_parameters_unit_and_percentages_say_so():
    units = {r["column"]: r["unit"] for r in describe_columns("summary.csv", SSE.split(","))}
    assert units["bias"] == units["rmse"] == units["true"] == "[parameter]"
    assert units["coverage_pct"] == units["rel_bias_pct"] == "%"
    boot = {r["column"]: r["unit"] for r in describe_columns("intervals.csv", BOOT.split(","))}
    assert boot["lower"] == boot["boot_se"] == "[parameter]" and boot["level"] == "1"
