"""What every phase writer shares: the solution being written and a registry keyed by class.

A phase (forward, loss, backward, update) registers one function per module, loss or
optimizer class; :meth:`ClassRegistry.lookup` finds it by the class (or its nearest registered
base) and otherwise raises "worked solutions do not support X yet" — there is no fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np

from nablab.i18n import M
from nablab.solve.document import Equation, Heading, Para
from nablab.solve.expr import Expr, Num, magnitude, num
from nablab.solve.spec import ExerciseError
from nablab.solve.trace import Pass, StepTrace, Trace, rows

F = TypeVar("F", bound=Callable[..., Any])
LOSS = "E"
TINY = 1e-12


class UnsupportedError(ExerciseError):
    """An exercise the worked-solution writer cannot write yet (the engine may run it)."""

    def __init__(self, what: str) -> None:
        super().__init__([f"worked solutions do not support {what} yet"], "solution")


class ClassRegistry(Generic[F]):
    """Writer functions keyed by the class they write (module, loss, penalty, optimizer)."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self._writers: dict[type, F] = {}

    def register(self, *classes: type) -> Callable[[F], F]:
        def add(function: F) -> F:
            for cls in classes:
                self._writers[cls] = function
            return function

        return add

    def lookup(self, obj: object) -> F:
        for cls in type(obj).__mro__:
            if cls in self._writers:
                return self._writers[cls]
        raise UnsupportedError(f"{type(obj).__name__} in the {self.phase}")

    def classes(self) -> tuple[type, ...]:
        return tuple(self._writers)


class Writer:
    """The solution being written: the trace, the items so far and small helpers."""

    def __init__(self, trace: Trace) -> None:
        self.trace, self.built = trace, trace.built
        self.exercise = trace.exercise
        self.digits = self.exercise.digits
        self.items: list = []
        self.step: StepTrace | None = None

    @property
    def k(self) -> int:
        return 0 if self.step is None else self.step.index

    def n(self, value: float) -> Num:
        return num(value, self.digits)

    def heading(self, text: str) -> None:
        """A heading (a :class:`~nablab.i18n.Message`, rendered in the language in force)."""
        self.items.append(Heading(text))

    def para(self, text: str) -> None:
        """A sentence (a :class:`~nablab.i18n.Message`)."""
        self.items.append(Para(text))

    def eq(
        self,
        *parts: Expr,
        key: str | None = None,
        relation: str = "=",
        value: Any = None,
        given: dict[str, Any] | None = None,
    ) -> None:
        """An equation; a scalar result that is below 1e-12 of the terms it comes from is
        rounding error and is shown as 0, with a note."""
        parts = list(parts)
        result = parts[-1]
        if isinstance(result, Num) and result.value != 0 and len(parts) > 2:
            try:
                scale = magnitude(parts[-2])
            except (ValueError, KeyError, ZeroDivisionError):
                scale = 0.0
            if abs(result.value) <= TINY * scale:
                parts[-1] = self.n(0)
                self.items.append(Equation(parts, key, relation, self.k, value, dict(given or {})))
                self.para(
                    M(
                        "solve.rounding_zero",
                        "(In floating point the sum is {value:.3g}, rounding error below 1e-12 of "
                        "its terms; shown as 0.)",
                        value=result.value,
                    )
                )
                return
        self.items.append(Equation(parts, key, relation, self.k, value, dict(given or {})))

    def key(self, name: str) -> str:
        return f"{name}@{self.k}"

    # ----------------------------------------------------------------- names
    def entering(self, p: Pass, position: int) -> tuple[list[str], np.ndarray]:
        """Names (without sample suffix) and values entering layer ``position``, one row per
        sample (a feature map's values channel by channel, in the order of its names)."""
        if position == 0:
            return self.built.input_names, rows(p.inputs)
        return self.built.output_names[position - 1], rows(p.layers[position - 1].output)

    def entering_grad(self, p: Pass, position: int) -> np.ndarray:
        """dL/d(the values entering layer ``position``), one row per sample."""
        if position == 0:
            return rows(p.input_grad)
        return rows(p.layers[position - 1].grad)

    def shape_in(self, position: int) -> tuple[int, ...]:
        """The shape of one sample entering layer ``position``: (d,) or (C, L)."""
        return self.built.input_shape if position == 0 else self.built.shapes[position - 1]

    def entering_tag(self, position: int, p: Pass) -> str:
        """Inputs keep their names at the look-ahead point; every later value takes the tag."""
        return "" if position == 0 else p.tag

    @staticmethod
    def param_name(scalar, p: Pass) -> str:
        """A parameter's name in a pass: at the look-ahead point a trainable one is ``w5~``."""
        return scalar.name + (p.tag if scalar.trainable else "")

    def scalars(self, position: int, role: str) -> list:
        return [s for s in self.built.scalars if s.layer == position and s.role == role]
