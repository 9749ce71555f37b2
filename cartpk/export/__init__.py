"""Export a model declaration to other tools: NONMEM, Monolix (Mlxtran), nlmixr2.

The symbolic core (:mod:`cartpk.export._symbolic`, :func:`trace`) turns a declaration into
SymPy expressions by calling its own equations; each writer translates that one form.
SymPy is imported on first use.
"""

from cartpk.export._symbolic import SymbolicModel as SymbolicModel
from cartpk.export._symbolic import trace as trace

__all__ = ["SymbolicModel", "trace"]
