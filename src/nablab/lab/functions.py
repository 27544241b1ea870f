"""Two-dimensional test functions for optimizer paths, with exact gradients and Hessians.

Each function takes points as an array ``(..., 2)`` (rows are points), so many starting points
move at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Function2D:
    """f, ∇f and the Hessian of a 2-D function, its minimum value, a plotting window and the
    starting points a fair race uses."""

    name: str
    formula: str
    value: Callable[[np.ndarray], np.ndarray]
    gradient: Callable[[np.ndarray], np.ndarray]
    hessian: Callable[[np.ndarray], np.ndarray]
    minimum: float
    window: tuple[tuple[float, float], tuple[float, float]]
    starts: tuple[tuple[float, float], ...]
    minimizers: tuple[tuple[float, float], ...]


def quadratic(kappa: float = 20.0) -> Function2D:
    """f = x²/κ + y²: Hessian diag(2/κ, 2), condition number κ (κ = 20: x²/20 + y²)."""

    def value(p):
        return p[..., 0] ** 2 / kappa + p[..., 1] ** 2

    def gradient(p):
        return np.stack([2 * p[..., 0] / kappa, 2 * p[..., 1]], axis=-1)

    def hessian(p):
        return np.broadcast_to(np.diag([2 / kappa, 2.0]), (*p.shape[:-1], 2, 2)).copy()

    reach = 7.0
    starts = tuple((reach * np.cos(a), 2.5 * np.sin(a)) for a in (2.6, 2.2, 0.7, -0.6, -2.4))
    return Function2D(
        "quadratic",
        f"x²/{kappa:g} + y²",
        value,
        gradient,
        hessian,
        0.0,
        ((-8.0, 8.0), (-3.0, 3.0)),
        starts,
        ((0.0, 0.0),),
    )


def rosenbrock() -> Function2D:
    """f = (1 − x)² + 100(y − x²)², minimum 0 at (1, 1) at the end of a curved valley."""

    def value(p):
        x, y = p[..., 0], p[..., 1]
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    def gradient(p):
        x, y = p[..., 0], p[..., 1]
        return np.stack([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)], axis=-1)

    def hessian(p):
        x, y = p[..., 0], p[..., 1]
        h = np.empty((*p.shape[:-1], 2, 2))
        h[..., 0, 0] = 2 - 400 * (y - x * x) + 800 * x * x
        h[..., 0, 1] = h[..., 1, 0] = -400 * x
        h[..., 1, 1] = 200.0
        return h

    starts = ((-1.5, 2.0), (-1.2, 1.0), (0.0, -0.5), (1.5, 2.5), (-0.5, 2.5))
    return Function2D(
        "rosenbrock",
        "(1 − x)² + 100(y − x²)²",
        value,
        gradient,
        hessian,
        0.0,
        ((-2.0, 2.0), (-1.0, 3.0)),
        starts,
        ((1.0, 1.0),),
    )


_BEALE = ((1.5, 1), (2.25, 2), (2.625, 3))


def beale() -> Function2D:
    """f = Σ_k (c_k − x + x·y^k)² for (c_k, k) = (1.5, 1), (2.25, 2), (2.625, 3); minimum 0
    at (3, 0.5)."""

    def value(p):
        x, y = p[..., 0], p[..., 1]
        return sum((c - x + x * y**k) ** 2 for c, k in _BEALE)

    def gradient(p):
        x, y = p[..., 0], p[..., 1]
        gx = sum(2 * (c - x + x * y**k) * (y**k - 1) for c, k in _BEALE)
        gy = sum(2 * (c - x + x * y**k) * (k * x * y ** (k - 1)) for c, k in _BEALE)
        return np.stack([gx, gy], axis=-1)

    def hessian(p):
        x, y = p[..., 0], p[..., 1]
        h = np.zeros((*p.shape[:-1], 2, 2))
        for c, k in _BEALE:
            r = c - x + x * y**k
            rx, ry = y**k - 1, k * x * y ** (k - 1)
            ryy = k * (k - 1) * x * y ** (k - 2) if k > 1 else 0.0
            rxy = k * y ** (k - 1)
            h[..., 0, 0] += 2 * rx * rx
            h[..., 0, 1] += 2 * (rx * ry + r * rxy)
            h[..., 1, 1] += 2 * (ry * ry + r * ryy)
        h[..., 1, 0] = h[..., 0, 1]
        return h

    starts = ((1.0, 1.5), (-1.0, -1.0), (2.0, 2.0), (4.0, -0.5), (0.5, 0.0))
    return Function2D(
        "beale",
        "Σ_k (c_k − x + x·y^k)²",
        value,
        gradient,
        hessian,
        0.0,
        ((-1.5, 4.5), (-1.5, 2.5)),
        starts,
        ((3.0, 0.5),),
    )


def saddle() -> Function2D:
    """f = x² − y² + y⁴/4: a saddle at (0, 0) (Hessian diag(2, −2)) between minima −1 at
    (0, ±√2)."""

    def value(p):
        x, y = p[..., 0], p[..., 1]
        return x * x - y * y + y**4 / 4

    def gradient(p):
        x, y = p[..., 0], p[..., 1]
        return np.stack([2 * x, -2 * y + y**3], axis=-1)

    def hessian(p):
        y = p[..., 1]
        h = np.zeros((*p.shape[:-1], 2, 2))
        h[..., 0, 0] = 2.0
        h[..., 1, 1] = -2 + 3 * y * y
        return h

    root = float(np.sqrt(2.0))
    starts = ((-2.0, 0.3), (2.0, 0.05), (1.5, -0.5), (-1.0, -0.02), (0.5, 2.2))
    return Function2D(
        "saddle",
        "x² − y² + y⁴/4",
        value,
        gradient,
        hessian,
        -1.0,
        ((-2.5, 2.5), (-2.5, 2.5)),
        starts,
        ((0.0, root), (0.0, -root)),
    )


FUNCTIONS: dict[str, Callable[[], Function2D]] = {
    "quadratic": quadratic,
    "rosenbrock": rosenbrock,
    "beale": beale,
    "saddle": saddle,
}
