"""Values, declarations and readers the export tests share (test_symbolic.py,
test_nonmem_export.py, test_nonmem_interval.py, test_export_cli.py)."""

from __future__ import annotations

from cartpk.model import ClosedFormModel, log_additive, omega, theta


def covariate_values(model):
    """Covariates away from the reference: a power covariate 3.3 x its reference value, a
    categorical one its second non-reference level (stein2019_covariates: TARGET MUC1)."""
    values = {}
    for eff in model.covariates:
        if hasattr(eff, "levels"):
            values[eff.on] = [lv for lv in eff.levels if lv != eff.reference][1]
        else:
            values[eff.on] = 3.3 * eff.ref
    return values


class Sine(ClosedFormModel):
    """A declaration no tool can express: ``xp.sin`` has no symbolic form in the trace."""

    name = "sine_test"
    outputs = {"QPCR": "copies/ug"}
    a = theta(2.0)
    iiv = omega(sd={"a": 0.1})
    error = log_additive(sigma=0.3)

    @staticmethod
    def predict(xp, time, *, a):
        return {"QPCR": a + xp.sin(time)}


class PythonIf(Sine):
    """Python ``if`` on a parameter: SymPy cannot decide it (``xp.where`` can)."""

    name = "python_if_test"

    @staticmethod
    def predict(xp, time, *, a):
        return {"QPCR": a if time < a else 2 * a}


def parse_stream(text: str):
    """A NONMEM control stream as Pharmpy reads it."""
    from pharmpy.modeling import read_model_from_string

    return read_model_from_string(text)


def with_phi(expr):
    """A SymPy expression with Pharmpy's ``PHI`` as the standard normal CDF."""
    import sympy

    return sympy.sympify(expr).replace(
        lambda e: isinstance(e, sympy.Function) and type(e).__name__ == "PHI",
        lambda e: (1 + sympy.erf(e.args[0] / sympy.sqrt(2))) / 2,
    )


def assignment(pm, name: str):
    """The right-hand side of the (last) assignment to ``name``, in its own symbols."""
    return with_phi(pm.statements.find_assignment(name).expression)
