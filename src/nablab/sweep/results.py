"""A sweep's results: one record per trial, and one summary row per point over its seeds.

A point's summary is the mean and the sample standard deviation (n − 1 in the denominator;
none for a single seed) of each metric over the point's finished trials, ranked best first by
the sweep's metric and direction. Records are plain dicts, so nothing here needs pandas;
:meth:`SweepResults.dataframe` makes a ``pandas.DataFrame`` where pandas is installed.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nablab.sweep.store import SweepStore


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (``None`` for no values / a single value)."""
    if not values:
        return None, None
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def format_value(value: Any) -> str:
    """An axis value as the command line writes it: ``64,64`` for widths, ``0.001``."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass
class SweepResults:
    """The trials of a sweep folder and what the sweep file said about them."""

    folder: Path
    sweep: dict[str, Any]  # the sweep file as validated
    trials: list[dict[str, Any]]

    @property
    def axes(self) -> list[str]:
        return list(self.sweep["axes"])

    @property
    def metric(self) -> str:
        return self.sweep["metric"]

    @property
    def direction(self) -> str:
        return self.sweep["direction"]

    @property
    def metric_names(self) -> list[str]:
        """Every metric some trial reported, the sweep's own first."""
        seen = {name: None for t in self.trials for name in t["metrics"] if name != "epochs_run"}
        return [self.metric, *(name for name in seen if name != self.metric)]

    def records(self) -> list[dict[str, Any]]:
        """One flat dict per trial: number, point, seed, the axis values, status, error,
        seconds, each metric, and the per-epoch ``history`` (a list of dicts)."""
        out = []
        for trial in self.trials:
            record = {"number": trial["number"], "point": trial["point"], "seed": trial["seed"]}
            record.update(trial["values"])
            record.update(status=trial["status"], error=trial["error"], seconds=trial["seconds"])
            record.update({name: trial["metrics"].get(name) for name in self.metric_names})
            record["history"] = trial["history"]
            out.append(record)
        return out

    def summary(self) -> list[dict[str, Any]]:
        """One row per point, best first: the axis values, ``n`` (finished trials),
        ``failed``, ``seeds`` (planned), and ``<metric>_mean`` / ``<metric>_std`` per metric."""
        points: dict[int, list[dict[str, Any]]] = {}
        for trial in self.trials:
            points.setdefault(trial["point"], []).append(trial)
        rows = []
        for point, trials in points.items():
            done = [t for t in trials if t["status"] == "done"]
            row: dict[str, Any] = {"point": point, **trials[0]["values"]}
            row.update(n=len(done), failed=sum(t["status"] == "failed" for t in trials))
            row["seeds"] = len(trials)
            for name in self.metric_names:
                values = [t["metrics"][name] for t in done if t["metrics"].get(name) is not None]
                row[f"{name}_mean"], row[f"{name}_std"] = mean_std(values)
            rows.append(row)
        sign = -1.0 if self.direction == "maximize" else 1.0

        def key(row: dict[str, Any]) -> tuple:
            mean = row[f"{self.metric}_mean"]
            return (mean is None, sign * mean if mean is not None else 0.0, row["point"])

        return sorted(rows, key=key)

    def best(self) -> dict[str, Any] | None:
        rows = self.summary()
        return rows[0] if rows and rows[0][f"{self.metric}_mean"] is not None else None

    def summary_csv(self) -> str:
        rows = self.summary()
        columns = [*self.axes, "n", "failed", "seeds"]
        columns += [f"{m}_{s}" for m in self.metric_names for s in ("mean", "std")]
        return _csv(columns, rows)

    def trials_csv(self) -> str:
        columns = ["number", "point", "seed", *self.axes, "status", *self.metric_names]
        columns += ["seconds", "error"]
        return _csv(columns, self.records())

    def dataframe(self):
        """The records as a ``pandas.DataFrame`` (pandas is not a dependency of nablab)."""
        try:
            import pandas
        except ImportError:
            raise ImportError(
                "SweepResults.dataframe needs pandas (pip install pandas); "
                "SweepResults.records() gives the same rows as dicts"
            ) from None
        return pandas.DataFrame(self.records())


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return format_value(value) if isinstance(value, list) else value


def load_results(folder: str | Path) -> SweepResults:
    """The results in a sweep folder (readable while the sweep is still running)."""
    with SweepStore(folder) as store:
        sweep = store.sweep_file()
        trials = store.trials()
    return SweepResults(Path(folder), sweep, trials)
