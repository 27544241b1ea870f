"""The model families ``nablab train --model`` can build, one registry entry each.

Each builder takes the run's :class:`~nablab.train.config.TrainConfig`, one sample's shape
(``(features,)`` for rows, ``(C, L)`` for signals, ``(C, H, W)`` for images) and the number of
classes, and returns a :class:`~nablab.nn.Sequential` that outputs one logit per class. The
entry's ``fields`` name the config fields that size it (each flag's help says which model
reads it) and its ``count`` gives the number of parameters without building the model.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from nablab import nn
from nablab.registry import Registry

Builder = Callable[..., nn.Sequential]


def _output_init(init: str) -> str:
    """The read-out layer's initializer: Xavier after He-initialized (ReLU) layers."""
    return "xavier_uniform" if init.startswith(("he", "kaiming")) else init


def build_mlp(config, input_shape: tuple[int, ...], n_classes: int) -> nn.Sequential:
    """[Flatten →] (Linear → [BatchNorm1d] → activation → [Dropout]) per ``hidden`` width →
    Linear read-out. Images and signals are flattened to rows first."""
    rng = np.random.default_rng(config.seed)
    dtype = np.dtype(config.dtype)
    layers: list[nn.Module] = [nn.Flatten()] if len(input_shape) > 1 else []
    width = int(np.prod(input_shape))
    for hidden in config.hidden:
        layers.append(nn.Linear(width, hidden, init=config.init, rng=rng, dtype=dtype))
        if config.batch_norm:
            layers.append(nn.BatchNorm1d(hidden, dtype=dtype))
        layers.append(nn.activation(config.activation))
        if config.dropout:
            layers.append(nn.Dropout(config.dropout, rng=rng))
        width = hidden
    layers.append(nn.Linear(width, n_classes, init=_output_init(config.init), rng=rng, dtype=dtype))
    return nn.Sequential(*layers)


def build_cnn(config, input_shape: tuple[int, ...], n_classes: int) -> nn.Sequential:
    """A convolutional classifier for signals or images.

    Rows of L features are read as one-channel signals (N, 1, L) (an ``Unflatten`` first);
    (C, L) samples get 1-D and (C, H, W) samples 2-D convolutions. Per ``channels`` entry:
    Conv(kernel_size, stride, padding kernel_size // 2) → [BatchNorm] → activation →
    [channel Dropout]; then Flatten → Linear read-out. With the defaults and MNIST-1D's 40
    samples: lengths 40 → 20 → 10 → 5, then 64·5 = 320 features to 10 logits.
    """
    rng = np.random.default_rng(config.seed)
    dtype = np.dtype(config.dtype)
    layers: list[nn.Module] = []
    if len(input_shape) == 1:
        layers.append(nn.Unflatten(1, (1, input_shape[0])))
        input_shape = (1, input_shape[0])
    if len(input_shape) not in (2, 3):
        raise ValueError(
            f"the cnn model reads rows (L,), signals (C, L) or images (C, H, W); the data's "
            f"samples have shape {input_shape}"
        )
    two_d = len(input_shape) == 3
    conv = nn.Conv2d if two_d else nn.Conv1d
    norm = nn.BatchNorm2d if two_d else nn.BatchNorm1d
    drop = nn.Dropout2d if two_d else nn.Dropout1d
    k, s = config.kernel_size, config.stride
    channels, spatial = input_shape[0], list(input_shape[1:])
    for width in config.channels:
        layers.append(
            conv(channels, width, k, stride=s, padding=k // 2, init=config.init, rng=rng,
                 dtype=dtype)
        )  # fmt: skip
        if config.batch_norm:
            layers.append(norm(width, dtype=dtype))
        layers.append(nn.activation(config.activation))
        if config.dropout:
            layers.append(drop(config.dropout, rng=rng))
        spatial = [(size + 2 * (k // 2) - k) // s + 1 for size in spatial]  # never below 1
        channels = width
    layers.append(nn.Flatten())
    features = channels * int(np.prod(spatial))
    layers.append(
        nn.Linear(features, n_classes, init=_output_init(config.init), rng=rng, dtype=dtype)
    )
    return nn.Sequential(*layers)


def count_mlp(config, input_shape: tuple[int, ...], n_classes: int) -> int:
    """The parameters :func:`build_mlp` makes: weights and biases, and γ, β per BatchNorm."""
    widths = (int(np.prod(input_shape)), *config.hidden, n_classes)
    count = sum(a * b + b for a, b in itertools.pairwise(widths))
    return count + (2 * sum(config.hidden) if config.batch_norm else 0)


def count_cnn(config, input_shape: tuple[int, ...], n_classes: int) -> int:
    """The parameters :func:`build_cnn` makes: kernels k^d·C_in·C_out and biases per
    convolution, γ and β per BatchNorm, and the read-out's weights and biases."""
    if len(input_shape) == 1:
        input_shape = (1, input_shape[0])
    k, s = config.kernel_size, config.stride
    channels, spatial = input_shape[0], list(input_shape[1:])
    count = 0
    for width in config.channels:
        count += k ** len(spatial) * channels * width + width
        count += 2 * width if config.batch_norm else 0
        spatial = [(size + 2 * (k // 2) - k) // s + 1 for size in spatial]
        channels = width
    features = channels * int(np.prod(spatial))
    return count + features * n_classes + n_classes


MODELS: Registry[Builder] = Registry("model")
MODELS.add(
    "mlp",
    build_mlp,
    "multilayer perceptron: --hidden widths (images are flattened)",
    fields=("hidden",),
    count=count_mlp,
)
MODELS.add(
    "cnn",
    build_cnn,
    "convolutional network: --channels, --kernel-size, --stride (1-D for rows and signals, "
    "2-D for images), then a linear read-out",
    fields=("channels", "kernel_size", "stride"),
    count=count_cnn,
)
