"""Newton's method with the full Hessian, for small models."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from nablab.analysis.hessian import DEFAULT_MAX_PARAMS, check_size, hessian
from nablab.nn.module import Parameter
from nablab.optim.optimizer import Closure, Optimizer, check_hyper


class Newton(Optimizer):
    """w ← w − lr · (H + damping·I)⁻¹ ∇L, with H the full Hessian.

    ``step(closure)`` needs the closure (forward, loss, backward): it gives ∇L at w, and H by
    central differences of ∇L (2n extra evaluations), unless ``hessian`` is given: a callable
    returning the exact n×n Hessian at the current parameters. On a convex quadratic one step
    with lr = 1 lands on the minimum. Afterwards ``.grad`` holds ∇L at the point before the step.
    """

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
        if len(self._groups) != 1:
            raise ValueError("Newton: all parameters must share one dtype")
        check_size(self.params, max_params, "Newton")
        self.damping = check_hyper("Newton", "damping", damping)
        self.exact_hessian = hessian
        self.max_params = max_params
        self.eps = eps
        self.last_hessian: np.ndarray | None = None

    def step(self, closure: Closure | None = None) -> float:
        if closure is None:
            raise RuntimeError(
                "Newton.step() needs a closure that recomputes the loss and "
                "gradients (it evaluates them around w to build the Hessian)"
            )
        self._ensure_bound()
        group = self._groups[0]
        loss = self._evaluate(closure)
        gradient = group.grad.astype(np.float64)
        matrix = hessian(closure, self.params, self.eps, self.max_params, self.exact_hessian)
        self.last_hessian = matrix
        system = matrix + self.damping * np.eye(len(gradient))
        try:
            direction = np.linalg.solve(system, gradient)
        except np.linalg.LinAlgError:
            raise ValueError(
                "Newton: the Hessian is singular at this point; use damping > 0"
            ) from None
        np.copyto(group.grad, gradient)
        self.step_count += 1
        group.data -= (self.lr * direction).astype(group.dtype)
        return loss
