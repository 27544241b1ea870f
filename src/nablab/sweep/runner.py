"""Running a sweep: plan the trials, skip the finished ones, run the rest, record each result.

For every round of points the search proposes, each point runs once per seed; trial ``k`` of
the plan is always the same configuration (its parameters' hash is stored with it), so a
second run of the same sweep into the same folder finds the finished trials in the store and
runs only the others: those that failed and those that were running when the sweep stopped.
The backend is started only when some trial is left to run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nablab.sweep.backends import make_backend
from nablab.sweep.kinds import Outcome, finite
from nablab.sweep.results import SweepResults, load_results, mean_std
from nablab.sweep.search import make_search
from nablab.sweep.spec import Sweep
from nablab.sweep.store import SweepStore, trial_hash


@dataclass
class Progress:
    """Where a running sweep is: what the progress bar shows."""

    total: int
    done: int = 0
    failed: int = 0
    running: int = 0
    skipped: int = 0  # finished in an earlier run of the same sweep
    best: float | None = None
    metric: str = ""
    direction: str = "minimize"
    slots: int = 0  # how many trials the backend runs at once

    @property
    def active(self) -> int:
        """Trials a worker is running now (the others handed over are queued)."""
        return min(self.running, self.slots)

    def finish(self, outcome: Outcome) -> None:
        self.running -= 1
        if outcome.status == "done":
            self.done += 1
            self.offer(outcome.metrics.get(self.metric))
        else:
            self.failed += 1

    def offer(self, value: float | None) -> None:
        if not finite(value):
            return
        better = self.best is None or (
            value > self.best if self.direction == "maximize" else value < self.best
        )
        if better:
            self.best = value


def sweep_record(sweep: Sweep) -> dict[str, Any]:
    """The sweep file as validated, with the defaults it leaves to the trial kind filled in."""
    record = sweep.model_dump(mode="json")
    record.update(metric=sweep.metric_name, direction=sweep.metric_direction, seeds=sweep.seed_list)
    return record


def _checked(outcome: Outcome, metric: str) -> Outcome:
    """A finished trial without a finite value of the sweep's metric is a failed trial."""
    if outcome.status != "done":
        return outcome
    value = outcome.metrics.get(metric)
    if value is None:
        outcome.status = "failed"
        outcome.error = f"the trial reported no {metric} (does its data have that split?)"
    elif not finite(value):
        outcome.status = "failed"
        outcome.error = f"{metric} is {value}"
    return outcome


def _objective(trials: list[dict[str, Any]], metric: str) -> float | None:
    values = [t["metrics"][metric] for t in trials if t["status"] == "done"]
    return mean_std(values)[0]


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    backend: str | None = None,
    address: str | None = None,
    workers: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> SweepResults:
    """Run (or resume) ``sweep`` into the folder ``out`` and return its results. The backend,
    address and workers default to the sweep file's. Raises
    :class:`~nablab.sweep.store.StoreLockedError` when another sweep is writing ``out``."""
    name = backend or sweep.backend
    address = address if address is not None else sweep.address
    workers = workers or sweep.workers
    kind = sweep.trial_kind
    metric = sweep.metric_name
    progress = Progress(sweep.n_trials(), metric=metric, direction=sweep.metric_direction)
    report = on_progress or (lambda state: None)
    search = make_search(sweep)
    with SweepStore(out, write=True) as store, contextlib.ExitStack() as stack:
        store.adopt(sweep.definition(), sweep_record(sweep))
        pool = None
        number = point = 0
        while points := search.ask():
            plan = []
            for values in points:
                for seed in sweep.seed_list:
                    params = kind.resolve(sweep.base, values, seed)
                    plan.append(
                        {
                            "number": number,
                            "point": point,
                            "seed": seed,
                            "values": values,
                            "params": params,
                            "hash": trial_hash(sweep.kind, params),
                        }
                    )
                    number += 1
                point += 1
            done = store.plan(plan)
            stored = {t["number"]: t for t in store.trials(history=False)}
            for n in done:
                progress.skipped += 1
                progress.done += 1
                progress.offer(stored[n]["metrics"].get(metric))
            todo = [t for t in plan if t["number"] not in done]
            report(progress)
            if todo:
                if pool is None:
                    pool = stack.enter_context(make_backend(name, workers, address))
                    progress.slots = pool.slots
                store.started([t["number"] for t in todo])
                progress.running += len(todo)
                report(progress)
                calls = [(sweep.kind, t["params"]) for t in todo]
                for index, outcome in pool.map_unordered(calls):
                    outcome = _checked(outcome, metric)
                    store.record(todo[index]["number"], outcome)
                    progress.finish(outcome)
                    report(progress)
            stored = {t["number"]: t for t in store.trials(history=False)}
            by_point: dict[int, list[dict[str, Any]]] = {}
            for t in plan:
                by_point.setdefault(t["point"], []).append(stored[t["number"]])
            search.tell([_objective(trials, metric) for trials in by_point.values()])
    return load_results(out)
