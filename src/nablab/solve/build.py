"""An ``Exercise`` becomes nablab modules (float64), a loss, an optimizer and a naming scheme.

Default names, where the file gives none (layers counted from 1 by their linear and conv1d
layers):

- inputs ``x1 … xd``, targets ``t1 … tk``;
- weights ``W1[i,j]`` (input i to unit j), biases ``b1[j]`` or ``b1`` when shared;
- outputs of layer L's linear part ``z1_j``, of the activation after it ``a1_j``, of a batch
  norm ``bn1_j`` (its γ, β: ``gamma1[j]``, ``beta1[j]``), of a dropout ``d1_j``.

Signals and feature maps (one sample is (C, L)) take the position t = 1 … L in brackets and
the channel after an underscore, which is left out when there is one channel:

- signal inputs ``x_c[t]`` (``x[t]`` with one channel);
- a conv1d layer L: kernel entries ``K1[o,c,j]`` (output channel o, input channel c, tap j;
  ``K1[j]`` when the layer has one input and one output channel), biases ``b1[o]`` (``b1``
  with one output channel), outputs ``z1_o[t]`` (``z1[t]``);
- after it: activations ``a1_o[t]``, max pooling ``mp1_o[t]``, average pooling ``ap1_o[t]``;
- a flatten layer is a renaming: the layer after it reads the same names, channel by channel.

A forward value gets the sample number in brackets when a step sees several samples:
``a1_2[3]`` is unit 2 of layer 1 for sample 3, ``z1[4][2]`` position 4 of sample 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nablab import nn
from nablab.optim import Optimizer
from nablab.optim.registry import OPTIMIZERS
from nablab.solve.spec import (
    ActivationLayer,
    AvgPool1dLayer,
    BatchNormLayer,
    Conv1dLayer,
    DropoutLayer,
    Exercise,
    ExerciseError,
    FlattenLayer,
    LinearLayer,
    MaxPool1dLayer,
    layer_shapes,
)

DTYPE = np.float64
_PREFIX = {
    "linear": "z",
    "conv1d": "z",
    "batchnorm": "bn",
    "dropout": "d",
    "maxpool1d": "mp",
    "avgpool1d": "ap",
}


def value_names(prefix: str, shape: tuple[int, ...]) -> list[str]:
    """Default names of one sample's values in C order: ``z1_1 … z1_d`` for rows,
    ``z1[t]`` (one channel) or ``z1_c[t]`` for feature maps."""
    if len(shape) == 1:
        return [f"{prefix}_{j + 1}" for j in range(shape[0])]
    channels, length = shape
    if channels == 1:
        return [f"{prefix}[{t + 1}]" for t in range(length)]
    return [f"{prefix}_{c + 1}[{t + 1}]" for c in range(channels) for t in range(length)]


@dataclass
class ScalarParam:
    """A named scalar of a parameter: ``param.data[index]``."""

    name: str
    param: nn.Parameter
    index: tuple[int, ...]
    layer: int  # position in exercise.layers
    role: str  # "weight", "bias", "gamma", "beta"
    trainable: bool

    def value(self) -> float:
        return float(self.param.data[self.index])

    def grad(self) -> float:
        return float(self.param.grad[self.index])


@dataclass
class Built:
    exercise: Exercise
    model: nn.Sequential
    loss: nn.Loss
    penalty: nn.Penalty | None
    optimizer: Optimizer
    scalars: list[ScalarParam]
    input_names: list[str]
    target_names: list[str]
    output_names: list[list[str]]  # per layer, per value of one sample (C order)
    linear_number: list[int]  # per layer: the number L of its linear/conv1d layer (0 before any)
    shapes: list[tuple[int, ...]] = field(default_factory=list)  # per layer: one sample's output
    input_shape: tuple[int, ...] = ()
    by_name: dict[str, ScalarParam] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name = {s.name: s for s in self.scalars}

    @property
    def input_gradients(self) -> bool:
        """Whether the solution writes ∂E/∂(input): the input gradient of a first conv1d
        layer (the full convolution with the flipped kernel)."""
        return isinstance(self.model[0], nn.Conv1d)

    def renames(self, position: int) -> bool:
        """A flatten layer: its outputs are its inputs under the same names."""
        return isinstance(self.model[position], nn.Flatten)


def _activation(layer: ActivationLayer) -> nn.Module:
    return nn.activation(layer.type, **layer.options())


def _linear(layer: LinearLayer) -> nn.Linear:
    weights = np.array(layer.weights, dtype=DTYPE)
    bias = "shared" if isinstance(layer.bias, int | float) else layer.bias is not None
    module = nn.Linear(*weights.shape, bias=bias, init="zeros", dtype=DTYPE)
    module.weight.data[...] = weights
    if module.bias is not None:
        module.bias.data[...] = layer.bias
    module.weight.requires_grad = layer.update_weights
    if module.bias is not None:
        module.bias.requires_grad = layer.update_bias
    return module


def _conv(layer: Conv1dLayer, flip: bool = False) -> nn.Conv1d:
    """``kernel[o][c][j]`` (PyTorch's order) into nablab's (k, C_in, C_out) weight (with the
    taps reversed when ``flip``: a true convolution, the checker's hypothesis)."""
    kernel = np.array(layer.kernel_array(), dtype=DTYPE)  # (C_out, C_in, k)
    if flip:
        kernel = kernel[:, :, ::-1]
    out_channels, in_channels, taps = kernel.shape
    module = nn.Conv1d(
        in_channels,
        out_channels,
        taps,
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        bias=layer.bias is not None,
        init="zeros",
        dtype=DTYPE,
    )
    module.weight.data[...] = kernel.transpose(2, 1, 0)
    module.weight.requires_grad = layer.update_kernel
    if module.bias is not None:
        module.bias.data[...] = layer.bias
        module.bias.requires_grad = layer.update_bias
    return module


def _conv_scalars(
    layer: Conv1dLayer, module: nn.Conv1d, number: int, position: int, flip: bool = False
) -> list:
    """Kernel entries ``K1[o,c,j]`` (``K1[j]`` with one input and one output channel) in the
    order of the file, then biases ``b1[o]`` (``b1`` with one output channel); with ``flip``
    entry j sits at tap k − 1 − j of the module's weight."""
    taps, in_channels, out_channels = module.weight.shape
    names = layer.names
    given = (
        [r if r and isinstance(r[0], list) else [r] for r in names.kernel]
        if names and names.kernel
        else None
    )
    single = in_channels == out_channels == 1
    out = []
    for o in range(out_channels):
        for c in range(in_channels):
            for j in range(taps):
                if given:
                    name = given[o][c][j]
                elif single:
                    name = f"K{number}[{j + 1}]"
                else:
                    name = f"K{number}[{o + 1},{c + 1},{j + 1}]"
                tap = taps - 1 - j if flip else j
                out.append(
                    ScalarParam(
                        name, module.weight, (tap, c, o), position, "weight", layer.update_kernel
                    )
                )
    if module.bias is not None:
        for o in range(out_channels):
            if names and names.bias:
                name = names.bias[o]
            else:
                name = f"b{number}" if out_channels == 1 else f"b{number}[{o + 1}]"
            out.append(ScalarParam(name, module.bias, (o,), position, "bias", layer.update_bias))
    return out


def build(
    exercise: Exercise,
    trainable_override: dict[str, bool] | None = None,
    optimizer_override: dict | None = None,
    loss_override: dict | None = None,
    flip_kernels: bool = False,
) -> Built:
    """Modules, loss, optimizer and names for ``exercise`` (overrides and ``flip_kernels``, a
    true convolution, serve the checker)."""
    modules: list[nn.Module] = []
    scalars: list[ScalarParam] = []
    output_names: list[list[str]] = []
    linear_number: list[int] = []
    shapes = layer_shapes(exercise)
    input_shape = shapes[0]
    if exercise.input_names:
        input_names = list(exercise.input_names)
    elif len(input_shape) == 1:
        input_names = [f"x{i + 1}" for i in range(input_shape[0])]
    else:
        input_names = value_names("x", input_shape)
    names_before, number = input_names, 0
    for position, layer in enumerate(exercise.layers):
        width = shapes[position][-1]
        if isinstance(layer, LinearLayer):
            number += 1
            module = _linear(layer)
            names = layer.names
            rows, units = module.weight.shape
            for i in range(rows):
                for j in range(units):
                    name = (
                        names.weights[i][j]
                        if names and names.weights
                        else f"W{number}[{i + 1},{j + 1}]"
                    )
                    scalars.append(
                        ScalarParam(
                            name, module.weight, (i, j), position, "weight", layer.update_weights
                        )
                    )
            if module.bias is not None:
                if module.bias.shape == ():
                    name = names.bias if names and names.bias else f"b{number}"
                    scalars.append(
                        ScalarParam(name, module.bias, (), position, "bias", layer.update_bias)
                    )
                else:
                    for j in range(units):
                        name = names.bias[j] if names and names.bias else f"b{number}[{j + 1}]"
                        scalars.append(
                            ScalarParam(
                                name, module.bias, (j,), position, "bias", layer.update_bias
                            )
                        )
        elif isinstance(layer, Conv1dLayer):
            number += 1
            module = _conv(layer, flip_kernels)
            scalars.extend(_conv_scalars(layer, module, number, position, flip_kernels))
        elif isinstance(layer, MaxPool1dLayer):
            module = nn.MaxPool1d(layer.kernel_size, layer.stride, layer.padding, layer.dilation)
        elif isinstance(layer, AvgPool1dLayer):
            module = nn.AvgPool1d(
                layer.kernel_size, layer.stride, layer.padding, layer.count_include_pad
            )
        elif isinstance(layer, FlattenLayer):
            module = nn.Flatten()
        elif isinstance(layer, BatchNormLayer):
            module = nn.BatchNorm1d(width, eps=layer.eps, dtype=DTYPE)
            if layer.gamma is not None:
                module.weight.data[...] = layer.gamma
            if layer.beta is not None:
                module.bias.data[...] = layer.beta
            for role, param in (("gamma", module.weight), ("beta", module.bias)):
                param.requires_grad = layer.update
                given = getattr(layer.names, role) if layer.names else None
                for j in range(width):
                    name = given[j] if given else f"{role}{number}[{j + 1}]"
                    scalars.append(ScalarParam(name, param, (j,), position, role, layer.update))
        elif isinstance(layer, DropoutLayer):
            module = nn.Dropout(layer.p, mode=layer.mode, rng=0)
            module.set_mask(np.array(layer.mask, dtype=bool))
        else:
            assert isinstance(layer, ActivationLayer)
            module = _activation(layer)
        if isinstance(layer, FlattenLayer):
            names_now = list(names_before)  # a renaming: the same values, channel by channel
        elif layer.output_names:
            names_now = list(layer.output_names)
        else:
            names_now = value_names(f"{_PREFIX.get(layer.type, 'a')}{number}", shapes[position + 1])
        output_names.append(names_now)
        names_before = names_now
        linear_number.append(number)
        modules.append(module)
    model = nn.Sequential(*modules)
    width = shapes[-1][0]
    target_names = list(exercise.target_names or [f"t{j + 1}" for j in range(width)])
    if trainable_override:
        for scalar in scalars:
            if scalar.role in trainable_override:
                scalar.trainable = trainable_override[scalar.role]
                scalar.param.requires_grad = scalar.trainable
    renamed = {i for i, m in enumerate(modules) if isinstance(m, nn.Flatten)}
    _check_unique(scalars, output_names, input_names, target_names, exercise.title, renamed)
    loss_options = {**exercise.loss.model_dump(), **(loss_override or {})}
    loss = build_loss(loss_options)
    penalty = None
    if exercise.penalty is not None:
        spec = exercise.penalty
        if spec.type == "l2":
            penalty = nn.L2Penalty(model, spec.strength, spec.convention, biases=spec.biases)
        else:
            penalty = nn.L1Penalty(model, spec.strength, biases=spec.biases)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not model.parameters():
        raise ExerciseError(
            [
                "layers: the network has no parameters (no linear or batchnorm layer), so there "
                "is nothing to update"
            ],
            exercise.title,
        )
    if not trainable:
        raise ExerciseError(
            [
                "layers: every parameter is frozen (update_weights/update_bias "
                "false), so there is nothing to update"
            ],
            exercise.title,
        )
    options = {**exercise.optimizer.options(), **(optimizer_override or {})}
    try:
        optimizer = OPTIMIZERS[exercise.optimizer.type](trainable, **options)
    except (TypeError, ValueError) as error:
        raise ExerciseError([f"optimizer: {error}"], exercise.title) from None
    return Built(
        exercise,
        model,
        loss,
        penalty,
        optimizer,
        scalars,
        input_names,
        target_names,
        output_names,
        linear_number,
        shapes[1:],
        input_shape,
    )


def build_loss(options: dict) -> nn.Loss:
    """The loss module of an exercise's ``loss`` section (``batch_mean`` is MSE's alone;
    for the others it means the mean)."""
    kind = options["type"]
    if kind == "mse":
        return nn.MSELoss(options["reduction"], options["factor"])
    reduction = "mean" if options["reduction"] == "batch_mean" else options["reduction"]
    return nn.LOSSES[kind](reduction)


def _check_unique(
    scalars, output_names, input_names, target_names, source, renamed: set[int]
) -> None:
    seen: dict[str, str] = {}
    problems = []
    groups = [
        ("parameter", [s.name for s in scalars]),
        ("input", input_names),
        ("target", target_names),
    ]
    groups += [
        (f"layers[{i}] output", names)
        for i, names in enumerate(output_names)
        if i not in renamed  # a flatten layer's outputs are the values it reads
    ]
    for what, names in groups:
        for name in names:
            if name in seen:
                problems.append(f"names: {name!r} names both a {seen[name]} and a {what}")
            seen[name] = what
    if problems:
        raise ExerciseError(problems, source)
