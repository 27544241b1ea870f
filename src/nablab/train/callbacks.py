"""Callbacks: code that runs at the start and end of training, epochs and steps.

A callback sees the :class:`~nablab.train.loop.Trainer` (model, loss, optimizer, history,
epoch, step) and may set ``trainer.stop``. ``on_step_end`` runs on the hot path, so it is only
called for callbacks that define it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from nablab.optim.schedules import LRScheduler


class Callback:
    def on_train_begin(self, trainer) -> None: ...

    def on_epoch_begin(self, trainer) -> None: ...

    def on_epoch_end(self, trainer, logs: dict[str, Any]) -> None: ...

    def on_train_end(self, trainer) -> None: ...

    # on_step_end(self, trainer, loss: float) -> None is optional (hot path)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class LRSchedule(Callback):
    """Steps a learning-rate schedule after every epoch (``every="epoch"``) or step."""

    def __init__(self, scheduler: LRScheduler, every: str = "epoch") -> None:
        if every not in ("epoch", "step"):
            raise ValueError(f"LRSchedule: every must be 'epoch' or 'step', got {every!r}")
        self.scheduler, self.every = scheduler, every
        if every == "step":
            self.on_step_end = self._step

    def _step(self, trainer, loss: float) -> None:
        self.scheduler.step()

    def on_epoch_end(self, trainer, logs) -> None:
        if self.every == "epoch":
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state) -> None:
        self.scheduler.load_state_dict(state)


class Proximal(Callback):
    """Apply a proximal step after every optimizer step (``Proximal(optim.L1Proximal(model,
    1e-4, opt))`` trains with exact-zero L1)."""

    def __init__(self, proximal) -> None:
        if not callable(getattr(proximal, "step", None)):
            raise TypeError(f"Proximal: expected an object with step(), got {type(proximal)}")
        self.proximal = proximal

    def on_step_end(self, trainer, loss: float) -> None:
        self.proximal.step()


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs; with
    ``restore_best`` the model gets the weights of its best epoch back."""

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str | None = None,
        restore_best: bool = True,
    ) -> None:
        if patience < 1:
            raise ValueError(f"EarlyStopping: patience must be >= 1, got {patience}")
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = mode or ("max" if "acc" in monitor else "min")
        self.restore_best = restore_best
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0
        self._best_state: dict[str, np.ndarray] | None = None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer, logs) -> None:
        value = logs.get(self.monitor)
        if value is None:
            raise ValueError(
                f"EarlyStopping: no {self.monitor!r} in the epoch logs "
                f"(have {sorted(k for k, v in logs.items() if v is not None)})"
            )
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, logs["epoch"], 0
            if self.restore_best:
                self._best_state = trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.stop = True
            trainer.history.stopped = (
                f"early stopping: {self.monitor} has not improved for "
                f"{self.patience} epochs (best {self.best:.6g} at epoch "
                f"{self.best_epoch})"
            )

    def on_train_end(self, trainer) -> None:
        if self.restore_best and self._best_state is not None and trainer.stop:
            trainer.model.load_state_dict(self._best_state)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]


class ProgressBar(Callback):
    """A rich progress bar: epoch, batches, loss, accuracy, samples per second, time left."""

    def __init__(self, refresh_seconds: float = 0.1) -> None:
        self.refresh_seconds = refresh_seconds

    def on_train_begin(self, trainer) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("acc {task.fields[acc]}"),
            TextColumn("{task.fields[speed]} samples/s"),
            TimeRemainingColumn(),
            transient=False,
        )
        self.progress.start()
        total = trainer.steps_per_epoch * trainer.epochs
        self.task = self.progress.add_task(
            "train",
            total=total,
            epoch="-",
            loss="-",
            acc="-",
            speed="-",
            completed=trainer.global_step,
        )
        self.started = time.perf_counter()
        self.samples_at_start = trainer.samples_seen
        self.last_refresh = 0.0

    def on_step_end(self, trainer, loss: float) -> None:
        now = time.perf_counter()
        if now - self.last_refresh >= self.refresh_seconds:
            self._refresh(trainer, loss, trainer.epoch + 1, now)

    def _refresh(self, trainer, loss: float, epoch: int, now: float) -> None:
        self.last_refresh = now
        speed = (trainer.samples_seen - self.samples_at_start) / max(now - self.started, 1e-9)
        acc = trainer.running_accuracy
        self.progress.update(
            self.task,
            completed=trainer.global_step,
            epoch=f"{epoch}/{trainer.epochs}",
            loss=f"{loss:.4f}",
            acc="-" if acc is None else f"{acc:.3f}",
            speed=f"{speed:,.0f}",
        )

    def on_epoch_end(self, trainer, logs) -> None:
        self._refresh(trainer, logs["train_loss"], logs["epoch"], time.perf_counter())
        val = "" if logs.get("val_acc") is None else f"  val_acc {logs['val_acc']:.4f}"
        val_loss = "" if logs.get("val_loss") is None else f"  val_loss {logs['val_loss']:.4f}"
        self.progress.console.print(
            f"epoch {logs['epoch']:>3}  loss {logs['train_loss']:.4f}{val_loss}{val}"
        )

    def on_train_end(self, trainer) -> None:
        self.progress.update(self.task, completed=trainer.global_step)
        self.progress.stop()
