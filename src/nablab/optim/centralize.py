"""Gradient centralization (Yong et al., 2020) on flat parameter buffers.

For a weight W of shape (in, out) with gradient G, GC replaces each output unit's gradient
column by its deviation from the column mean:  Φ(G) = G − 1·mean_rows(G), i.e. the mean over
every axis except the last (the output axis in nablab's layout). Vectors (biases, ndim < 2)
are left unchanged.
"""

from __future__ import annotations

import numpy as np

CENTRALIZE_MODES = (None, "gradient", "update")


def centralize(array: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Φ(A) = A − mean of A over every axis but the last (in place; returned).

    With a pruning mask M the mean of each output column is taken over its kept entries only,
    and pruned entries stay zero: Φ(A) = (A − Σ(M ⊙ A)/ΣM) ⊙ M.
    """
    if array.ndim < 2:
        return array
    axes = tuple(range(array.ndim - 1))
    if mask is None:
        array -= array.mean(axis=axes, keepdims=True)
        return array
    kept = mask.sum(axis=axes, keepdims=True)
    array -= (array * mask).sum(axis=axes, keepdims=True) / np.maximum(kept, 1)
    array *= mask
    return array


def centralize_segments(flat: np.ndarray, run, mask: np.ndarray | None = None) -> None:
    """Centralize, in place, each ndim ≥ 2 parameter's segment of a flat run-sized array."""
    for param, span in zip(run.params, run.spans, strict=True):
        if param.ndim >= 2:
            segment_mask = None if mask is None else mask[span].reshape(param.shape)
            centralize(flat[span].reshape(param.shape), segment_mask)
