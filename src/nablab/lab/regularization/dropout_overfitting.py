"""dropout-overfitting: the gap between training and validation accuracy against the drop
probability, on MNIST-1D."""

from __future__ import annotations

import numpy as np

from nablab import nn, optim
from nablab.lab.common import DATASETS, accuracy, dataset, difference, mlp
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import fit


def _run(p, seed, data, params):
    x, y, x_val, y_val = data
    widths = (x.shape[1], params["hidden"], params["hidden"], int(y.max()) + 1)
    model = mlp(widths, seed, dtype=np.float32, dropout=p)
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=params["lr"]),
        (x, y),
        (x_val, y_val),
        epochs=params["epochs"],
        batch_size=64,
        seed=seed,
    )
    return accuracy(model, x, y), accuracy(model, x_val, y_val), history.column("val_acc")


@experiment(
    "dropout-overfitting",
    "regularization",
    "Without dropout a large network overfits MNIST-1D (training accuracy far above "
    "validation accuracy); raising the drop probability narrows that gap and improves "
    "validation accuracy.",
    (
        Option("data", str, "mnist1d", "the dataset", choices=DATASETS),
        Option(
            "ps", list, (0.0, 0.1, 0.2, 0.3, 0.5), "drop probabilities", 0.0, 1.0, high_open=True
        ),
        Option("epochs", int, 40, "epochs", 1, 1000),
        Option("hidden", int, 256, "units of each of the two hidden layers", 1, 4096),
        Option("lr", float, 2e-3, "Adam learning rate", 0.0, low_open=True),
        Option("seeds", int, 3, "seeds per probability", 1, 50),
    ),
    quick={"ps": (0.0, 0.2, 0.5), "epochs": 12, "hidden": 128, "seeds": 2},
    source="000 (dropout as a regularizer)",
)
def dropout_overfitting(params):
    data = dataset(params["data"], dtype=np.float32)
    ps = sorted(params["ps"])
    train, val, curves = {}, {}, {}
    for p in ps:
        runs = [_run(p, seed, data, params) for seed in range(params["seeds"])]
        train[p] = [r[0] for r in runs]
        val[p] = [r[1] for r in runs]
        curves[p] = np.mean([r[2] for r in runs], axis=0)
    gap = {p: [a - b for a, b in zip(train[p], val[p], strict=True)] for p in ps}
    low, high = ps[0], ps[-1]
    zero_gap, zero_error = difference(gap[low], [0.0] * params["seeds"])
    narrowing, narrowing_error = difference(gap[low], gap[high])
    best = max(ps[1:], key=lambda p: np.mean(val[p])) if len(ps) > 1 else low
    gain, gain_error = difference(val[best], val[low])
    numbers = {
        "train_accuracy": {f"{p:g}": v for p, v in train.items()},
        "validation_accuracy": {f"{p:g}": v for p, v in val.items()},
        "gap": {f"{p:g}": float(np.mean(v)) for p, v in gap.items()},
        "best_p": best,
    }
    seeds = params["seeds"]
    listing = ", ".join(f"p = {p:g}: {np.mean(gap[p]):.3f}" for p in ps)
    checks = [
        Check(
            f"without dropout (p = {low:g}) training accuracy is above validation accuracy",
            zero_gap > 2 * zero_error and zero_gap > 0.05,
            f"train {np.mean(train[low]):.3f}, validation {np.mean(val[low]):.3f}: a gap of "
            f"{zero_gap:.3f} ± {zero_error:.3f} over {seeds} seeds (at least 0.05 and two "
            "standard errors needed)",
        ),
        Check(
            "raising the drop probability narrows the gap",
            narrowing > 2 * narrowing_error and seeds > 1,
            f"mean gaps {listing}; from p = {low:g} to {high:g} it narrows by {narrowing:+.3f} "
            f"against a standard error of {narrowing_error:.3f}",
        ),
        Check(
            "dropout improves validation accuracy",
            gain > 2 * gain_error and seeds > 1,
            f"best p = {best:g}: {np.mean(val[best]):.3f} against {np.mean(val[low]):.3f} "
            f"without: {gain:+.3f} against a standard error of {gain_error:.3f}",
        ),
    ]
    return numbers, [_draw(ps, train, val, curves, params)], checks


def _draw(ps, train, val, curves, params):
    from nablab.viz import PALETTE, new_figure

    figure, (left, right) = new_figure(12, 4.2, 1, 2)
    for values, label, color in ((train, "training", PALETTE[0]), (val, "validation", PALETTE[1])):
        means = [np.mean(values[p]) for p in ps]
        stds = [np.std(values[p]) for p in ps]
        left.errorbar(ps, means, yerr=stds, fmt="o-", color=color, capsize=3, label=label)
    left.set_xlabel("drop probability p")
    left.set_ylabel(f"accuracy after {params['epochs']} epochs")
    left.set_title(f"{params['data']}: mean ± std over {params['seeds']} seeds")
    left.legend(loc="center right", fontsize=8)
    for i, p in enumerate(ps):
        right.plot(
            np.arange(1, len(curves[p]) + 1), curves[p], color=PALETTE[i % 7], label=f"p = {p:g}"
        )
    right.set_xlabel("epoch")
    right.set_ylabel("validation accuracy (mean over seeds)")
    right.set_title(f"Two hidden layers of {params['hidden']} ReLU units, Adam")
    right.legend(loc="lower right", fontsize=8)
    return figure
