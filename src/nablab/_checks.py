"""Argument checks shared across the package, with messages that name the owner."""

from __future__ import annotations

import numpy as np


def positive_int(owner: str, name: str, value: object) -> int:
    """``value`` as an int ≥ 1 (not a bool), else ``ValueError`` naming owner and argument."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


def positive_float(owner: str, name: str, value: object) -> float:
    """``value`` as a finite float > 0, else ``ValueError`` naming owner and argument."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{owner}: {name} must be a positive number, got {value!r}")
    number = float(value)
    if not number > 0 or not np.isfinite(number):
        raise ValueError(f"{owner}: {name} must be a positive number, got {value!r}")
    return number


def check_batch(label: str, x: np.ndarray, dtype: np.dtype | None) -> None:
    """A batch holds at least one sample and has the module's dtype (a model never changes
    dtype silently)."""
    if x.shape[0] == 0:
        raise ValueError(f"{label}: the batch is empty (shape {x.shape}); give at least one sample")
    if dtype is not None and x.dtype != dtype:
        raise ValueError(
            f"{label}: expected input dtype {dtype}, got {x.dtype} (a model never changes dtype "
            f"silently: cast with x.astype(np.{dtype}))"
        )
