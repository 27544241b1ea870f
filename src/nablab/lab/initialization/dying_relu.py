"""dying-relu: the share of ReLU units that never fire, against the learning rate and the
initial bias, with LeakyReLU alongside."""

from __future__ import annotations

import math

import numpy as np

from nablab import nn, optim
from nablab.lab.common import DATASETS, accuracy, dataset, difference, mlp
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import fit


def _dead_share(model: nn.Sequential, x: np.ndarray) -> float:
    """The share of hidden units whose activation passes no gradient for any sample of ``x``
    (a ReLU that never fires), recorded through forward hooks in eval mode."""
    alive: list[np.ndarray] = []

    def record(module, inputs, outputs):
        slope = module.backward(np.ones_like(outputs))  # the derivative at every sample
        alive.append((slope != 0).any(axis=0))

    hidden = [m for m in model if isinstance(m, nn.ReLU | nn.LeakyReLU)]
    handles = [m.register_forward_hook(record) for m in hidden]
    model.eval()
    model(x)
    model.train()
    for handle in handles:
        handle.remove()
    return 1.0 - float(np.concatenate(alive).mean())


def _run(activation, lr, bias, seed, data, params):
    x, y, x_val, y_val = data
    widths = (x.shape[1], *[params["width"]] * params["depth"], int(y.max()) + 1)
    model = mlp(widths, seed, activation=activation, bias=bias)
    at_start = _dead_share(model, x)
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=lr),
        (x, y),
        epochs=params["epochs"],
        seed=seed,
    )
    final = history.last.get("train_loss", math.nan)
    if history.stopped or not math.isfinite(final):
        return {"diverged": True, "dead_at_start": at_start, "dead": math.nan, "accuracy": 0.0}
    return {
        "diverged": False,
        "dead_at_start": at_start,
        "dead": _dead_share(model, x),
        "accuracy": accuracy(model, x_val, y_val),
    }


@experiment(
    "dying-relu",
    "initialization",
    "A ReLU unit whose input stays negative for every sample gives zero output and zero "
    "gradient and never recovers: such dead units grow with the learning rate and with a "
    "negative initial bias; LeakyReLU (slope 0.01 below 0) has none.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option("lrs", list, (0.01, 0.1, 1.0), "SGD learning rates (bias 0)", 0.0, low_open=True),
        Option("biases", list, (0.0, -1.0, -3.0), "initial hidden biases (at lr_bias)"),
        Option("lr_bias", float, 0.1, "learning rate of the bias sweep", 0.0, low_open=True),
        Option("epochs", int, 10, "epochs", 1, 1000),
        Option("depth", int, 3, "hidden layers", 1, 20),
        Option("width", int, 64, "units per hidden layer", 1, 4096),
        Option("seeds", int, 3, "seeds", 1, 50),
    ),
    quick={"epochs": 3},
    source="004 (dying ReLU; LeakyReLU)",
)
def dying_relu(params):
    data = dataset(params["data"])
    lrs, biases, seeds = params["lrs"], params["biases"], range(params["seeds"])
    # ReLU over the whole grid; LeakyReLU at its hardest points (the largest rate, the most
    # negative bias)
    by_lr = {
        "relu": {lr: [_run("relu", lr, 0.0, s, data, params) for s in seeds] for lr in lrs},
        "leaky_relu": {
            max(lrs): [_run("leaky_relu", max(lrs), 0.0, s, data, params) for s in seeds]
        },
    }
    by_bias = {
        "relu": {
            b: [_run("relu", params["lr_bias"], b, s, data, params) for s in seeds] for b in biases
        },
        "leaky_relu": {
            min(biases): [
                _run("leaky_relu", params["lr_bias"], min(biases), s, data, params) for s in seeds
            ]
        },
    }

    def dead(runs):
        return [r["dead"] for r in runs if not r["diverged"]]

    def mean(values):
        return float(np.mean(values)) if values else math.nan

    usable = [lr for lr in lrs if len(dead(by_lr["relu"][lr])) >= min(2, params["seeds"])]
    low_lr, high_lr = usable[0], usable[-1]
    lr_gain, lr_error = difference(dead(by_lr["relu"][high_lr]), dead(by_lr["relu"][low_lr]))
    low_b, high_b = min(biases), max(biases)
    b_gain, b_error = difference(dead(by_bias["relu"][low_b]), dead(by_bias["relu"][high_b]))
    leaky = [
        r["dead"]
        for runs in (*by_lr["leaky_relu"].values(), *by_bias["leaky_relu"].values())
        for r in runs
        if not r["diverged"]
    ]
    numbers = {
        "dead_share_by_lr": {
            a: {f"{lr:g}": mean(dead(runs)) for lr, runs in v.items()} for a, v in by_lr.items()
        },
        "diverged_by_lr": {
            a: {f"{lr:g}": sum(r["diverged"] for r in runs) for lr, runs in v.items()}
            for a, v in by_lr.items()
        },
        "dead_share_by_bias": {
            a: {f"{b:g}": mean(dead(runs)) for b, runs in v.items()} for a, v in by_bias.items()
        },
        "dead_share_at_start_by_bias": {
            a: {f"{b:g}": mean([r["dead_at_start"] for r in runs]) for b, runs in v.items()}
            for a, v in by_bias.items()
        },
        "accuracy_by_bias": {
            a: {f"{b:g}": mean([r["accuracy"] for r in runs]) for b, runs in v.items()}
            for a, v in by_bias.items()
        },
    }
    relu_lr = numbers["dead_share_by_lr"]["relu"]
    relu_b = numbers["dead_share_by_bias"]["relu"]
    start_b = numbers["dead_share_at_start_by_bias"]["relu"]
    acc_b = numbers["accuracy_by_bias"]
    checks = [
        Check(
            "dead ReLU units grow with the learning rate",
            lr_gain > 2 * lr_error and params["seeds"] > 1,
            "dead share after training: "
            + ", ".join(f"lr {k}: {v:.1%}" for k, v in relu_lr.items())
            + f"; lr {high_lr:g} against {low_lr:g}: {lr_gain:+.1%} ± {lr_error:.1%}"
            + "".join(
                f"; {n} of {params['seeds']} runs at lr {lr} diverged (left out"
                + (", too few left to compare" if float(lr) not in usable else "")
                + ")"
                for lr, n in numbers["diverged_by_lr"]["relu"].items()
                if n
            ),
        ),
        Check(
            "dead ReLU units grow as the initial bias gets more negative",
            b_gain > 2 * b_error and params["seeds"] > 1,
            "dead share at the start → after training: "
            + ", ".join(f"b = {k}: {start_b[k]:.0%} → {v:.0%}" for k, v in relu_b.items())
            + f"; b = {low_b:g} against {high_b:g}: {b_gain:+.1%} ± {b_error:.1%}",
        ),
        Check(
            "LeakyReLU has no dead units (every unit passes gradient for some sample)",
            bool(leaky) and max(leaky) == 0.0,
            f"largest dead share over every LeakyReLU run: {max(leaky) if leaky else math.nan:.1%}"
            f"; validation accuracy at b = {low_b:g}: LeakyReLU "
            f"{acc_b['leaky_relu'][f'{low_b:g}']:.3f}, ReLU {acc_b['relu'][f'{low_b:g}']:.3f}",
        ),
    ]
    return numbers, [_draw(numbers, lrs, biases, params)], checks


