"""What `cartpk fit` prints at the end of a population fit."""

from __future__ import annotations


def test_population_fit_end_line_says_what_failed_and_what_next():
    from cartpk.cli._fit_population import convergence_line
    from cartpk.diagnostics import ConvergenceThresholds

    s = {
        "rhat_max": 1.035,
        "ess_bulk_min": 140.0,
        "ess_tail_min": 300.0,
        "divergences": 2,
        "converged": False,
        "failed": ["rhat", "ess_bulk", "divergences"],
    }
    line = convergence_line(s, ConvergenceThresholds())
    assert line.startswith("NOT converged (rhat, ess_bulk, divergences)")
    assert "R-hat max 1.035 (<= 1.01)" in line and "exit code 1" in line
    assert "diagnostics.csv" in line and len(line) < 300
