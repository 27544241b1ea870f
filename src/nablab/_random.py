"""One way to turn a user's ``rng`` argument into a :class:`numpy.random.Generator`."""

from __future__ import annotations

import numpy as np

RngLike = np.random.Generator | int | None


def as_generator(rng: RngLike) -> np.random.Generator:
    """A Generator from a Generator (used as is), a seed (bit-identical runs) or None (fresh)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, int | np.integer):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng)}")
