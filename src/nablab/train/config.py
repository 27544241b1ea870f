"""What defines a training run: the data, the model, the optimization and the seed.

A :class:`TrainConfig` is what ``nablab train`` builds from its flags and what a sweep varies;
:func:`check_config` checks every field against the registries and limits before any work
starts, and names the flag in its error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from nablab.data.datasets import LOADERS
from nablab.errors import NablabError
from nablab.init import INITIALIZERS
from nablab.nn.activations import ACTIVATIONS, hidden_activations
from nablab.optim.registry import OPTIMIZERS, SCHEDULES, training_names
from nablab.registry import Registry
from nablab.train.models import MODELS

DTYPES = ("float32", "float64")


class ConfigError(NablabError):
    """A bad setting of a run: one line naming the flag, exit code 2 from the command line."""


@dataclass
class TrainConfig:
    """A classifier trained with softmax cross-entropy: a multilayer perceptron
    (``model="mlp"``, sized by ``hidden``; ``hidden=()`` has no hidden layer: softmax
    (multinomial logistic) regression) or a convolutional network (``model="cnn"``, sized by
    ``channels``, ``kernel_size`` and ``stride``); the other fields apply to both.
    ``augment`` is an image augmentation as text (``"shift=1,rotation=10"``, see
    :mod:`nablab.data.augment_spec`), for datasets whose samples are images."""

    data: str = "digits"
    labels: str | None = None
    model: str = "mlp"
    hidden: tuple[int, ...] = (64, 64)
    channels: tuple[int, ...] = (64, 64, 64)
    kernel_size: int = 5
    stride: int = 2
    activation: str = "relu"
    init: str = "he_normal"
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    epochs: int = 20
    batch_size: int = 32
    batch_norm: bool = False
    dropout: float = 0.0
    schedule: str = "none"
    patience: int | None = None
    val_fraction: float = 0.2
    standardize: bool = True
    seed: int = 0
    dtype: str = "float32"
    diagnostics: bool = True
    augment: str | None = None

    def __post_init__(self) -> None:
        # a list (from YAML, JSON or by hand) is as good as a tuple for the layer sizes
        for name in ("hidden", "channels"):
            if isinstance(getattr(self, name), list):
                setattr(self, name, tuple(getattr(self, name)))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def flag(name: str) -> str:
    """The command-line flag of a config field: ``batch_size`` → ``--batch-size``."""
    return "--" + name.replace("_", "-")


def _choice(config: TrainConfig, name: str, registry: Registry, allowed=None) -> None:
    value = getattr(config, name)
    names = registry.names(aliases=True) if allowed is None else allowed
    if value not in names:
        raise ConfigError(f"{flag(name)}: {registry.unknown_message(value)}")


def _number(
    config: TrainConfig,
    name: str,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> None:
    value = getattr(config, name)
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type or not math.isfinite(value):
        raise ConfigError(f"{flag(name)} must be {kind}, got {value!r}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        left, right = "(" if low_open else "[", ")" if high_open or math.isinf(high) else "]"
        shown = [
            ("inf" if math.isinf(v) else str(int(v)) if integer else f"{v:g}") for v in (low, high)
        ]
        raise ConfigError(
            f"{flag(name)} must be in {left}{shown[0]}, {shown[1]}{right}, got {value!r}"
        )


def check_config(config: TrainConfig) -> None:
    """Raise :class:`ConfigError` for the first bad field (the data file is read later)."""
    if config.data not in LOADERS and not config.data:
        raise ConfigError(f"--data: give a built-in dataset ({', '.join(LOADERS)}) or a file")
    _choice(config, "model", MODELS)
    for name in ("hidden", "channels"):
        sizes = getattr(config, name)
        if not isinstance(sizes, tuple) or any(
            isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in sizes
        ):
            raise ConfigError(f"{flag(name)} sizes must be positive integers, got {sizes!r}")
    _number(config, "kernel_size", 1, integer=True)
    _number(config, "stride", 1, integer=True)
    if config.augment is not None:
        from nablab.data.augment_spec import parse_augment

        if not isinstance(config.augment, str):
            raise ConfigError(
                f"--augment must be text like shift=1,rotation=10, got {config.augment!r}"
            )
        try:
            parse_augment(config.augment)
        except ValueError as error:
            raise ConfigError(f"--augment: {error}") from None
    _choice(config, "activation", ACTIVATIONS, hidden_activations())
    _choice(config, "init", INITIALIZERS)
    _choice(config, "optimizer", OPTIMIZERS, training_names())
    _choice(config, "schedule", SCHEDULES)
    if config.dtype not in DTYPES:
        raise ConfigError(f"--dtype must be one of {', '.join(DTYPES)}, got {config.dtype!r}")
    _number(config, "lr", 0.0, low_open=True)
    _number(config, "momentum", 0.0, 1.0, high_open=True)
    _number(config, "weight_decay", 0.0)
    _number(config, "epochs", 1, integer=True)
    _number(config, "batch_size", 1, integer=True)
    _number(config, "dropout", 0.0, 1.0, high_open=True)
    _number(config, "val_fraction", 0.0, 1.0, low_open=True, high_open=True)
    _number(config, "seed", 0, 2**32 - 1, integer=True)
    if config.patience is not None:
        _number(config, "patience", 1, integer=True)
