"""Export a model declaration to other tools: NONMEM, Monolix (Mlxtran), nlmixr2.

The symbolic core (:mod:`cartpk.export._symbolic`, :func:`trace`) turns a declaration into
SymPy expressions by calling its own equations; each writer translates that one form
(``docs/export.md``: what is written how, and what was verified). SymPy is imported on
first use.

The writers are also methods of every model (``model.to_nonmem()``, ``model.to_monolix()``,
``model.to_nlmixr2()``, :mod:`cartpk.model._export_methods`): the export stage is ranked with
the model stage (``tests/test_layering.py``), as the ODE engines are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cartpk.export._dataset import export_dataset as export_dataset
from cartpk.export._dataset import write_dataset as write_dataset
from cartpk.export._symbolic import SymbolicModel as SymbolicModel
from cartpk.export._symbolic import trace as trace

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.model import Model

__all__ = [
    "SymbolicModel",
    "export_dataset",
    "to_monolix",
    "to_nlmixr2",
    "to_nonmem",
    "trace",
    "write_dataset",
]


def to_nonmem(model: Model, *, data: str | None = None, interval: bool = False) -> str:
    """The model as a NONMEM control stream (:func:`cartpk.export._nonmem.to_nonmem`).

    Parameters
    ----------
    model : Model
        A closed-form (``$PRED``) or ODE (``ADVAN13``/``$DES``) model.
    data : str, optional
        File name for ``$DATA`` (default ``<model name>.csv``).
    interval : bool, default False
        Interval censoring: ``LIMIT LIMFL`` in ``$INPUT`` and the probability of the
        interval for a censored record with ``LIMFL=1`` (``docs/export.md``).

    Returns
    -------
    str
        The control stream.

    Examples
    --------
    >>> import cartpk as ck
    >>> from cartpk.export import to_nonmem
    >>> "$THETA (0.0, 9.3) ; tmax [day]" in to_nonmem(ck.load_model("stein2019"))
    True
    """
    from cartpk.export._nonmem import to_nonmem as write

    return write(model, data=data, interval=interval)


def to_monolix(model: Model) -> str:
    """The model as a Monolix Mlxtran file (:func:`cartpk.export._mlxtran.to_mlxtran`)."""
    from cartpk.export._mlxtran import to_mlxtran

    return to_mlxtran(model)


def to_nlmixr2(model: Model) -> str:
    """The model as an nlmixr2 model function (:func:`cartpk.export._nlmixr2.to_nlmixr2`)."""
    from cartpk.export._nlmixr2 import to_nlmixr2 as write

    return write(model)
