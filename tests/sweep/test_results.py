"""Results: records, the summary over seeds (best first), CSV, and the figures."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pytest

from nablab.sweep.figures import write_figures
from nablab.sweep.results import SweepResults, mean_std


def trial(number, point, seed, values, status="done", **metrics) -> dict:
    history = [
        {"epoch": e, "train_loss": 1.0 / e + seed, "val_loss": 2.0 / e + point} for e in (1, 2, 3)
    ]
    return {
        "number": number,
        "point": point,
        "seed": seed,
        "values": values,
        "status": status,
        "error": None if status == "done" else "diverged: non-finite loss",
        "seconds": 0.5,
        "metrics": metrics,
        "history": history if status == "done" else [],
    }


def make_results(tmp_path: Path, direction: str = "maximize") -> SweepResults:
    axes = {"optimizer": ["sgd", "adam"], "lr": [0.001, 0.1]}
    accuracy = {
        ("sgd", 0.001): [0.50, 0.60, 0.55],
        ("sgd", 0.1): [0.90, 0.92, 0.97],
        ("adam", 0.001): [0.95, 0.93, None],  # seed 2 failed
        ("adam", 0.1): [None, None, None],  # every seed failed
    }
    trials, number = [], 0
    for point, ((optimizer, lr), values) in enumerate(accuracy.items()):
        for seed, value in enumerate(values):
            status = "done" if value is not None else "failed"
            metrics = {} if value is None else {"val_acc": value, "val_loss": 1.0 - value}
            trials.append(
                trial(number, point, seed, {"optimizer": optimizer, "lr": lr}, status, **metrics)
            )
            number += 1
    sweep = {
        "axes": axes,
        "metric": "val_acc",
        "direction": direction,
        "seeds": [0, 1, 2],
        "search": {"type": "grid"},
        "color_by": None,
    }
    return SweepResults(tmp_path, sweep, trials)


def test_mean_and_sample_standard_deviation():
    values = [0.9, 0.92, 0.97]
    mean, std = mean_std(values)
    assert mean == pytest.approx(np.mean(values), abs=1e-15)
    assert std == pytest.approx(np.std(values, ddof=1), abs=1e-15)
    assert mean_std([0.5]) == (0.5, None) and mean_std([]) == (None, None)


def test_summary_is_best_first_over_the_finished_seeds(tmp_path):
    rows = make_results(tmp_path).summary()
    assert [(r["optimizer"], r["lr"]) for r in rows] == [
        ("adam", 0.001),
        ("sgd", 0.1),
        ("sgd", 0.001),
        ("adam", 0.1),  # nothing finished: last
    ]
    assert rows[0]["val_acc_mean"] == pytest.approx(0.94) and rows[0]["n"] == 2
    assert rows[0]["val_acc_std"] == pytest.approx(math.sqrt(2) * 0.01)
    assert (rows[0]["failed"], rows[0]["seeds"]) == (1, 3)
    assert rows[3]["val_acc_mean"] is None and rows[3]["failed"] == 3
    worst_first = make_results(tmp_path, "minimize").summary()
    assert [(r["optimizer"], r["lr"]) for r in worst_first][:3] == [
        ("sgd", 0.001),
        ("sgd", 0.1),
        ("adam", 0.001),
    ]


def test_records_and_csv(tmp_path):
    results = make_results(tmp_path)
    records = results.records()
    assert len(records) == 12
    assert records[0] == {
        "number": 0,
        "point": 0,
        "seed": 0,
        "optimizer": "sgd",
        "lr": 0.001,
        "status": "done",
        "error": None,
        "seconds": 0.5,
        "val_acc": 0.5,
        "val_loss": 0.5,
        "history": records[0]["history"],
    }
    table = list(csv.DictReader(io.StringIO(results.summary_csv())))
    assert list(table[0]) == [
        "optimizer", "lr", "n", "failed", "seeds",
        "val_acc_mean", "val_acc_std", "val_loss_mean", "val_loss_std",
    ]  # fmt: skip
    assert float(table[1]["val_acc_mean"]) == results.summary()[1]["val_acc_mean"]
    assert table[3]["val_acc_mean"] == ""
    per_trial = list(csv.DictReader(io.StringIO(results.trials_csv())))
    assert per_trial[8]["status"] == "failed" and per_trial[8]["error"].startswith("diverged")


def test_a_dataframe_only_where_pandas_is_installed(tmp_path):
    results = make_results(tmp_path)
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"needs pandas .*records\(\) gives the same rows"):
            results.dataframe()
    else:
        frame = results.dataframe()
        assert frame.shape[0] == 12 and list(frame["val_acc"][:3]) == [0.5, 0.6, 0.55]


def test_figures_show_the_summary_and_are_the_same_bytes_each_time(tmp_path):
    from nablab.viz.sweep import heatmap, metric_by_axis

    results = make_results(tmp_path)
    written = write_figures(results)
    assert [p.name for p in written] == [
        "val_acc_by_optimizer.png",
        "val_acc_by_lr.png",
        "heatmap.png",
        "loss_curves.png",
    ]
    first = [p.read_bytes() for p in written]
    assert [p.read_bytes() for p in write_figures(results)] == first
    rows = results.summary()
    figure = metric_by_axis(rows, "lr", results.axes, "val_acc", 3, order=[0.001, 0.1])
    ax = figure.axes[0]
    assert ax.get_title() == "val_acc against lr"
    assert ax.get_xlabel() == "lr (log scale)" and ax.get_xscale() == "log"  # two decades
    assert ax.get_ylabel() == "val_acc (mean ± std over 3 seeds)"
    lines = {bars.get_label(): bars.lines[0] for bars in ax.containers}  # errorbar: data line
    assert set(lines) == {"optimizer=sgd", "optimizer=adam"}
    assert list(lines["optimizer=sgd"].get_ydata()) == [
        pytest.approx(0.55),
        pytest.approx(np.mean([0.90, 0.92, 0.97])),
    ]
    assert list(lines["optimizer=adam"].get_xdata()) == [0.001]  # lr 0.1 never finished
    grid = heatmap(rows, "optimizer", "lr", ["sgd", "adam"], [0.001, 0.1], "val_acc", "maximize")
    image = grid.axes[0].images[0].get_array()
    assert image[0, 1] == pytest.approx(np.mean([0.90, 0.92, 0.97]))
    assert np.ma.is_masked(image[1, 1]) or math.isnan(image[1, 1])
    texts = {t.get_text() for t in grid.axes[0].texts}
    assert texts == {"0.550", "0.930", "0.940"}
