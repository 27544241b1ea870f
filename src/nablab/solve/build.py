"""An ``Exercise`` becomes nablab modules (float64), a loss, an optimizer and a naming scheme.

Default names, where the file gives none (layers counted from 1 by their linear layers):

- inputs ``x1 … xd``, targets ``t1 … tk``;
- weights ``W1[i,j]`` (input i to unit j), biases ``b1[j]`` or ``b1`` when shared;
- outputs of layer L's linear part ``z1_j``, of the activation after it ``a1_j``, of a batch
  norm ``bn1_j`` (its γ, β: ``gamma1[j]``, ``beta1[j]``), of a dropout ``d1_j``.

A forward value gets the sample number in brackets when a step sees several samples:
``a1_2[3]`` is unit 2 of layer 1 for sample 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nablab import nn
from nablab.optim import Optimizer
from nablab.optim.registry import OPTIMIZERS
from nablab.solve.spec import (
    ActivationLayer,
    BatchNormLayer,
    DropoutLayer,
    Exercise,
    ExerciseError,
    LinearLayer,
)

DTYPE = np.float64
_PREFIX = {"linear": "z", "batchnorm": "bn", "dropout": "d"}


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
    output_names: list[list[str]]  # per layer, per unit
    linear_number: list[int]  # per layer: the number L of its linear layer (0 before any)
    by_name: dict[str, ScalarParam] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name = {s.name: s for s in self.scalars}


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


def build(
    exercise: Exercise,
    trainable_override: dict[str, bool] | None = None,
    optimizer_override: dict | None = None,
    loss_override: dict | None = None,
) -> Built:
    """Modules, loss, optimizer and names for ``exercise`` (overrides serve the checker)."""
    modules: list[nn.Module] = []
    scalars: list[ScalarParam] = []
    output_names: list[list[str]] = []
    linear_number: list[int] = []
    width, number = exercise.n_inputs, 0
    for position, layer in enumerate(exercise.layers):
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
            width = units
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
        prefix = _PREFIX.get(layer.type, "a")
        output_names.append(
            list(layer.output_names)
            if layer.output_names
            else [f"{prefix}{number}_{j + 1}" for j in range(width)]
        )
        linear_number.append(number)
        modules.append(module)
    model = nn.Sequential(*modules)
    input_names = list(exercise.input_names or [f"x{i + 1}" for i in range(exercise.n_inputs)])
    target_names = list(exercise.target_names or [f"t{j + 1}" for j in range(width)])
    if trainable_override:
        for scalar in scalars:
            if scalar.role in trainable_override:
                scalar.trainable = trainable_override[scalar.role]
                scalar.param.requires_grad = scalar.trainable
    _check_unique(scalars, output_names, input_names, target_names, exercise.title)
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
    )


def build_loss(options: dict) -> nn.Loss:
    """The loss module of an exercise's ``loss`` section (``batch_mean`` is MSE's alone;
    for the others it means the mean)."""
    kind = options["type"]
    if kind == "mse":
        return nn.MSELoss(options["reduction"], options["factor"])
    reduction = "mean" if options["reduction"] == "batch_mean" else options["reduction"]
    return nn.LOSSES[kind](reduction)


def _check_unique(scalars, output_names, input_names, target_names, source) -> None:
    seen: dict[str, str] = {}
    problems = []
    groups = [
        ("parameter", [s.name for s in scalars]),
        ("input", input_names),
        ("target", target_names),
    ]
    groups += [(f"layers[{i}] output", names) for i, names in enumerate(output_names)]
    for what, names in groups:
        for name in names:
            if name in seen:
                problems.append(f"names: {name!r} names both a {seen[name]} and a {what}")
            seen[name] = what
    if problems:
        raise ExerciseError(problems, source)
