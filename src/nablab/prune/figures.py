"""Figures of a pruning run: the history against sparsity, and how much each layer lost."""

from __future__ import annotations

from nablab.prune.core import LayerSparsity
from nablab.viz import PALETTE, new_figure


def history_figure(history, title: str = "Pruning and retraining"):
    """Loss (log scale) and accuracy against the fraction of weights pruned: the unpruned
    model, each step right after pruning, and after its retraining; one line per split."""
    rows = history.rows()
    splits = [key[: -len("_loss")] for key in rows[0] if key.endswith("_loss")]
    has_accuracy = any(rows[0].get(f"{s}_acc") is not None for s in splits)
    figure, axes = new_figure(9.0 if has_accuracy else 5.5, 3.6, ncols=2 if has_accuracy else 1)
    axes = list(axes) if has_accuracy else [axes]
    stages = (("pruned", "s", "--", "after pruning"), ("retrained", "o", "-", "after retraining"))
    for color, split in zip(PALETTE, splits, strict=False):
        for metric, ax in zip(("loss", "acc"), axes, strict=False):
            base = rows[0][f"{split}_{metric}"]
            for stage, marker, style, label in stages:
                points = [(0.0, base)] + [
                    (100 * r["sparsity"], r[f"{split}_{metric}"])
                    for r in rows
                    if r["stage"] == stage
                ]
                if len(points) == 1:
                    continue
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, style, marker=marker, ms=4, color=color, label=f"{split}, {label}")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("loss (log scale)")
    axes[0].set_title("Loss")
    if has_accuracy:
        axes[1].set_ylabel("accuracy")
        axes[1].set_ylim(0, 1.0)
        axes[1].set_title("Accuracy")
    for ax in axes:
        ax.set_xlabel("weights pruned (%)")
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.suptitle(title)
    return figure


def layers_figure(rows: list[LayerSparsity], title: str = "Weights pruned per layer"):
    """A horizontal bar per weight: the percentage of its entries that are pruned."""
    figure, ax = new_figure(6.0, 0.5 + 0.45 * max(len(rows), 1))
    names = [r.name for r in rows]
    percent = [100 * r.fraction for r in rows]
    ax.barh(names, percent, color=PALETTE[0])
    for y, (value, row) in enumerate(zip(percent, rows, strict=True)):
        ax.text(min(value, 100) + 1, y, f"{row.pruned}/{row.size}", va="center", fontsize=8)
    ax.set_xlim(0, 115)
    ax.invert_yaxis()
    ax.set_xlabel("entries pruned (%)")
    ax.set_ylabel("parameter")
    ax.set_title(title)
    return figure
