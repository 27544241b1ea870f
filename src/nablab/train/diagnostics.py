"""Diagnostics: a callback that watches a run and says why it misbehaves.

Each detector reports once, with the evidence it saw and a suggestion:

- ``divergence``: a non-finite loss (the loop stops at once) or an epoch loss far above the
  best so far (``diverge_factor`` times);
- ``lr_too_large``: most sampled weights move back and forth (the sign of their update flips
  from one step to the next; healthy runs flip well under half), or the epoch loss goes up and
  down with no downward trend;
- ``lr_too_small``: the updates are tiny relative to the weights (‖Δw‖/‖w‖ per step) and the
  loss barely moves;
- ``vanishing_gradients`` / ``exploding_gradients``: the weight-gradient norms of the first and
  last layers differ by orders of magnitude, or are huge;
- ``dead_relu``: most units of a ReLU layer never activate during an epoch;
- ``saturation``: most sigmoid/tanh activations sit at their bounds (derivative ≈ 0).

``lr_too_small`` is not reported in an epoch where dead units, saturation or vanishing
gradients already explain a stalled loss.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nablab import nn
from nablab.i18n import Listing, M, localized
from nablab.train.callbacks import Callback
from nablab.train.history import Finding

ROOT_CAUSES = ("dead_relu", "saturation", "vanishing_gradients")


class _ActivationMonitor:
    """Forward hooks on ReLU / sigmoid / tanh layers that record, per unit, whether it was
    ever active (ReLU) and how often it sat at a bound (sigmoid, tanh)."""

    def __init__(self, model: nn.Module, saturation_level: float) -> None:
        self.layers = [
            (path, m)
            for path, m in model.named_modules()
            if isinstance(m, nn.ReLU | nn.Sigmoid | nn.Tanh)
        ]
        self.level = saturation_level
        self.reset()
        self.handles = [m.register_forward_hook(self._hook(path)) for path, m in self.layers]

    def reset(self) -> None:
        self.active: dict[str, np.ndarray] = {}
        self.saturated: dict[str, np.ndarray] = {}
        self.samples: dict[str, int] = {}

    def _hook(self, path: str):
        def record(module: nn.Module, x: np.ndarray, y: np.ndarray) -> None:
            if not module.training:
                return
            if isinstance(module, nn.ReLU):
                fired = (y > 0).any(axis=0)
                seen = self.active.get(path)
                self.active[path] = fired if seen is None else seen | fired
            else:
                bound = np.abs(2 * y - 1) if isinstance(module, nn.Sigmoid) else np.abs(y)
                count = (bound > self.level).sum(axis=0)
                self.saturated[path] = self.saturated.get(path, 0) + count
                self.samples[path] = self.samples.get(path, 0) + len(y)

        return record

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


class Diagnostics(Callback):
    """Watch a run and record :class:`~nablab.train.history.Finding` objects in its history
    (printed as they appear when ``verbose``)."""

    def __init__(
        self,
        verbose: bool = False,
        diverge_factor: float = 5.0,
        flip_threshold: float = 0.75,
        small_update: float = 1e-5,
        gradient_span: float = 1e3,
        dead_fraction: float = 0.5,
        saturation_level: float = 0.98,
        sample_size: int = 512,
        seed: int = 0,
    ) -> None:
        self.verbose = verbose
        self.diverge_factor, self.flip_threshold = diverge_factor, flip_threshold
        self.small_update, self.gradient_span = small_update, gradient_span
        self.dead_fraction, self.saturation_level = dead_fraction, saturation_level
        self.sample_size, self.seed = sample_size, seed

    # ----------------------------------------------------------------------- setup
    def on_train_begin(self, trainer) -> None:
        self.monitor = _ActivationMonitor(trainer.model, self.saturation_level)
        rng = np.random.default_rng(self.seed)
        self.samples = []
        weights = [p for _, p in trainer.weight_params]
        per_param = max(1, self.sample_size // max(len(weights), 1))
        for param in weights:
            count = min(per_param, param.size)
            self.samples.append((param, rng.choice(param.size, count, replace=False)))
        self.best_loss = math.inf
        self.previous = self._sample() if self.samples else None
        self.previous_delta = None
        self.flips = self.comparisons = 0
        self.flip_log = []

    def _sample(self) -> np.ndarray:
        return np.concatenate([p.data.reshape(-1)[index] for p, index in self.samples])

    def on_epoch_begin(self, trainer) -> None:
        self.monitor.reset()
        self.epoch_start = [p.data.copy() for _, p in trainer.weight_params]

    def on_step_end(self, trainer, loss: float) -> None:
        if self.previous is None:
            return
        current = self._sample()
        delta = current - self.previous
        if self.previous_delta is not None:
            moving = (delta != 0) & (self.previous_delta != 0)
            self.flips += int(
                (np.sign(delta[moving]) != np.sign(self.previous_delta[moving])).sum()
            )
            self.comparisons += int(moving.sum())
        self.previous, self.previous_delta = current, delta

    def _report(self, trainer, finding: Finding) -> None:
        if trainer.history.add_finding(finding) and self.verbose:
            print(
                localized(M("diagnostics.prefix", "diagnostics: {finding}", finding=str(finding)))
            )

    # ----------------------------------------------------------------------- detectors
    def on_epoch_end(self, trainer, logs: dict[str, Any]) -> None:
        epoch, loss, lr = logs["epoch"], logs["train_loss"], trainer.optimizer.lr
        history = trainer.history
        previous_losses = [row["train_loss"] for row in history.epochs[:-1]]
        if math.isfinite(loss) and loss > self.diverge_factor * self.best_loss:
            self._report(
                trainer,
                Finding(
                    "divergence",
                    epoch,
                    M(
                        "diagnostics.divergence.message",
                        "the loss is far above its best: training is diverging",
                    ),
                    M(
                        "diagnostics.divergence.evidence",
                        "epoch loss {loss:.4g} vs best {best:.4g} (⁅×{ratio:.1f}⁆)",
                        loss=loss,
                        best=self.best_loss,
                        ratio=loss / self.best_loss,
                    ),
                    M(
                        "diagnostics.divergence.suggestion",
                        "lower the learning rate about 10× (try {lr:g})",
                        lr=lr / 10,
                    ),
                ),
            )
        if math.isfinite(loss):
            self.best_loss = min(self.best_loss, loss)
        improvement = (
            (previous_losses[-1] - loss) / abs(previous_losses[-1])
            if previous_losses and previous_losses[-1]
            else None
        )
        self._oscillation(trainer, epoch, lr)
        self._gradients(trainer, epoch)
        self._activations(trainer, epoch)
        explained = any(f.kind in ROOT_CAUSES for f in history.findings)
        steps = max(trainer.steps_per_epoch, 1)
        moved = math.sqrt(
            sum(
                float(np.sum((p.data - w0) ** 2))
                for (_, p), w0 in zip(trainer.weight_params, self.epoch_start, strict=True)
            )
        )
        size = math.sqrt(sum(float(np.sum(w0**2)) for w0 in self.epoch_start))
        relative = moved / max(size, 1e-12) / steps
        if (
            not explained
            and relative < self.small_update
            and improvement is not None
            and abs(improvement) < 0.01
        ):
            self._report(
                trainer,
                Finding(
                    "lr_too_small",
                    epoch,
                    M(
                        "diagnostics.lr_too_small.message",
                        "training crawls: updates are tiny and the loss barely moves",
                    ),
                    M(
                        "diagnostics.lr_too_small.evidence",
                        "⁅‖Δw‖/‖w‖⁆ per step {relative:.2e}; epoch loss changed by {change:+.2%}",
                        relative=relative,
                        change=-improvement,
                    ),
                    M(
                        "diagnostics.lr_too_small.suggestion",
                        "raise the learning rate (try {lr:g}) or run an LR range test "
                        "(nablab.optim.lr_range_test)",
                        lr=lr * 10,
                    ),
                ),
            )

    def _oscillation(self, trainer, epoch: int, lr: float) -> None:
        if self.comparisons >= 50:
            flip_rate = self.flips / self.comparisons
            self.flip_log.append(flip_rate)
            self.flips = self.comparisons = 0
            if flip_rate > self.flip_threshold:
                self._report(
                    trainer,
                    Finding(
                        "lr_too_large",
                        epoch,
                        M(
                            "diagnostics.oscillation.message",
                            "the weights oscillate: the learning rate is too large for the "
                            "curvature of the loss",
                        ),
                        M(
                            "diagnostics.oscillation.evidence",
                            "{rate:.0%} of sampled weight updates reversed direction from one "
                            "step to the next (healthy runs: well under half)",
                            rate=flip_rate,
                        ),
                        M(
                            "diagnostics.oscillation.suggestion",
                            "lower the learning rate (try {lr:g}) or add momentum",
                            lr=lr / 3,
                        ),
                    ),
                )
                return
        losses = [row["train_loss"] for row in trainer.history.epochs[-4:]]
        if len(losses) == 4 and all(math.isfinite(v) for v in losses):
            changes = np.diff(losses)
            alternating = np.all(np.sign(changes[1:]) == -np.sign(changes[:-1]))
            swinging = np.min(np.abs(changes)) > 0.05 * np.mean(losses)  # not mere noise
            if alternating and swinging and losses[-1] >= 0.99 * losses[0]:
                self._report(
                    trainer,
                    Finding(
                        "lr_too_large",
                        epoch,
                        M(
                            "diagnostics.swinging.message",
                            "the loss goes up and down with no downward trend",
                        ),
                        M(
                            "diagnostics.swinging.evidence",
                            "epoch losses {losses}",
                            losses=Listing(float(f"{v:.4g}") for v in losses),
                        ),
                        M(
                            "diagnostics.swinging.suggestion",
                            "lower the learning rate (try {lr:g})",
                            lr=lr / 3,
                        ),
                    ),
                )

    def _gradients(self, trainer, epoch: int) -> None:
        norms = {name: values[-1] for name, values in trainer.history.grad_norms.items() if values}
        if len(norms) < 2:
            return
        names = [name for name, _ in trainer.weight_params if name in norms]
        first, last = norms[names[0]], norms[names[-1]]
        listing = ", ".join(f"{name} {norms[name]:.1e}" for name in names)
        if last > 0 and first / last < 1 / self.gradient_span:
            self._report(
                trainer,
                Finding(
                    "vanishing_gradients",
                    epoch,
                    M(
                        "diagnostics.vanishing.message",
                        "gradients vanish on their way to the first layers",
                    ),
                    M(
                        "diagnostics.gradients.evidence",
                        "weight-gradient norms from first to last layer: {listing}",
                        listing=listing,
                    ),
                    M(
                        "diagnostics.vanishing.suggestion",
                        "use ReLU-family activations with He initialization, fewer layers, "
                        "normalization (BatchNorm/LayerNorm) or residual connections",
                    ),
                ),
            )
        elif max(norms.values()) > 1e4 or (last > 0 and first / last > self.gradient_span):
            self._report(
                trainer,
                Finding(
                    "exploding_gradients",
                    epoch,
                    M(
                        "diagnostics.exploding.message",
                        "gradients grow on their way to the first layers",
                    ),
                    M(
                        "diagnostics.gradients.evidence",
                        "weight-gradient norms from first to last layer: {listing}",
                        listing=listing,
                    ),
                    M(
                        "diagnostics.exploding.suggestion",
                        "lower the learning rate, clip gradients (nablab.optim.clip_grad_norm) "
                        "or use a smaller initialization",
                    ),
                ),
            )

    def _activations(self, trainer, epoch: int) -> None:
        monitor = self.monitor
        for path, fired in monitor.active.items():
            dead = 1.0 - float(fired.mean())
            if dead > self.dead_fraction:
                self._report(
                    trainer,
                    Finding(
                        "dead_relu",
                        epoch,
                        M(
                            "diagnostics.dead_relu.message",
                            "most ReLU units of layer {path} never activate",
                            path=path,
                        ),
                        M(
                            "diagnostics.dead_relu.evidence",
                            "{dead:.0%} of its {units} units gave 0 for every sample of the epoch",
                            dead=dead,
                            units=fired.size,
                        ),
                        M(
                            "diagnostics.dead_relu.suggestion",
                            "lower the learning rate, use LeakyReLU, He initialization, or start "
                            "biases at a small positive value",
                        ),
                    ),
                )
        for path, counts in monitor.saturated.items():
            share = float(np.mean(counts / max(monitor.samples[path], 1)))
            if share > self.dead_fraction:
                self._report(
                    trainer,
                    Finding(
                        "saturation",
                        epoch,
                        M(
                            "diagnostics.saturation.message",
                            "sigmoid/tanh units of layer {path} are saturated",
                            path=path,
                        ),
                        M(
                            "diagnostics.saturation.evidence",
                            "{share:.0%} of its activations sat beyond ⁅±{level}⁆ of the output "
                            "range (derivative ≈ 0)",
                            share=share,
                            level=self.saturation_level,
                        ),
                        M(
                            "diagnostics.saturation.suggestion",
                            "use a smaller initialization (Xavier/LeCun), standardize the "
                            "inputs, or switch to ReLU-family activations",
                        ),
                    ),
                )

    def on_train_end(self, trainer) -> None:
        self.monitor.remove()
