"""Training curves: loss (per step and per epoch) and accuracy against the epoch."""

from __future__ import annotations

from nablab.viz.figures import PALETTE, new_figure


def loss_figure(history, title: str = "Loss during training"):
    """Training loss per step (faint) and per epoch, and the validation loss per epoch,
    on a log scale."""
    figure, ax = new_figure()
    epochs = history.column("epoch")
    if history.step_loss:
        per_epoch = len(history.step_loss) / max(len(history.epochs), 1)
        steps = [(i + 1) / per_epoch for i in range(len(history.step_loss))]
        ax.plot(
            steps,
            history.step_loss,
            color=PALETTE[0],
            alpha=0.25,
            lw=0.8,
            label="training (each step)",
        )
    ax.plot(epochs, history.column("train_loss"), "o-", color=PALETTE[0], label="training")
    if any(v is not None for v in history.column("val_loss")):
        ax.plot(epochs, history.column("val_loss"), "s-", color=PALETTE[1], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (log scale)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return figure


def accuracy_figure(history, title: str = "Accuracy during training"):
    """Training and validation accuracy per epoch (``None`` when there is no accuracy)."""
    if all(v is None for v in history.column("train_acc")):
        return None
    figure, ax = new_figure()
    epochs = history.column("epoch")
    ax.plot(epochs, history.column("train_acc"), "o-", color=PALETTE[0], label="training")
    if any(v is not None for v in history.column("val_acc")):
        ax.plot(epochs, history.column("val_acc"), "s-", color=PALETTE[1], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.0)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return figure
