"""The training loop: mini-batches, forward, loss, backward, update, and the bookkeeping.

The inner loop does what a hand-written NumPy loop does (index a batch, forward, loss,
backward without the input gradient, one fused optimizer step) plus a float check of the loss;
everything else (validation, gradient norms, callbacks) happens per epoch or every few steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nablab.data.batching import batches
from nablab.data.datasets import Dataset
from nablab.i18n import M
from nablab.nn import CrossEntropyLoss, Loss, Module
from nablab.optim import Optimizer
from nablab.train.callbacks import Callback, ProgressBar
from nablab.train.checkpoint import (
    TRAINER_KEYS,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from nablab.train.history import Finding, History

Arrays = tuple[np.ndarray, np.ndarray]
Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _arrays(data: Arrays | Dataset, what: str) -> Arrays:
    if isinstance(data, Dataset):
        return data.x, data.y
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise TypeError(f"fit: {what} must be (x, y) arrays or a Dataset, got {type(data)}")
    x, y = data
    if len(x) != len(y):
        raise ValueError(f"fit: {what} has {len(x)} inputs but {len(y)} targets")
    if len(x) == 0:
        raise ValueError(f"fit: {what} is empty")
    return x, y


def _classifies(loss: Loss, y: np.ndarray) -> bool:
    """Accuracy is defined: softmax cross-entropy on integer class labels."""
    return isinstance(loss, CrossEntropyLoss) and np.issubdtype(y.dtype, np.integer)


def evaluate(
    model: Module, loss: Loss, x: np.ndarray, y: np.ndarray, batch_size: int = 1024
) -> tuple[float, float | None]:
    """(mean loss, accuracy) over (x, y) in eval mode, batched; accuracy for class labels."""
    was_training = model.training
    model.eval()
    total, correct = 0.0, 0
    classify = _classifies(loss, y)
    try:
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            out = model(xb)
            value = loss(out, yb)
            total += value if loss.reduction == "sum" else value * len(xb)
            if classify:
                correct += int((out.argmax(axis=1) == yb).sum())
    finally:
        model.train(was_training)
    return total / len(x), (correct / len(x) if classify else None)


class Trainer:
    """The state of a run, as callbacks see it."""

    def __init__(
        self,
        model: Module,
        loss: Loss,
        optimizer: Optimizer,
        x: np.ndarray,
        y: np.ndarray,
        val: Arrays | None,
        epochs: int,
        batch_size: int,
        seed: int,
        shuffle: bool,
        drop_last: bool,
        callbacks: list[Callback],
        grad_norm_every: int,
        compiled: bool = True,
        augment: Augment | None = None,
    ) -> None:
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.compiled = compiled
        self.checkpoint_meta: dict[str, Any] = {}
        self.x, self.y, self.val = x, y, val
        self.epochs, self.batch_size = epochs, batch_size
        self.shuffle, self.drop_last = shuffle, drop_last
        self.callbacks = callbacks
        self.grad_norm_every = grad_norm_every
        self.rng = np.random.default_rng(seed)
        self.augment = augment
        # a stream of its own, so augmenting leaves the batch order of the same seed unchanged
        self.augment_rng = np.random.default_rng([seed, 1])
        self.history = History()
        self.epoch = 0
        self.global_step = 0
        self.samples_seen = 0
        self.stop = False
        self.running_accuracy: float | None = None
        n = len(x)
        self.steps_per_epoch = n // batch_size if drop_last else math.ceil(n / batch_size)
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"fit: batch_size {batch_size} with drop_last leaves no batch of the {n} samples"
            )
        self.classify = _classifies(loss, y)
        self.weight_params = [(name, p) for name, p in model.named_parameters() if p.ndim >= 2]

    # ----------------------------------------------------------------------- checkpoints
    def save(self, path) -> None:
        save_checkpoint(
            path,
            self.model,
            self.optimizer,
            {
                "epoch": self.epoch,
                "global_step": self.global_step,
                "samples_seen": self.samples_seen,
                "history": self.history.state(),
                "rng": self.rng.bit_generator.state,
                "augment_rng": self.augment_rng.bit_generator.state,
                "callbacks": [c.state_dict() for c in self.callbacks],
                **self.checkpoint_meta,
            },
        )

    def restore(self, path) -> None:
        meta = load_checkpoint(path, self.model, self.optimizer)
        missing = [key for key in TRAINER_KEYS if key not in meta]
        if missing:
            raise CheckpointError(
                f"{path}: not a training checkpoint (its metadata lacks {missing})"
            )
        self.epoch = meta["epoch"]
        self.global_step, self.samples_seen = meta["global_step"], meta["samples_seen"]
        self.history = History.from_state(meta["history"])
        self.rng.bit_generator.state = meta["rng"]
        if "augment_rng" in meta:
            self.augment_rng.bit_generator.state = meta["augment_rng"]
        for callback, state in zip(self.callbacks, meta["callbacks"], strict=False):
            callback.load_state_dict(state)

    # ----------------------------------------------------------------------- the loop
    def _record_grad_norms(self) -> None:
        self.history.grad_norm_steps.append(self.global_step)
        for name, param in self.weight_params:
            g = param.grad.ravel()
            self.history.grad_norms.setdefault(name, []).append(float(math.sqrt(g @ g)))

    def _stop_non_finite(self, value: float) -> None:
        lr = self.optimizer.lr
        self.history.stopped = (
            f"non-finite loss ({value}) at step {self.global_step + 1} "
            f"(epoch {self.epoch + 1}); training stopped"
        )
        self.history.add_finding(
            Finding(
                "divergence",
                self.epoch + 1,
                M(
                    "diagnostics.non_finite.message",
                    "the loss became non-finite: training diverged",
                ),
                M(
                    "diagnostics.non_finite.evidence",
                    "loss {value} at step {step} with learning rate {lr:g}; best loss so far "
                    "{best:.4g}",
                    value=str(value),
                    step=self.global_step + 1,
                    lr=lr,
                    best=min(self.history.step_loss, default=math.nan),
                ),
                M(
                    "diagnostics.non_finite.suggestion",
                    "lower the learning rate about 10× (try {lr:g}) or clip gradients",
                    lr=lr / 10,
                ),
            )
        )
        self.stop = True

    def _compiled_epoch(self, plan) -> tuple[float, int, int]:
        """The epoch through :mod:`nablab.train.compiled`: the same batches, losses, updates
        and bookkeeping as the loop below, in one compiled call."""
        n = len(self.x)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        losses, correct, done, norms = plan.run(
            self.x,
            self.y,
            order,
            self.batch_size,
            self.drop_last,
            self.global_step,
            self.grad_norm_every,
        )
        total, seen, right = 0.0, 0, 0
        history = self.history
        for k in range(done):
            count = min(self.batch_size, n - k * self.batch_size)
            self.global_step += 1
            self.samples_seen += count
            total += float(losses[k]) * count
            seen += count
            right += int(correct[k])
            history.step_loss.append(float(losses[k]))
            history.step_lr.append(self.optimizer.lr)
            if self.global_step % self.grad_norm_every == 0:
                history.grad_norm_steps.append(self.global_step)
                for (name, _), value in zip(self.weight_params, norms[k], strict=True):
                    history.grad_norms.setdefault(name, []).append(float(value))
        if self.classify and seen:
            self.running_accuracy = right / seen
        steps = len(losses)
        if done < steps:
            self._stop_non_finite(float(losses[done]))
        return total, seen, right

    def run_epoch(self) -> dict[str, Any]:
        model, loss, optimizer = self.model, self.loss, self.optimizer
        x, y, size = self.x, self.y, self.batch_size
        step_hooks = [c.on_step_end for c in self.callbacks if hasattr(c, "on_step_end")]
        step_loss, step_lr = self.history.step_loss, self.history.step_lr
        augment, augment_rng = self.augment, self.augment_rng
        started = time.perf_counter()
        total, seen, correct = 0.0, 0, 0
        plan = None
        if self.compiled and self.classify and augment is None:  # augmenting sees each batch
            from nablab.train.compiled import plan as compiled_plan

            plan = compiled_plan(model, loss, optimizer, y, step_hooks)
        if plan is not None:
            total, seen, correct = self._compiled_epoch(plan)
        batches_left = (
            () if plan is not None else batches(x, y, size, self.shuffle, self.rng, self.drop_last)
        )
        for xb, yb in batches_left:
            if augment is not None:
                xb = augment(xb, augment_rng)
            out = model.forward(xb)
            value = loss.forward(out, yb)
            if not math.isfinite(value):
                self._stop_non_finite(value)
                break
            optimizer.zero_grad()
            model.backward_params(loss.backward())
            optimizer.step()
            self.global_step += 1
            count = len(xb)
            self.samples_seen += count
            total += value * count
            seen += count
            step_loss.append(value)
            step_lr.append(optimizer.lr)
            if self.classify:  # the fused cross-entropy counted the right answers
                correct += loss.correct
                self.running_accuracy = correct / seen
            if self.global_step % self.grad_norm_every == 0:
                self._record_grad_norms()
            for hook in step_hooks:
                hook(self, value)
            if self.stop:
                break
        logs: dict[str, Any] = {
            "epoch": self.epoch + 1,
            "train_loss": total / seen if seen else math.nan,
            "train_acc": correct / seen if self.classify and seen else None,
            "val_loss": None,
            "val_acc": None,
            "lr": optimizer.lr,
        }
        if self.val is not None and not self.history.stopped:
            logs["val_loss"], logs["val_acc"] = evaluate(model, loss, *self.val)
        logs["seconds"] = time.perf_counter() - started
        return logs


def fit(
    model: Module,
    loss: Loss,
    optimizer: Optimizer,
    train: Arrays | Dataset,
    val: Arrays | Dataset | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    callbacks: Sequence[Callback] = (),
    seed: int = 0,
    shuffle: bool = True,
    drop_last: bool = False,
    progress: bool = False,
    grad_norm_every: int = 10,
    checkpoint: str | None = None,
    resume: str | None = None,
    compiled: bool = True,
    checkpoint_meta: dict[str, Any] | None = None,
    augment: Augment | None = None,
) -> History:
    """Train ``model`` on ``train`` for ``epochs`` epochs of mini-batches and return the
    :class:`History`.

    The batch order comes from ``seed`` alone. ``checkpoint`` writes model, optimizer, random
    states and history after every epoch (atomically); ``resume`` continues such a run, giving
    bit-identical parameters to an uninterrupted one. A non-finite loss stops training at once
    and records a ``divergence`` finding.

    ``checkpoint_meta`` is stored in every checkpoint beside the run's own state (a run's
    configuration, a fingerprint of its data).

    With ``compiled=True`` (the default) an epoch of a plain MLP classifier runs as one
    compiled function when numba is available and nothing needs to see each step (see
    :mod:`nablab.train.compiled`); the results agree with the module-by-module engine to
    rounding. ``compiled=False`` always uses the engine.

    ``augment(x_batch, rng)`` transforms every training batch before the forward pass (never
    the validation data), with a generator of its own drawn from ``seed``, so an epoch runs
    through the engine: for images stored as rows use :class:`nablab.data.OnFlatImages`
    (``OnFlatImages(RandomAffine(shift=1), (8, 8))``).
    """
    if augment is not None and not callable(augment):
        raise TypeError(f"fit: augment must be a function of (x_batch, rng), got {type(augment)}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"fit: epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    x, y = _arrays(train, "train")
    val_arrays = None if val is None else _arrays(val, "val")
    callbacks = list(callbacks)
    if progress and not any(isinstance(c, ProgressBar) for c in callbacks):
        callbacks.append(ProgressBar())
    trainer = Trainer(
        model,
        loss,
        optimizer,
        x,
        y,
        val_arrays,
        epochs,
        batch_size,
        seed,
        shuffle,
        drop_last,
        callbacks,
        grad_norm_every,
        compiled,
        augment,
    )
    trainer.checkpoint_meta = dict(checkpoint_meta or {})
    if resume is not None:
        trainer.restore(resume)
    model.train()
    for callback in callbacks:
        callback.on_train_begin(trainer)
    # A diverging run overflows on its way to NaN; the loop diagnoses that itself.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            while trainer.epoch < epochs and not trainer.stop:
                for callback in callbacks:
                    callback.on_epoch_begin(trainer)
                logs = trainer.run_epoch()
                trainer.history.epochs.append(logs)
                trainer.epoch += 1
                for callback in callbacks:
                    callback.on_epoch_end(trainer, logs)
                if checkpoint is not None:
                    trainer.save(checkpoint)
        finally:
            for callback in callbacks:
                callback.on_train_end(trainer)
    return trainer.history
