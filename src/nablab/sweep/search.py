"""How a sweep chooses its points: grid, random, and Optuna's TPE sampler.

A search proposes points (one value per axis) in rounds: :meth:`ask` returns the next round's
points (``[]`` when the search is over) and :meth:`tell` gets the objective of each point of
that round (the metric's mean over the seeds that finished, ``None`` when none did). Grid and
random search propose everything in one round, so every trial can run at once; TPE proposes
``search.batch`` points per round and fits its model to the rounds before.

The points depend only on the sweep file and the results of earlier rounds, never on timing or
on how many workers there are, so a sweep gives the same trials on one core, on a cluster and
when resumed.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from nablab.registry import Registry

Point = dict[str, Any]


class GridSearch:
    """Every combination of the axes' values, the last axis varying fastest."""

    def __init__(self, sweep) -> None:
        self._points = [
            dict(zip(sweep.axes, values, strict=True))
            for values in itertools.product(*sweep.axes.values())
        ]

    def ask(self) -> list[Point]:
        points, self._points = self._points, []
        return points

    def tell(self, values: list[float | None]) -> None:
        pass


def _sample(axis, rng: np.random.Generator) -> Any:
    """One value of an axis: a list entry with equal probability, or a draw from a range:
    uniform on [low, high] (on [log low, log high] with ``log``); whole numbers with
    ``integer`` (the floor of a draw on [low, high + 1), clipped to high)."""
    if isinstance(axis, list):
        return axis[int(rng.integers(len(axis)))]
    low, high = axis.low, axis.high + (1 if axis.integer else 0)
    if axis.log:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = float(rng.uniform(low, high))
    return int(min(math.floor(value), axis.high)) if axis.integer else value


class RandomSearch:
    """``search.trials`` points drawn independently from ``numpy.random.default_rng(seed)``."""

    def __init__(self, sweep) -> None:
        rng = np.random.default_rng(sweep.search.seed)
        self._points = [
            {name: _sample(axis, rng) for name, axis in sweep.axes.items()}
            for _ in range(sweep.search.trials)
        ]

    def ask(self) -> list[Point]:
        points, self._points = self._points, []
        return points

    def tell(self, values: list[float | None]) -> None:
        pass


class TPESearch:
    """Optuna's tree-structured Parzen estimator (``optuna.samplers.TPESampler``), driven by
    ask and tell on an in-memory study: the first ``search.startup`` points are random, then
    each point is where the density of good results over that of the others is highest. The
    sweep's store, not Optuna's, is the record of the trials; on resume the study is rebuilt
    by asking again and telling the stored results."""

    def __init__(self, sweep) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._axes = sweep.axes
        self._left = sweep.search.trials
        self._batch = sweep.search.batch
        sampler = optuna.samplers.TPESampler(
            seed=sweep.search.seed, n_startup_trials=sweep.search.startup
        )
        self._study = optuna.create_study(direction=sweep.metric_direction, sampler=sampler)
        self._distributions = {name: self._distribution(axis) for name, axis in self._axes.items()}
        self._asked: list = []

    @staticmethod
    def _distribution(axis):
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if isinstance(axis, list):  # by position: values may be lists, which Optuna refuses
            return CategoricalDistribution(list(range(len(axis))))
        if axis.integer:
            return IntDistribution(int(axis.low), int(axis.high), log=axis.log)
        return FloatDistribution(axis.low, axis.high, log=axis.log)

    def ask(self) -> list[Point]:
        count = min(self._batch, self._left)
        self._left -= count
        self._asked = [self._study.ask(self._distributions) for _ in range(count)]
        return [
            {
                name: axis[trial.params[name]] if isinstance(axis, list) else trial.params[name]
                for name, axis in self._axes.items()
            }
            for trial in self._asked
        ]

    def tell(self, values: list[float | None]) -> None:
        from optuna.trial import TrialState

        for trial, value in zip(self._asked, values, strict=True):
            if value is None or not math.isfinite(value):
                self._study.tell(trial, state=TrialState.FAIL)
            else:
                self._study.tell(trial, value)
        self._asked = []


SEARCHES: Registry[type] = Registry("search")
SEARCHES.add("grid", GridSearch, "every combination of the axes' lists")
SEARCHES.add("random", RandomSearch, "search.trials points drawn at random (lists and ranges)")
SEARCHES.add("tpe", TPESearch, "Optuna's TPE sampler, search.batch points per round")


def make_search(sweep):
    return SEARCHES[sweep.search.type](sweep)
