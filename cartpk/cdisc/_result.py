"""What a conversion returns: the tables to write and the record of every source record."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cartpk.errors import CartpkWarning

__all__ = ["LESION_COLUMNS", "Conversion"]

#: columns of ``lesions.csv`` (the input of ``cartpk recist``)
LESION_COLUMNS = ("ID", "DAY", "LESION", "KIND", "NODAL", "DIAM_MM", "STATUS", "ORGAN", "DEATH_DAY")


@dataclass(frozen=True)
class Conversion:
    """The tables converted from one folder of SDTM or ADaM datasets.

    Attributes
    ----------
    trial : pandas.DataFrame
        The long table (``trial.csv``): ``ID, TIME, DV, EVID, AMT, MDV, CENS, LLOQ, DVID``
        and baseline covariates; ``TIME`` in days since the subject's first dose.
    lesions : pandas.DataFrame
        The RECIST 1.1 lesion table (``lesions.csv``, :data:`LESION_COLUMNS`); no rows when
        the folder has no tumour datasets.
    conversion : pandas.DataFrame
        ``conversion.csv``: one row per source record (:mod:`cartpk.cdisc._log`).
    endpoints : pandas.DataFrame
        ``endpoints.csv``: ``DVID, UNIT, SCALE, SOURCE`` (the domain and test code each
        DVID came from).
    warnings : list of CartpkWarning
        Usable but suspicious input (emitted by the caller).
    """

    trial: pd.DataFrame
    lesions: pd.DataFrame
    conversion: pd.DataFrame
    endpoints: pd.DataFrame
    warnings: list[CartpkWarning] = field(default_factory=list)
