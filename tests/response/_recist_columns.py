"""The columns of RECIST's per-visit table (`timepoints`, `timepoints.csv`), in order, as
tests/response/test_lesions.py and test_recist_cli.py expect them."""

from __future__ import annotations

TIMEPOINT_COLUMNS = [
    "ID",
    "DAY",
    "SOD",
    "PCHG_BASE",
    "PCHG_NADIR",
    "TRGRESP",
    "NTRGRESP",
    "NEWLPROG",
    "OVRLRESP",
]
