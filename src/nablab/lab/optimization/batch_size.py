"""batch-size-noise: a mini-batch gradient's variance falls as 1/m (times the finite-population
factor); small batches need fewer passes over the data, large ones fewer steps."""

from __future__ import annotations

import itertools
import time

import numpy as np

from nablab import nn, optim
from nablab.lab.common import DATASETS, accuracy, dataset, mlp
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import fit


def per_sample_gradients(model: nn.Module, loss: nn.Loss, x: np.ndarray, y: np.ndarray):
    """The (N, P) matrix of every sample's gradient, one forward/backward per sample."""
    rows = []
    for i in range(len(x)):
        model.zero_grad()
        loss(model(x[i : i + 1]), y[i : i + 1])
        model.backward_params(loss.backward())
        rows.append(np.concatenate([p.grad.ravel() for p in model.parameters()]))
    return np.array(rows)


@experiment(
    "batch-size-noise",
    "optimization",
    "The variance of a mini-batch gradient falls as 1/m: E‖g_m − g‖² = (σ²/m)·(N − m)/(N − 1) "
    "for batches of m drawn without replacement from N samples; smaller batches reach a "
    "target accuracy in fewer passes over the data, larger ones in fewer steps.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option(
            "sizes",
            list,
            (1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            "batch sizes m",
            low=1,
            item_kind=int,
        ),
        Option("draws", int, 2000, "mini-batches drawn per size", 10, 100000),
        Option("train_sizes", list, (8, 32, 128, 512), "batch sizes trained", low=1, item_kind=int),
        Option("target", float, 0.95, "training accuracy to reach", 0.0, 1.0),
        Option("epochs", int, 200, "most epochs per training run", 1, 10000),
        Option("lr", float, 0.05, "SGD learning rate", 0.0, low_open=True),
        Option("seed", int, 0, "seed", 0),
    ),
    quick={"draws": 600, "sizes": (1, 4, 16, 64, 256, 512), "train_sizes": (16, 128), "epochs": 40},
    source="001 (mini-batch loss noise); 003 (mini-batch size trade-offs)",
)
def batch_size_noise(params):
    x, y, _, _ = dataset(params["data"])
    widths = (x.shape[1], 32, int(y.max()) + 1)
    loss = nn.CrossEntropyLoss()
    model = mlp(widths, params["seed"])
    rng = np.random.default_rng(params["seed"])
    grads = per_sample_gradients(model, loss, x, y)
    n = len(grads)
    full = grads.mean(axis=0)
    sigma2 = float(np.mean(np.sum((grads - full) ** 2, axis=1)))
    measured, predicted, spread = {}, {}, {}
    for m in params["sizes"]:
        m = int(min(m, n))
        errors = np.array(
            [
                np.sum((grads[rng.choice(n, m, replace=False)].mean(0) - full) ** 2)
                for _ in range(params["draws"])
            ]
        )
        measured[m] = float(errors.mean())
        predicted[m] = sigma2 / m * (n - m) / (n - 1)
        spread[m] = float(errors.std() / np.sqrt(len(errors)) / errors.mean())
    deviation = {m: measured[m] / predicted[m] - 1 for m in measured}
    without_factor = {m: measured[m] / (sigma2 / m) - 1 for m in measured}
    # four standard errors of each Monte Carlo mean (heavy-tailed per-sample gradients make
    # small batches noisy; at large m the error is a few percent)
    within = {m: abs(deviation[m]) < 4 * spread[m] for m in measured}
    # training to a target accuracy with each batch size
    runs, timings = {}, {}
    for m in params["train_sizes"]:
        net = mlp(widths, params["seed"])
        opt = optim.SGD(net.parameters(), lr=params["lr"])
        reached = None
        started = time.perf_counter()
        history = None
        for epoch in range(1, params["epochs"] + 1):
            history = fit(
                net, loss, opt, (x, y), epochs=1, batch_size=int(m), seed=params["seed"] + epoch
            )
            if accuracy(net, x, y) >= params["target"]:
                reached = epoch
                break
        timings[m] = time.perf_counter() - started
        steps_per_epoch = -(-n // int(m))
        runs[m] = {
            "epochs_to_target": reached,
            "steps_to_target": None if reached is None else reached * steps_per_epoch,
            "final_train_loss": history.last["train_loss"] if history else None,
        }
    reached = {m: r for m, r in runs.items() if r["epochs_to_target"] is not None}
    ordered = sorted(reached)
    passes = [reached[m]["epochs_to_target"] for m in ordered]
    steps = [reached[m]["steps_to_target"] for m in ordered]
    largest = max(measured)
    numbers = {
        "N": n,
        "sigma2": sigma2,
        "measured": measured,
        "predicted": predicted,
        "relative_deviation": deviation,
        "monte_carlo_relative_standard_error": spread,
        "deviation_without_the_finite_population_factor": without_factor,
        "training": runs,
    }
    checks = [
        Check(
            "E‖g_m − g‖² = (σ²/m)(N − m)/(N − 1)",
            all(within.values()),
            f"{params['draws']} draws per size: every measured mean is within four Monte "
            f"Carlo standard errors of the formula (deviations "
            + ", ".join(f"m = {m}: {deviation[m]:+.1%} ± {spread[m]:.1%}" for m in measured)
            + f"); σ² = {sigma2:.4g}, N = {n};"
            f" without the factor (N − m)/(N − 1) the error at m = {largest} would be "
            f"{without_factor[largest]:.0%}",
        ),
        Check(
            "smaller batches need fewer passes, larger batches fewer steps",
            len(ordered) == len(runs)
            and len(ordered) >= 2
            and all(a <= b for a, b in itertools.pairwise(passes))
            and all(a >= b for a, b in itertools.pairwise(steps)),
            "to reach {:.0%} training accuracy: ".format(params["target"])
            + ", ".join(
                f"m = {m}: {runs[m]['epochs_to_target']} epochs, {runs[m]['steps_to_target']} steps"
                for m in runs
            ),
        ),
    ]
    from nablab.viz import PALETTE, new_figure

    figure, (left, right) = new_figure(12, 4.2, 1, 2)
    sizes = np.array(sorted(measured))
    left.plot(sizes, [measured[m] for m in sizes], "o", color=PALETTE[0], label="measured")
    left.plot(
        sizes,
        [predicted[m] for m in sizes],
        "-",
        color=PALETTE[7],
        lw=1,
        label="(σ²/m)(N − m)/(N − 1)",
    )
    left.plot(sizes, sigma2 / sizes, ":", color=PALETTE[1], lw=1, label="σ²/m")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("batch size m (log scale)")
    left.set_ylabel("E‖g_m − g‖² (log scale)")
    left.set_title("Mini-batch gradient noise")
    left.legend(loc="lower left", fontsize=8)
    train_sizes = sorted(runs)
    width = 0.38
    positions = np.arange(len(train_sizes))
    right.bar(
        positions - width / 2,
        [runs[m]["epochs_to_target"] or 0 for m in train_sizes],
        width,
        color=PALETTE[0],
        label="epochs (passes over the data)",
    )
    twin = right.twinx()
    twin.bar(
        positions + width / 2,
        [runs[m]["steps_to_target"] or 0 for m in train_sizes],
        width,
        color=PALETTE[1],
        label="steps",
    )
    right.set_xticks(positions, [str(m) for m in train_sizes])
    right.set_xlabel("batch size")
    right.set_ylabel("epochs to the target")
    twin.set_ylabel("steps to the target")
    right.set_title(f"SGD (lr {params['lr']:g}) to {params['target']:.0%} training accuracy")
    handles = right.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    right.legend(handles, [h.get_label() for h in handles], loc="upper center", fontsize=8)
    return numbers, [figure], checks
