"""What can be pruned: weight entries (unstructured) and whole output units (structured).

A weight stores its output units along its last axis (Linear's (in, out); convolution's
(*kernel, in/groups, out)), so a unit is a slice ``weight[..., j]`` together with ``bias[j]``.
Removing unit j of one layer leaves a constant f(b_j) (f(0) once the bias entry is pruned too)
flowing into the next weighted layer, which :func:`nablab.prune.compact` folds into that
layer's bias. Units of a layer whose output feeds no further weighted layer (the read-out) are
never pruned: they are the model's outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nablab.nn.activations import Elementwise
from nablab.nn.dropout import Dropout
from nablab.nn.module import Module, Parameter, Sequential
from nablab.nn.normalization import BatchNorm1d, MeanOnlyBatchNorm1d

# Modules that act on each unit separately: a unit removed before them stays one unit after.
UNITWISE = (Elementwise, Dropout, BatchNorm1d, MeanOnlyBatchNorm1d)


def weight_parameters(model: Module, weights_only: bool = True) -> list[tuple[str, Parameter]]:
    """The parameters a pruner scores: every weight (two or more axes), and with
    ``weights_only=False`` also biases and normalization parameters."""
    return [
        (name, param)
        for name, param in model.named_parameters()
        if param.ndim >= 2 or not weights_only
    ]


@dataclass(frozen=True)
class UnitGroup:
    """The output units of one weighted layer of a :class:`Sequential` (``index``), which
    feeds the weighted layer ``next_index`` through unit-wise modules only."""

    name: str
    index: int
    layer: Module
    next_index: int

    @property
    def weight(self) -> Parameter:
        return self.layer.weight

    @property
    def bias(self) -> Parameter | None:
        """The per-unit bias (``None`` without one, or when it is shared by the layer)."""
        bias = getattr(self.layer, "bias", None)
        if bias is None or bias.shape != (self.weight.shape[-1],):
            return None
        return bias

    @property
    def size(self) -> int:
        return self.weight.shape[-1]

    def pruned(self) -> np.ndarray:
        """Units whose every weight entry is masked (bool, one per unit)."""
        mask = self.weight.mask
        if mask is None:
            return np.zeros(self.size, bool)
        return ~mask.reshape(-1, self.size).any(axis=0)

    def entries(self, unit: int) -> list[tuple[Parameter, tuple]]:
        """(parameter, index) pairs that make up ``unit``: its weight slice and bias entry."""
        parts = [(self.weight, (..., unit))]
        if self.bias is not None:
            parts.append((self.bias, (unit,)))
        return parts


def _weighted(module: Module) -> bool:
    weight = getattr(module, "weight", None)
    return isinstance(weight, Parameter) and weight.ndim >= 2


def unit_groups(model: Module) -> list[UnitGroup]:
    """Every layer of a :class:`Sequential` whose units feed another weighted layer through
    unit-wise modules (activations, dropout, batch norm); the read-out has none."""
    if not isinstance(model, Sequential):
        raise TypeError(
            f"structured pruning works on a Sequential of layers, got {type(model).__name__}"
        )
    layers = list(model)
    groups = []
    for i, layer in enumerate(layers):
        if not _weighted(layer):
            continue
        for j in range(i + 1, len(layers)):
            if _weighted(layers[j]):
                groups.append(UnitGroup(str(i), i, layer, j))
                break
            if not isinstance(layers[j], UNITWISE):
                break
    return groups
