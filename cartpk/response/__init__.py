"""RESPONSE: RECIST 1.1 responses, CTCAE/CRS safety summaries and cytokine peaks.

Tidy per-subject tables that :mod:`cartpk.er` links to exposure.
"""

from cartpk.response._plots import spider as spider
from cartpk.response._plots import waterfall as waterfall
from cartpk.response._recist import RULES as RULES
from cartpk.response._recist import RecistResult as RecistResult
from cartpk.response._recist import recist as recist
from cartpk.response._safety import ae_summary as ae_summary
from cartpk.response._safety import astct_grade as astct_grade
from cartpk.response._safety import crs_summary as crs_summary
from cartpk.response._safety import cytokine_peaks as cytokine_peaks

__all__ = [
    "RULES",
    "RecistResult",
    "ae_summary",
    "astct_grade",
    "crs_summary",
    "cytokine_peaks",
    "recist",
    "spider",
    "waterfall",
]
