"""The table with ten data problems that `read_dataset` (tests/data/test_read.py) and
`cartpk validate` (tests/cli/test_validate.py) must all report at once, and their codes."""

from __future__ import annotations

TEN_PROBLEMS = """
ID,TIME,DV,EVID,AMT,CENS,LLOQ,DVID,WT
1,0,.,1,,0,,QPCR,70
1,7,"1,250",0,.,0,20,QPCR,70
1,-2,100,0,.,0,20,QPCR,70
1,14,100,0,.,0,20,QPCR,71
1,14,110,0,.,0,20,QPCR,71
1,21,100,0,.,3,20,QPCR,71
1,28,300,0,.,1,20,QPCR,71
1,60,0,0,.,0,,QPCR,71
2,x,100,0,.,0,20,QPCR,
3,0,.,1,1e8,0,,QPCR,60
"""

TEN_CODES = (
    "dose_without_amt",
    "dv_not_numeric",
    "time_negative",
    "duplicate_observation",
    "cens_invalid",
    "cens_above_lloq",
    "dv_nonpositive_log",
    "time_not_numeric",
    "covariate_missing",
    "covariate_not_constant",
)
