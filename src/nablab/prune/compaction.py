"""Physically smaller models: remove pruned units instead of multiplying them by zero.

A mask makes nothing smaller or faster: the matrix products still run over every unit. In a
:class:`Sequential` of Linear layers and unit-wise modules, a hidden unit j can go when

- all of its incoming weights are pruned: its output is then a constant c_j = f(b_j) (f(0)
  when its bias is pruned or absent), and the next layer's bias absorbs it,
  b′ ← b′ + c_j·W′[j, :], or
- all of its outgoing weights (row j of the next layer's weight) are pruned: nothing it
  computes reaches the output.

:func:`compact` builds a new model without those units: every removed unit takes its column
of the layer, its bias entry and its row of the next layer with it. The result computes the
same function (to rounding) with fewer parameters; masks of what remains are kept.
"""

from __future__ import annotations

import copy

import numpy as np

from nablab.errors import UnsupportedError
from nablab.nn.activations import Elementwise
from nablab.nn.dropout import Dropout
from nablab.nn.linear import Linear
from nablab.nn.module import Module, Sequential
from nablab.prune.targets import unit_groups


def _effective(param) -> np.ndarray:
    return param.data if param.mask is None else param.data * param.mask


def _constant_outputs(layers: list[Module], group) -> np.ndarray:
    """c_j: what each unit of ``group`` puts into the next layer when its weights are all
    zero (its bias, through the unit-wise modules in between, in eval mode)."""
    layer = group.layer
    dtype = layer.weight.dtype
    bias = layer.bias
    if bias is None:
        z = np.zeros(group.size, dtype)
    else:
        z = np.broadcast_to(_effective(bias), (group.size,)).astype(dtype)
    row = z[None, :]
    for module in layers[group.index + 1 : group.next_index]:
        was_training = module.training
        module.training = False
        try:
            row = module.forward(row)
        finally:
            module.training = was_training
    return row[0]


def _check_layers(layers: list[Module]) -> None:
    for module in layers:
        if not isinstance(module, Linear | Elementwise | Dropout) or (
            isinstance(module, Linear) and module._weight_transforms
        ):
            raise UnsupportedError(
                f"compact: {module.label} is not supported yet (it handles Linear layers "
                "without weight transforms, element-wise activations and dropout)"
            )


def removable_units(model: Sequential) -> dict[int, np.ndarray]:
    """For each layer index of ``model`` with hidden units, which units :func:`compact`
    removes (bool per unit)."""
    layers = list(model)
    result = {}
    for group in unit_groups(model):
        nxt = layers[group.next_index]
        w_in = group.weight.mask
        constant = np.zeros(group.size, bool) if w_in is None else ~w_in.any(axis=0)
        w_out = nxt.weight.mask
        silent = np.zeros(group.size, bool) if w_out is None else ~w_out.any(axis=1)
        if nxt.bias_mode is True:
            foldable = np.ones(group.size, bool)
        else:  # no per-unit bias to absorb c_j·W′[j, :]: only units that add nothing go
            fold = _constant_outputs(layers, group)[:, None] * _effective(nxt.weight)
            foldable = ~fold.any(axis=1)
        remove = silent | (constant & foldable)
        if remove.all():
            remove[np.argmax(~silent) if (~silent).any() else 0] = False  # keep one unit
        result[group.index] = remove
    return result


def _sliced(param, rows, columns) -> tuple[np.ndarray, np.ndarray | None]:
    data = param.data[np.ix_(rows, columns)] if param.ndim == 2 else param.data[columns]
    mask = param.mask
    if mask is not None:
        mask = mask[np.ix_(rows, columns)] if param.ndim == 2 else mask[columns]
        if mask.all():
            mask = None
    return data, mask


def compact(model: Sequential) -> Sequential:
    """A new, smaller :class:`Sequential` without the units whose incoming or outgoing
    weights are all pruned (see the module docstring); ``model`` is left as it is."""
    if not isinstance(model, Sequential):
        raise TypeError(f"compact: expected a Sequential, got {type(model).__name__}")
    layers = list(model)
    _check_layers(layers)
    removable = removable_units(model)
    groups = {g.index: g for g in unit_groups(model)}
    kept_rows: np.ndarray | None = None
    new_layers: list[Module] = []
    folds: dict[int, np.ndarray] = {}
    for index, module in enumerate(layers):
        if not isinstance(module, Linear):
            new_layers.append(copy.deepcopy(module))
            continue
        rows = np.arange(module.in_features) if kept_rows is None else kept_rows
        remove = removable.get(index, np.zeros(module.out_features, bool))
        columns = np.flatnonzero(~remove)
        if index in groups:
            group = groups[index]
            nxt = layers[group.next_index]
            constant = remove & (
                np.zeros(group.size, bool)
                if group.weight.mask is None
                else ~group.weight.mask.any(axis=0)
            )
            c = _constant_outputs(layers, group)
            folds[group.next_index] = (c * constant) @ _effective(nxt.weight)
        layer = Linear(
            len(rows),
            len(columns),
            bias=module.bias_mode,
            init="zeros",
            dtype=module.weight.dtype,
        )
        data, mask = _sliced(module.weight, rows, columns)
        layer.weight.data = np.ascontiguousarray(data)
        layer.weight.mask = mask
        if module.bias is not None:
            if module.bias_mode is True:
                data, mask = _sliced(module.bias, rows, columns)
            else:
                data, mask = module.bias.data.copy(), module.bias.mask
            if index in folds and module.bias_mode is True:
                data = data + folds[index][columns].astype(data.dtype)
            layer.bias.data = np.ascontiguousarray(data)
            layer.bias.mask = mask
        new_layers.append(layer)
        kept_rows = columns
    return Sequential(*new_layers)
