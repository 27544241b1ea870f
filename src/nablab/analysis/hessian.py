"""Hessians of a loss with respect to parameters, for small models.

``hessian`` differentiates the analytic gradient by central differences, column by column,
and symmetrizes: H[:, j] = (∇L(w + ε·e_j) − ∇L(w − ε·e_j)) / 2ε, then H ← (H + Hᵀ)/2. That is
2n backward passes for n parameters, so it refuses above ``max_params``. Where the second
derivatives are known in closed form, pass them as ``exact``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nablab.nn.losses import Loss
from nablab.nn.module import Module, Parameter

DEFAULT_MAX_PARAMS = 2000


def flat_gradient(params: Sequence[Parameter], closure: Callable[[], float]) -> np.ndarray:
    """Zero the gradients, run ``closure`` (forward, loss, backward) and return ∇L as a vector."""
    for param in params:
        param.grad.fill(0)
    closure()
    return np.concatenate([p.grad.ravel() for p in params]).astype(np.float64)


def check_size(params: Sequence[Parameter], max_params: int, who: str) -> int:
    n = sum(p.size for p in params)
    if n > max_params:
        raise ValueError(
            f"{who}: {n} parameters exceed max_params={max_params} (the Hessian has {n}² "
            f"entries and needs {2 * n} gradient evaluations); pass a larger max_params to proceed"
        )
    return n


def hessian(
    closure: Callable[[], float],
    params: Sequence[Parameter],
    eps: float = 1e-5,
    max_params: int = DEFAULT_MAX_PARAMS,
    exact: Callable[[], np.ndarray] | None = None,
) -> np.ndarray:
    """The n×n Hessian of the loss that ``closure`` computes, over every scalar of ``params``
    (in order, each C-ordered). Parameters and gradients are restored afterwards."""
    params = list(params)
    n = check_size(params, max_params, "hessian")
    if exact is not None:
        matrix = np.asarray(exact(), dtype=np.float64)
        if matrix.shape != (n, n):
            raise ValueError(f"hessian: exact() returned shape {matrix.shape}, expected {(n, n)}")
        return matrix
    for param in params:
        if param.dtype != np.float64:
            raise ValueError(
                f"hessian: finite differences need float64 parameters; "
                f"{param.name!r} is {param.dtype}"
            )
    saved_grads = [p.grad.copy() for p in params]
    columns = []
    for param in params:
        for index in np.ndindex(param.shape):
            original = param.data[index].copy()
            param.data[index] = original + eps
            plus = flat_gradient(params, closure)
            param.data[index] = original - eps
            minus = flat_gradient(params, closure)
            param.data[index] = original
            columns.append((plus - minus) / (2.0 * eps))
    for param, grad in zip(params, saved_grads, strict=True):
        np.copyto(param.grad, grad)
    matrix = np.stack(columns, axis=1) if columns else np.zeros((0, 0))
    return (matrix + matrix.T) / 2.0


def model_hessian(
    model: Module, loss: Loss, x: np.ndarray, target: np.ndarray, **options
) -> np.ndarray:
    """The Hessian of ``loss(model(x), target)`` over ``model.parameters()``."""

    def closure() -> float:
        value = loss(model(x), target)
        model.backward_params(loss.backward())
        return value

    return hessian(closure, model.parameters(), **options)


def logistic_regression_hessian(X: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Exact Hessian of the mean binary cross-entropy of p = σ(Xw) in w:  Xᵀ diag(p(1−p)) X / N.

    It is positive semidefinite (a sum of outer products with non-negative weights), which is
    why logistic regression's loss is convex.
    """
    X = np.asarray(X, dtype=np.float64)
    weights = (p * (1.0 - p)).reshape(-1)
    return (X.T * weights) @ X / X.shape[0]
