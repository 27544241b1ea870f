"""Diagnostics: a callback that watches a run and says why it misbehaves.

Each detector reports once, with the evidence it saw and a suggestion:

- ``batchnorm_small_batch``: BatchNorm normalizes training batches of fewer than
  ``min_batchnorm_batch`` samples (or the last batch of each epoch has one sample): the batch
  statistics are noise (a batch of one outputs β with zero input gradient). Reported before
  training starts, ahead of the dead units and vanishing gradients it causes, which it silences;
- ``identical_units``: units of a hidden layer are exact copies of each other after an epoch
  (zero or constant initialization): they get the same gradient and stay copies, so the layer
  works as one unit;
- ``divergence``: a non-finite loss (the loop stops at once) or an epoch loss far above the
  best so far (``diverge_factor`` times);
- ``lr_too_large``: most sampled weights move back and forth (the sign of their update flips
  from one step to the next; healthy runs flip well under half), or the epoch loss goes up and
  down, by more than its own noise, with no downward trend;
- ``lr_too_small``: the updates are tiny relative to the weights (‖Δw‖/‖w‖ per step), the
  loss barely moves and the gradient is neither near zero nor mere noise;
- ``converged``: the same tiny updates and flat loss, but because there is nothing left to
  descend: the gradient is near zero (under ``converged_gradient`` of its size at the start) or
  the epoch's steps cancel out (the weights wander at the loss's noise floor);
- ``overfitting``: the validation loss of the last ``overfit_patience`` epochs is above its
  best earlier mean by more than ``overfit_rise`` and by more than its own noise, while the
  training loss fell by more than ``overfit_rise``; the finding carries the epoch it started
  (see :func:`overfitting_onset`);
- ``vanishing_gradients`` / ``exploding_gradients``: the weight-gradient norms of the first and
  last layers differ by orders of magnitude, or are huge;
- ``dead_relu``: most units of a ReLU layer never activate during an epoch;
- ``saturation``: most sigmoid/tanh activations sit at their bounds (derivative ≈ 0).

``lr_too_small`` is not reported in an epoch where dead units, saturation, vanishing gradients,
identical units or tiny BatchNorm batches already explain a stalled loss.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nablab import nn
from nablab.i18n import Listing, M, localized
from nablab.train.callbacks import Callback
from nablab.train.history import Finding

ROOT_CAUSES = (
    "dead_relu",
    "saturation",
    "vanishing_gradients",
    "identical_units",
    "batchnorm_small_batch",
)
BATCH_NORMS = (nn.BatchNorm1d, nn.MeanOnlyBatchNorm1d)
NORMALIZATIONS = (*BATCH_NORMS, nn.LayerNorm)


def overfitting_onset(train: list, val: list, window: int = 3, rise: float = 0.1):
    """Where overfitting began, or ``None``: the mean validation loss of the last ``window``
    epochs exceeds the best earlier ``window``-epoch mean by more than ``rise`` (relative) and
    by more than three standard errors of that difference (from the epoch-to-epoch noise of the
    validation loss since that best window), while the mean training loss fell by more than
    ``rise`` over the same epochs. Returns (first epoch of the rise, start of the best window
    (0-based), its mean, the last mean, the noise per epoch, the training means then and
    now)."""
    n = len(val)
    if n < 2 * window or any(v is None or not math.isfinite(v) for v in (*val, *train)):
        return None
    val_a, train_a = np.asarray(val, float), np.asarray(train, float)
    means = np.convolve(val_a, np.ones(window) / window, mode="valid")
    best = int(np.argmin(means[: n - 2 * window + 1]))
    then, now = float(means[best]), float(means[-1])
    noise = float(np.std(np.diff(val_a[best:]), ddof=1) / math.sqrt(2))  # after the descent
    error = noise * math.sqrt(2 / window)
    train_then = float(train_a[best : best + window].mean())
    train_now = float(train_a[-window:].mean())
    if now > (1 + rise) * then and now - then > 3 * error and train_now < (1 - rise) * train_then:
        lowest = best + int(np.argmin(val_a[best : best + window]))
        return lowest + 2, best, then, now, noise, train_then, train_now
    return None


class _ActivationMonitor:
    """Forward hooks on ReLU / sigmoid / tanh layers that record, per unit, whether it was
    ever active (ReLU) and how often it sat at a bound (sigmoid, tanh).

    A unit is a column of (N, units) activations and a channel of (N, C, L) or (N, C, H, W)
    feature maps: a ReLU channel is alive when it fires at any position of any sample, and a
    channel's saturation is the share of its values, over samples and positions, at a bound.
    """

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
        self.units: dict[str, str] = {}

    def _hook(self, path: str):
        def record(module: nn.Module, x: np.ndarray, y: np.ndarray) -> None:
            if not module.training:
                return
            axes = (0, *range(2, y.ndim))  # every axis but the unit (channel) axis
            self.units[path] = "channels" if y.ndim > 2 else "units"
            if isinstance(module, nn.ReLU):
                fired = (y > 0).any(axis=axes)
                seen = self.active.get(path)
                self.active[path] = fired if seen is None else seen | fired
            else:
                bound = np.abs(2 * y - 1) if isinstance(module, nn.Sigmoid) else np.abs(y)
                count = (bound > self.level).sum(axis=axes)
                self.saturated[path] = self.saturated.get(path, 0) + count
                self.samples[path] = self.samples.get(path, 0) + y.size // y.shape[1]

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
        min_batchnorm_batch: int = 8,
        converged_gradient: float = 1e-2,
        noise_straightness: float = 0.1,
        overfit_rise: float = 0.1,
        overfit_patience: int = 3,
    ) -> None:
        self.verbose = verbose
        self.diverge_factor, self.flip_threshold = diverge_factor, flip_threshold
        self.small_update, self.gradient_span = small_update, gradient_span
        self.dead_fraction, self.saturation_level = dead_fraction, saturation_level
        self.sample_size, self.seed = sample_size, seed
        self.min_batchnorm_batch = min_batchnorm_batch
        self.converged_gradient, self.noise_straightness = converged_gradient, noise_straightness
        self.overfit_rise, self.overfit_patience = overfit_rise, overfit_patience

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
        self.first_gradient: float | None = None
        self.has_normalization = any(
            isinstance(m, NORMALIZATIONS) for _, m in trainer.model.named_modules()
        )
        self.hidden_units = self._hidden_layers(trainer.model)
        self._batchnorm(trainer)

    def _sample(self) -> np.ndarray:
        return np.concatenate([p.data.reshape(-1)[index] for p, index in self.samples])

    def on_epoch_begin(self, trainer) -> None:
        self.monitor.reset()
        self.epoch_start = [p.data.copy() for _, p in trainer.weight_params]
        self.net_move = None if self.previous is None else np.zeros_like(self.previous)
        self.path_length = 0.0

    def on_step_end(self, trainer, loss: float) -> None:
        if self.previous is None:
            return
        current = self._sample()
        delta = current - self.previous
        self.net_move += delta
        self.path_length += float(np.sqrt(delta @ delta))
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

    def _found(self, trainer, *kinds: str) -> bool:
        return any(f.kind in kinds for f in trainer.history.findings)

    @staticmethod
    def _hidden_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
        """The layers with a weight matrix whose outputs feed another such layer (every one
        but the last), as (path, module)."""
        layers = [
            (path, m)
            for path, m in model.named_modules()
            if isinstance(getattr(m, "weight", None), nn.Parameter) and m.weight.ndim == 2
        ]
        return layers[:-1]

    # ----------------------------------------------------------------------- before training
    def _batchnorm(self, trainer) -> None:
        norms = [path for path, m in trainer.model.named_modules() if isinstance(m, BATCH_NORMS)]
        if not norms:
            return
        n, size = len(trainer.x), trainer.batch_size
        smallest = min(size, n)
        remainder = 0 if trainer.drop_last else n % size
        if smallest >= self.min_batchnorm_batch and remainder != 1:
            return
        where = ", ".join(norms)
        if smallest < self.min_batchnorm_batch:
            what = f"training batches of {smallest} sample{'s' if smallest > 1 else ''}"
            consequence = (
                "a batch of one has x − μ = 0, so every output is β and no gradient reaches "
                "the layers before"
                if smallest == 1
                else f"the mean and variance of each feature are estimated from {smallest} "
                "samples (with two, every normalized value is ±1), so the normalization is "
                "mostly noise"
            )
        else:
            what = f"a last batch of one sample in every epoch ({n} = {n // size}·{size} + 1)"
            consequence = "that batch's outputs are all β and pass no gradient to the input"
        self._report(
            trainer,
            Finding(
                "batchnorm_small_batch",
                1,
                f"BatchNorm ({where}) normalizes {what}",
                f"{consequence}; dead units and vanishing gradients downstream follow from it",
                f"use batches of at least {self.min_batchnorm_batch} samples (32 or more is "
                "usual), LayerNorm (which normalizes each sample on its own), or drop_last for "
                "a one-sample remainder",
            ),
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
        self._identical_units(trainer, epoch)
        self._overfitting(trainer)
        self._oscillation(trainer, epoch, lr)
        if not self._found(trainer, "batchnorm_small_batch"):
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
            if self._converged(trainer, epoch, relative, improvement):
                return
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
        history = trainer.history
        losses = [row["train_loss"] for row in history.epochs[-4:]]
        if len(losses) == 4 and all(math.isfinite(v) for v in losses):
            changes = np.diff(losses)
            alternating = np.all(np.sign(changes[1:]) == -np.sign(changes[:-1]))
            swinging = np.min(np.abs(changes)) > 0.05 * np.mean(losses)
            noise = self._epoch_noise(trainer, 4)
            beyond_noise = noise is None or np.min(np.abs(changes)) > 3 * noise
            earlier = [row["train_loss"] for row in history.epochs[-8:-4]]
            if len(earlier) == 4 and all(math.isfinite(v) for v in earlier):
                falling = np.mean(losses) < np.mean(earlier) - 3 * (noise or 0.0)
            else:
                falling = losses[-1] < 0.99 * losses[0]
            if alternating and swinging and beyond_noise and not falling:
                self._report(
                    trainer,
                    Finding(
                        "lr_too_large",
                        epoch,
                        M(
                            "diagnostics.swinging.message",
                            "the loss goes up and down with no downward trend",
                        ),
                        (
                            M(
                                "diagnostics.swinging.evidence",
                                "epoch losses {losses}",
                                losses=Listing(float(f"{v:.4g}") for v in losses),
                            )
                            if noise is None
                            else M(
                                "diagnostics.swinging.evidence_noise",
                                "epoch losses {losses} (each known to ±{noise:.2g})",
                                losses=Listing(float(f"{v:.4g}") for v in losses),
                                noise=noise,
                            )
                        ),
                        M(
                            "diagnostics.swinging.suggestion",
                            "lower the learning rate (try {lr:g})",
                            lr=lr / 3,
                        ),
                    ),
                )

    def _epoch_noise(self, trainer, epochs: int) -> float | None:
        """The largest standard error of an epoch's mean loss over the last ``epochs`` epochs,
        from the spread of its per-step losses (None when the steps are too few to say)."""
        steps = trainer.steps_per_epoch
        if steps < 4:
            return None
        losses = np.asarray(trainer.history.step_loss[-steps * epochs :], dtype=float)
        if len(losses) < steps * epochs or not np.all(np.isfinite(losses)):
            return None
        per_epoch = losses.reshape(epochs, steps)
        return float(np.max(per_epoch.std(axis=1, ddof=1)) / math.sqrt(steps))

    def _identical_units(self, trainer, epoch: int) -> None:
        """Units of a hidden layer whose incoming weights and bias are equal (to 1e-6 of the
        layer's largest weight) after an epoch are copies; pruned units are left out."""
        if self._found(trainer, "identical_units"):
            return
        for path, module in self.hidden_units:
            weight = module.weight
            columns = [weight.data]
            bias = getattr(module, "bias", None)
            if isinstance(bias, nn.Parameter) and bias.shape == (weight.shape[1],):
                columns.append(bias.data[None, :])
            units = np.concatenate(columns).T.astype(np.float64)
            if weight.mask is not None:
                units = units[weight.mask.any(axis=0)]
            if len(units) < 2:
                continue
            scale = float(np.max(np.abs(units)))
            tolerance = 1e-6 * scale if scale > 0 else 1.0
            distinct = len(np.unique(np.round(units / tolerance), axis=0))
            if distinct == len(units):
                continue
            spread = float(np.max(np.abs(units - units[0]))) if distinct == 1 else None
            detail = (
                f"all {len(units)} units of layer {path} have the same weights and bias"
                + (" (all zero)" if scale == 0 else f" (largest difference {spread:.1e})")
                if distinct == 1
                else f"the {len(units)} units of layer {path} are copies of only {distinct} "
                "distinct units"
            )
            self._report(
                trainer,
                Finding(
                    "identical_units",
                    epoch,
                    f"the units of layer {path} are identical: the symmetry of the "
                    "initialization was never broken",
                    f"after {epoch} epoch{'s' if epoch > 1 else ''}, {detail}; identical units "
                    "get identical gradients and stay identical, so the layer computes what "
                    "one unit computes",
                    "initialize the weights randomly (he_normal for ReLU, xavier/lecun for "
                    "tanh/sigmoid); zero or constant initialization never breaks the symmetry",
                ),
            )
            return

    def _overfitting(self, trainer) -> None:
        if self._found(trainer, "overfitting"):
            return
        rows = trainer.history.epochs
        onset = overfitting_onset(
            [row.get("train_loss") for row in rows],
            [row.get("val_loss") for row in rows],
            self.overfit_patience,
            self.overfit_rise,
        )
        if onset is None:
            return
        start, best, then, now, noise, train_then, train_now = onset
        k = self.overfit_patience
        self._report(
            trainer,
            Finding(
                "overfitting",
                start,
                f"overfitting since epoch {start}: the validation loss rises while the "
                "training loss falls",
                f"validation loss {then:.4g} over epochs {best + 1}–{best + k} (its best "
                f"{k}-epoch mean), {now:.4g} over the last {k} (+{now / then - 1:.0%}; its "
                f"epoch-to-epoch noise is ±{noise:.2g}); training loss {train_then:.4g} → "
                f"{train_now:.4g}",
                f"stop near epoch {start - 1} (early stopping: --patience), regularize "
                "(dropout, weight decay), or get more data (augmentation)",
            ),
        )

    def _converged(self, trainer, epoch: int, relative: float, improvement: float) -> bool:
        """Report ``converged`` when tiny updates and a flat loss come from a gradient near zero
        or from steps that cancel out (noise), and say whether it did."""
        norms = trainer.history.grad_norms
        totals = [
            math.sqrt(sum(v[i] ** 2 for v in norms.values()))
            for i in range(min((len(v) for v in norms.values()), default=0))
        ]
        first = totals[0] if totals else None
        recent = (
            float(np.mean(totals[-max(1, trainer.steps_per_epoch // trainer.grad_norm_every) :]))
            if totals
            else None
        )
        straightness = (
            float(np.sqrt(self.net_move @ self.net_move)) / self.path_length
            if self.net_move is not None and self.path_length > 0
            else None
        )
        if first and recent is not None and recent < self.converged_gradient * first:
            why = (
                f"the gradient norm fell to {recent:.2e} from {first:.2e} at the start "
                f"(×{recent / first:.1e})"
            )
        elif straightness is not None and straightness < self.noise_straightness:
            why = (
                f"the epoch's steps cancel out: the weights' net movement is {straightness:.1e} "
                "of the path they walked (steps at the loss's noise floor)"
            )
        else:
            return False
        self._report(
            trainer,
            Finding(
                "converged",
                epoch,
                "training has converged: the loss no longer falls because there is nothing "
                "left to descend, not because the learning rate is too small",
                f"{why}; ‖Δw‖/‖w‖ per step {relative:.2e}; epoch loss changed by "
                f"{-improvement:+.2%}",
                "nothing to fix; stop here (early stopping) or, for a lower loss, change the "
                "model or data rather than the learning rate",
            ),
        )
        return True

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
                    (
                        M(
                            "diagnostics.vanishing.suggestion_normalized",
                            "use ReLU-family activations with He initialization, fewer layers, "
                            "or residual connections",
                        )
                        if self.has_normalization
                        else M(
                            "diagnostics.vanishing.suggestion",
                            "use ReLU-family activations with He initialization, fewer layers, "
                            "normalization (BatchNorm/LayerNorm) or residual connections",
                        )
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
        symmetric = self._found(trainer, "identical_units")  # copies of a zero unit: not dead
        for path, fired in ({} if symmetric else monitor.active).items():
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
                        (
                            M(
                                "diagnostics.dead_relu.evidence",
                                "{dead:.0%} of its {units} units gave 0 for every sample of "
                                "the epoch",
                                dead=dead,
                                units=fired.size,
                            )
                            if monitor.units[path] == "units"
                            else M(
                                "diagnostics.dead_relu.evidence_channels",
                                "{dead:.0%} of its {units} channels gave 0 for every sample of "
                                "the epoch",
                                dead=dead,
                                units=fired.size,
                            )
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
