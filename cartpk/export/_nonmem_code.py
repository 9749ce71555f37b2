"""NONMEM abbreviated code from SymPy expressions: names, numbers, IF blocks.

:class:`NmCode` prints the expressions of a traced declaration
(:mod:`cartpk.export._symbolic`) as NM-TRAN abbreviated code:

* names: declared names upper-cased; a name that is a NONMEM reserved word, a data item,
  a name cartpk's control stream defines itself, or longer than 20 characters is renamed
  (``theta`` -> ``THETA_P``); :attr:`NmCode.renamed` lists every renaming for the header;
* numbers: the shortest text that reads back as the same double (``0.0079``, ``1.0E-30``);
  integers as reals (``2.0``) except integer powers (``X**2``), so that Fortran never
  divides integers;
* ``Piecewise``, ``Min``, ``Max``, ``sign`` and ``tanh`` become auxiliary variables set in
  ``IF ... THEN ... ELSE ... END IF`` blocks before the statement that uses them (NM-TRAN's
  ``MIN``/``MAX`` are not read by Pharmpy, which checks the exports; ``tanh`` is written in
  its overflow-free form ``(1 - exp(-2|x|)) / (1 + exp(-2|x|))`` with the sign of ``x``).
  The blocks are flat - every branch's value is computed before its IF block, as NumPy's
  ``where`` computes both - because Pharmpy does not read nested IF blocks; declarations
  already keep the branch not taken finite (they are evaluated that way by NumPy);
* long statements are continued with ``&``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from cartpk._deps import require
from cartpk.errors import ModelError, Violation

__all__ = ["RESERVED", "NmCode", "nm_number"]

#: words NM-TRAN or PREDPP reserve, data items of the exported data set, and the names the
#: control stream defines itself (IPRED, W, Y, ...): a declared name equal to one is renamed
RESERVED = frozenset(
    """
    THETA ETA EPS ERR OMEGA SIGMA Y F G H T A P R S D DADT MTIME MNEXT MPAST MTDIFF ICALL
    NEWIND IREP IERPRD IERPRDU ERRPRD NEWL2 PRED RES WRES CWRES IWRES IPRED IRES W EXIT CALL
    RETURN IF THEN ELSE ENDIF DO WHILE ENDDO EXP LOG LOG10 SQRT ABS INT MOD SIN COS TAN ASIN
    ACOS ATAN PHI GAMLN PEXP PLOG PSQRT PDZ PZR PNP PHE PNG ID TIME DV MDV EVID AMT CMT PCMT
    RATE SS II ADDL DATE DAT1 DAT2 DAT3 L1 L2 CENS LLOQ LIMIT LIMFL DVID F_FLAG MDVRES DOSE_AMT XVID1
    XVID2 XVID3 XVID4 XVID5 FLAG TSCALE FO NPDE OBJ DT LIPRED MU LOGY TPRED
    """.split()
)
_RESERVED_PATTERN = re.compile(
    r"^(MU_\d+|A_0\d*|A_0FLG|[AFRDS]\d+|ALAG\d+|PW\d+|IP_.*|COMACT|COMSAV)$"
)
_MAX_NAME = 20
_MAX_LINE = 100


def _sympy() -> Any:
    return require("sympy", purpose="exporting a model declaration")


def nm_number(value: float) -> str:
    """A real constant as NM-TRAN reads it back exactly (shortest round-trip text).

    Examples
    --------
    >>> nm_number(0.0079), nm_number(1e-30), nm_number(2.0), nm_number(3e7)
    ('0.0079', '1.0E-30', '2.0', '30000000.0')
    """
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{x!r} has no NONMEM constant")
    text = repr(x).upper()
    mant, _, exp = text.partition("E")
    if "." not in mant:
        mant += ".0"
    return f"{mant}E{int(exp)}" if exp else mant


class NmCode:
    """Prints SymPy expressions as abbreviated code with a fixed mapping of names.

    Parameters
    ----------
    model_name : str
        Named in errors.
    fixed_names : mapping of sympy.Symbol to str
        Symbols printed as given (``THETA(1)``, ``A(2)``, ``TIME``, data items).
    """

    def __init__(self, model_name: str, fixed_names: Mapping[Any, str] | None = None) -> None:
        self.sp = _sympy()
        self.model_name = model_name
        self.names: dict[Any, str] = dict(fixed_names or {})
        self.used: set[str] = set(self.names.values())
        self.renamed: list[tuple[str, str, str]] = []
        self._aux = 0
        # auxiliary variables already set in a list of statements: {id: (list, {expr: name})}
        self._done: dict[int, tuple[list[str], dict[Any, str]]] = {}

    # -- names -----------------------------------------------------------------------
    def name(self, symbol: Any, declared: str | None = None) -> str:
        """The NONMEM name of ``symbol`` (assigned on first use, unique, not reserved)."""
        if symbol in self.names:
            return self.names[symbol]
        declared = declared or symbol.name
        base = re.sub(r"[^A-Za-z0-9_]", "_", declared).upper()
        if not base[:1].isalpha():
            base = "P" + base
        why = ""
        if base in RESERVED or _RESERVED_PATTERN.match(base):
            why = "a NONMEM reserved word or a name the control stream defines"
        elif base in self.used:
            why = "the same upper-case name as another symbol"
        elif len(base) > _MAX_NAME:
            why = f"longer than {_MAX_NAME} characters"
        text = base
        if why:
            stem = base[: _MAX_NAME - 4]
            text = f"{stem}_P"
            k = 1
            while text in self.used or text in RESERVED or _RESERVED_PATTERN.match(text):
                k += 1
                text = f"{stem}_P{k}"
            self.renamed.append((declared, text, why))
        self.names[symbol] = text
        self.used.add(text)
        return text

    def bind(self, symbol: Any, text: str) -> None:
        """Print ``symbol`` as ``text`` (a name the caller defines, e.g. ``A(1)``)."""
        self.names[symbol] = text
        self.used.add(text)

    def _new_aux(self) -> str:
        while True:
            self._aux += 1
            text = f"PW{self._aux}"
            if text not in self.used:
                self.used.add(text)
                return text

    # -- statements ------------------------------------------------------------------
    def assign(self, target: str, expr: Any, indent: str = "") -> list[str]:
        """Lines that set ``target = expr`` (auxiliary IF blocks first)."""
        lines: list[str] = []
        text = self.expr(expr, lines, indent)
        return lines + _wrap(f"{indent}{target} = {text}")

    def expr(self, expr: Any, lines: list[str], indent: str = "") -> str:
        """``expr`` as text; auxiliary statements it needs are appended to ``lines``."""
        sp = self.sp
        e = sp.sympify(expr)
        return self._pr(e, lines, indent)

    # -- the printer -----------------------------------------------------------------
    def _unsupported(self, node: Any) -> ModelError:
        what = type(node).__name__
        return ModelError(
            f"Model `{self.model_name}` cannot be written as NONMEM code: it uses `{what}`.",
            [
                Violation(
                    "export_unsupported",
                    f"no NONMEM abbreviated code for `{what}` ({node})",
                    value=str(node)[:80],
                    expected="arithmetic, exp, log, sqrt, abs, tanh, min, max, where",
                    fix="write the equation with those functions",
                )
            ],
            code="export_unsupported",
        )

    def _pr(self, e: Any, lines: list[str], ind: str) -> str:
        sp = self.sp
        if e.is_Symbol:
            return self.name(e)
        if e.is_Number or e is sp.pi:
            if e.is_Rational and not e.is_Integer:
                return f"({nm_number(e.p)}/{nm_number(e.q)})"
            return nm_number(float(e))
        if e.is_Add:
            return self._add(e, lines, ind)
        if e.is_Mul:
            return self._mul(e, lines, ind)
        if e.is_Pow:
            return self._pow(e, lines, ind)
        if isinstance(e, sp.exp):
            return f"EXP({self._pr(e.args[0], lines, ind)})"
        if isinstance(e, sp.log):
            if len(e.args) != 1:
                raise self._unsupported(e)
            return f"LOG({self._pr(e.args[0], lines, ind)})"
        if isinstance(e, sp.Abs):
            return f"ABS({self._pr(e.args[0], lines, ind)})"
        if isinstance(e, sp.Piecewise | sp.Min | sp.Max | sp.sign | sp.tanh):
            return self._block(e, lines, ind)
        raise self._unsupported(e)

    def _atom(self, e: Any, lines: list[str], ind: str) -> str:
        """``e`` printed so that it can be an operand of ``*``, ``/`` or ``**``."""
        text = self._pr(e, lines, ind)
        if e.is_Add or e.is_Mul or e.is_Pow or (e.is_Number and e < 0):
            return f"({text})"
        return text

    def _add(self, e: Any, lines: list[str], ind: str) -> str:
        terms = list(e.as_ordered_terms())
        out = ""
        for i, term in enumerate(terms):
            if term.could_extract_minus_sign():
                body = self._pr(-term, lines, ind)
                if (-term).is_Add:
                    body = f"({body})"
                out += f" - {body}" if i else f"-{body}"
            else:
                body = self._pr(term, lines, ind)
                out += f" + {body}" if i else body
        return out

    def _mul(self, e: Any, lines: list[str], ind: str) -> str:
        sp = self.sp
        if e.could_extract_minus_sign():
            return f"-{self._atom(-e, lines, ind)}"
        num, den = [], []
        for f in e.as_ordered_factors():
            if f.is_Pow and f.exp.is_Number and f.exp < 0:
                den.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp))
            elif f.is_Rational and not f.is_Integer:
                num.append(sp.Integer(f.p))
                den.append(sp.Integer(f.q))
            else:
                num.append(f)
        text = "*".join(self._atom(f, lines, ind) for f in num) or "1.0"
        if den:
            d = [self._atom(f, lines, ind) for f in den]
            text += "/" + (d[0] if len(d) == 1 else "(" + "*".join(d) + ")")
        return text

    def _pow(self, e: Any, lines: list[str], ind: str) -> str:
        sp = self.sp
        base, ex = e.base, e.exp
        if ex == sp.Rational(1, 2):
            return f"SQRT({self._pr(base, lines, ind)})"
        if ex.is_Number and ex < 0:
            return f"1.0/{self._atom(sp.Pow(base, -ex), lines, ind)}"
        if ex.is_Integer:
            return f"{self._atom(base, lines, ind)}**{int(ex)}"
        return f"{self._atom(base, lines, ind)}**({self._pr(ex, lines, ind)})"

    def _cond(self, c: Any, lines: list[str], ind: str) -> str:
        sp = self.sp
        ops = {
            sp.StrictLessThan: ".LT.",
            sp.LessThan: ".LE.",
            sp.StrictGreaterThan: ".GT.",
            sp.GreaterThan: ".GE.",
            sp.Equality: ".EQ.",
            sp.Unequality: ".NE.",
        }
        for kind, op in ops.items():
            if isinstance(c, kind):
                lhs = self._pr(c.lhs, lines, ind)
                rhs = self._pr(c.rhs, lines, ind)
                return f"{lhs}{op}{rhs}"
        if isinstance(c, sp.And | sp.Or | sp.Not):
            # no parentheses around conditions (Pharmpy reads none): written in disjunctive
            # normal form, Fortran's .NOT. > .AND. > .OR. precedence groups it
            dnf = sp.to_dnf(c)
            if isinstance(dnf, sp.Or):
                return ".OR.".join(self._cond(a, lines, ind) for a in dnf.args)
            if isinstance(dnf, sp.And):
                return ".AND.".join(self._cond(a, lines, ind) for a in dnf.args)
            if isinstance(dnf, sp.Not):
                return self._cond(dnf.args[0].negated, lines, ind)
            return self._cond(dnf, lines, ind)
        raise self._unsupported(c)

    def _as_piecewise(self, e: Any) -> Any:
        sp = self.sp
        if isinstance(e, sp.Min | sp.Max):
            args = list(e.args)
            acc = args[0]
            for a in args[1:]:
                keep = acc <= a if isinstance(e, sp.Min) else acc >= a
                acc = sp.Piecewise((acc, keep), (a, True))
            return acc
        if isinstance(e, sp.sign):
            x = e.args[0]
            return sp.Piecewise((1, x > 0), (-1, x < 0), (0, True))
        if isinstance(e, sp.tanh):
            x = e.args[0]
            down, up = sp.exp(-2 * x), sp.exp(2 * x)
            return sp.Piecewise(((1 - down) / (1 + down), x >= 0), ((up - 1) / (up + 1), True))
        return e

    def _block(self, e: Any, lines: list[str], ind: str) -> str:
        """An auxiliary variable set by an IF block; its name."""
        sp = self.sp
        scope = self._done.setdefault(id(lines), (lines, {}))[1]
        if e in scope:
            return scope[e]
        pw = self._as_piecewise(e)
        if not isinstance(pw, sp.Piecewise):  # Min/Max of one argument
            return self._pr(pw, lines, ind)
        pieces = list(pw.args)
        if pieces[-1].cond is not sp.true:
            raise self._unsupported(e)
        if len(pieces) == 1:
            return self._pr(pieces[0].expr, lines, ind)
        # every branch's value and condition first (flat: Pharmpy reads no nested IF),
        # so both branches are evaluated, as NumPy's `where` evaluates both
        conds = [None if c is sp.true else self._cond(c, lines, ind) for _, c in pieces]
        values = [self._pr(sp.sympify(v), lines, ind) for v, _ in pieces]
        target = self._new_aux()
        block: list[str] = []
        for i, (c, text) in enumerate(zip(conds, values, strict=True)):
            if c is None:
                block.append(f"{ind}ELSE")
            else:
                block.extend(_wrap(f"{ind}{'IF' if i == 0 else 'ELSE IF'} ({c}) THEN"))
            block.extend(_wrap(f"{ind}  {target} = {text}"))
        block.append(f"{ind}END IF")
        lines.extend(block)
        scope[e] = target
        return target


def _wrap(line: str) -> list[str]:
    """Split a long statement before its binary ``+``/``-`` with ``&`` continuations."""
    if len(line) <= _MAX_LINE:
        return [line]
    indent = re.match(r"\s*", line).group(0) + "    "  # type: ignore[union-attr]
    parts = re.split(r" (?=[+-] )", line)
    out, cur = [], parts[0]
    for p in parts[1:]:
        if len(cur) + 1 + len(p) > _MAX_LINE:
            out.append(cur + " &")
            cur = indent + p
        else:
            cur += " " + p
    out.append(cur)
    return out