def _draw(numbers, lrs, biases, params):
    from nablab.viz import PALETTE, new_figure

    figure, (left, right) = new_figure(12, 4.2, 1, 2, sharey=True)
    names = {"relu": "ReLU", "leaky_relu": "LeakyReLU (0.01)"}
    for i, activation in enumerate(names):
        rates = numbers["dead_share_by_lr"][activation]
        left.plot(
            [float(k) for k in rates],
            list(rates.values()),
            "o-" if i == 0 else "D",
            color=PALETTE[i],
            label=names[activation],
        )
        shares = numbers["dead_share_by_bias"][activation]
        right.plot(
            [float(k) for k in shares],
            list(shares.values()),
            "o-" if i == 0 else "D",
            color=PALETTE[i],
            label=f"{names[activation]}, after training",
        )
    right.plot(
        biases,
        [numbers["dead_share_at_start_by_bias"]["relu"][f"{b:g}"] for b in biases],
        "s--",
        color=PALETTE[0],
        alpha=0.6,
        label="ReLU, at the start",
    )
    notes = [
        f"{names[a]} at lr {lr}: {n} of {params['seeds']} runs diverged"
        for a, counts in numbers["diverged_by_lr"].items()
        for lr, n in counts.items()
        if n
    ]
    if notes:
        left.text(
            0.02, 0.75, "\n".join(notes), transform=left.transAxes, fontsize=8, color=PALETTE[5]
        )
    left.set_xscale("log")
    left.set_xlabel("SGD learning rate (initial bias 0; log scale)")
    left.set_ylabel("share of hidden units that never fire")
    left.set_title(f"After {params['epochs']} epochs, mean of {params['seeds']} seeds")
    left.legend(loc="upper left", fontsize=8)
    right.set_xlabel(f"initial hidden bias (learning rate {params['lr_bias']:g})")
    right.set_title("Negative biases start units dead")
    right.legend(loc="upper right", fontsize=8)
    return figure
