"""Softmax cross-entropy on class indices in one pass per row: a NumPy reference and a numba
accelerator of the same formula.

Small batches make NumPy's per-call overhead dominate a loss: a row-wise max and sum over a
32×10 array cost microseconds each. The numba loop computes exactly the documented formula in
one pass per row; the NumPy reference computes it with whole-array operations (its sums are
pairwise, so the two agree to rounding, not bit for bit). :func:`softmax_cross_entropy` picks
one by :func:`nablab.backend.kernels`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nablab import backend


def softmax_cross_entropy_reference(logits, target, probs):
    """Per row n: m = max_c X[n, c], s = Σ_c e^(X[n, c] − m), p = e^(X − m)/s (into ``probs``),
    loss_n = log s − (X[n, t_n] − m). Returns (Σ_n loss_n, rows whose target logit is the
    largest, the first row with a target outside [0, C) or −1)."""
    rows, classes = logits.shape
    outside = (target < 0) | (target >= classes)
    if outside.any():
        return 0.0, 0, int(np.argmax(outside))
    top = logits.max(axis=1, keepdims=True)
    np.subtract(logits, top, out=probs)
    picked = probs[np.arange(rows), target]
    np.exp(probs, out=probs)
    s = probs.sum(axis=1, keepdims=True)
    probs /= s
    total = float(np.sum(np.log(s[:, 0]) - picked, dtype=np.float64))
    return total, int((picked == 0).sum()), -1


def _loop(logits, target, probs):
    rows, classes = logits.shape
    total = 0.0
    correct = 0
    for n in range(rows):
        label = target[n]
        if label < 0 or label >= classes:
            return total, correct, n
        top = logits[n, 0]
        for c in range(1, classes):
            if logits[n, c] > top:
                top = logits[n, c]
        s = 0.0
        for c in range(classes):
            e = np.exp(logits[n, c] - top)
            probs[n, c] = e
            s += e
        for c in range(classes):
            probs[n, c] /= s
        picked = logits[n, label] - top
        correct += picked == 0
        total += np.log(s) - picked
    return total, correct, -1


_compiled: Callable | None = None
_expit: Callable | None = None


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1/(1 + e^(−x)), by SciPy's ``expit`` (imported on first use)."""
    global _expit
    if _expit is None:
        from scipy.special import expit

        _expit = expit
    return _expit(x)


def softmax_cross_entropy(logits, target, probs):
    """:func:`softmax_cross_entropy_reference`, by the numba loop when kernels are numba."""
    global _compiled
    if backend._Settings.kernels == "numpy":
        return softmax_cross_entropy_reference(logits, target, probs)
    if _compiled is None:
        import numba

        _compiled = numba.njit(cache=True, error_model="numpy", nogil=True)(_loop)
    return _compiled(logits, target, probs)
