"""A small expression tree for worked solutions, rendered as plain text, LaTeX or MathML.

A formula is built once (``Sym("w5") * Num(0.4)``, ``Partial("E", "w5")``) and each renderer
turns it into its notation with the right parentheses, so the three outputs always agree.
Names become symbols with subscripts: ``net_h1`` → net with subscript h1, ``w5`` → w₅,
``W1[1,2]`` → W with subscript 1[1,2]; Greek names (``eta``, ``mu``, ``beta1``) become letters.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np

GREEK = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "delta": "δ",
    "epsilon": "ε",
    "eta": "η",
    "lambda": "λ",
    "mu": "μ",
    "sigma": "σ",
}
_NAME = re.compile(r"^([A-Za-z]+?)(\d.*|_.*|\[.*)?$")

# Precedence: sums < products < unary minus < powers < atoms.
SUM, PRODUCT, NEGATION, POWER, ATOM = 1, 2, 3, 4, 5


class Expr:
    precedence = ATOM

    def __add__(self, other: Expr) -> Expr:
        return Add((self, other))

    def __sub__(self, other: Expr) -> Expr:
        return Sub(self, other)

    def __mul__(self, other: Expr) -> Expr:
        return Mul((self, other))

    def __truediv__(self, other: Expr) -> Expr:
        return Div(self, other)

    def __neg__(self) -> Expr:
        return Neg(self)


@dataclass(frozen=True, eq=False)
class Sym(Expr):
    name: str


@dataclass(frozen=True, eq=False)
class Num(Expr):
    value: float
    digits: int = 9

    @property
    def precedence(self) -> int:  # a negative number behaves like a unary minus
        return NEGATION if self.value < 0 or str(self.value).startswith("-") else ATOM


@dataclass(frozen=True, eq=False)
class Add(Expr):
    terms: tuple[Expr, ...]
    precedence = SUM


@dataclass(frozen=True, eq=False)
class Sub(Expr):
    left: Expr
    right: Expr
    precedence = SUM


@dataclass(frozen=True, eq=False)
class Mul(Expr):
    factors: tuple[Expr, ...]
    precedence = PRODUCT


@dataclass(frozen=True, eq=False)
class Div(Expr):
    num: Expr
    den: Expr
    precedence = PRODUCT


@dataclass(frozen=True, eq=False)
class Neg(Expr):
    arg: Expr
    precedence = NEGATION


@dataclass(frozen=True, eq=False)
class Pow(Expr):
    base: Expr
    exponent: Expr
    precedence = POWER


@dataclass(frozen=True, eq=False)
class Call(Expr):
    """f(args): σ, tanh, ln, exp, max, ..."""

    function: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class Sqrt(Expr):
    arg: Expr


@dataclass(frozen=True, eq=False)
class Paren(Expr):
    """Explicit grouping a hand computation shows: (t − o)², or [a + b]·c with ``square``."""

    arg: Expr
    square: bool = False


@dataclass(frozen=True, eq=False)
class Partial(Expr):
    """∂of/∂wrt."""

    of: str
    wrt: str


@dataclass(frozen=True, eq=False)
class Matrix(Expr):
    rows: tuple[tuple[Expr, ...], ...]


@dataclass(frozen=True, eq=False)
class Transpose(Expr):
    arg: Expr


@dataclass(frozen=True, eq=False)
class Text(Expr):
    text: str


@dataclass(frozen=True, eq=False)
class Abs(Expr):
    """|arg|."""

    arg: Expr


@dataclass(frozen=True, eq=False)
class Inverse(Expr):
    """A matrix inverse, arg⁻¹."""

    arg: Expr


def num(value: float, digits: int = 9) -> Num:
    """A number to print with ``digits`` significant digits (−0 becomes 0)."""
    value = float(value)
    return Num(value + 0.0 if value == 0 else value, digits)


def is_negative(expr: Expr) -> bool:
    """A negative number or a unary minus: what a substitution puts in parentheses."""
    return isinstance(expr, Neg) or (isinstance(expr, Num) and expr.value < 0)


def total(terms: list[Expr]) -> Expr:
    return terms[0] if len(terms) == 1 else Add(tuple(terms))


def product(factors: list[Expr]) -> Expr:
    return factors[0] if len(factors) == 1 else Mul(tuple(factors))


def matrix(values, digits: int = 9) -> Matrix:
    return Matrix(tuple(tuple(num(v, digits) for v in row) for row in values))


# ------------------------------------------------------------------------------- numbers


def format_number(value: float, digits: int) -> tuple[str, int | None]:
    """(mantissa, exponent) with ``digits`` significant digits; exponent None when plain."""
    if value == 0:
        return "0", None
    if not math.isfinite(value):
        return ("∞" if value > 0 else "−∞") if math.isinf(value) else "NaN", None
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return mantissa, int(exponent)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text, None


def split_name(name: str) -> tuple[str, str]:
    """(base, subscript) of a name: 'net_h1' → ('net', 'h1'), 'W1[1,2]' → ('W', '1[1,2]')."""
    if name in GREEK:
        return GREEK[name], ""
    match = _NAME.match(name)
    if not match:
        return name, ""
    base, rest = match.group(1), (match.group(2) or "")
    base = GREEK.get(base, base)
    rest = rest[1:] if rest.startswith("_") else rest
    return base, rest.replace("_", ",")


# ------------------------------------------------------------------------------- text


def _wrap(expr: Expr, render, minimum: int, open_: str = "(", close: str = ")") -> str:
    inner = render(expr)
    return f"{open_}{inner}{close}" if expr.precedence < minimum else inner


def text(expr: Expr) -> str:
    """Plain Unicode: w5 − η·∂E/∂w5 = 0.4 − 0.5·0.0821670407."""
    match expr:
        case Sym(name):
            match = _NAME.match(name)
            if match and match.group(1) in GREEK:  # delta2 → δ2, eta → η
                return GREEK[match.group(1)] + (match.group(2) or "")
            return name
        case Num(value, digits):
            mantissa, exponent = format_number(value, digits)
            mantissa = mantissa.replace("-", "−")
            return mantissa if exponent is None else f"{mantissa}e{exponent}"
        case Add(terms):
            out = text(terms[0])
            for term in terms[1:]:
                if isinstance(term, Neg):
                    out += " − " + _wrap(term.arg, text, PRODUCT)
                elif isinstance(term, Num) and term.value < 0:
                    out += " − " + text(num(-term.value, term.digits))
                else:
                    out += " + " + text(term)
            return out
        case Sub(left, right):
            return f"{text(left)} − {_wrap(right, text, ATOM if is_negative(right) else PRODUCT)}"
        case Mul(factors):
            parts = [_wrap(factors[0], text, ATOM if isinstance(factors[0], Num) else PRODUCT)]
            parts += [
                _wrap(f, text, ATOM if isinstance(f, Num | Neg) else PRODUCT) for f in factors[1:]
            ]
            return "·".join(parts)
        case Div(num_, den):
            top = _wrap(num_, text, ATOM if isinstance(num_, Num) else PRODUCT)
            return f"{top}/{_wrap(den, text, POWER)}"
        case Neg(arg):
            return "−" + _wrap(arg, text, POWER)
        case Pow(base, exponent):
            return f"{_wrap(base, text, ATOM)}^{_wrap(exponent, text, ATOM)}"
        case Call(function, args):
            return f"{function}({', '.join(text(a) for a in args)})"
        case Sqrt(arg):
            return f"√({text(arg)})"
        case Paren(arg, square):
            return f"[{text(arg)}]" if square else f"({text(arg)})"
        case Partial(of, wrt):
            return f"∂{text(Sym(of))}/∂{text(Sym(wrt))}"
        case Matrix(rows):
            return "[" + "; ".join(" ".join(text(v) for v in row) for row in rows) + "]"
        case Transpose(arg):
            return _wrap(arg, text, ATOM) + "ᵀ"
        case Text(value):
            return value
        case Abs(arg):
            return f"|{text(arg)}|"
        case Inverse(arg):
            return _wrap(arg, text, ATOM) + "⁻¹"
    raise TypeError(f"cannot render {expr!r}")


# ------------------------------------------------------------------------------- LaTeX

_LATEX_GREEK = {
    "α": r"\alpha",
    "β": r"\beta",
    "γ": r"\gamma",
    "δ": r"\delta",
    "ε": r"\varepsilon",
    "η": r"\eta",
    "λ": r"\lambda",
    "μ": r"\mu",
    "σ": r"\sigma",
}
_LATEX_FUNCTIONS = {
    "σ": r"\sigma",
    "tanh": r"\tanh",
    "ln": r"\ln",
    "exp": r"\exp",
    "max": r"\max",
    "mean": r"\operatorname{mean}",
}


LP, RP = r"\left(", r"\right)"


def _latex_function(function: str) -> str:
    r"""relu′ → \operatorname{relu}', lrelu′[0.1] → \operatorname{lrelu}'_{0.1} (ASCII only)."""
    base, prime, rest = function.partition("′")
    out = rf"\operatorname{{{_latex_text(base)}}}" + ("'" if prime else "")
    rest = rest.strip("[]")
    return out + (f"_{{{_latex_text(rest)}}}" if rest else "")


def _latex_text(value: str) -> str:
    return value.replace("\\", r"\backslash ").replace("_", r"\_").replace("#", r"\#")


def latex(expr: Expr) -> str:
    """LaTeX math (no surrounding dollars)."""
    match expr:
        case Sym(name):
            base, sub = split_name(name)
            base = _LATEX_GREEK.get(base, base if len(base) == 1 else rf"\mathrm{{{base}}}")
            return base + (f"_{{{_latex_text(sub)}}}" if sub else "")
        case Num(value, digits):
            mantissa, exponent = format_number(value, digits)
            mantissa = mantissa.replace("∞", r"\infty").replace("−", "-")
            return mantissa if exponent is None else rf"{mantissa} \times 10^{{{exponent}}}"
        case Add(terms):
            out = latex(terms[0])
            for term in terms[1:]:
                if isinstance(term, Neg):
                    out += " - " + _wrap(term.arg, latex, PRODUCT, LP, RP)
                elif isinstance(term, Num) and term.value < 0:
                    out += " - " + latex(num(-term.value, term.digits))
                else:
                    out += " + " + latex(term)
            return out
        case Sub(left, right):
            minimum = ATOM if is_negative(right) else PRODUCT
            return f"{latex(left)} - {_wrap(right, latex, minimum, LP, RP)}"
        case Mul(factors):
            first = ATOM if isinstance(factors[0], Num) else PRODUCT
            parts = [_wrap(factors[0], latex, first, LP, RP)]
            parts += [
                _wrap(f, latex, ATOM if isinstance(f, Num | Neg) else PRODUCT, LP, RP)
                for f in factors[1:]
            ]
            return r" \cdot ".join(parts)
        case Div(num_, den):
            return rf"\frac{{{latex(num_)}}}{{{latex(den)}}}"
        case Neg(arg):
            return "-" + _wrap(arg, latex, POWER, LP, RP)
        case Pow(base, exponent):
            return f"{_wrap(base, latex, ATOM, LP, RP)}^{{{latex(exponent)}}}"
        case Call(function, args):
            name = _LATEX_FUNCTIONS.get(function) or _latex_function(function)
            return rf"{name}\left({', '.join(latex(a) for a in args)}\right)"
        case Sqrt(arg):
            return rf"\sqrt{{{latex(arg)}}}"
        case Paren(arg, square):
            inner = latex(arg)
            return rf"\left[{inner}\right]" if square else rf"\left({inner}\right)"
        case Partial(of, wrt):
            return rf"\frac{{\partial {latex(Sym(of))}}}{{\partial {latex(Sym(wrt))}}}"
        case Matrix(rows):
            body = r" \\ ".join(" & ".join(latex(v) for v in row) for row in rows)
            return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"
        case Transpose(arg):
            return _wrap(arg, latex, ATOM, LP, RP) + r"^{\top}"
        case Text(value):
            return rf"\text{{{_latex_text(value)}}}"
        case Abs(arg):
            return rf"\left|{latex(arg)}\right|"
        case Inverse(arg):
            return _wrap(arg, latex, ATOM, LP, RP) + "^{-1}"
    raise TypeError(f"cannot render {expr!r}")


# ------------------------------------------------------------------------------- MathML


def _mo(symbol: str) -> str:
    return f"<mo>{escape(symbol)}</mo>"


def _fenced(inner: str, open_: str = "(", close: str = ")") -> str:
    return f"<mrow>{_mo(open_)}{inner}{_mo(close)}</mrow>"


def _mwrap(expr: Expr, minimum: int) -> str:
    inner = mathml(expr)
    return _fenced(inner) if expr.precedence < minimum else inner


def mathml(expr: Expr) -> str:
    """Presentation MathML (the content of a ``<math>`` element)."""
    match expr:
        case Sym(name):
            base, sub = split_name(name)
            variant = ' mathvariant="normal"' if len(base) > 1 else ""
            base_ml = f"<mi{variant}>{escape(base)}</mi>"
            return f"<msub>{base_ml}<mtext>{escape(sub)}</mtext></msub>" if sub else base_ml
        case Num(value, digits):
            mantissa, exponent = format_number(value, digits)
            sign = ""
            if mantissa.startswith("-"):
                sign, mantissa = _mo("−"), mantissa[1:]
            body = f"<mn>{escape(mantissa)}</mn>"
            if exponent is not None:
                body += f"{_mo('×')}<msup><mn>10</mn><mn>{exponent}</mn></msup>"
            return f"<mrow>{sign}{body}</mrow>" if sign or exponent is not None else body
        case Add(terms):
            out = mathml(terms[0])
            for term in terms[1:]:
                if isinstance(term, Neg):
                    out += _mo("−") + _mwrap(term.arg, PRODUCT)
                elif isinstance(term, Num) and term.value < 0:
                    out += _mo("−") + mathml(num(-term.value, term.digits))
                else:
                    out += _mo("+") + mathml(term)
            return f"<mrow>{out}</mrow>"
        case Sub(left, right):
            minimum = ATOM if is_negative(right) else PRODUCT
            return f"<mrow>{mathml(left)}{_mo('−')}{_mwrap(right, minimum)}</mrow>"
        case Mul(factors):
            parts = [_mwrap(factors[0], ATOM if isinstance(factors[0], Num) else PRODUCT)]
            parts += [_mwrap(f, ATOM if isinstance(f, Num | Neg) else PRODUCT) for f in factors[1:]]
            return "<mrow>" + _mo("·").join(parts) + "</mrow>"
        case Div(num_, den):
            return f"<mfrac>{mathml(num_)}{mathml(den)}</mfrac>"
        case Neg(arg):
            return f"<mrow>{_mo('−')}{_mwrap(arg, POWER)}</mrow>"
        case Pow(base, exponent):
            return f"<msup>{_mwrap(base, ATOM)}{mathml(exponent)}</msup>"
        case Call(function, args):
            inner = _mo(",").join(mathml(a) for a in args)
            return f"<mrow><mi>{escape(function)}</mi>{_fenced(inner)}</mrow>"
        case Sqrt(arg):
            return f"<msqrt>{mathml(arg)}</msqrt>"
        case Paren(arg, square):
            return _fenced(mathml(arg), "[", "]") if square else _fenced(mathml(arg))
        case Partial(of, wrt):
            return (
                f"<mfrac><mrow><mo>∂</mo>{mathml(Sym(of))}</mrow>"
                f"<mrow><mo>∂</mo>{mathml(Sym(wrt))}</mrow></mfrac>"
            )
        case Matrix(rows):
            body = "".join(
                "<mtr>" + "".join(f"<mtd>{mathml(v)}</mtd>" for v in row) + "</mtr>" for row in rows
            )
            return _fenced(f"<mtable>{body}</mtable>", "[", "]")
        case Transpose(arg):
            return f"<msup>{_mwrap(arg, ATOM)}<mi>⊤</mi></msup>"
        case Text(value):
            return f"<mtext>{escape(value)}</mtext>"
        case Abs(arg):
            return _fenced(mathml(arg), "|", "|")
        case Inverse(arg):
            return f"<msup>{_mwrap(arg, ATOM)}<mrow><mo>−</mo><mn>1</mn></mrow></msup>"
    raise TypeError(f"cannot render {expr!r}")


# ------------------------------------------------------------------------------- evaluation


def _step(x: float) -> float:
    return 1.0 if x > 0 else 0.0


FUNCTIONS: dict[str, Any] = {
    "σ": lambda x: 1.0 / (1.0 + math.exp(-x)),
    "exp": math.exp,
    "ln": math.log,
    "tanh": math.tanh,
    "max": max,
    "sign": np.sign,
    "relu′": _step,
}


def partial_key(of: str, wrt: str) -> str:
    """The environment key of ∂of/∂wrt."""
    return f"∂{of}/∂{wrt}"


class UnboundError(KeyError):
    """A symbol of a formula that the environment does not define."""


def _multiply(left: Any, right: Any) -> Any:
    matrices = isinstance(left, np.ndarray) and isinstance(right, np.ndarray)
    if matrices and left.ndim == 2 and right.ndim == 2:
        return left @ right
    return left * right


def evaluate(
    expr: Expr,
    env: Mapping[str, Any] | None = None,
    functions: Mapping[str, Any] | None = None,
) -> Any:
    """The value of a formula: numbers as written, symbols (and ∂E/∂x) from ``env``, matrices as
    arrays (a product of two matrices is the matrix product). ``functions`` adds to the known
    functions (σ, exp, ln, tanh, max, sign, relu′). A symbol ``env`` lacks raises
    :class:`UnboundError`; a formula without symbols needs no ``env``."""
    env = {} if env is None else env

    def value(e: Expr) -> Any:
        match e:
            case Num(number):
                return number
            case Sym(name):
                if name not in env:
                    raise UnboundError(name)
                return env[name]
            case Partial(of, wrt):
                key = partial_key(of, wrt)
                if key not in env:
                    raise UnboundError(key)
                return env[key]
            case Add(terms):
                out = value(terms[0])
                for term in terms[1:]:
                    out = out + value(term)
                return out
            case Sub(left, right):
                return value(left) - value(right)
            case Mul(factors):
                out = value(factors[0])
                for factor in factors[1:]:
                    out = _multiply(out, value(factor))
                return out
            case Div(num_, den):
                return value(num_) / value(den)
            case Neg(arg):
                return -value(arg)
            case Pow(base, exponent):
                return value(base) ** value(exponent)
            case Sqrt(arg):
                return np.sqrt(value(arg))
            case Paren(arg):
                return value(arg)
            case Abs(arg):
                return abs(value(arg))
            case Matrix(rows):
                return np.array([[value(v) for v in row] for row in rows], dtype=np.float64)
            case Transpose(arg):
                return np.asarray(value(arg)).T
            case Inverse(arg):
                return np.linalg.inv(value(arg))
            case Call(function, args):
                known = {**FUNCTIONS, **(functions or {})}
                if function in known:
                    return known[function](*(value(a) for a in args))
        raise ValueError(f"cannot evaluate {text(e)}")

    return value(expr)


def magnitude(expr: Expr, env: Mapping[str, Any] | None = None) -> float:
    """A scale of a formula's value for tolerances: sums of absolute values of its terms (so a
    cancelling sum is judged against the size of what cancels)."""
    env = {} if env is None else env

    def size(e: Expr) -> float:
        match e:
            case Add(terms):
                return sum(size(t) for t in terms)
            case Sub(left, right):
                return size(left) + size(right)
            case Mul(factors):
                return math.prod(size(f) for f in factors)
            case Paren(arg) | Neg(arg):
                return size(arg)
            case Div(num_, den):
                bottom = float(np.max(np.abs(evaluate(den, env))))
                return size(num_) / bottom if bottom else math.inf
        return float(np.max(np.abs(evaluate(e, env)))) if not isinstance(e, Text) else 0.0

    return size(expr)


def symbols(expr: Expr) -> list[str]:
    """The environment keys a formula reads (symbols and ∂E/∂x), in order of appearance."""
    found: list[str] = []

    def walk(e: Any) -> None:
        if isinstance(e, Sym):
            found.append(e.name)
        elif isinstance(e, Partial):
            found.append(partial_key(e.of, e.wrt))
        elif isinstance(e, Expr):
            for child in vars(e).values():
                walk(child)
        elif isinstance(e, tuple):
            for child in e:
                walk(child)

    walk(expr)
    return list(dict.fromkeys(found))
