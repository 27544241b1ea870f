"""A per-layer table of output shapes and parameter counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nablab.nn.module import Module, Sequential


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int


@dataclass(frozen=True)
class Summary:
    rows: tuple[LayerRow, ...]
    total: int
    trainable: int

    def __str__(self) -> str:
        width = max([5, *(len(f"{r.name} ({r.kind})") for r in self.rows)])
        shapes = [_shape_text(r.output_shape) for r in self.rows]
        shape_width = max([16, *(len(shape) for shape in shapes)])
        rule = "-" * (width + shape_width + 14)
        lines = [f"{'layer':<{width}}  {'output shape':<{shape_width}}  {'params':>10}", rule]
        for r, shape in zip(self.rows, shapes, strict=True):
            lines.append(
                f"{r.name + ' (' + r.kind + ')':<{width}}  {shape:<{shape_width}}  {r.params:>10,}"
            )
        lines += [
            rule,
            f"total parameters: {self.total:,}",
            f"trainable parameters: {self.trainable:,}",
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><td>{escape(r.name)}</td><td>{escape(r.kind)}</td>"
            f"<td>{_shape_text(r.output_shape)}</td>"
            f"<td style='text-align:right'>{r.params:,}</td></tr>"
            for r in self.rows
        )
        return (
            "<table><thead><tr><th>layer</th><th>kind</th><th>output shape</th>"
            f"<th>params</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<p>total parameters: {self.total:,}; trainable: {self.trainable:,}</p>"
        )


def _shape_text(shape: tuple[int, ...]) -> str:
    """(N, 64, 20) for an output of shape (1, 64, 20): the batch axis is N."""
    return "(N" + "".join(f", {size}" for size in shape[1:]) + ")"


def _leaves(model: Module, prefix: str = "") -> list[tuple[str, Module]]:
    """The layers a forward pass runs one after the other: a Sequential's children, with
    nested Sequentials opened (``"1.0"``); any other module is one layer."""
    if not isinstance(model, Sequential):
        return [(prefix or model._path or type(model).__name__, model)]
    leaves = []
    for name, child in model._modules.items():
        leaves += _leaves(child, f"{prefix}.{name}" if prefix else name)
    return leaves


def summary(model: Module, input_shape: tuple[int, ...] | int) -> Summary:
    """Run one zero sample of ``input_shape`` (without the batch axis: ``(features,)``,
    ``(C, L)`` or ``(C, H, W)``) through ``model`` in eval mode and list each layer's output
    shape and parameter count; nested ``Sequential`` containers are opened, layer by layer.

    Trainable parameters are those with ``requires_grad``; buffers such as BatchNorm's
    running statistics are not parameters. Linear(10, 20) + BatchNorm1d(20) has 260.
    """
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    params = model.parameters()
    dtype = params[0].dtype if params else np.float64
    modes = {id(m): m.training for _, m in model.named_modules()}
    model.eval()
    rows = []
    try:
        x = np.zeros((1, *shape), dtype=dtype)
        for name, layer in _leaves(model):
            x = layer(x)
            count = sum(p.size for p in layer.parameters())
            rows.append(LayerRow(name, type(layer).__name__, x.shape, count))
    finally:
        for _, module in model.named_modules():
            module.training = modes[id(module)]
    total = sum(p.size for p in params)
    trainable = sum(p.size for p in params if p.requires_grad)
    return Summary(tuple(rows), total, trainable)
