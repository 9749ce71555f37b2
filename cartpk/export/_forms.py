"""What the model writers share: the residual-error forms the tools name, and the error a
writer raises for a declaration its tool cannot express.

Monolix and nlmixr2 name a residual-error model rather than write its SD: :func:`error_form`
reads the form from the traced SD (:attr:`cartpk.export._symbolic.ErrorInfo.sd`), so that a
combined error is ``combined2`` (``sqrt(a^2 + (b f)^2)``) or ``combined1`` (``a + b f``) by
what the declaration computes, not by its name. Each writer maps the forms to its syntax in
one table (``_mlxtran._MONOLIX``, ``_nlmixr2._NLMIXR2``).
"""

from __future__ import annotations

import math
from typing import Any

from cartpk.errors import ModelError, Violation

__all__ = ["FORMS", "error_form", "unsupported"]

#: the forms :func:`error_form` returns
FORMS = ("log_additive", "additive", "proportional", "combined2", "combined1")


def unsupported(model_name: str, written_as: str, what: str, value: str = "") -> ModelError:
    """``export_unsupported``: the model cannot be written for a tool.

    Parameters
    ----------
    model_name : str
        The model.
    written_as : str
        What the writer writes (``"as a NONMEM control stream"``).
    what : str
        What the tool cannot express.
    value : str, optional
        The expression concerned.

    Returns
    -------
    ModelError
        To raise.

    Examples
    --------
    >>> print(unsupported("m", "for nlmixr2", "a closed form of the dose (AMT)"))
    Model `m` cannot be written for nlmixr2: a closed form of the dose (AMT).
    [export_unsupported] a closed form of the dose (AMT)
      fix: see docs/export.md, limitations
    """
    fix = "see docs/export.md, limitations"
    return ModelError(
        f"Model `{model_name}` cannot be written {written_as}: {what}.",
        [Violation("export_unsupported", what, value=value or None, fix=fix)],
        code="export_unsupported",
    )


def error_form(e: Any) -> tuple[str, tuple[str, ...]] | None:
    """The form of one output's residual error and its SD parameters, by the traced SD.

    Parameters
    ----------
    e : ErrorInfo
        The output's traced error model.

    Returns
    -------
    tuple of (str, tuple of str), or None
        One of :data:`FORMS` and the sigma names (a combined error: additive, then
        proportional); None for an SD none of the forms computes.

    Examples
    --------
    >>> import cartpk as ck
    >>> from cartpk.export import trace
    >>> error_form(trace(ck.load_model("claret_tgi")).errors["SOD"])
    ('proportional', ('sigma',))
    """
    import sympy

    names = tuple(n for n, _ in e.sigmas)
    if e.kind != "combined":
        return (e.kind, names) if e.kind in FORMS else None
    roles = dict(zip(e.roles, names, strict=True))
    a, b = sympy.Symbol(roles["sigma_add"]), sympy.Symbol(roles["sigma_prop"])
    at = {a: 0.7, b: 0.3, e.f: 2.5}
    sd = float(e.sd.subs(at))
    for form, expr in (
        ("combined2", sympy.sqrt(a**2 + (b * e.f) ** 2)),
        ("combined1", a + b * e.f),
    ):
        if math.isclose(sd, float(expr.subs(at)), rel_tol=1e-12):
            return form, (str(a), str(b))
    return None
