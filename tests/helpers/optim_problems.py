"""Small problems for optimizer tests: parameters plus a function that fills their gradients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nablab import nn


@dataclass
class Problem:
    params: list[nn.Parameter]
    compute: Callable[[], float]  # zero the grads, fill them, return the loss

    def snapshot(self) -> list[np.ndarray]:
        return [p.data.copy() for p in self.params]


def mlp_problem(seed: int = 0) -> Problem:
    """A 4-5-3 tanh MLP with cross-entropy on fixed random data (float64)."""
    rng = np.random.default_rng(seed)
    model = nn.Sequential(
        nn.Linear(4, 5, rng=rng, dtype=np.float64),
        nn.Tanh(),
        nn.Linear(5, 3, rng=rng, dtype=np.float64),
    )
    x, y = rng.normal(size=(8, 4)), rng.integers(0, 3, size=8)
    loss = nn.CrossEntropyLoss()

    def compute() -> float:
        model.zero_grad()
        value = loss(model(x), y)
        model.backward(loss.backward())
        return value

    return Problem(model.parameters(), compute)


def quadratic_problem(seed: int = 0) -> Problem:
    """L = ½ Σ_k (w_kᵀ A_k w_k) − b_kᵀ w_k over a (3, 2) matrix and a (4,) vector."""
    rng = np.random.default_rng(seed)
    params = [nn.Parameter(rng.normal(size=(3, 2)), "W"), nn.Parameter(rng.normal(size=4), "v")]
    spd = []
    for p in params:
        m = rng.normal(size=(p.size, p.size))
        spd.append((m @ m.T / p.size + 0.5 * np.eye(p.size), rng.normal(size=p.size)))

    def compute() -> float:
        total = 0.0
        for p, (a, b) in zip(params, spd, strict=True):
            w = p.data.ravel()
            p.grad[...] = (a @ w - b).reshape(p.shape)
            total += 0.5 * w @ a @ w - b @ w
        return total

    return Problem(params, compute)


PROBLEMS = {"mlp": mlp_problem, "quadratic": quadratic_problem}
