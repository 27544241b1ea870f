"""Prune and retrain: one shot, or a little at a time with training in between.

A schedule turns a final sparsity and a number of steps into the sparsity after each step:

- ``one_shot``: everything at once, [a];
- ``linear``: equal increments, a·k/n for k = 1..n;
- ``geometric``: the same fraction of what is left each time, 1 − (1 − a)^(k/n).

:func:`prune_and_retrain` runs any pruning step, retraining and measurement at those
sparsities and keeps the history (loss and accuracy right after each pruning step and after
its retraining); :func:`iterative_pruning` is the usual case, with :func:`fit`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nablab.nn.losses import Loss
from nablab.nn.module import Module
from nablab.prune.core import PruneReport, prune
from nablab.prune.criteria import CRITERIA
from nablab.registry import Registry

SCHEDULES: Registry[Callable[[float, int], list[float]]] = Registry("pruning schedule")
SCHEDULES.add("one_shot", lambda a, n: [a], "prune everything at once")
SCHEDULES.add("linear", lambda a, n: [a * k / n for k in range(1, n + 1)], "a·k/n after step k")
SCHEDULES.add(
    "geometric",
    lambda a, n: [1 - (1 - a) ** (k / n) for k in range(1, n + 1)],
    "1 − (1 − a)^(k/n): the same fraction of the remaining weights each step",
)


def sparsity_schedule(amount: float, steps: int = 1, kind: str = "linear") -> list[float]:
    """The target sparsity after each of ``steps`` pruning steps."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"sparsity_schedule: steps must be a positive integer, got {steps!r}")
    return [float(a) for a in SCHEDULES[kind](float(amount), steps)]


@dataclass
class PruneStep:
    """One step: the pruning report and the measurements right after pruning and after
    retraining (``None`` without retraining)."""

    target: float
    report: PruneReport
    pruned: dict[str, Any]
    retrained: dict[str, Any] | None = None


@dataclass
class PruneHistory:
    """The measurements before pruning and after every step."""

    baseline: dict[str, Any]
    steps: list[PruneStep] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """One row per measurement: step, sparsity, stage (baseline / pruned / retrained)."""
        rows = [{"step": 0, "sparsity": 0.0, "stage": "baseline", **self.baseline}]
        for number, step in enumerate(self.steps, 1):
            sparsity = step.report.sparsity
            rows.append({"step": number, "sparsity": sparsity, "stage": "pruned", **step.pruned})
            if step.retrained is not None:
                rows.append(
                    {"step": number, "sparsity": sparsity, "stage": "retrained", **step.retrained}
                )
        return rows

    def figure(self, title: str = "Pruning and retraining"):
        """Loss (log scale) and accuracy against the sparsity, right after each pruning step
        and after its retraining."""
        from nablab.prune.figures import history_figure

        return history_figure(self, title)


def prune_and_retrain(
    sparsities: list[float],
    prune_step: Callable[[float], PruneReport],
    measure: Callable[[], dict[str, Any]],
    retrain: Callable[[int], Any] | None = None,
) -> PruneHistory:
    """For each target sparsity: ``prune_step(target)``, ``measure()``, then (if given)
    ``retrain(step_number)`` and ``measure()`` again."""
    history = PruneHistory(measure())
    for number, target in enumerate(sparsities, 1):
        report = prune_step(target)
        pruned = measure()
        retrained = None
        if retrain is not None:
            retrain(number)
            retrained = measure()
        history.steps.append(PruneStep(target, report, pruned, retrained))
    return history


def measurements(model: Module, loss: Loss, splits: dict[str, tuple]) -> dict[str, Any]:
    """``<split>_loss`` and ``<split>_acc`` for each named (x, y) split, in eval mode."""
    from nablab.train.loop import evaluate

    result: dict[str, Any] = {}
    for name, (x, y) in splits.items():
        result[f"{name}_loss"], result[f"{name}_acc"] = evaluate(model, loss, x, y)
    return result


def criterion_data(method: str, train: tuple, val: tuple | None) -> tuple | None:
    """The data a criterion measures on: the validation split for ``sensitivity`` (when
    there is one), the training objective for the second-order criteria, none otherwise."""
    extra = CRITERIA.entry(method).extra
    if not extra["data"]:
        return None
    return val if extra["split"] == "validation" and val is not None else train


def iterative_pruning(
    model: Module,
    loss: Loss,
    optimizer_factory: Callable[[Module], Any],
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray] | None,
    amount: float,
    method: str = "magnitude",
    steps: int = 1,
    schedule: str = "linear",
    epochs: int = 0,
    batch_size: int = 32,
    seed: int = 0,
    **prune_options: Any,
) -> PruneHistory:
    """Prune ``model`` to ``amount`` in ``steps`` steps of ``schedule``, retraining for
    ``epochs`` epochs (a fresh ``optimizer_factory(model)`` each time; 0: no retraining)
    after each step. Masks keep the pruned weights at zero while retraining."""
    from nablab.train.loop import fit

    data = criterion_data(method, train, val)
    splits = {"train": train} | ({"val": val} if val is not None else {})

    def prune_step(target: float) -> PruneReport:
        return prune(model, target, method, data=data, loss=loss, **prune_options)

    def retrain(number: int) -> None:
        fit(
            model,
            loss,
            optimizer_factory(model),
            train,
            val,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed + number,
        )

    return prune_and_retrain(
        sparsity_schedule(amount, steps, schedule),
        prune_step,
        lambda: measurements(model, loss, splits),
        retrain if epochs > 0 else None,
    )
