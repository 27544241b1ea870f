"""A run's folder: what ``nablab train --out DIR`` writes, each file atomically."""

from __future__ import annotations

import json
from pathlib import Path

from nablab._io import write_atomic
from nablab.train.run import RunResult

RUN_FILES = (
    "history.csv",
    "metrics.json",
    "loss.png",
    "accuracy.png",
    "checkpoint.npz",
    "diagnostics.txt",
)
CHECKPOINT = "checkpoint.npz"


def write_run(result: RunResult, out: str | Path) -> Path:
    """history.csv, metrics.json, diagnostics.txt and the loss/accuracy figures in ``out``
    (the checkpoint is written by training itself, epoch by epoch)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "history.csv", result.history.epochs_csv())
    write_atomic(out / "metrics.json", json.dumps(result.metrics, indent=2) + "\n")
    write_atomic(out / "diagnostics.txt", result.report() + "\n")
    result.history.plot(out / "loss.png", out / "accuracy.png")
    return out
