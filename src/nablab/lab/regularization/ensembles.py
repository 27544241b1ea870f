"""ensembles: the average of k independently initialized networks against its members."""

from __future__ import annotations

import numpy as np

from nablab import nn, optim
from nablab.lab.common import DATASETS, dataset, mlp
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import fit


def _probabilities(model, x):
    model.eval()
    logits = model(x)
    model.train()
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """mean(a − b) over validation samples and its standard error."""
    d = np.asarray(a, float) - np.asarray(b, float)
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


@experiment(
    "ensembles",
    "regularization",
    "The average of k independently initialized networks is better than its members: its "
    "cross-entropy is at most their average (Jensen, since −log is convex), and it is more "
    "accurate than the average member and than the best one.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option("members", int, 10, "networks k", 2, 100),
        Option("epochs", int, 10, "epochs per network", 1, 1000),
        Option("hidden", int, 32, "hidden units", 1, 4096),
        Option("lr", float, 1e-3, "Adam learning rate", 0.0, low_open=True),
    ),
    quick={"members": 5, "epochs": 4},
    source="003 (ensembles of independently trained models)",
)
def ensembles(params):
    x, y, x_val, y_val = dataset(params["data"])
    widths = (x.shape[1], params["hidden"], int(y.max()) + 1)
    probabilities = []
    for seed in range(params["members"]):
        model = mlp(widths, seed)
        fit(
            model,
            nn.CrossEntropyLoss(),
            optim.Adam(model.parameters(), lr=params["lr"]),
            (x, y),
            epochs=params["epochs"],
            seed=seed,
        )
        probabilities.append(_probabilities(model, x_val))
    p = np.array(probabilities)  # (k, N, C)
    rows = np.arange(len(y_val))
    member_loss = -np.log(p[:, rows, y_val]).mean(axis=1)
    member_correct = p.argmax(axis=2) == y_val  # (k, N)
    member_acc = member_correct.mean(axis=1)
    average = p.mean(axis=0)
    ensemble_loss = float(-np.log(average[rows, y_val]).mean())
    ensemble_correct = average.argmax(axis=1) == y_val
    ensemble_acc = float(ensemble_correct.mean())
    by_size = [
        float((p[:j].mean(axis=0).argmax(axis=1) == y_val).mean()) for j in range(1, len(p) + 1)
    ]
    loss_by_size = [
        float(-np.log(p[:j].mean(axis=0)[rows, y_val]).mean()) for j in range(1, len(p) + 1)
    ]
    best = int(np.argmax(member_acc))
    over_mean, over_mean_error = _paired(ensemble_correct, member_correct.mean(axis=0))
    over_best, over_best_error = _paired(ensemble_correct, member_correct[best])
    numbers = {
        "member_accuracy": member_acc,
        "member_loss": member_loss,
        "ensemble_accuracy": ensemble_acc,
        "ensemble_loss": ensemble_loss,
        "accuracy_by_size": by_size,
        "loss_by_size": loss_by_size,
        "gain_over_mean_member": {"difference": over_mean, "standard_error": over_mean_error},
        "gain_over_best_member": {"difference": over_best, "standard_error": over_best_error},
    }
    k = params["members"]
    checks = [
        Check(
            "the ensemble's validation cross-entropy is at most its members' average",
            ensemble_loss <= member_loss.mean(),
            f"{ensemble_loss:.4f} against a mean of {member_loss.mean():.4f} over {k} members "
            f"(best member {member_loss.min():.4f})",
        ),
        Check(
            "the ensemble is more accurate than the average member",
            over_mean > 2 * over_mean_error,
            f"{ensemble_acc:.4f} against {member_acc.mean():.4f}: {over_mean:+.4f} with a "
            f"standard error of {over_mean_error:.4f} over the {len(y_val)} validation samples "
            "(more than two needed)",
        ),
        Check(
            "the ensemble is more accurate than its best member",
            over_best > 2 * over_best_error,
            f"{ensemble_acc:.4f} against {member_acc[best]:.4f} (member {best + 1}): "
            f"{over_best:+.4f} with a standard error of {over_best_error:.4f}",
        ),
    ]
    return numbers, [_draw(member_acc, member_loss, by_size, loss_by_size, params)], checks


def _draw(member_acc, member_loss, by_size, loss_by_size, params):
    from nablab.viz import PALETTE, new_figure

    figure, (left, right) = new_figure(13.5, 4.2, 1, 2)
    sizes = np.arange(1, len(by_size) + 1)
    for ax, members, curve, label in (
        (left, member_acc, by_size, "validation accuracy"),
        (right, member_loss, loss_by_size, "validation cross-entropy"),
    ):
        ax.plot(sizes, members, "o", color=PALETTE[4], label="member j alone")
        ax.axhline(np.mean(members), color=PALETTE[4], ls="--", lw=1, label="mean member")
        ax.plot(sizes, curve, "o-", color=PALETTE[0], label="average of members 1…j")
        ax.set_xlabel("networks j")
        ax.set_ylabel(label)
        ax.set_xticks(sizes)
    left.set_title(f"{params['data']}: {len(by_size)} networks, {params['epochs']} epochs each")
    right.set_title("Averaging probabilities lowers the loss")
    figure.legend(*left.get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    return figure
