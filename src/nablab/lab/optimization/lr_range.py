"""lr-range-test: Leslie Smith's range test suggests a learning rate; short runs at the
suggestion, a tenth of it and ten times it show whether the suggestion was right."""

from __future__ import annotations

import numpy as np

from nablab import nn
from nablab.lab.common import DATASETS, dataset, mlp
from nablab.lab.experiment import Check, experiment
from nablab.optim import lr_range_test
from nablab.optim.registry import make_optimizer
from nablab.registry import Option
from nablab.train import evaluate, fit


@experiment(
    "lr-range-test",
    "optimization",
    "Each of the learning-rate range test's suggestions (the valley: the middle of the longest "
    "descent of the smoothed loss; and the point of steepest descent) trains better in a short "
    "run than a rate ten times smaller or ten times larger.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option(
            "optimizer",
            str,
            "momentum",
            "the optimizer tested",
            choices=("sgd", "momentum", "adam", "rmsprop"),
        ),
        Option("iterations", int, 100, "range-test steps", 10, 10000),
        Option("epochs", int, 5, "epochs of each short run", 1, 1000),
        Option("hidden", int, 64, "hidden units", 1, 4096),
        Option("seed", int, 0, "seed", 0),
    ),
    quick={"iterations": 60, "epochs": 2},
    source="Smith (2017), Cyclical learning rates; the range test of nablab.optim",
)
def lr_range(params):
    x, y, x_val, y_val = dataset(params["data"])
    widths = (x.shape[1], params["hidden"], int(y.max()) + 1)
    loss = nn.CrossEntropyLoss()
    probe = mlp(widths, params["seed"])
    test = lr_range_test(
        probe,
        loss,
        make_optimizer(params["optimizer"], probe.parameters(), lr=1e-3),
        (x, y),
        start_lr=1e-5,
        end_lr=10.0,
        num_iter=params["iterations"],
        batch_size=32,
        rng=params["seed"],
    )
    curves, finals, rates = {}, {}, {}
    checks = []
    for name, suggestion in (("valley", test.valley), ("steepest", test.steepest)):
        trio = {f"{name} ÷ 10": suggestion / 10, name: suggestion, f"{name} × 10": suggestion * 10}
        for label, lr in trio.items():
            model = mlp(widths, params["seed"])
            history = fit(
                model,
                loss,
                make_optimizer(params["optimizer"], model.parameters(), lr=lr),
                (x, y),
                (x_val, y_val),
                epochs=params["epochs"],
                batch_size=32,
                seed=params["seed"],
            )
            curves[label] = history.column("val_loss")
            finals[label] = (
                float(evaluate(model, loss, x_val, y_val)[0])
                if not history.stopped
                else float("inf")
            )
        rates.update(trio)
        best = min(trio, key=finals.get)
        checks.append(
            Check(
                f"the {name} suggestion trains better than a tenth of it and ten times it",
                best == name,
                f"validation loss after {params['epochs']} epochs: "
                + ", ".join(f"{k} (lr {trio[k]:.3g}) {finals[k]:.4g}" for k in trio),
            )
        )
    numbers = {
        "steepest": test.steepest,
        "valley": test.valley,
        "stopped_early": test.stopped_early,
        "rates": rates,
        "final_validation_loss": finals,
    }
    from nablab.viz import PALETTE, new_figure

    figure, (left, right) = new_figure(12, 4.2, 1, 2)
    test.plot(left)
    left.set_title(f"Range test ({params['optimizer']}, {params['iterations']} steps)")
    for i, (label, values) in enumerate(curves.items()):
        epochs = np.arange(1, len(values) + 1)
        right.plot(
            epochs,
            [np.nan if v is None else v for v in values],
            "o-" if i < 3 else "s--",
            color=PALETTE[i % 3],
            label=f"{label}: lr {rates[label]:.3g}",
        )
    right.set_yscale("log")
    right.set_xlabel("epoch")
    right.set_ylabel("validation loss (log scale)")
    right.set_title("Short runs at each suggestion and ×0.1, ×10")
    right.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    return numbers, [figure], checks
