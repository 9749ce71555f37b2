"""cartpk: CAR-T cellular kinetics.

Data → model → simulate → fit → diagnostics → exposure → response → report → cli.
The public API is re-exported here lazily, so ``import cartpk`` stays light (no pymc,
jax, dask or matplotlib at import time).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it (imported on first attribute access)
_LAZY: dict[str, str] = {
    # foundation
    "CartpkError": "cartpk.errors",
    "CartpkWarning": "cartpk.errors",
    "DatasetError": "cartpk.errors",
    "FitError": "cartpk.errors",
    "ModelError": "cartpk.errors",
    "SpecError": "cartpk.errors",
    "Violation": "cartpk.errors",
    "run_folder": "cartpk.run",
    # data
    "Dataset": "cartpk.data",
    "Endpoint": "cartpk.data",
    "check_dataset": "cartpk.data",
    "read_dataset": "cartpk.data",
    "examples": "cartpk.examples",
}

__all__ = ["__version__", *sorted(_LAZY)]

if TYPE_CHECKING:  # pragma: no cover
    from cartpk import examples as examples
    from cartpk.data import Dataset as Dataset
    from cartpk.data import Endpoint as Endpoint
    from cartpk.data import check_dataset as check_dataset
    from cartpk.data import read_dataset as read_dataset
    from cartpk.errors import CartpkError as CartpkError
    from cartpk.errors import CartpkWarning as CartpkWarning
    from cartpk.errors import DatasetError as DatasetError
    from cartpk.errors import FitError as FitError
    from cartpk.errors import ModelError as ModelError
    from cartpk.errors import SpecError as SpecError
    from cartpk.errors import Violation as Violation
    from cartpk.run import run_folder as run_folder


def __getattr__(name: str) -> Any:
    try:
        modname = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'cartpk' has no attribute {name!r}") from None
    module = importlib.import_module(modname)
    value = module if modname.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
