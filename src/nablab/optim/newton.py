"""Newton's method with the full Hessian, for small models."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from nablab.analysis.hessian import DEFAULT_MAX_PARAMS, check_size, hessian
from nablab.nn.module import Parameter
from nablab.optim.optimizer import LR, Closure, Optimizer
from nablab.registry import Option


class Newton(Optimizer):
    """w ← w − lr · (H + damping·I)⁻¹ ∇L, with H the full Hessian.

    ``step(closure)`` needs the closure (forward, loss, backward): it gives ∇L at w, and H by
    central differences of ∇L (2n extra evaluations), unless ``hessian`` is given: a callable
    returning the exact n×n Hessian at the current parameters. On a convex quadratic one step
    with lr = 1 lands on the minimum. Afterwards ``.grad`` holds ∇L at the point before the step.
    """

    options = (
        LR,
        Option("damping", float, 0.0, "solve (H + damping·I) d = ∇L", 0.0),
        Option("max_params", int, 2000, "refuse models with more parameters", 1),
        Option("eps", float, 1e-5, "finite-difference step for the Hessian", 0.0, low_open=True),
    )

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1.0,
        damping: float = 0.0,
        hessian: Callable[[], np.ndarray] | None = None,
        max_params: int = DEFAULT_MAX_PARAMS,
        eps: float = 1e-5,
    ) -> None:
        super().__init__(params, lr)
        if len({p.dtype for p in self.params}) != 1:
            raise ValueError("Newton: all parameters must share one dtype")
        check_size(self.params, max_params, "Newton")
        self.damping = self._option("damping", damping)
        self.exact_hessian = hessian
        self.max_params = self._option("max_params", max_params)
        self.eps = self._option("eps", eps)
        self.last_hessian: np.ndarray | None = None

    def step(self, closure: Closure | None = None) -> float:
        if closure is None:
            raise RuntimeError(
                "Newton.step() needs a closure that recomputes the loss and "
                "gradients (it evaluates them around w to build the Hessian)"
            )
        self._ensure_bound()
        loss = self._evaluate(closure)
        gradient = np.concatenate([p.grad.ravel() for p in self.params]).astype(np.float64)
        matrix = hessian(closure, self.params, self.eps, self.max_params, self.exact_hessian)
        self.last_hessian = matrix
        system = matrix + self.damping * np.eye(len(gradient))
        try:
            direction = np.linalg.solve(system, gradient)
        except np.linalg.LinAlgError:
            raise ValueError(
                "Newton: the Hessian is singular at this point; use damping > 0"
            ) from None
        self.step_count += 1
        offset = 0
        for param in self.params:
            step = direction[offset : offset + param.size].reshape(param.shape)
            param.grad[...] = gradient[offset : offset + param.size].reshape(param.shape)
            param.data[...] -= (self.lr * step).astype(param.dtype)
            offset += param.size
        return loss
