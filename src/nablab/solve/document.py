"""The document model of a worked solution: headings, sentences and equations.

An :class:`Equation` reads ``parts[0] relation parts[1] = parts[2] = … = parts[-1]``: the
quantity, its formula in symbols, the formula with the numbers substituted, and the result.
``relation`` is ``=`` (a definition) or ``←`` (an assignment: the right side reads the old
value). ``key`` names the quantity in the naming scheme (``w5@1``, ``grad(out_h1)@1``), so the
checker and the verifier can find the engine's own value of it; an equation without a key
carries that value in ``value`` (a matrix, say). ``step`` is the step the equation belongs to
(0 for the result section), and ``given`` binds symbols that no earlier equation defines
(the matrices X and A of a backward pass).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nablab.solve.expr import Expr


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str


@dataclass
class Equation:
    parts: list[Expr]
    key: str | None = None
    relation: str = "="
    step: int = 0
    value: Any = None
    given: dict[str, Any] = field(default_factory=dict)
    tolerance_note: str | None = None


@dataclass
class Pair:
    """Two equations side by side under their labels (the same quantity under two
    conventions)."""

    labels: tuple[Any, Any]
    equations: tuple[Equation | None, Equation | None]


@dataclass
class Document:
    title: str
    items: list = field(default_factory=list)
    functions: dict[str, Any] = field(default_factory=dict)

    def equations(self) -> dict[str, Equation]:
        """The keyed equations, by key, in document order."""
        return {
            item.key: item
            for item in self.items
            if isinstance(item, Equation) and item.key is not None
        }


__all__ = ["Document", "Equation", "Heading", "Pair", "Para"]
