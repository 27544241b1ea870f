"""The figures of a sweep folder, drawn by :mod:`nablab.viz.sweep` and written into it."""

from __future__ import annotations

from pathlib import Path

from nablab.sweep.results import SweepResults


def write_figures(results: SweepResults, folder: str | Path | None = None) -> list[Path]:
    """``<metric>_by_<axis>.png`` for every axis, ``heatmap.png`` for a grid over two axes, and
    ``loss_curves.png`` (coloured by the sweep's ``color_by``, else its first axis), written
    atomically into ``folder`` (default: the sweep's). Returns the paths written."""
    from nablab.viz import save
    from nablab.viz.sweep import heatmap, loss_curves, metric_by_axis

    folder = Path(folder) if folder is not None else results.folder
    sweep = results.sweep
    axes, metric = results.axes, results.metric
    lists = {name: axis for name, axis in sweep["axes"].items() if isinstance(axis, list)}
    rows = results.summary()
    written = []
    if any(row[f"{metric}_mean"] is not None for row in rows):
        for axis in axes:
            figure = metric_by_axis(
                rows, axis, axes, metric, len(sweep["seeds"]), order=lists.get(axis)
            )
            written.append(save(figure, folder / f"{metric}_by_{axis}.png"))
        if len(axes) == 2 and len(lists) == 2 and sweep["search"]["type"] == "grid":
            first, second = axes
            figure = heatmap(
                rows, first, second, lists[first], lists[second], metric, results.direction
            )
            written.append(save(figure, folder / "heatmap.png"))
    records = results.records()
    if any(record["history"] for record in records):
        color_by = sweep.get("color_by") or (axes[0] if axes else None)
        figure = loss_curves(records, color_by, order=lists.get(color_by))
        written.append(save(figure, folder / "loss_curves.png"))
    return written
