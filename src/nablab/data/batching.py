"""Splitting, standardizing and batching, all deterministic under a seed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from nablab._random import RngLike, as_generator


def train_val_split(
    x: np.ndarray, y: np.ndarray, val_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A shuffled split: the same seed gives the same split. Returns x_train, y_train, x_val,
    y_val."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, round(len(x) * val_fraction))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


@dataclass
class Standardizer:
    """x ↦ (x − μ)/σ with μ and σ per feature from the training data only (σ = 0 → 1).

    ``per_feature=False`` uses one μ and σ over every feature instead: what images that get
    shifted or rotated need, since a pixel that is almost always blank has σ ≈ 0 and would
    turn the ink a shift moves into it into a huge input."""

    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    per_feature: bool = True

    def fit(self, x: np.ndarray) -> Standardizer:
        axis = 0 if self.per_feature else None
        self.mean = np.asarray(x.mean(axis=axis), dtype=x.dtype)
        std = np.asarray(x.std(axis=axis))
        self.std = np.where(std > 0, std, 1.0).astype(x.dtype)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("Standardizer: call fit(x_train) before transform")
        return ((x - self.mean) / self.std).astype(x.dtype, copy=False)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)


def batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool = True,
    rng: RngLike = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Mini-batches of one pass over the data, in an order drawn from ``rng``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(x)
    order = as_generator(rng).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        yield x[index], y[index]
