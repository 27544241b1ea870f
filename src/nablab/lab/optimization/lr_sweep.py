"""learning-rate-sweep: SGD, RMSProp and Adam at four learning rates on real data, each run
diagnosed, and the source document's four claims decided."""

from __future__ import annotations

import math

import numpy as np

from nablab.lab.common import DATASETS
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train.config import TrainConfig
from nablab.train.run import run_training

OPTIMIZER_NAMES = ("sgd", "rmsprop", "adam")
LABELS = {"sgd": "SGD", "rmsprop": "RMSProp", "adam": "Adam"}


def _summary(result) -> dict:
    history = result.history
    losses = [v for v in history.step_loss if math.isfinite(v)]
    return {
        "first_step_loss": history.step_loss[0],
        "final_train_loss": history.last.get("train_loss"),
        "final_val_acc": history.last.get("val_acc"),
        "first_epoch_loss": history.epochs[0]["train_loss"],
        "diverged": result.diverged,
        "lowest_step_loss": min(losses) if losses else None,
        "findings": [f.kind for f in history.findings],
    }


def _diverged(s: dict) -> bool:
    final = s["final_train_loss"]
    return (
        s["diverged"] or final is None or not math.isfinite(final) or (final > s["first_step_loss"])
    )


@experiment(
    "learning-rate-sweep",
    "optimization",
    "With SGD a learning rate of 0.001 learns far more slowly than 0.01 and a rate of 1 "
    "diverges; RMSProp learns faster than SGD at 0.001 and survives a rate of 1.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option("lrs", list, (0.001, 0.01, 0.1, 1.0), "learning rates", low=0.0, low_open=True),
        Option("epochs", int, 10, "epochs per run", 1, 1000),
        Option("hidden", int, 64, "units of the one hidden layer", 1, 4096),
        Option("batch_size", int, 32, "mini-batch size", 1, 100000),
        Option("seed", int, 0, "seed of every run", 0),
    ),
    quick={"epochs": 3},
    source="001 (the learning-rate sweep for SGD, RMSProp and Adam)",
)
def learning_rate_sweep(params):
    lrs = params["lrs"]
    runs = {}
    for opt in OPTIMIZER_NAMES:
        for lr in lrs:
            config = TrainConfig(
                data=params["data"],
                hidden=(params["hidden"],),
                optimizer=opt,
                lr=float(lr),
                epochs=params["epochs"],
                batch_size=params["batch_size"],
                seed=params["seed"],
                dtype="float64",
            )
            runs[(opt, lr)] = run_training(config)
    summary = {f"{opt}@{lr:g}": _summary(r) for (opt, lr), r in runs.items()}
    numbers = {"runs": summary}
    checks = []

    def get(opt, lr):
        return summary.get(f"{opt}@{lr:g}")

    slow, good = get("sgd", 0.001), get("sgd", 0.01)
    if slow and good:
        ratio = slow["final_train_loss"] / good["final_train_loss"]
        checks.append(
            Check(
                "SGD at lr 0.001 learns far more slowly than at 0.01",
                ratio > 2,
                f"training loss after {params['epochs']} epochs: {slow['final_train_loss']:.3f} "
                f"at 0.001 vs {good['final_train_loss']:.3f} at 0.01 (×{ratio:.1f})",
            )
        )
    for opt, label, claim_diverges in (("sgd", "SGD", True), ("rmsprop", "RMSProp", False)):
        at_one = get(opt, 1.0)
        if at_one:
            diverged = _diverged(at_one)
            text = (
                f"final training loss {at_one['final_train_loss']:.3g} against "
                f"{at_one['first_step_loss']:.3g} at the first step"
                + ("; the loss became non-finite" if at_one["diverged"] else "")
                + (f"; diagnostics: {', '.join(at_one['findings'])}" if at_one["findings"] else "")
            )
            if claim_diverges:
                checks.append(Check(f"{label} at lr 1 diverges", diverged, text))
            else:
                checks.append(
                    Check(
                        f"{label} survives lr 1",
                        not diverged,
                        text
                        + (
                            " (RMSProp divides by the root mean square of the "
                            "gradients, so each step is about lr = 1 in every "
                            "coordinate: far too large)"
                            if diverged
                            else ""
                        ),
                    )
                )
    sgd_slow, rms_slow = get("sgd", 0.001), get("rmsprop", 0.001)
    if sgd_slow and rms_slow:
        checks.append(
            Check(
                "RMSProp at lr 0.001 learns faster than SGD at 0.001",
                rms_slow["first_epoch_loss"] < sgd_slow["first_epoch_loss"],
                f"mean training loss in the first epoch: RMSProp {rms_slow['first_epoch_loss']:.3f}"
                f", SGD {sgd_slow['first_epoch_loss']:.3f}",
            )
        )
    return numbers, [_draw(runs, lrs, params)], checks


def _draw(runs, lrs, params):
    from nablab.viz import PALETTE, new_figure

    figure, axes = new_figure(
        3.1 * len(lrs), 7.5, len(OPTIMIZER_NAMES), len(lrs), sharex=True, sharey=True, squeeze=False
    )
    for row, opt in enumerate(OPTIMIZER_NAMES):
        for col, lr in enumerate(lrs):
            ax = axes[row][col]
            history = runs[(opt, lr)].history
            losses = np.array(history.step_loss, dtype=float)
            steps = np.arange(1, len(losses) + 1)
            shown = np.clip(np.where(np.isfinite(losses), losses, np.nan), 1e-4, 1e4)
            ax.plot(steps, shown, color=PALETTE[row], lw=0.6)
            ax.set_yscale("log")
            ax.set_title(f"{LABELS[opt]}, lr {lr:g}", fontsize=9)
            if runs[(opt, lr)].diverged:
                ax.text(0.5, 0.5, "diverged", transform=ax.transAxes, ha="center", color=PALETTE[5])
    figure.supxlabel("step")
    figure.supylabel("training loss per mini-batch (log scale, clipped to 1e-4…1e4)")
    figure.suptitle(
        f"Training loss per mini-batch on {params['data']} "
        f"({params['epochs']} epochs, batch {params['batch_size']})"
    )
    return figure
