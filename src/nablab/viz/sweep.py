"""Figures of a sweep: its metric against each axis, a heatmap over two axes, every trial's
loss curve; and run folders' histories overlaid (``nablab compare``).

The functions take plain rows (a sweep's summary rows and trial records, or per-epoch history
rows), so they draw the same figure from the store, a CSV file or a notebook.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from nablab.viz.figures import PALETTE, new_figure

_LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}


def _label(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _log_scale(values: Sequence[Any]) -> bool:
    """A numeric axis spanning two decades or more, all positive, is drawn on a log scale."""
    return _numeric(values) and min(values) > 0 and max(values) / min(values) >= 100


def _unique(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def metric_by_axis(
    rows: Sequence[dict[str, Any]],
    axis: str,
    axes: Sequence[str],
    metric: str,
    seeds: int,
    order: Sequence[Any] | None = None,
):
    """The metric's mean over seeds (error bars: ± one standard deviation) against ``axis``,
    one line per combination of the other axes when there are at most eight of them, else
    one marker per point. ``rows`` are summary rows (``<metric>_mean``, ``<metric>_std``)."""
    shown = [r for r in rows if r.get(f"{metric}_mean") is not None]
    values = list(order) if order is not None else _unique(r[axis] for r in rows)
    numeric = _numeric(values)
    position = {_label(v): (v if numeric else i) for i, v in enumerate(values)}
    others = [a for a in axes if a != axis]
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in shown:
        key = ", ".join(f"{o}={_label(row[o])}" for o in others)
        groups.setdefault(key, []).append(row)
    figure, ax = new_figure()
    if len(groups) <= len(PALETTE):
        for color, (key, members) in zip(PALETTE, groups.items(), strict=False):
            members = sorted(members, key=lambda r: position[_label(r[axis])])
            ax.errorbar(
                [position[_label(r[axis])] for r in members],
                [r[f"{metric}_mean"] for r in members],
                yerr=[r[f"{metric}_std"] or 0.0 for r in members],
                fmt="o-",
                color=color,
                capsize=3,
                label=key or metric,
            )
        if others:
            ax.legend(**_LEGEND)
    else:
        ax.errorbar(
            [position.get(_label(r[axis]), r[axis]) for r in shown],
            [r[f"{metric}_mean"] for r in shown],
            yerr=[r[f"{metric}_std"] or 0.0 for r in shown],
            fmt="o",
            color=PALETTE[0],
            capsize=3,
        )
    if numeric and _log_scale(values):
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(values)), [_label(v) for v in values])
    ax.set_xlabel(axis + (" (log scale)" if numeric and _log_scale(values) else ""))
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed"
    ax.set_ylabel(f"{metric} ({spread})")
    ax.set_title(f"{metric} against {axis}")
    return figure


def heatmap(
    rows: Sequence[dict[str, Any]],
    row_axis: str,
    column_axis: str,
    row_values: Sequence[Any],
    column_values: Sequence[Any],
    metric: str,
    direction: str,
):
    """The metric's mean over seeds for every pair of two axes' values, written in each cell
    (empty where no trial finished); brighter is better."""
    import numpy as np

    grid = np.full((len(row_values), len(column_values)), np.nan)
    rows_at = {_label(v): i for i, v in enumerate(row_values)}
    columns_at = {_label(v): j for j, v in enumerate(column_values)}
    for row in rows:
        mean = row.get(f"{metric}_mean")
        if mean is not None and math.isfinite(mean):
            grid[rows_at[_label(row[row_axis])], columns_at[_label(row[column_axis])]] = mean
    figure, ax = new_figure(1.2 * len(column_values) + 3.0, 0.6 * len(row_values) + 2.0)
    colormap = "cividis" if direction == "maximize" else "cividis_r"
    image = ax.imshow(grid, cmap=colormap, aspect="auto")
    finite = grid[np.isfinite(grid)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            if np.isfinite(grid[i, j]):
                bright = (grid[i, j] > middle) == (direction == "maximize")
                ax.text(
                    j,
                    i,
                    f"{grid[i, j]:.3f}",
                    ha="center",
                    va="center",
                    color="black" if bright else "white",
                )
    ax.set_xticks(range(len(column_values)), [_label(v) for v in column_values])
    ax.set_yticks(range(len(row_values)), [_label(v) for v in row_values])
    ax.set_xlabel(column_axis)
    ax.set_ylabel(row_axis)
    ax.grid(False)
    figure.colorbar(image, ax=ax, label=f"{metric} (mean over seeds)")
    ax.set_title(f"{metric} by {row_axis} and {column_axis}")
    return figure


def loss_key(histories: Sequence[Sequence[dict[str, Any]]]) -> str:
    """``val_loss`` when some run has a validation loss, else ``train_loss``."""
    has_val = any(row.get("val_loss") is not None for rows in histories for row in rows)
    return "val_loss" if has_val else "train_loss"


def _curve(rows: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    points = [
        (row["epoch"], row[key])
        for row in rows
        if row.get(key) is not None and math.isfinite(row[key]) and row[key] > 0
    ]
    return [p[0] for p in points], [p[1] for p in points]


def loss_curves(records: Sequence[dict[str, Any]], color_by: str | None, order=None):
    """Every trial's loss per epoch (validation loss where there is one), coloured by the value
    of the axis ``color_by``: one colour per value (at most eight), else a colour scale."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm, Normalize

    key = loss_key([r["history"] for r in records])
    figure, ax = new_figure()
    values = (
        list(order)
        if order is not None
        else _unique(r[color_by] for r in records)
        if color_by
        else [None]
    )
    scale = None
    if color_by and len(values) > len(PALETTE) and _numeric(values):
        norm_type = LogNorm if _log_scale(values) else Normalize
        scale = ScalarMappable(norm_type(min(values), max(values)), colormaps["viridis"])
    labelled: set[str] = set()
    for record in records:
        epochs, losses = _curve(record["history"], key)
        if not epochs:
            continue
        value = record[color_by] if color_by else None
        if scale is not None:
            color, label = scale.to_rgba(value), None
        else:
            index = [_label(v) for v in values].index(_label(value)) if color_by else 0
            color = PALETTE[index % len(PALETTE)]
            label = f"{color_by}={_label(value)}" if color_by else None
            label = None if label in labelled else label
            labelled.add(label or "")
        ax.plot(epochs, losses, color=color, alpha=0.7, lw=1.0, label=label)
    from matplotlib.ticker import MaxNLocator

    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    word = "validation" if key == "val_loss" else "training"
    ax.set_ylabel(f"{word} loss (log scale)")
    ax.set_title(
        f"{word.capitalize()} loss of every trial" + (f", by {color_by}" if color_by else "")
    )
    if scale is not None:
        figure.colorbar(scale, ax=ax, label=color_by)
    elif labelled - {""}:
        ax.legend(**_LEGEND)
    return figure


