"""Proximal L1: the soft-threshold step that gives exact zeros.

The subgradient of λ‖w‖₁ (``nn.L1Penalty``) pushes each weight by λ·sign(w) and makes it jitter
around zero without ever landing on it. The proximal step solves the penalty exactly for one
step instead: after the optimizer's update w', it takes

    w ← argmin_v  ½‖v − w'‖² + η·λ‖v‖₁  =  S_{ηλ}(w'),    S_τ(w) = sign(w)·max(|w| − τ, 0)

which sets every weight with |w'| ≤ ηλ to exactly zero. With plain SGD the two steps are
proximal gradient descent (ISTA) on L(w) + λ‖w‖₁; after any other optimizer they are the same
soft threshold with that optimizer's learning rate η. That is not the exact proximal step of an
adaptive optimizer: Adam moves every weight by about η per step whatever its gradient, so a
weight it pushes off zero falls back to zero only when ηλ exceeds that step (λ ≳ 1).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from nablab.nn.module import Module, Parameter
from nablab.nn.penalties import penalized_parameters


def soft_threshold(w: np.ndarray, threshold: float, out: np.ndarray | None = None) -> np.ndarray:
    """S_τ(w) = sign(w)·max(|w| − τ, 0), element-wise (the proximal operator of τ‖·‖₁);
    ``out=w`` works in place."""
    if not threshold >= 0:
        raise ValueError(f"soft_threshold: threshold must be >= 0, got {threshold}")
    shrunk = np.maximum(np.abs(w) - threshold, 0)
    return np.multiply(np.sign(w), shrunk, out=out)


class L1Proximal:
    """After ``optimizer.step()``, ``prox.step()`` applies w ← S_{η·λ}(w) to the penalized
    parameters (a model's weight matrices by default; biases and γ/β when asked), η being the
    optimizer's current learning rate. ``value()`` is λ‖w‖₁ (for logging the full objective).

    Pruned entries (mask 0) are zero and stay zero: S_τ(0) = 0.
    """

    def __init__(
        self,
        model_or_params: Module | Iterable[Parameter],
        strength: float,
        optimizer,
        biases: bool = False,
        normalization: bool = False,
    ) -> None:
        if not strength >= 0:
            raise ValueError(f"L1Proximal: strength must be >= 0, got {strength}")
        if not hasattr(optimizer, "lr"):
            raise TypeError(
                f"L1Proximal: optimizer must be an optimizer with a learning rate, got "
                f"{type(optimizer).__name__}"
            )
        self.strength = float(strength)
        self.optimizer = optimizer
        if isinstance(model_or_params, Module):
            self.params = penalized_parameters(model_or_params, biases, normalization)
        else:
            self.params = list(model_or_params)

    @property
    def threshold(self) -> float:
        """τ = η·λ for the optimizer's current learning rate η."""
        return float(self.optimizer.lr) * self.strength

    def step(self) -> None:
        threshold = self.threshold
        for param in self.params:
            soft_threshold(param.data, threshold, out=param.data)

    def value(self) -> float:
        return self.strength * sum(float(np.abs(p.data).sum()) for p in self.params)

    def __repr__(self) -> str:
        return f"L1Proximal(strength={self.strength}, params={len(self.params)})"
