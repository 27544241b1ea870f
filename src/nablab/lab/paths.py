"""Optimizers moving over 2-D functions: many starting points at once, every step recorded.

The points are one float64 :class:`~nablab.nn.Parameter` of shape (S, 2), so nablab's own
optimizers (the rules every network trains with) move all S starts in one step; each rule acts
coordinate by coordinate, so the rows do not interact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nablab import nn, optim
from nablab.lab.functions import Function2D

MOMENTUM = 0.9

# name → (label, factory(params, lr)); momentum μ = 0.9 throughout, no clipping anywhere.
OPTIMIZERS: dict[str, tuple[str, Callable]] = {
    "gd": ("gradient descent", lambda p, lr: optim.SGD(p, lr=lr)),
    "momentum": ("momentum (b ← μb + g)", lambda p, lr: optim.SGD(p, lr=lr, momentum=MOMENTUM)),
    "momentum-velocity": (
        "momentum (v ← μv − lr·g)",
        lambda p, lr: optim.SGD(p, lr=lr, momentum=MOMENTUM, convention="velocity"),
    ),
    "nesterov": (
        "Nesterov (look-ahead)",
        lambda p, lr: optim.SGD(
            p, lr=lr, momentum=MOMENTUM, convention="velocity", nesterov="lookahead"
        ),
    ),
    "adagrad": ("AdaGrad", lambda p, lr: optim.AdaGrad(p, lr=lr)),
    "rmsprop": ("RMSProp", lambda p, lr: optim.RMSProp(p, lr=lr)),
    "adam": ("Adam", lambda p, lr: optim.Adam(p, lr=lr)),
}


@dataclass
class Paths:
    """Positions (steps + 1, S, 2) and gaps f − f* (steps + 1, S) of S starts."""

    optimizer: str
    lr: float
    points: np.ndarray
    gaps: np.ndarray

    @property
    def final_gaps(self) -> np.ndarray:
        """f − f* at the end, +∞ where the path left every sensible range (diverged)."""
        gaps = self.gaps[-1]
        return np.where(np.isfinite(gaps), gaps, np.inf)

    def mean_final_gap(self) -> float:
        return float(np.mean(self.final_gaps))


def run_paths(
    function: Function2D, optimizer: str, lr: float, steps: int, starts: np.ndarray | None = None
) -> Paths:
    """Run ``optimizer`` at ``lr`` for ``steps`` steps from every start of ``function``."""
    begin = np.array(function.starts if starts is None else starts, dtype=np.float64)
    point = nn.Parameter(begin.copy())
    opt = OPTIMIZERS[optimizer][1]([point], lr)

    def closure() -> float:
        point.grad[...] = function.gradient(point.data)
        return 0.0

    points = np.empty((steps + 1, *begin.shape))
    points[0] = begin
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            opt.step(closure)
            data = point.data
            blown = ~np.isfinite(data) | (np.abs(data) > 1e8)
            if blown.any():
                data[blown] = np.nan
            points[t + 1] = data
        gaps = function.value(points) - function.minimum
    return Paths(optimizer, lr, points, gaps)


def tune(function: Function2D, optimizer: str, lrs: tuple[float, ...], steps: int) -> Paths:
    """The paths at the learning rate of ``lrs`` whose mean final f − f* over the starts is
    lowest (every optimizer gets the same grid, the same steps and the same starts)."""
    best: Paths | None = None
    for lr in lrs:
        paths = run_paths(function, optimizer, lr, steps)
        if best is None or paths.mean_final_gap() < best.mean_final_gap():
            best = paths
    assert best is not None
    return best


def steps_to(gaps: np.ndarray, tol: float) -> np.ndarray:
    """Per start, the first step whose gap is below ``tol`` (−1 where it never is)."""
    below = gaps < tol
    first = np.argmax(below, axis=0)
    return np.where(below.any(axis=0), first, -1)


def reversals(points: np.ndarray, axis: int, until: np.ndarray | None = None) -> np.ndarray:
    """Per start, how often the step along ``axis`` changes sign (a zig-zag), counting only
    steps before ``until`` (all steps when omitted)."""
    moves = np.diff(points[:, :, axis], axis=0)
    flips = (np.sign(moves[1:]) * np.sign(moves[:-1])) < 0
    if until is not None:
        limit = np.where(until < 0, len(flips), until)[None, :]
        flips = flips & (np.arange(len(flips))[:, None] < limit)
    return flips.sum(axis=0)


def overshoot(points: np.ndarray, axis: int, center: float = 0.0) -> np.ndarray:
    """Per start, the largest distance past ``center`` on the far side from the start along
    ``axis`` (0 when a path never crosses it)."""
    start = points[0, :, axis] - center
    across = -(points[:, :, axis] - center) * np.sign(start)[None, :]
    with np.errstate(invalid="ignore"):
        return np.nanmax(np.maximum(across, 0.0), axis=0)


def straightness(points: np.ndarray, until: np.ndarray | None = None) -> np.ndarray:
    """Per start, the distance covered divided by the length of the path walked, up to step
    ``until`` (the end when omitted): 1 for a straight line, small for a zig-zag or a detour."""
    last = (
        np.full(points.shape[1], len(points) - 1)
        if until is None
        else np.where(until < 0, len(points) - 1, until)
    )
    columns = np.arange(points.shape[1])
    steps = np.linalg.norm(np.diff(points, axis=0), axis=-1)
    walked = np.where(np.arange(len(steps))[:, None] < last[None, :], steps, 0.0).sum(axis=0)
    covered = np.linalg.norm(points[last, columns] - points[0], axis=-1)
    return covered / np.maximum(walked, 1e-300)
