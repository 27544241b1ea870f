"""Argument checks shared across the package, with messages that name the owner."""

from __future__ import annotations

import numpy as np


def positive_int(owner: str, name: str, value: object) -> int:
    """``value`` as an int ≥ 1 (not a bool), else ``ValueError`` naming owner and argument."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)
