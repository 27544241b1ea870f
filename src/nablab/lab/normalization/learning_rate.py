"""batchnorm-learning-rate: validation accuracy against the learning rate of plain SGD, with and
without BatchNorm in every hidden layer."""

from __future__ import annotations

import math

import numpy as np

from nablab import nn, optim
from nablab.lab.common import DATASETS, dataset, difference, legend_outside, mlp
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import fit

KINDS = {"plain": None, "BatchNorm": "batch"}


def _run(kind, lr, seed, data, params):
    x, y, x_val, y_val = data
    widths = (x.shape[1], *[params["hidden"]] * params["depth"], int(y.max()) + 1)
    model = mlp(widths, seed, norm=KINDS[kind])
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=lr),
        (x, y),
        (x_val, y_val),
        epochs=params["epochs"],
        batch_size=params["batch_size"],
        seed=seed,
    )
    last = history.last
    final = last.get("train_loss", math.nan)
    chance = 1.0 / (int(y.max()) + 1)
    failed = (
        bool(history.stopped)
        or not math.isfinite(final)
        or final > history.step_loss[0]
        or last["val_acc"] <= chance + 0.1
    )
    return {"val_acc": float(last["val_acc"] or 0.0), "failed": failed}


@experiment(
    "batchnorm-learning-rate",
    "normalization",
    "BatchNorm lets a network train at learning rates at which the same network without it "
    "diverges or learns nothing, so good rates span a wider range, and at its best rate it "
    "learns faster.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option(
            "lrs", list, (0.01, 0.03, 0.1, 0.3, 1.0, 3.0), "SGD learning rates", 0.0, low_open=True
        ),
        Option("epochs", int, 8, "epochs per run", 1, 1000),
        Option("seeds", int, 3, "seeds per setting", 1, 50),
        Option("depth", int, 3, "hidden layers", 1, 20),
        Option("hidden", int, 64, "units per hidden layer", 1, 4096),
        Option("batch_size", int, 32, "mini-batch size", 2, 100000),
    ),
    quick={"epochs": 3, "seeds": 2, "lrs": (0.03, 0.3, 1.0, 3.0)},
    source="002 (BatchNorm allows higher learning rates and speeds up training)",
)
def batchnorm_learning_rate(params):
    data = dataset(params["data"])
    lrs, seeds = params["lrs"], range(params["seeds"])
    runs = {
        kind: {lr: [_run(kind, lr, s, data, params) for s in seeds] for lr in lrs} for kind in KINDS
    }
    mean = {
        k: {lr: float(np.mean([r["val_acc"] for r in runs[k][lr]])) for lr in lrs} for k in KINDS
    }
    failed = {k: {lr: sum(r["failed"] for r in runs[k][lr]) for lr in lrs} for k in KINDS}
    best = max(max(v.values()) for v in mean.values())
    good = {k: [lr for lr in lrs if mean[k][lr] >= best - 0.05] for k in KINDS}
    rescued = [
        lr for lr in lrs if failed["plain"][lr] == params["seeds"] and failed["BatchNorm"][lr] == 0
    ]
    best_lr = {k: max(lrs, key=lambda lr, k=k: mean[k][lr]) for k in KINDS}
    at_best = {k: [r["val_acc"] for r in runs[k][best_lr[k]]] for k in KINDS}
    gain, error = difference(at_best["BatchNorm"], at_best["plain"])
    numbers = {
        "mean_validation_accuracy": {
            k: {f"{lr:g}": v for lr, v in m.items()} for k, m in mean.items()
        },
        "failed_runs": {k: {f"{lr:g}": v for lr, v in f.items()} for k, f in failed.items()},
        "good_rates": {k: list(v) for k, v in good.items()},
        "best_rate": best_lr,
        "gain_at_best_rate": {"difference": gain, "standard_error": error},
    }

    def listing(k):
        return ", ".join(
            f"{lr:g}: {mean[k][lr]:.3f}" + (f" ({failed[k][lr]} failed)" if failed[k][lr] else "")
            for lr in lrs
        )

    checks = [
        Check(
            "BatchNorm trains at rates where the plain network fails",
            bool(rescued),
            f"rates at which every plain run diverged or stayed within 10 points of chance and "
            f"no BatchNorm run did: "
            f"{', '.join(f'{lr:g}' for lr in rescued) or 'none'} (mean validation accuracy "
            f"plain {listing('plain')}; BatchNorm {listing('BatchNorm')})",
        ),
        Check(
            "good learning rates (within 5 points of the best accuracy) span a wider range "
            "with BatchNorm",
            len(good["BatchNorm"]) > len(good["plain"]),
            f"good rates: BatchNorm {', '.join(f'{lr:g}' for lr in good['BatchNorm']) or 'none'}"
            f"; plain {', '.join(f'{lr:g}' for lr in good['plain']) or 'none'} (best accuracy "
            f"{best:.3f})",
        ),
        Check(
            f"at its best rate, BatchNorm reaches a higher validation accuracy after "
            f"{params['epochs']} epochs",
            gain > 2 * error and params["seeds"] > 1,
            f"BatchNorm at lr {best_lr['BatchNorm']:g}: {np.mean(at_best['BatchNorm']):.4f}, "
            f"plain at lr {best_lr['plain']:g}: {np.mean(at_best['plain']):.4f} over "
            f"{params['seeds']} seeds: a difference of {gain:+.4f} against a standard error of "
            f"{error:.4f} (more than two needed)",
        ),
    ]
    from nablab.viz import PALETTE, new_figure

    figure, ax = new_figure(8.5, 4.2)
    for i, kind in enumerate(KINDS):
        values = [mean[kind][lr] for lr in lrs]
        ax.plot(lrs, values, "o-", color=PALETTE[i], label=kind)
        for lr, v in zip(lrs, values, strict=True):
            if failed[kind][lr]:
                ax.plot([lr], [v], "x", color=PALETTE[5], ms=9)
    ax.plot([], [], "x", color=PALETTE[5], label="a seed diverged or learned nothing")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("learning rate (SGD, log scale)")
    ax.set_ylabel(f"validation accuracy after {params['epochs']} epochs")
    ax.set_title(
        f"{params['depth']} hidden layers of {params['hidden']} ReLU units on {params['data']} "
        f"(mean of {params['seeds']} seeds)"
    )
    legend_outside(ax)
    return numbers, [figure], checks
