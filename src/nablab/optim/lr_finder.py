"""Leslie Smith's learning-rate range test ("LR finder").

The learning rate grows exponentially from ``start_lr`` to ``end_lr`` over ``num_iter``
mini-batch steps: lr_i = start · (end/start)^(i/(num_iter − 1)). The loss is smoothed with a
bias-corrected running mean, s_i = a_i / (1 − βⁱ⁺¹) with a_i = β·a_{i−1} + (1 − β)·L_i, and the
test stops once s_i exceeds ``diverge_factor`` times its best value. Model and optimizer are
restored afterwards, so the test leaves no trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from nablab._random import RngLike, as_generator
from nablab.data.batching import batches
from nablab.nn.losses import Loss
from nablab.nn.module import Module
from nablab.optim.optimizer import Optimizer


@dataclass(frozen=True)
class LRRangeResult:
    """The curve (learning rates, smoothed and raw losses) and two suggestions.

    ``steepest``: where the smoothed loss falls fastest per unit of log(lr), before its minimum
    (the first tenth of the curve, resting on few batches, is skipped).
    ``valley``: the middle of the longest decreasing run of the smoothed curve (robust to
    noise; fastai's default rule).
    """

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    steepest: float
    valley: float
    stopped_early: bool

    def plot(self, ax=None):
        """Smoothed loss against log-scaled lr with both suggestions marked, on ``ax`` (a new
        figure's axes when omitted); returns the axes."""
        from nablab.viz import PALETTE, new_figure

        if ax is None:
            _, ax = new_figure(6, 4)
        ax.plot(self.lrs, self.losses, color=PALETTE[0], label="smoothed loss")
        ax.axvline(self.steepest, color=PALETTE[1], ls="--", label=f"steepest {self.steepest:.2g}")
        ax.axvline(self.valley, color=PALETTE[2], ls=":", label=f"valley {self.valley:.2g}")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("training loss (smoothed)")
        ax.set_title("Learning-rate range test")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return ax

    def _repr_png_(self) -> bytes:
        from nablab.viz import png_bytes

        return png_bytes(self.plot().figure)

    def _repr_html_(self) -> str:
        from nablab.viz import html_img

        text = (
            f"<p>Learning-rate range test over {len(self.lrs)} steps: steepest descent at "
            f"lr = {self.steepest:.3g}, valley at lr = {self.valley:.3g}"
            + (", stopped when the loss diverged" if self.stopped_early else "")
            + ".</p>"
        )
        return text + html_img(self.plot().figure, "learning-rate range test")


def _cycle(x: np.ndarray, y: np.ndarray, batch_size: int, rng) -> Iterator[tuple]:
    """Shuffled full mini-batches, epoch after epoch (one batch of everything when there are
    fewer samples than ``batch_size``)."""
    size = min(batch_size, len(x))
    while True:
        yield from batches(x, y, size, shuffle=True, rng=rng, drop_last=True)


def _longest_decreasing_run(values: np.ndarray) -> tuple[int, int]:
    """(first, last) index of the longest strictly decreasing subsequence of ``values``."""
    n = len(values)
    length = np.ones(n, dtype=int)
    previous = np.full(n, -1)
    for i in range(n):
        for j in range(i):
            if values[j] > values[i] and length[j] + 1 > length[i]:
                length[i], previous[i] = length[j] + 1, j
    last = int(np.argmax(length))
    first = last
    while previous[first] >= 0:
        first = int(previous[first])
    return first, last


def suggest(lrs: np.ndarray, losses: np.ndarray) -> tuple[float, float]:
    """(steepest, valley) learning rates of a smoothed range-test curve."""
    if len(losses) < 3:
        raise ValueError(
            f"lr_range_test: need at least 3 points to suggest a rate, got "
            f"{len(losses)} (raise num_iter or diverge_factor)"
        )
    lowest = int(np.argmin(losses))
    slopes = np.gradient(losses, np.log(lrs))
    # The first points rest on few batches (the running mean is young): skip a tenth of them.
    skip = min(len(losses) // 10, max(lowest - 1, 0))
    steepest = lrs[skip + int(np.argmin(slopes[skip : max(lowest, skip + 1) + 1]))]
    first, last = _longest_decreasing_run(losses)
    valley = lrs[first + (last - first) // 2]
    return float(steepest), float(valley)


def lr_range_test(
    model: Module,
    loss: Loss,
    optimizer: Optimizer,
    data: tuple[np.ndarray, np.ndarray] | Iterable[tuple[np.ndarray, np.ndarray]],
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    batch_size: int = 32,
    beta: float = 0.98,
    diverge_factor: float = 4.0,
    rng: RngLike = None,
) -> LRRangeResult:
    """Run the range test on ``data`` (arrays ``(x, y)``, drawn in shuffled mini-batches, or an
    iterable of ``(x, y)`` batches) and restore ``model`` and ``optimizer`` afterwards."""
    if not 0 < start_lr < end_lr:
        raise ValueError(f"lr_range_test: need 0 < start_lr < end_lr, got {start_lr}, {end_lr}")
    if num_iter < 3:
        raise ValueError(f"lr_range_test: num_iter must be at least 3, got {num_iter}")
    if not 0 <= beta < 1:
        raise ValueError(f"lr_range_test: beta must be in [0, 1), got {beta}")
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], np.ndarray):
        batches: Iterator = _cycle(data[0], data[1], batch_size, as_generator(rng))
    else:
        batches = iter(data)
    model_state, optimizer_state = model.state_dict(), optimizer.state_dict()
    schedule = start_lr * (end_lr / start_lr) ** (np.arange(num_iter) / (num_iter - 1))
    lrs, smoothed, raw = [], [], []
    average, best, stopped = 0.0, np.inf, False
    try:
        for i, lr in enumerate(schedule):
            try:
                x, y = next(batches)
            except StopIteration:
                break
            optimizer.lr = float(lr)
            value = loss(model(x), y)
            optimizer.zero_grad()
            model.backward_params(loss.backward())
            optimizer.step()
            average = beta * average + (1 - beta) * value
            current = average / (1 - beta ** (i + 1))
            lrs.append(float(lr))
            raw.append(value)
            smoothed.append(current)
            if not np.isfinite(current) or current > diverge_factor * best:
                stopped = True
                break
            best = min(best, current)
    finally:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
    lrs_a, losses_a = np.array(lrs), np.array(smoothed)
    finite = np.isfinite(losses_a)
    steepest, valley = suggest(lrs_a[finite], losses_a[finite])
    return LRRangeResult(lrs_a, losses_a, np.array(raw), steepest, valley, stopped)
