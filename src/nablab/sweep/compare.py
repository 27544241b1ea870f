"""Reading ordinary run folders (``nablab train --out DIR``) to compare them side by side."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nablab.errors import NablabError

FINAL_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


class CompareError(NablabError):
    """A folder that is not a run folder, or a file in it that cannot be read."""


@dataclass
class RunFolder:
    path: Path
    label: str
    history: list[dict[str, Any]]  # per-epoch rows: epoch, train_loss, ..., as numbers
    metrics: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        return self.metrics.get("config") or {}


def _number(text: str) -> float | int | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def read_run(path: str | Path, label: str | None = None) -> RunFolder:
    """The history and metrics of a run folder."""
    path = Path(path)
    if not path.is_dir():
        raise CompareError(f"{path}: no such folder (give folders written by nablab train --out)")
    files = {name: path / name for name in ("history.csv", "metrics.json")}
    for name, file in files.items():
        if not file.is_file():
            raise CompareError(f"{path}: no {name} (not a folder written by nablab train --out)")
    try:
        with files["history.csv"].open(encoding="utf-8", newline="") as handle:
            history = [
                {key: _number(value or "") for key, value in row.items()}
                for row in csv.DictReader(handle)
            ]
        metrics = json.loads(files["metrics.json"].read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CompareError(f"{path}: cannot read the run: {error}") from None
    if not history or "epoch" not in history[0]:
        raise CompareError(f"{path}/history.csv: no epochs (expected an epoch column)")
    if not isinstance(metrics, dict):
        raise CompareError(f"{path}/metrics.json: expected a mapping of metrics")
    return RunFolder(path, label or path.name, history, metrics)


def read_runs(paths: list[str | Path]) -> list[RunFolder]:
    """Every folder, labelled by its name (by its path where two names are the same)."""
    names = [Path(p).name for p in paths]
    return [read_run(p, str(p) if names.count(Path(p).name) > 1 else Path(p).name) for p in paths]


def differing_settings(runs: list[RunFolder]) -> list[str]:
    """The configuration fields whose values differ between the runs, in config order."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run.config if k not in keys]
    return [k for k in keys if len({json.dumps(run.config.get(k)) for run in runs}) > 1]


def comparison(runs: list[RunFolder]) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the comparison table: the run, the settings that differ, the
    epochs run and the final metrics any run has."""
    settings = differing_settings(runs)
    metrics = [m for m in FINAL_METRICS if any(run.metrics.get(m) is not None for run in runs)]
    columns = ["run", *settings, "epochs", *metrics]
    rows = [
        [
            run.label,
            *(run.config.get(k) for k in settings),
            run.metrics.get("epochs_run", len(run.history)),
            *(run.metrics.get(m) for m in metrics),
        ]
        for run in runs
    ]
    return columns, rows
