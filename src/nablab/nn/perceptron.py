"""Rosenblatt's perceptron: a linear unit with a step activation and its own learning rule.

The step has derivative zero wherever it has one, so backpropagation cannot train it; the
perceptron rule changes the weights only on a mistake, by the misclassified input itself.
"""

from __future__ import annotations

import numpy as np

from nablab._random import RngLike, as_generator
from nablab.nn.linear import Linear
from nablab.nn.module import Module


class Step(Module):
    """y = 1 if x > 0, else 0 (the Heaviside step);  dL/dx = 0 (the derivative is zero
    everywhere except at 0, where it does not exist), so no gradient passes through it."""

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return (x > 0).astype(x.dtype)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self._require_forward(self._shape)
        return np.zeros_like(grad_out)


def _binary_targets(t: object, n: int) -> np.ndarray:
    t = np.asarray(t)
    if t.shape not in ((n,), (n, 1)):
        raise ValueError(f"Perceptron: expected {n} targets of shape ({n},), got shape {t.shape}")
    t = t.reshape(n)
    if not np.isin(t, (0, 1)).all():
        bad = t[~np.isin(t, (0, 1))][0]
        raise ValueError(f"Perceptron: targets must be 0 or 1 (two classes), got {bad.item()!r}")
    return t


class Perceptron(Module):
    """ŷ = step(x·w + b) ∈ {0, 1} for inputs x of shape (N, in_features).

    Rosenblatt's rule, one sample at a time, in the given order::

        ŷ = step(x·w + b);   w ← w + η(t − ŷ)·x;   b ← b + η(t − ŷ)

    so nothing changes when ŷ = t, and a mistake adds (t = 1) or subtracts (t = 0) the input.
    Novikoff's theorem: if some unit vector (w*, b*) separates the data with margin
    γ = min_i s_i·(x_i·w* + b*) > 0 (s_i = 2t_i − 1), and R = max_i ‖(x_i, 1)‖, the rule
    started from zero makes at most (R/γ)² mistakes, whatever η, and then classifies every
    sample right. On data no line separates (XOR) it never stops making mistakes.
    """

    def __init__(
        self,
        in_features: int,
        lr: float = 1.0,
        init: str = "zeros",
        rng: RngLike = None,
        dtype: np.dtype | type = np.float64,
    ) -> None:
        super().__init__()
        if not lr > 0:
            raise ValueError(f"Perceptron: lr must be > 0, got {lr}")
        self.lr = float(lr)
        self.add_module("linear", Linear(in_features, 1, init=init, rng=rng, dtype=dtype))
        self.add_module("step", Step())

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.step(self.linear(x))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return self.linear.backward(self.step.backward(grad_out))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The predicted classes (N,) as integers 0 or 1."""
        return self.forward(x)[:, 0].astype(np.int64)

    def update(self, x: np.ndarray, t: np.ndarray) -> int:
        """One pass of the rule over the rows of ``x`` in order; returns the mistakes made."""
        self.linear._check_input(x)
        t = _binary_targets(t, len(x))
        w, b = self.linear.weight.data[:, 0], self.linear.bias.data
        mistakes = 0
        for row, target in zip(x, t, strict=True):
            predicted = 1 if float(row @ w + b[0]) > 0 else 0
            if predicted != target:
                step = self.lr * (target - predicted)
                w += step * row
                b += step
                mistakes += 1
        return mistakes

    def fit(
        self,
        x: np.ndarray,
        t: np.ndarray,
        epochs: int = 100,
        shuffle: bool = True,
        seed: RngLike = 0,
    ) -> list[int]:
        """Passes of :meth:`update` (in an order drawn from ``seed`` when ``shuffle``) until
        one makes no mistake or ``epochs`` passes are done; returns the mistakes per pass."""
        if epochs < 1:
            raise ValueError(f"Perceptron.fit: epochs must be >= 1, got {epochs}")
        t = _binary_targets(t, len(x))
        rng = as_generator(seed)
        history: list[int] = []
        for _ in range(epochs):
            order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
            history.append(self.update(x[order], t[order]))
            if history[-1] == 0:
                break
        return history

    def extra_repr(self) -> str:
        return f"in_features={self.linear.in_features}, lr={self.lr}"
