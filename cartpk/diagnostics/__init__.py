"""DIAGNOSTICS: convergence checks, censoring-aware predictive checks and their figures.

Convergence checks (:func:`check_convergence`, :func:`convergence_table`,
:func:`eta_shrinkage`) are implemented in the fit stage, which judges its own convergence,
and re-exported here.
"""

from cartpk.diagnostics._plots import plot_gof as plot_gof
from cartpk.diagnostics._plots import plot_individual as plot_individual
from cartpk.diagnostics._plots import plot_vpc as plot_vpc
from cartpk.diagnostics._predictive import Vpc as Vpc
from cartpk.diagnostics._predictive import predictions as predictions
from cartpk.diagnostics._predictive import vpc as vpc
from cartpk.diagnostics._predictive import vpc_percentiles as vpc_percentiles
from cartpk.fit._convergence import ConvergenceThresholds as ConvergenceThresholds
from cartpk.fit._convergence import check_convergence as check_convergence
from cartpk.fit._convergence import convergence_summary as convergence_summary
from cartpk.fit._convergence import convergence_table as convergence_table
from cartpk.fit._convergence import eta_shrinkage as eta_shrinkage

__all__ = [
    "ConvergenceThresholds",
    "Vpc",
    "check_convergence",
    "convergence_summary",
    "convergence_table",
    "eta_shrinkage",
    "plot_gof",
    "plot_individual",
    "plot_vpc",
    "predictions",
    "vpc",
    "vpc_percentiles",
]
