"""Jacobians and Hessians with respect to any array: inputs, logits, hidden activations.

``jacobian(f, x)`` differentiates any function of an array by central differences;
``module_jacobian(module, x)`` gets the same matrix exactly, one backward pass per output
entry. ``array_hessian(loss, x, target, model)`` is the Hessian of ``loss(model(x), target)``
with respect to the array ``x`` itself: with no model, ``x`` are the logits a loss sees; with
the layers after a hidden layer as ``model``, ``x`` is that layer's activation. Its columns are
central differences of the exact gradient (``model.backward``), symmetrized:
H[:, j] = (∇L(x + ε·e_j) − ∇L(x − ε·e_j)) / 2ε, H ← (H + Hᵀ)/2.

Closed forms for comparison: :func:`softmax_hessian` (softmax cross-entropy in the logits) and
:func:`nablab.analysis.logistic_regression_hessian`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nablab.nn.losses import Loss
from nablab.nn.module import Module

DEFAULT_MAX_SIZE = 4000


def _float64(x: np.ndarray, who: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise ValueError(f"{who}: finite differences need a float64 array, got {x.dtype}")
    return x


def _check_size(size: int, max_size: int, who: str) -> None:
    if size > max_size:
        raise ValueError(
            f"{who}: {size} entries exceed max_size={max_size} (the matrix has {size}² entries "
            f"and needs {2 * size} evaluations); pass a larger max_size to proceed"
        )


def jacobian(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    eps: float = 1e-6,
    max_size: int = DEFAULT_MAX_SIZE,
) -> np.ndarray:
    """J[i, j] = ∂f(x)_i/∂x_j by central differences, with i and j running over the entries
    of f(x) and x in C order: shape (f(x).size, x.size). ``x`` (float64) is not modified."""
    x = _float64(x, "jacobian")
    _check_size(x.size, max_size, "jacobian")
    work = x.astype(np.float64, copy=True)
    flat = work.reshape(-1)
    columns = []
    for j in range(flat.size):
        original = flat[j]
        flat[j] = original + eps
        plus = np.asarray(f(work), dtype=np.float64).reshape(-1).copy()
        flat[j] = original - eps
        minus = np.asarray(f(work), dtype=np.float64).reshape(-1).copy()
        flat[j] = original
        columns.append((plus - minus) / (2.0 * eps))
    if not columns:
        return np.zeros((np.asarray(f(work)).size, 0))
    return np.stack(columns, axis=1)


def module_jacobian(module: Module, x: np.ndarray) -> np.ndarray:
    """The exact Jacobian of ``module``'s output with respect to its input, shape
    (output.size, x.size): row i is ``module.backward(e_i)`` after one forward pass. The
    parameters' gradients are restored afterwards."""
    params = module.parameters()
    saved = [p.grad.copy() for p in params]
    y = module(x)
    rows = []
    for i in range(y.size):
        unit = np.zeros(y.size, dtype=y.dtype)
        unit[i] = 1
        rows.append(np.asarray(module.backward(unit.reshape(y.shape)), np.float64).reshape(-1))
    for param, grad in zip(params, saved, strict=True):
        np.copyto(param.grad, grad)
    return np.stack(rows) if rows else np.zeros((0, x.size))


def array_hessian(
    loss: Loss,
    x: np.ndarray,
    target: np.ndarray,
    model: Module | None = None,
    eps: float = 1e-5,
    max_size: int = DEFAULT_MAX_SIZE,
) -> np.ndarray:
    """The Hessian of ``loss(model(x), target)`` with respect to the entries of ``x`` (C
    order), shape (x.size, x.size); ``model=None`` takes ``x`` as the loss's input (logits).
    Needs float64; the model's parameter gradients are restored afterwards."""
    x = _float64(x, "array_hessian")
    _check_size(x.size, max_size, "array_hessian")
    params = [] if model is None else model.parameters()
    saved = [p.grad.copy() for p in params]

    def gradient(point: np.ndarray) -> np.ndarray:
        if model is None:
            loss(point, target)
            return np.asarray(loss.backward(), np.float64).reshape(-1).copy()
        loss(model(point), target)
        return np.asarray(model.backward(loss.backward()), np.float64).reshape(-1).copy()

    matrix = jacobian(gradient, x, eps, max_size)
    for param, grad in zip(params, saved, strict=True):
        np.copyto(param.grad, grad)
    return (matrix + matrix.T) / 2.0


def softmax_hessian(probabilities: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """The exact Hessian of softmax cross-entropy in the logits Z (N, C), for probabilities
    P = softmax(Z): block-diagonal over samples, each block diag(p) − ppᵀ (divided by N for
    ``"mean"``), shape (N·C, N·C) in C order. It does not depend on the targets, and each block
    is positive semidefinite with the all-ones vector in its null space (adding a constant to
    a row of logits changes nothing)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"softmax_hessian: expected probabilities (N, C), got shape {p.shape}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"softmax_hessian: reduction must be 'mean' or 'sum', got {reduction!r}")
    n, c = p.shape
    out = np.zeros((n * c, n * c))
    for row in range(n):
        block = np.diag(p[row]) - np.outer(p[row], p[row])
        out[row * c : (row + 1) * c, row * c : (row + 1) * c] = block
    return out / n if reduction == "mean" else out
