"""The per-layer sensitivity scan: how much each layer can lose before the model suffers.

For every weight and every sparsity s of a grid, prune that weight alone to s (its lowest
scores under a criterion, magnitude by default), measure the loss and accuracy on a validation
batch, and put the weight back. Layers whose curves stay flat can be pruned hard; the steep
ones should keep their weights (Han et al., 2015, chose per-layer thresholds this way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nablab._random import RngLike, as_generator
from nablab.nn.losses import CrossEntropyLoss, Loss
from nablab.nn.module import Module
from nablab.prune.core import select_entries
from nablab.prune.criteria import CRITERIA, Context
from nablab.prune.targets import weight_parameters

DEFAULT_SPARSITIES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


@dataclass
class SensitivityScan:
    """Loss (and accuracy, for class labels) on the validation batch, per layer and sparsity;
    ``baseline_*`` is the unpruned model's."""

    method: str
    sparsities: list[float]
    loss: dict[str, list[float]]
    accuracy: dict[str, list[float]] | None
    baseline_loss: float
    baseline_accuracy: float | None

    def figure(self):
        """Validation loss (log scale) and accuracy against the layer's sparsity, one curve
        per layer."""
        from nablab.viz import new_figure
        from nablab.viz.figures import colors

        panels = 2 if self.accuracy is not None else 1
        figure, axes = new_figure(4.0 * panels + 1.6, 3.6, ncols=panels)
        axes = np.atleast_1d(axes)
        percent = [100 * s for s in self.sparsities]
        for color, name in zip(colors(len(self.loss)), self.loss, strict=True):
            axes[0].plot(percent, self.loss[name], "o-", ms=3, color=color, label=name)
            if self.accuracy is not None:
                axes[1].plot(percent, self.accuracy[name], "o-", ms=3, color=color, label=name)
        axes[0].set_yscale("log")
        axes[0].set_ylabel("validation loss (log scale)")
        axes[0].set_title("Loss when one layer is pruned")
        if self.accuracy is not None:
            axes[1].set_ylabel("validation accuracy")
            axes[1].set_ylim(0, 1.0)
            axes[1].set_title("Accuracy when one layer is pruned")
        for ax in axes:
            ax.set_xlabel(f"sparsity of the layer (%, {self.method})")
        axes[-1].legend(title="layer", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        figure.suptitle("Per-layer sensitivity scan")
        return figure


def _measure(model: Module, loss: Loss, x: np.ndarray, target: np.ndarray) -> tuple:
    out = model(x)
    value = float(loss(out, target))
    labels = isinstance(loss, CrossEntropyLoss) and np.issubdtype(target.dtype, np.integer)
    return value, (float((out.argmax(axis=1) == target).mean()) if labels else None)


def sensitivity_scan(
    model: Module,
    loss: Loss,
    x: np.ndarray,
    target: np.ndarray,
    sparsities: Sequence[float] = DEFAULT_SPARSITIES,
    method: str = "magnitude",
    rng: RngLike = None,
) -> SensitivityScan:
    """Prune each weight alone to each sparsity (by ``method``'s scores, computed once per
    weight), measure on (x, target) in eval mode, restore. The model is left unchanged."""
    sparsities = [float(s) for s in sparsities]
    if not sparsities or any(not 0 <= s <= 1 for s in sparsities):
        raise ValueError(f"sensitivity_scan: sparsities must lie in [0, 1], got {sparsities}")
    criterion = CRITERIA[method]
    ctx = Context(model, loss, x, target, as_generator(rng))
    was_training = model.training
    model.eval()
    try:
        base_loss, base_acc = _measure(model, loss, x, target)
        named = weight_parameters(model)
        scores = criterion.entries(ctx, [p for _, p in named])
        losses: dict[str, list[float]] = {}
        accuracies: dict[str, list[float]] = {}
        for (name, param), score in zip(named, scores, strict=True):
            kept = param.data.copy()
            losses[name], accuracies[name] = [], []
            for s in sparsities:
                (chosen,) = select_entries([score], [param.mask], min(s, 1.0), "layer")
                param.data[chosen] = 0
                value, acc = _measure(model, loss, x, target)
                param.data[...] = kept
                losses[name].append(value)
                accuracies[name].append(acc)
    finally:
        model.train(was_training)
    return SensitivityScan(
        method,
        sparsities,
        losses,
        accuracies if base_acc is not None else None,
        base_loss,
        base_acc,
    )
