"""A run's folder: what ``nablab train --out DIR`` writes, each file atomically."""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path

from nablab._io import write_atomic
from nablab.train.config import ConfigError
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


LOCK = ".nablab.lock"


@contextlib.contextmanager
def run_lock(folder: str | Path) -> Iterator[None]:
    """Hold ``folder``'s lock while a run writes it; a second writer gets a clear error
    instead of interleaving its files with the first one's."""
    path = Path(folder) / LOCK
    handle = open(path, "a+")  # noqa: SIM115  (held for the whole run)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(
            f"{folder}: another nablab run is writing this folder; wait for it "
            "or give another --out"
        ) from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
