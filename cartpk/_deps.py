"""Lazy imports of heavy optional dependencies, with an error that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, *, purpose: str = "") -> ModuleType:
    """Import ``module`` on first use.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"pymc"``.
    purpose : str, optional
        What needs it, used in the error message.

    Raises
    ------
    ImportError
        When the module is not installed, naming how to install it.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:  # pragma: no cover - depends on the environment
        top = module.split(".")[0]
        why = f" for {purpose}" if purpose else ""
        raise ImportError(
            f"`{top}` is needed{why} but is not installed; run `pip install {top}` "
            "(or reinstall cartpk: `pip install cartpk`)."
        ) from err
