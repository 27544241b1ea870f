"""Reshaping between the layouts of layers: feature maps to rows and rows to feature maps.

Both modules only reinterpret the order of the numbers (C order, as PyTorch), so backward is
the inverse reshape of the gradient.
"""

from __future__ import annotations

import math

import numpy as np

from nablab.nn.module import Module


def _axis(owner: str, name: str, axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{owner}: {name}={axis} is out of range for an input with {ndim} axes")
    return axis % ndim


class Flatten(Module):
    """Axes ``start_dim`` … ``end_dim`` merged into one, in C order (PyTorch's ``Flatten``):
    (N, C, H, W) → (N, C·H·W) by default, so feature (c, h, w) lands in column
    c·H·W + h·W + w. Backward reshapes dL/dy back to the input's shape."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.label}: expected a NumPy array, got {type(x)}")
        start = _axis(self.label, "start_dim", self.start_dim, x.ndim)
        end = _axis(self.label, "end_dim", self.end_dim, x.ndim)
        if start > end:
            raise ValueError(f"{self.label}: start_dim {start} comes after end_dim {end}")
        self._shape = x.shape
        merged = math.prod(x.shape[start : end + 1])
        return x.reshape(*x.shape[:start], merged, *x.shape[end + 1 :])

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self._require_forward(self._shape)
        if grad_out.size != math.prod(self._shape):
            raise ValueError(
                f"{self.label}: grad_out of shape {grad_out.shape} does not fit the input "
                f"shape {self._shape}"
            )
        return grad_out.reshape(self._shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Axis ``dim`` split into ``unflattened_size``, in C order (PyTorch's ``Unflatten``):
    ``Unflatten(1, (1, 40))`` turns (N, 40) signals into (N, 1, 40), one channel each.
    Backward merges the axes of dL/dy again."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...]) -> None:
        super().__init__()
        sizes = tuple(unflattened_size)
        if not sizes or any(
            isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1 for s in sizes
        ):
            raise ValueError(
                f"Unflatten: unflattened_size must be positive integers, got {unflattened_size!r}"
            )
        self.dim, self.unflattened_size = int(dim), tuple(int(s) for s in sizes)
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.label}: expected a NumPy array, got {type(x)}")
        dim = _axis(self.label, "dim", self.dim, x.ndim)
        if x.shape[dim] != math.prod(self.unflattened_size):
            raise ValueError(
                f"{self.label}: axis {dim} of the input has size {x.shape[dim]}, which cannot be "
                f"split into {self.unflattened_size} (input shape {x.shape})"
            )
        self._shape = x.shape
        return x.reshape(*x.shape[:dim], *self.unflattened_size, *x.shape[dim + 1 :])

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self._require_forward(self._shape)
        if grad_out.size != math.prod(self._shape):
            raise ValueError(
                f"{self.label}: grad_out of shape {grad_out.shape} does not fit the input "
                f"shape {self._shape}"
            )
        return grad_out.reshape(self._shape)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
