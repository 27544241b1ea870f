"""Stochastic gradient descent with momentum, in PyTorch's and in the textbook's convention."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np

from nablab.nn.module import Parameter
from nablab.optim import kernels
from nablab.optim.optimizer import CENTRALIZE, LR, WEIGHT_DECAY, Closure, Optimizer
from nablab.registry import Option

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

    options = (
        LR,
        Option("momentum", float, 0.0, "momentum coefficient μ", 0.0, 1.0),
        Option("dampening", float, 0.0, "scales g in b ← μb + (1 − dampening)g", 0.0, 1.0),
        Option(
            "nesterov",
            (bool, str),
            False,
            "true: PyTorch's Nesterov form; lookahead: gradient at w + μv",
            choices=(False, True, "lookahead"),
        ),
        WEIGHT_DECAY,
        Option(
            "convention",
            str,
            "pytorch",
            "pytorch: b ← μb + g, w ← w − lr·b; velocity: v ← μv − lr·g, w ← w + v",
            choices=("pytorch", "velocity"),
        ),
        CENTRALIZE,
    )

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
        self.momentum = self._option("momentum", momentum)
        self.dampening = self._option("dampening", dampening)
        convention = self._option("convention", convention)
        nesterov = self._option("nesterov", nesterov)
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
            kernels.rule("sgd_plain")(w, g, self._h(w, self.lr, decay))
        elif self.convention == "pytorch":
            h = self._h(w, self.lr, decay, self.momentum, 1.0 - self.dampening)
            kernels.rule("sgd_buffer")(
                w, g, state["momentum_buffer"], h, self.nesterov is True, self.step_count == 1
            )
        else:
            h = self._h(w, self.lr, decay, self.momentum)
            kernels.rule("sgd_velocity")(w, g, state["velocity"], h, self.nesterov is True)

    def _lookahead_shift(self, run) -> np.ndarray:
        """The displacement from w to the look-ahead point: μ·v, or −lr·μ·b."""
        if self.convention == "velocity":
            return run.state["velocity"] * self.momentum
        return run.state["momentum_buffer"] * (-self.lr * self.momentum)

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
        saved = [run.w.copy() for run in self._runs]
        for run in self._runs:
            run.w += self._lookahead_shift(run)
        try:
            loss = self._evaluate(closure)
            lookahead = [run.w.copy() for run in self._runs]
        finally:
            for run, data in zip(self._runs, saved, strict=True):
                np.copyto(run.w, data)
        self.step_count += 1
        for run, point in zip(self._runs, lookahead, strict=True):
            self._update_run(run, at=point)
        return loss
