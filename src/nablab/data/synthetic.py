"""Two-dimensional toy classification sets for decision-boundary pictures.

Each function returns ``(x, y)``: ``n`` points of shape (n, 2) and integer labels, generated
from ``seed`` alone (the same seed gives the same points).
"""

from __future__ import annotations

import numpy as np


def _check(n: int, noise: float) -> None:
    if n < 2:
        raise ValueError(f"need at least 2 points, got n={n}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")


def _shuffled(x: np.ndarray, y: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(len(y))
    return x[order], y[order].astype(np.int64)


def moons(n: int = 400, noise: float = 0.1, seed: int = 0):
    """Two interleaving half circles (radius 1), offset as in scikit-learn's make_moons."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    half = n // 2
    upper = np.linspace(0, np.pi, n - half)
    lower = np.linspace(0, np.pi, half)
    x = np.concatenate(
        [
            np.stack([np.cos(upper), np.sin(upper)], 1),
            np.stack([1 - np.cos(lower), 0.5 - np.sin(lower)], 1),
        ]
    )
    y = np.concatenate([np.zeros(n - half), np.ones(half)])
    return _shuffled(x + rng.normal(scale=noise, size=x.shape), y, rng)


def circles(n: int = 400, noise: float = 0.05, seed: int = 0, factor: float = 0.5):
    """A circle of radius 1 around one of radius ``factor``."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    half = n // 2
    angles = rng.uniform(0, 2 * np.pi, n)
    radius = np.concatenate([np.ones(n - half), np.full(half, factor)])
    x = np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1)
    y = np.concatenate([np.zeros(n - half), np.ones(half)])
    return _shuffled(x + rng.normal(scale=noise, size=x.shape), y, rng)


def spirals(n: int = 400, noise: float = 0.2, seed: int = 0, classes: int = 2, turns: float = 1.5):
    """``classes`` interleaved arms r = t, θ = 2π·turns·t + 2πk/classes, t ∈ [0.1, 1]."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    t = rng.uniform(0.1, 1.0, n)
    theta = 2 * np.pi * turns * t + 2 * np.pi * labels / classes
    x = np.stack([t * np.cos(theta), t * np.sin(theta)], 1)
    return _shuffled(x + rng.normal(scale=noise * 0.1, size=x.shape), labels, rng)


def xor(n: int = 400, noise: float = 0.1, seed: int = 0):
    """Points in the four quadrants of [−1, 1]²; the label is 1 where x₁·x₂ < 0."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    y = (x[:, 0] * x[:, 1] < 0).astype(np.int64)
    return x + rng.normal(scale=noise, size=x.shape), y


def blobs(n: int = 400, noise: float = 1.0, seed: int = 0, centers: int = 3):
    """``centers`` Gaussian clusters (standard deviation ``noise``) on a circle of radius 5."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % centers
    angles = 2 * np.pi * np.arange(centers) / centers
    means = 5 * np.stack([np.cos(angles), np.sin(angles)], 1)
    x = means[labels] + rng.normal(scale=noise, size=(n, 2))
    return _shuffled(x, labels, rng)
