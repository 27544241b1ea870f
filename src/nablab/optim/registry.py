"""The optimizers and learning-rate schedules by name: one registry each.

``make_optimizer("momentum", params, lr=0.1)`` builds what the name stands for; the command
line's ``--optimizer`` and ``--schedule`` choices, the exercise format's ``optimizer.type`` and
their help texts all come from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from nablab.nn.module import Parameter
from nablab.optim.adam import Adam, AdamW
from nablab.optim.adaptive import AdaGrad, RMSProp
from nablab.optim.newton import Newton
from nablab.optim.optimizer import Optimizer
from nablab.optim.schedules import CosineAnnealingLR, ExponentialLR, LRScheduler, StepLR
from nablab.optim.sgd import SGD
from nablab.registry import Registry

OPTIMIZERS: Registry[type[Optimizer]] = Registry("optimizer")
OPTIMIZERS.add(
    "sgd",
    SGD,
    "gradient descent; momentum and Nesterov as options",
    options=SGD.options,
    preset={},
    trains=True,
)
OPTIMIZERS.add(
    "momentum",
    SGD,
    "SGD with heavy-ball momentum μ (--momentum)",
    options=SGD.options,
    preset={"momentum": 0.9},
    trains=True,
)
OPTIMIZERS.add(
    "nesterov",
    SGD,
    "SGD with Nesterov momentum μ (--momentum)",
    options=SGD.options,
    preset={"momentum": 0.9, "nesterov": True},
    trains=True,
)
OPTIMIZERS.add(
    "adagrad",
    AdaGrad,
    "per-coordinate steps lr/√(Σg²)",
    options=AdaGrad.options,
    preset={},
    trains=True,
)
OPTIMIZERS.add(
    "rmsprop",
    RMSProp,
    "per-coordinate steps lr/√(moving average of g²)",
    options=RMSProp.options,
    preset={},
    trains=True,
)
OPTIMIZERS.add(
    "adam",
    Adam,
    "momentum and RMSProp with bias correction",
    options=Adam.options,
    preset={},
    trains=True,
)
OPTIMIZERS.add(
    "adamw",
    AdamW,
    "Adam with decoupled weight decay",
    options=AdamW.options,
    preset={},
    trains=True,
)
OPTIMIZERS.add(
    "newton",
    Newton,
    "Newton's method with the full Hessian (small models only)",
    options=Newton.options,
    preset={},
    trains=False,
)


def base_names() -> tuple[str, ...]:
    """The names that are optimizer classes themselves (not presets of one): what an exercise
    file's ``optimizer.type`` accepts."""
    return tuple(e.name for e in OPTIMIZERS.entries() if not e.extra["preset"])


def training_names() -> tuple[str, ...]:
    """The names ``fit`` and ``nablab train`` can use (every one but Newton's method)."""
    return tuple(e.name for e in OPTIMIZERS.entries() if e.extra["trains"])


def make_optimizer(name: str, params: Iterable[Parameter], **options: Any) -> Optimizer:
    """The optimizer ``name`` over ``params``; ``options`` override the name's preset."""
    entry = OPTIMIZERS.entry(name)
    return entry.value(params, **{**entry.extra["preset"], **options})


ScheduleFactory = Callable[[Optimizer, int], LRScheduler | None]

SCHEDULES: Registry[ScheduleFactory] = Registry("schedule")
SCHEDULES.add("none", lambda optimizer, epochs: None, "a constant learning rate")
SCHEDULES.add(
    "cosine",
    lambda optimizer, epochs: CosineAnnealingLR(optimizer, T_max=epochs),
    "cosine annealing to 0 over the run (T_max = epochs)",
)
SCHEDULES.add(
    "step",
    lambda optimizer, epochs: StepLR(optimizer, step_size=max(epochs // 3, 1)),
    "×0.1 after each third of the run",
)
SCHEDULES.add(
    "exponential",
    lambda optimizer, epochs: ExponentialLR(optimizer, gamma=0.9),
    "×0.9 every epoch",
)


def make_schedule(name: str, optimizer: Optimizer, epochs: int) -> LRScheduler | None:
    """The schedule ``name`` for a run of ``epochs`` epochs (``None`` for ``"none"``)."""
    return SCHEDULES[name](optimizer, epochs)
