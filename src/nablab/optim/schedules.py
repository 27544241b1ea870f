"""Learning-rate schedules. Each sets ``optimizer.lr`` from the epoch count on ``step()``.

Call ``scheduler.step()`` once per epoch (or per iteration, for warm-up) after
``optimizer.step()``, as in PyTorch. The learning rate at construction is the base rate η₀.
"""

from __future__ import annotations

import math

from nablab._checks import positive_int
from nablab.optim.optimizer import Optimizer, check_hyper


class LRScheduler:
    """Base class: ``lr_at(epoch)`` gives the rate; ``step()`` advances and applies it."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: expected a nablab optimizer, got {type(optimizer)}"
            )
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        optimizer.lr = self.lr_at(0)

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> float:
        """Advance one epoch, set and return the new learning rate."""
        self.last_epoch += 1
        self.optimizer.lr = lr = self.lr_at(self.last_epoch)
        return lr

    def state_dict(self) -> dict[str, float]:
        return {"last_epoch": self.last_epoch, "base_lr": self.base_lr}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.last_epoch = int(state["last_epoch"])
        self.base_lr = float(state["base_lr"])
        self.optimizer.lr = self.lr_at(self.last_epoch)


class StepLR(LRScheduler):
    """η = η₀ · γ^⌊epoch / step_size⌋."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = positive_int("StepLR", "step_size", step_size)
        self.gamma = check_hyper("StepLR", "gamma", gamma)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """η = η₀ · γ^epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = check_hyper("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """η = η_min + (η₀ − η_min) · (1 + cos(π · epoch / T_max)) / 2.

    Past T_max the cosine continues (the rate rises again), as in PyTorch.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = check_hyper("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        progress = epoch / self.T_max
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2


class LinearWarmup(LRScheduler):
    """η = η₀ · (f + (1 − f) · min(epoch, warmup_steps) / warmup_steps), f = start_factor.

    Rises linearly from f·η₀ to η₀ over ``warmup_steps`` steps, then stays (PyTorch's
    ``LinearLR`` with ``end_factor=1``).
    """

    def __init__(self, optimizer: Optimizer, warmup_steps: int, start_factor: float = 0.1) -> None:
        self.warmup_steps = positive_int("LinearWarmup", "warmup_steps", warmup_steps)
        self.start_factor = check_hyper(
            "LinearWarmup", "start_factor", start_factor, 0.0, 1.0, low_open=True
        )
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        fraction = min(epoch, self.warmup_steps) / self.warmup_steps
        return self.base_lr * (self.start_factor + (1 - self.start_factor) * fraction)
