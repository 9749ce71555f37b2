"""``model.to_nonmem()``, ``model.to_monolix()``, ``model.to_nlmixr2()``: the writers of
:mod:`cartpk.export` as methods of every model.

The export stage is ranked with the model stage (``tests/test_layering.py``), as the ODE
engines are: a writer is a view of a declaration. The import is made on first use, so
``import cartpk`` does not load SymPy.
"""

from __future__ import annotations

__all__ = ["ExportMethods"]


class ExportMethods:
    """Mixed into :class:`cartpk.model.Model`."""

    def to_nonmem(self, *, data: str | None = None, interval: bool = False) -> str:
        """This model as a NONMEM control stream (:func:`cartpk.export.to_nonmem`).

        Parameters
        ----------
        data : str, optional
            File name for ``$DATA`` (default ``<model name>.csv``).
        interval : bool, default False
            Read ``LIMIT LIMFL`` and write the interval-censored likelihood of records with
            a second bound (``docs/export.md``).

        Returns
        -------
        str
            ``$PRED`` for a closed form, ``ADVAN13`` with ``$DES`` for an ODE model.
        """
        from cartpk.export import to_nonmem

        return to_nonmem(self, data=data, interval=interval)  # type: ignore[arg-type]

    def to_monolix(self) -> str:
        """This model as a Monolix Mlxtran file (:func:`cartpk.export.to_monolix`).

        Returns
        -------
        str
            The structural model (``[LONGITUDINAL]``) with the population parameters as a
            commented table.
        """
        from cartpk.export import to_monolix

        return to_monolix(self)  # type: ignore[arg-type]

    def to_nlmixr2(self) -> str:
        """This model as an nlmixr2 model function (:func:`cartpk.export.to_nlmixr2`).

        Returns
        -------
        str
            An R function with ``ini({...})`` and ``model({...})``.
        """
        from cartpk.export import to_nlmixr2

        return to_nlmixr2(self)  # type: ignore[arg-type]
