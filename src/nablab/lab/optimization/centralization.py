"""gradient-centralization: what subtracting each output unit's mean gradient does to the
weights with SGD and with Adam, and to accuracy over several seeds."""

from __future__ import annotations

import numpy as np

from nablab import nn, optim
from nablab.lab.common import DATASETS, accuracy, dataset, mlp
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import fit

SETTINGS = {
    "SGD, GC on the gradient": ("sgd", "gradient"),
    "Adam, GC on the gradient": ("adam", "gradient"),
    "Adam, GC on the update": ("adam", "update"),
}


def _column_means(model: nn.Module) -> list[np.ndarray]:
    """Each weight matrix's column means: the mean over inputs of every output unit's weights."""
    return [p.data.mean(axis=0).copy() for p in model.parameters() if p.ndim >= 2]


def _train(kind: str, centralize, x, y, x_val, y_val, widths, seed, epochs, lr, record=False):
    model = mlp(widths, seed)
    make = optim.SGD if kind == "sgd" else optim.Adam
    opt = make(model.parameters(), lr=lr[kind], centralize=centralize)
    start = _column_means(model)
    drift = []
    for epoch in range(epochs):
        fit(
            model,
            nn.CrossEntropyLoss(),
            opt,
            (x, y),
            epochs=1,
            batch_size=32,
            seed=seed * 1000 + epoch,
        )
        if record:
            drift.append(
                max(
                    float(np.max(np.abs(a - b)))
                    for a, b in zip(_column_means(model), start, strict=True)
                )
            )
    return model, drift, accuracy(model, x_val, y_val)


@experiment(
    "gradient-centralization",
    "optimization",
    "Gradient centralization keeps each output unit's weights on their initial hyperplane "
    "(their mean never moves) with plain SGD; with Adam only when the update, not the "
    "gradient, is centralized; and it improves accuracy.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option("epochs", int, 10, "epochs", 1, 1000),
        Option("seeds", int, 5, "seeds compared for accuracy", 1, 100),
        Option("sgd_lr", float, 0.05, "SGD learning rate", 0.0, low_open=True),
        Option("adam_lr", float, 1e-3, "Adam learning rate", 0.0, low_open=True),
        Option("hidden", int, 64, "hidden units", 1, 4096),
    ),
    quick={"epochs": 3, "seeds": 3},
    source="001 (gradient centralization with Adam, ε inside the root)",
)
def gradient_centralization(params):
    x, y, x_val, y_val = dataset(params["data"])
    widths = (x.shape[1], params["hidden"], int(y.max()) + 1)
    lr = {"sgd": params["sgd_lr"], "adam": params["adam_lr"]}
    drift = {}
    for label, (kind, mode) in SETTINGS.items():
        _, drift[label], _ = _train(
            kind, mode, x, y, x_val, y_val, widths, 0, params["epochs"], lr, record=True
        )
    accuracies = {}
    for label, mode in (("Adam without GC", None), ("Adam, GC on the gradient", "gradient")):
        accuracies[label] = [
            _train("adam", mode, x, y, x_val, y_val, widths, seed, params["epochs"], lr)[2]
            for seed in range(params["seeds"])
        ]
    means = {k: float(np.mean(v)) for k, v in accuracies.items()}
    stds = {k: float(np.std(v)) for k, v in accuracies.items()}
    final = {k: v[-1] for k, v in drift.items()}
    numbers = {
        "largest_column_mean_change": final,
        "validation_accuracy": accuracies,
        "mean_accuracy": means,
        "std_accuracy": stds,
    }
    gain = means["Adam, GC on the gradient"] - means["Adam without GC"]
    error = float(
        np.sqrt(
            sum(np.var(v, ddof=1) if len(v) > 1 else 0.0 for v in accuracies.values())
            / params["seeds"]
        )
    )
    numbers["accuracy_gain"] = {"difference": gain, "standard_error": error}
    checks = [
        Check(
            "with SGD and GC the column means of every weight matrix do not move",
            final["SGD, GC on the gradient"] < 1e-10,
            f"largest change of a column mean after {params['epochs']} epochs: "
            f"{final['SGD, GC on the gradient']:.1e} (rounding)",
        ),
        Check(
            "with Adam, centralizing the gradient does not keep them (Adam rescales each "
            "coordinate)",
            final["Adam, GC on the gradient"] > 1e-4,
            f"largest change: {final['Adam, GC on the gradient']:.2e}",
        ),
        Check(
            "with Adam, centralizing the update keeps them",
            final["Adam, GC on the update"] < 1e-10,
            f"largest change: {final['Adam, GC on the update']:.1e}",
        ),
        Check(
            "gradient centralization improves validation accuracy",
            gain > 2 * error and params["seeds"] > 1,
            f"Adam over {params['seeds']} seeds: {means['Adam, GC on the gradient']:.4f} ± "
            f"{stds['Adam, GC on the gradient']:.4f} with GC, {means['Adam without GC']:.4f} "
            f"± {stds['Adam without GC']:.4f} without: a difference of {gain:+.4f} against a "
            f"standard error of {error:.4f} (an improvement needs more than two)",
        ),
    ]
    from nablab.viz import PALETTE, new_figure

    figure, (left, right) = new_figure(12, 4.2, 1, 2)
    for i, (label, values) in enumerate(drift.items()):
        left.plot(
            np.arange(1, len(values) + 1),
            np.maximum(values, 1e-17),
            "o-",
            color=PALETTE[i],
            label=label,
        )
    left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("largest change of a column mean (log)")
    left.set_title("Do the weights stay on their hyperplane?")
    left.legend(loc="center right", fontsize=8)
    labels = list(accuracies)
    right.bar(
        range(len(labels)),
        [means[k] for k in labels],
        yerr=[stds[k] for k in labels],
        color=[PALETTE[0], PALETTE[1]],
        capsize=4,
    )
    right.set_xticks(range(len(labels)), labels)
    low = min(min(v) for v in accuracies.values())
    right.set_ylim(max(0.0, low - 0.05), 1.0)
    right.set_xlabel("optimizer setting")
    right.set_ylabel("validation accuracy")
    right.set_title(f"Adam, {params['seeds']} seeds (mean ± std)")
    return numbers, [figure], checks
