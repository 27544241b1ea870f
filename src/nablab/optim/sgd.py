"""Stochastic gradient descent with momentum, in PyTorch's and in the textbook's convention."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np

from nablab.nn.module import Parameter
from nablab.optim import kernels
from nablab.optim.optimizer import Closure, Optimizer, check_hyper

Nesterov = bool | Literal["lookahead"]


class SGD(Optimizer):
    """Gradient descent with optional momentum μ (g includes weight decay λw).

    ``convention="pytorch"`` (PyTorch's ``torch.optim.SGD``), state ``momentum_buffer``::

        b ← g on the first step, then b ← μ·b + (1 − dampening)·g
        w ← w − lr·b                       (nesterov=True: w ← w − lr·(g + μ·b))

    ``convention="velocity"`` (the textbook form), state ``velocity``::

        v ← μ·v − lr·g
        w ← w + v                          (nesterov=True: w ← w + μ·v − lr·g)

    Under a constant learning rate the two conventions give the same parameters (v = −lr·b);
    they differ once the learning rate changes, because v carries the old rate.

    ``nesterov="lookahead"`` is the textbook Nesterov momentum: the gradient is taken at the
    look-ahead point. ``step(closure)`` moves the parameters there (w + μ·v, or w − lr·μ·b in
    the PyTorch convention), calls ``closure`` to recompute the loss and gradients, moves back,
    and applies the momentum update with that gradient. It returns the look-ahead loss.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: Nesterov = False,
        weight_decay: float = 0.0,
        convention: Literal["pytorch", "velocity"] = "pytorch",
        centralize: str | None = None,
    ) -> None:
        owner = type(self).__name__
        self.momentum = check_hyper(owner, "momentum", momentum, 0.0, 1.0)
        self.dampening = check_hyper(owner, "dampening", dampening, 0.0, 1.0)
        if convention not in ("pytorch", "velocity"):
            raise ValueError(
                f"{owner}: convention must be 'pytorch' or 'velocity', got {convention!r}"
            )
        if nesterov not in (False, True, "lookahead"):
            raise ValueError(
                f"{owner}: nesterov must be False, True or 'lookahead', got {nesterov!r}"
            )
        if nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError(
                f"{owner}: Nesterov momentum requires momentum > 0 and zero "
                f"dampening (got momentum={momentum}, dampening={dampening})"
            )
        if convention == "velocity" and self.dampening:
            raise ValueError(f"{owner}: dampening belongs to the 'pytorch' convention")
        self.nesterov = nesterov
        self.convention = convention
        super().__init__(params, lr, weight_decay, centralize)

    def _active_state_names(self) -> tuple[str, ...]:
        if not self.momentum:
            return ()
        return ("momentum_buffer",) if self.convention == "pytorch" else ("velocity",)

    def _update(self, w, g, state, decay) -> None:
        if not self.momentum:
            kernels.sgd_plain(w, g, self._h(w, self.lr, decay))
        elif self.convention == "pytorch":
            h = self._h(w, self.lr, decay, self.momentum, 1.0 - self.dampening)
            kernels.sgd_buffer(
                w, g, state["momentum_buffer"], h, self.nesterov is True, self.step_count == 1
            )
        else:
            h = self._h(w, self.lr, decay, self.momentum)
            kernels.sgd_velocity(w, g, state["velocity"], h, self.nesterov is True)

    def _lookahead_shift(self, index: int) -> np.ndarray:
        """The displacement from w to the look-ahead point: μ·v, or −lr·μ·b."""
        if self.convention == "velocity":
            return self._state[index]["velocity"] * self.momentum
        return self._state[index]["momentum_buffer"] * (-self.lr * self.momentum)

    def step(self, closure: Closure | None = None) -> float | None:
        if self.nesterov != "lookahead":
            return super().step(closure)
        if closure is None:
            raise RuntimeError(
                "SGD(nesterov='lookahead') takes the gradient at the look-ahead point w + μv, "
                "so step() needs a closure that recomputes the loss and gradients: "
                "opt.step(lambda: ...)"
            )
        self._ensure_bound()
        saved = [group.data.copy() for group in self._groups]
        for index, group in enumerate(self._groups):
            group.data += self._lookahead_shift(index)
        try:
            loss = self._evaluate(closure)
            lookahead = [group.data.copy() for group in self._groups]
        finally:
            for group, data in zip(self._groups, saved, strict=True):
                np.copyto(group.data, data)
        self.step_count += 1
        for index, group in enumerate(self._groups):
            self._update_group(index, group, at=lookahead[index])
        return loss
