"""Gradient centralization (Yong et al., 2020) on flat parameter buffers.

For a weight W of shape (in, out) with gradient G, GC replaces each output unit's gradient
column by its deviation from the column mean:  Φ(G) = G − 1·mean_rows(G), i.e. the mean over
every axis except the last (the output axis in nablab's layout). Vectors (biases, ndim < 2)
are left unchanged.
"""

from __future__ import annotations

import numpy as np

CENTRALIZE_MODES = (None, "gradient", "update")


def centralize(array: np.ndarray) -> np.ndarray:
    """Φ(A) = A − mean of A over every axis but the last (in place; returned)."""
    if array.ndim >= 2:
        array -= array.mean(axis=tuple(range(array.ndim - 1)), keepdims=True)
    return array


def centralize_segments(flat: np.ndarray, group) -> None:
    """Centralize, in place, each ndim ≥ 2 parameter's segment of a flat group-sized array."""
    for index, param in enumerate(group.params):
        if param.ndim >= 2:
            centralize(flat[group.slice_of(index)].reshape(param.shape))
