"""The model catalogue: one file per published model, shipped as ``cartpk._catalogue``.

In the repository the files live in ``models/``; the wheel maps that folder to the package
``cartpk._catalogue`` (``setup.py``: ``package_dir``). When cartpk runs from a source tree
that was not installed, the folder is registered under the same package name, so a model
file can import its siblings with ``from .stein2019 import Stein2019`` in both cases.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from cartpk.errors import ModelError, Violation
from cartpk.model._base import Model

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["catalogue_names", "catalogue_provenance", "list_models", "load_model"]

_PACKAGE = "cartpk._catalogue"


def _package() -> ModuleType:
    """Import the catalogue package (installed, or the source tree's ``models/``)."""
    if _PACKAGE in sys.modules:
        return sys.modules[_PACKAGE]
    try:
        return importlib.import_module(_PACKAGE)
    except ModuleNotFoundError:
        pass
    folder = Path(__file__).resolve().parents[2] / "models"
    init = folder / "__init__.py"
    if not init.is_file():
        raise ModelError(
            "The model catalogue is missing from this installation.",
            [
                Violation(
                    "catalogue_missing",
                    "neither `cartpk._catalogue` nor a source-tree `models/` folder was found",
                    value=str(folder),
                    fix="reinstall cartpk (`pip install --force-reinstall cartpk`)",
                )
            ],
        )
    spec = importlib.util.spec_from_file_location(
        _PACKAGE, init, submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[_PACKAGE] = module
    spec.loader.exec_module(module)
    return module


def catalogue_names() -> list[str]:
    """Names of the catalogue models (file names without ``.py``), sorted."""
    pkg = _package()
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


#: names a catalogue model had before, with its name now and why it changed: loading an old
#: name fails and says so (a model must not keep a name that claims more than it is)
RENAMED: dict[str, tuple[str, str]] = {
    "paixao2022": (
        "cartmath_illustration",
        "it is a CARTmath-derived illustration, not Paixão 2022's model: its distributed and "
        "exhausted compartments could not be checked against that paper",
    ),
}


def _model_class(name: str) -> type[Model]:
    names = catalogue_names()
    if name in RENAMED and name not in names:
        new, why = RENAMED[name]
        raise ModelError(
            f"Model {name!r} was renamed {new!r}.",
            [
                Violation(
                    "model_renamed",
                    f"the catalogue model {name!r} is now {new!r}: {why}",
                    value=name,
                    expected=new,
                    fix=f"use model = {new!r} (models/{new}.py says what it is)",
                )
            ],
        )
    if name not in names:
        raise ModelError(
            f"Unknown model {name!r}.",
            [
                Violation(
                    "unknown_model",
                    f"there is no model {name!r} in the catalogue",
                    value=name,
                    expected=f"one of {', '.join(names)}",
                    fix="run `cartpk models` to list the catalogue",
                )
            ],
        )
    module = importlib.import_module(f"{_PACKAGE}.{name}")
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Model)
        and not obj._abstract
        and obj.__module__ == module.__name__
        and obj.name == name
    ]
    # presets (subclasses of the model that keep its name, e.g. a second patient with its
    # own values and dose) are not catalogue entries: the root declaration is
    found = [c for c in found if not any(o is not c and issubclass(c, o) for o in found)]
    if len(found) != 1:
        raise ModelError(
            f"Catalogue file {name}.py must define exactly one model named {name!r}.",
            [
                Violation(
                    "catalogue_file",
                    f"{len(found)} model classes with `name = {name!r}` in {name}.py",
                    value=name,
                    fix="define one ClosedFormModel/OdeModel subclass with that `name`",
                )
            ],
        )
    return found[0]


def load_model(name: str) -> Model:
    """Load a catalogue model by name.

    Parameters
    ----------
    name : str
        Catalogue name, e.g. ``"stein2019"`` (see :func:`list_models`).

    Returns
    -------
    Model
        The model with its published values.

    Raises
    ------
    ModelError
        ``unknown_model`` (lists the valid names).

    Examples
    --------
    >>> import cartpk as ck
    >>> ck.load_model("stein2019").typical()["tmax"]
    9.3
    """
    return _model_class(name)()


_COLUMNS = ["name", "kind", "reference", "outputs", "provenance", "provenance_detail"]


def list_models() -> pd.DataFrame:
    """The catalogue as a table, one row per model.

    Returns
    -------
    pandas.DataFrame
        ``name, kind, reference, outputs, provenance, provenance_detail``: ``provenance``
        is the compact form (``"verified 2/6, weakest assumed"``: blocks verified against
        the publication, and the weakest level of any block); ``provenance_detail`` lists
        every block with its level and source (see :func:`cartpk.model.provenance`).
    """
    import pandas as pd

    rows = []
    for n in catalogue_names():
        cls = _model_class(n)
        rows.append(
            {
                "name": n,
                "kind": cls.kind,
                "reference": cls.reference,
                "outputs": ", ".join(f"{k} ({v})" for k, v in cls.outputs.items()),
                "provenance": cls.provenance.summary(),
                "provenance_detail": cls.provenance.detail(),
            }
        )
    return pd.DataFrame(rows, columns=_COLUMNS)


def catalogue_provenance(name: str) -> dict[str, dict[str, object]]:
    """Provenance of one catalogue model by block: ``{block: {"level", "entries"}}``."""
    return _model_class(name).provenance.as_dict()
