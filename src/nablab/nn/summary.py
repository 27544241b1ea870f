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
        lines = [f"{'layer':<{width}}  {'output shape':<16}  {'params':>10}", "-" * (width + 30)]
        for r in self.rows:
            shape = "(N, " + ", ".join(map(str, r.output_shape[1:])) + ")"
            lines.append(f"{r.name + ' (' + r.kind + ')':<{width}}  {shape:<16}  {r.params:>10,}")
        lines += [
            "-" * (width + 30),
            f"total parameters: {self.total:,}",
            f"trainable parameters: {self.trainable:,}",
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><td>{escape(r.name)}</td><td>{escape(r.kind)}</td>"
            f"<td>(N, {', '.join(map(str, r.output_shape[1:]))})</td>"
            f"<td style='text-align:right'>{r.params:,}</td></tr>"
            for r in self.rows
        )
        return (
            "<table><thead><tr><th>layer</th><th>kind</th><th>output shape</th>"
            f"<th>params</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<p>total parameters: {self.total:,}; trainable: {self.trainable:,}</p>"
        )


def _leaves(model: Module) -> list[tuple[str, Module]]:
    if isinstance(model, Sequential):
        return [(f"{name}", child) for name, child in model._modules.items()]
    return [(model._path or type(model).__name__, model)]


def summary(model: Module, input_shape: tuple[int, ...] | int) -> Summary:
    """Run one zero sample of ``input_shape`` (features, without the batch axis) through
    ``model`` in eval mode and list each layer's output shape and parameter count.

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
