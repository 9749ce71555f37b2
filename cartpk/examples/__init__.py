"""Bundled example data: a SIMULATED cervical-cancer CAR-T trial shipped inside the package.

The files are produced by the seeded generator ``python -m cartpk.examples._make`` from the
model catalogue; no value in them comes from a real patient.

Files
-----
``trial.csv``
    Long table (``ID, TIME, DV, EVID, AMT, MDV, CENS, LLOQ, DVID`` + covariates ``TARGET,
    DOSE, SLD0, LDC, AGE, WT``): qPCR on days 7, 14, 21, 28, 60, 90 (copies/µg gDNA, with
    LLOQ), IL-6 and IFN-γ, CRS and CTCAE grades.
``lesions.csv``
    RECIST 1.1 lesion measurements (``ID, DAY, LESION, KIND, NODAL, DIAM_MM, STATUS, ORGAN``).
``mechanistic.csv``
    Joint qPCR (``QPCR``, days 7-90, LLOQ 200) and tumour-size (``SOD``, mm, days 0, 28, 56,
    84) records of 40 subjects simulated from the ``cartmath_illustration`` ODE model with known truth
    (``cartpk.examples._make.MECH_TRUTH``), for the mechanistic fit ``fits/long/cartmath_joint.toml``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.data import Dataset

__all__ = ["files", "load_trial", "path"]


def files() -> list[str]:
    """Names of the bundled example files."""
    root = resources.files(__name__)
    return sorted(p.name for p in root.iterdir() if p.name.endswith(".csv"))


def path(name: str = "trial.csv") -> Path:
    """Filesystem path of a bundled example file.

    Raises
    ------
    FileNotFoundError
        No bundled file has that name (the message lists the names).
    """
    p = Path(str(resources.files(__name__) / name))
    if not p.is_file():
        raise FileNotFoundError(
            2, f"no bundled example {name!r}; available: {', '.join(files())}", str(p)
        )
    return p


def load_trial() -> Dataset:
    """The bundled simulated trial as a validated :class:`~cartpk.data.Dataset`."""
    from cartpk.data import read_dataset

    return read_dataset(path("trial.csv"))
