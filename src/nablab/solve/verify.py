"""The verifier: every printed equation is checked, both sides, against the engine.

A solution document is read as a program, in order. For each equation the verifier evaluates

- the symbolic side with the trace's values: symbols defined by an earlier equation take the
  engine's value of that quantity, the others (inputs, targets, hyperparameters, parameters
  and optimizer state at the start of the step) come from the naming scheme or the
  equation's ``given`` bindings;
- every substituted side as written (its numbers are rounded to the solution's digits);

and compares each with the printed result and with the engine's own number for the quantity
(looked up by the equation's key, not taken from the document). The symbolic side must match
the engine to 1e-9 of the size of its terms; a substituted side, whose numbers carry
``digits`` significant digits, to 10^(2 − digits) of that size; the printed result must be the
engine's number rounded, or 0 when the engine's number is below 1e-12 of the terms it sums.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from nablab.solve.document import Document, Equation
from nablab.solve.expr import (
    Expr,
    Partial,
    Sym,
    UnboundError,
    evaluate,
    magnitude,
    partial_key,
    symbols,
    text,
)
from nablab.solve.names import Quantities
from nablab.solve.trace import Trace

SYMBOLIC_RTOL = 1e-9
TINY = 1e-12  # below this fraction of its terms a result is shown as 0


class VerificationError(AssertionError):
    """Equations of a solution that do not hold; ``problems`` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} false equation(s):\n" + "\n".join(problems))


@dataclass
class Report:
    checked: int
    problems: list[str]


def _bound_name(lhs: Expr) -> str | None:
    if isinstance(lhs, Sym):
        return lhs.name
    if isinstance(lhs, Partial):
        return partial_key(lhs.of, lhs.wrt)
    return None


class _Environment(dict):
    """Symbols bound so far, falling back on the quantities at the start of a step."""

    def __init__(self, quantities: Quantities) -> None:
        super().__init__()
        self.quantities = quantities
        self.step = 1
        self.given: dict[str, Any] = {}

    def __contains__(self, name: object) -> bool:
        try:
            self[name]
        except KeyError:
            return False
        return True

    def __missing__(self, name: str) -> Any:
        """A parameter or optimizer state not yet assigned in step k: its value before the
        step; anything else: its value in step k (inputs, targets, probabilities)."""
        q, k = self.quantities, self.step
        base = q.canonical(name)
        before = f"{base}@{k - 1}"
        if before in q and (base in q.params or q.table[before].kind == "optimizer state"):
            return q.value(before)
        if base not in q.params and f"{base}@{k}" in q:
            return q.value(f"{base}@{k}")
        raise KeyError(name)

    def __getitem__(self, name: str) -> Any:
        if name in self.given:
            return self.given[name]
        return super().__getitem__(name)


def _close(a: Any, b: Any, tolerance: float) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tolerance))


def _digits_tolerance(value: Any, digits: int) -> float:
    return 0.51 * 10.0 ** (1 - digits) * float(np.max(np.abs(value))) + 1e-300


def verify(document: Document, trace: Trace, quantities: Quantities | None = None) -> Report:
    """Check every equation of ``document`` (see the module text); never raises."""
    quantities = quantities or Quantities(trace)
    digits = trace.exercise.digits
    env = _Environment(quantities)
    problems: list[str] = []
    checked = 0
    for item in document.items:
        if not isinstance(item, Equation):
            continue
        checked += 1
        env.step, env.given = max(item.step, 1), item.given
        if item.step == 0:
            env.step = len(trace.steps) + 1
        where = item.key or text(item.parts[0])
        problems.extend(f"{where}: {p}" for p in _check(item, env, quantities, digits, document))
        name = _bound_name(item.parts[0])
        if name is not None:
            dict.__setitem__(env, name, _engine_value(item, quantities))
    return Report(checked, problems)


def _engine_value(equation: Equation, quantities: Quantities) -> Any:
    if equation.key is not None and equation.key in quantities:
        return quantities.value(equation.key)
    return equation.value


def _check(
    equation: Equation, env: _Environment, quantities: Quantities, digits: int, document: Document
) -> list[str]:
    problems = []
    if equation.key is not None and equation.key not in quantities:
        return [f"the key {equation.key!r} names no quantity of the exercise"]
    engine = _engine_value(equation, quantities)
    if engine is None:
        return ["neither a key nor the engine's value: nothing to check it against"]
    result_expr = equation.parts[-1]
    result = evaluate(result_expr, env, document.functions)
    sides = equation.parts[1:-1]
    scale = float(np.max(np.abs(engine)))
    for side in sides:
        with contextlib.suppress(UnboundError, ValueError, ZeroDivisionError, FloatingPointError):
            scale = max(scale, magnitude(side, env))
    tiny = scale * TINY
    shown_zero = np.all(np.asarray(result) == 0) and np.all(np.abs(engine) <= tiny)
    if not shown_zero and not _close(result, engine, _digits_tolerance(engine, digits)):
        problems.append(f"the result {text(result_expr)} is not the engine's {engine}")
    for side in sides:
        try:
            value = evaluate(side, env, document.functions)
        except UnboundError as error:
            problems.append(f"{text(side)}: the symbol {error.args[0]} has no value here")
            continue
        except (ValueError, ZeroDivisionError, FloatingPointError) as error:
            problems.append(f"{text(side)}: cannot be evaluated ({error})")
            continue
        numeric = not symbols(side)
        tolerance = (10.0 ** (2 - digits) if numeric else SYMBOLIC_RTOL) * scale + 1e-300
        if not _close(value, engine, tolerance):
            kind = "substituted" if numeric else "symbolic"
            problems.append(f"the {kind} side {text(side)} = {value} is not {engine}")
    return problems


def check_document(document: Document, trace: Trace) -> int:
    """Verify ``document``; raise :class:`VerificationError` listing every false equation,
    else return the number of equations checked."""
    report = verify(document, trace)
    if report.problems:
        raise VerificationError(report.problems)
    return report.checked