def histories_figure(runs: Sequence[tuple[str, Sequence[dict[str, Any]]]]):
    """Run folders' histories overlaid: loss (training dashed, validation solid, log scale) and,
    where the runs have it, accuracy, one colour per run."""
    has_acc = any(row.get("train_acc") is not None for _, rows in runs for row in rows)
    figure, axes = new_figure(11.0 if has_acc else 7.0, 4.0, ncols=2 if has_acc else 1)
    panels = [("loss", axes[0] if has_acc else axes)]
    if has_acc:
        panels.append(("acc", axes[1]))
    for index, (label, rows) in enumerate(runs):
        color = PALETTE[index % len(PALETTE)]
        for what, ax in panels:
            for part, style in (("train", "--"), ("val", "-")):
                epochs, values = (
                    _curve(rows, f"{part}_{what}")
                    if what == "loss"
                    else _finite_curve(rows, f"{part}_{what}")
                )
                if epochs:
                    name = "training" if part == "train" else "validation"
                    ax.plot(epochs, values, style, color=color, label=f"{label} ({name})")
    loss_ax = panels[0][1]
    loss_ax.set_yscale("log")
    loss_ax.set_ylabel("loss (log scale)")
    loss_ax.set_title("Loss (dashed: training, solid: validation)")
    for _, ax in panels:
        ax.set_xlabel("epoch")
    if has_acc:
        acc_ax = panels[1][1]
        acc_ax.set_ylabel("accuracy")
        acc_ax.set_ylim(0, 1.0)
        acc_ax.set_title("Accuracy")
        acc_ax.legend(**_LEGEND)
    else:
        loss_ax.legend(**_LEGEND)
    return figure


def _finite_curve(rows: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    points = [
        (row["epoch"], row[key])
        for row in rows
        if row.get(key) is not None and math.isfinite(row[key])
    ]
    return [p[0] for p in points], [p[1] for p in points]
