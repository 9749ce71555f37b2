"""Traced expressions as statements of an infix modelling language (Mlxtran, rxode2/nlmixr2).

Both languages write ``^`` for powers, call ``exp``, ``log``, ``sqrt``, ``abs``, ``min``,
``max`` by name and have no conditional expression: a SymPy ``Piecewise`` (the trace of
``xp.where``) becomes an ``if`` block that assigns the variable in each branch (a
``Piecewise`` inside a larger expression first gets a variable of its own). What differs -
the assignment operator, the ``if`` syntax, the logical operators, functions a language
lacks (Mlxtran has no ``tanh``) - is a :class:`Language`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cartpk.errors import ModelError, Violation

__all__ = ["MLXTRAN", "RXODE2", "Language", "lower", "number", "printer"]


def number(x: float) -> str:
    """A float as the shortest text that reads back exactly (whole numbers without ``.0``).

    Parameters
    ----------
    x : float
        The number.

    Returns
    -------
    str

    Examples
    --------
    >>> number(24000.0), number(0.0079), number(1e-09), number(3.0e7)
    ('24000', '0.0079', '1e-09', '30000000')
    """
    x = float(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


@dataclass(frozen=True)
class Language:
    """The syntax of one target language.

    Attributes
    ----------
    name : str
        ``"mlxtran"`` or ``"rxode2"``.
    assign : str
        The assignment operator (``"="``, ``"<-"``).
    if_open, elif_open, else_open, end : str
        ``if`` block lines; ``{cond}`` is replaced by the condition.
    and_, or_, not_, ne : str
        Logical operators and "not equal".
    indicator : bool
        Whether a ``(condition)`` is a number (1 or 0), so that ``Piecewise((1, c), (0,
        True))`` is written ``(c)`` instead of an ``if`` block.
    functions : dict of str to callable
        Function name -> ``f(printed args) -> text`` for functions written another way.
    """

    name: str
    assign: str
    if_open: str
    elif_open: str
    else_open: str
    end: str
    and_: str
    or_: str
    not_: str
    ne: str
    indicator: bool
    functions: Mapping[str, Callable[[list[str]], str]] = field(default_factory=dict)


MLXTRAN = Language(
    name="mlxtran",
    assign="=",
    if_open="if {cond}",
    elif_open="elseif {cond}",
    else_open="else",
    end="end",
    and_="&",
    or_="|",
    not_="~",
    ne="~=",
    indicator=False,
    # no tanh in Mlxtran: 2/(1 + exp(-2x)) - 1, exact and finite for every x
    functions={"tanh": lambda a: f"(2/(1 + exp(-2*({a[0]}))) - 1)"},
)
RXODE2 = Language(
    name="rxode2",
    assign="<-",
    if_open="if ({cond}) {{",
    elif_open="}} else if ({cond}) {{",
    else_open="} else {",
    end="}",
    and_="&&",
    or_="||",
    not_="!",
    ne="!=",
    indicator=True,
)


def _unsupported(what: str) -> ModelError:
    return ModelError(
        f"An expression cannot be written in this language: {what}.",
        [Violation("export_unsupported", what, fix="see docs/export.md, limitations")],
        code="export_unsupported",
    )


def printer(lang: Language, names: Mapping[str, str] | None = None) -> Any:
    """A SymPy printer of ``lang`` expressions.

    Parameters
    ----------
    lang : Language
        :data:`MLXTRAN` or :data:`RXODE2`.
    names : mapping of str to str, optional
        Symbols renamed in the text (Mlxtran: ``dose`` -> ``amtDose``).

    Returns
    -------
    sympy.printing.str.StrPrinter
        Its ``doprint(expr)`` gives the text; a conditional expression (other than an
        rxode2 indicator) or an unknown function raises ``export_unsupported``.

    Examples
    --------
    >>> import sympy
    >>> x, t = sympy.symbols("x t")
    >>> printer(MLXTRAN).doprint(sympy.tanh(x) + x**2 / t - sympy.Min(x, 0.5, t))
    '(2/(1 + exp(-2*(x))) - 1) - min(min(0.5, t), x) + x^2/t'
    >>> printer(RXODE2, {"x": "eta.x"}).doprint(sympy.exp(x) * sympy.sqrt(t))
    'sqrt(t)*exp(eta.x)'
    """
    import sympy
    from sympy.printing.precedence import PRECEDENCE, precedence
    from sympy.printing.str import StrPrinter

    renamed = dict(names or {})

    class _Printer(StrPrinter):  # type: ignore[misc]
        def _print_Symbol(self, expr: Any) -> str:
            return renamed.get(expr.name, expr.name)

        def _print_Float(self, expr: Any) -> str:
            return number(float(expr))

        def _print_Integer(self, expr: Any) -> str:
            return str(int(expr))

        def _print_Rational(self, expr: Any) -> str:
            return f"{int(expr.p)}/{int(expr.q)}"

        def _print_Pow(self, expr: Any, rational: bool = False) -> str:
            base, exp = expr.base, expr.exp
            if exp == sympy.S.Half:
                return f"sqrt({self._print(base)})"
            if exp == -sympy.S.Half:
                return f"1/sqrt({self._print(base)})"
            if exp == -1:
                return f"1/{self.parenthesize(base, PRECEDENCE['Mul'], strict=False)}"
            b = self.parenthesize(base, PRECEDENCE["Pow"], strict=True)
            e = self._print(exp)
            if not (exp.is_Symbol or (exp.is_Number and exp >= 0)):
                e = f"({e})"
            return f"{b}^{e}"

        def _print_Exp1(self, expr: Any) -> str:
            return "exp(1)"

        def _print_Pi(self, expr: Any) -> str:
            return number(float(sympy.pi))

        def _pair(self, expr: Any, name: str) -> str:
            args = [self._print(a) for a in expr.args]
            out = args[0]
            for a in args[1:]:
                out = f"{name}({out}, {a})"
            return out

        def _print_Min(self, expr: Any) -> str:
            return self._pair(expr, "min")

        def _print_Max(self, expr: Any) -> str:
            return self._pair(expr, "max")

        def _print_Abs(self, expr: Any) -> str:
            return f"abs({self._print(expr.args[0])})"

        def _print_Function(self, expr: Any) -> str:
            name = expr.func.__name__
            args = [self._print(a) for a in expr.args]
            if name in lang.functions:
                return lang.functions[name](args)
            if name not in {"exp", "log", "sqrt", "tanh"}:
                raise _unsupported(f"the function `{name}`")
            return f"{name}({', '.join(args)})"

        def _print_Relational(self, expr: Any) -> str:
            op = {"==": "==", "!=": lang.ne}.get(expr.rel_op, expr.rel_op)
            prec = precedence(expr)
            lhs = self.parenthesize(expr.lhs, prec)
            return f"{lhs} {op} {self.parenthesize(expr.rhs, prec)}"

        def _print_And(self, expr: Any) -> str:
            return f" {lang.and_} ".join(f"({self._print(a)})" for a in expr.args)

        def _print_Or(self, expr: Any) -> str:
            return f" {lang.or_} ".join(f"({self._print(a)})" for a in expr.args)

        def _print_Not(self, expr: Any) -> str:
            return f"{lang.not_}({self._print(expr.args[0])})"

        def _print_BooleanTrue(self, expr: Any) -> str:
            return "1 == 1"

        def _print_Piecewise(self, expr: Any) -> str:
            if lang.indicator and _is_indicator(expr):
                return f"({self._print(expr.args[0].cond)})"
            raise _unsupported("a conditional expression left inside another")

    return _Printer({"full_prec": False})


def _is_indicator(expr: Any) -> bool:
    """``Piecewise((1, c), (0, True))``: the indicator of ``c``."""
    args = expr.args
    return len(args) == 2 and args[0].expr == 1 and args[1].expr == 0 and bool(args[1].cond)


def lower(
    lang: Language,
    target: str,
    expr: Any,
    names: Mapping[str, str] | None = None,
    *,
    temp: str | None = None,
) -> list[str]:
    """Statements that assign ``expr`` to ``target`` in ``lang``.

    A ``Piecewise`` becomes an ``if`` block assigning ``target`` in each branch; one inside
    a larger expression is first assigned to ``<temp>_<k>`` (``k = 1, 2, ...``; ``temp``
    defaults to ``target``, which must then be a name).

    Parameters
    ----------
    lang : Language
        The language.
    target : str
        What is assigned (``QPCR_pred``, ``d/dt(effector)``).
    expr : sympy.Expr
        The traced expression.
    names : mapping of str to str, optional
        Symbols renamed (:func:`printer`).
    temp : str, optional
        Stem of the variables of inner conditional expressions.

    Returns
    -------
    list of str
        The statements, unindented (block bodies indented by two spaces).

    Examples
    --------
    >>> import sympy
    >>> t, a = sympy.symbols("t a")
    >>> e = sympy.Piecewise((a * t, t < 1), (a, True))
    >>> print("\\n".join(lower(MLXTRAN, "f", 2 * e)))
    if t < 1
      f_1 = a*t
    else
      f_1 = a
    end
    f = 2*f_1
    >>> print("\\n".join(lower(RXODE2, "f", e)))
    if (t < 1) {
      f <- a*t
    } else {
      f <- a
    }
    """
    import sympy

    pr = printer(lang, names)
    if isinstance(expr, sympy.Piecewise) and not (lang.indicator and _is_indicator(expr)):
        out: list[str] = []
        for i, (branch, cond) in enumerate(expr.args):
            if cond is sympy.true or cond == True:  # noqa: E712 - SymPy's true
                head = lang.else_open if i else None
                if head is None:  # a Piecewise whose first condition holds: no block
                    return lower(lang, target, branch, names, temp=temp)
            else:
                if cond.has(sympy.Piecewise):
                    raise _unsupported("a condition that is itself conditional")
                fmt = lang.if_open if i == 0 else lang.elif_open
                head = fmt.format(cond=pr.doprint(cond))
            out.append(head)
            out += ["  " + line for line in lower(lang, target, branch, names, temp=temp)]
            if cond is sympy.true or cond == True:  # noqa: E712
                break
        return [*out, lang.end]
    out = []
    inner = [
        p
        for p in expr.atoms(sympy.Piecewise)
        if not (lang.indicator and _is_indicator(p))
        and not any(q != p and q.has(p) for q in expr.atoms(sympy.Piecewise))
    ]
    replace = {}
    for k, p in enumerate(sorted(inner, key=sympy.default_sort_key), start=1):
        name = f"{temp or target}_{k}"
        out += lower(lang, name, p, names)
        replace[p] = sympy.Symbol(name)
    body = expr.xreplace(replace) if replace else expr
    return [*out, f"{target} {lang.assign} {pr.doprint(body)}"]
