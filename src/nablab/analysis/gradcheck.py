"""Finite-difference gradient checks.

The central difference (f(w + ε) − f(w − ε)) / 2ε has error O(ε²·f'''), so in float64 with
ε ≈ 1e-6 an analytic gradient that is right agrees to about 1e-8 relative or better.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nablab.nn.losses import Loss
from nablab.nn.module import Module


def numerical_gradient(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """∂f/∂array by central differences; ``array`` is perturbed in place and restored exactly."""
    grad = np.zeros(array.shape, dtype=np.float64)
    for index in np.ndindex(array.shape):
        original = array[index].copy()
        array[index] = original + eps
        f_plus = f()
        array[index] = original - eps
        f_minus = f()
        array[index] = original
        grad[index] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-10) -> np.ndarray:
    """|a − n| / max(|a|, |n|, floor): 0 where both are exactly equal, ≤ 1 unless signs differ."""
    analytic, numeric = np.asarray(analytic), np.asarray(numeric)
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    return np.abs(analytic - numeric) / scale


@dataclass(frozen=True)
class GradCheckEntry:
    """One scalar: its name (``"0.weight[1, 0]"``), the analytic and the numerical gradient."""

    name: str
    analytic: float
    numeric: float

    @property
    def rel_error(self) -> float:
        return float(relative_error(self.analytic, self.numeric))


@dataclass(frozen=True)
class GradCheckReport:
    """Every scalar's analytic and numerical gradient, in parameter order."""

    entries: tuple[GradCheckEntry, ...]

    @property
    def max_rel_error(self) -> float:
        return max((e.rel_error for e in self.entries), default=0.0)

    def passed(self, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
        """Every entry within ``atol + rtol·max(|analytic|, |numeric|)``.

        ``atol`` absorbs the round-off of the difference quotient (about 1e-16·|f|/ε), which
        dominates for gradients near zero; a wrong formula misses by far more.
        """
        return all(
            abs(e.analytic - e.numeric) <= atol + rtol * max(abs(e.analytic), abs(e.numeric))
            for e in self.entries
        )

    def table(self) -> str:
        """A fixed-width text table: name, analytic, numerical, relative error."""
        width = max([len("parameter"), *(len(e.name) for e in self.entries)])
        header = f"{'parameter':<{width}}  {'analytic':>15}  {'numerical':>15}  {'rel. error':>10}"
        lines = [header, "-" * len(header)]
        for e in self.entries:
            lines.append(
                f"{e.name:<{width}}  {e.analytic:>15.10f}  {e.numeric:>15.10f}  "
                f"{e.rel_error:>10.2e}"
            )
        return "\n".join(lines)


def gradcheck(
    model: Module,
    loss: Loss,
    x: np.ndarray,
    target: np.ndarray,
    eps: float = 1e-6,
    include_input: bool = False,
) -> GradCheckReport:
    """Compare ``model.backward`` with central differences of ``loss(model(x), target)``.

    Needs a float64 model: float32 rounding (≈ 6e-8) swamps a finite difference. The model's
    gradients are left as the analytic ones; its parameters are restored exactly.
    """
    params = list(model.named_parameters())
    for name, param in params:
        if param.dtype != np.float64:
            raise ValueError(
                f"gradcheck needs float64 parameters; {name!r} is {param.dtype} "
                "(build the model with dtype=np.float64)"
            )

    def objective() -> float:
        return loss(model(x), target)

    model.zero_grad()
    objective()
    grad_input = model.backward(loss.backward())
    analytic = {name: param.grad.copy() for name, param in params}

    entries: list[GradCheckEntry] = []
    for name, param in params:
        numeric = numerical_gradient(objective, param.data, eps)
        for index in np.ndindex(param.shape):
            label = f"{name}[{', '.join(map(str, index))}]" if index else name
            entries.append(GradCheckEntry(label, float(analytic[name][index]), numeric[index]))
    if include_input:
        x_work = np.array(x, dtype=np.float64)

        def objective_of_input() -> float:
            return loss(model(x_work), target)

        numeric = numerical_gradient(objective_of_input, x_work, eps)
        for index in np.ndindex(x_work.shape):
            label = f"input[{', '.join(map(str, index))}]"
            entries.append(GradCheckEntry(label, float(grad_input[index]), numeric[index]))
    for name, param in params:
        np.copyto(param.grad, analytic[name])
    return GradCheckReport(tuple(entries))
