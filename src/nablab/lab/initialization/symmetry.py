"""zero-init-symmetry: zero or constant initialization leaves every unit of a layer identical
for good; random initialization breaks the symmetry."""

from __future__ import annotations

import functools
import itertools

import numpy as np

from nablab import init as initializers
from nablab import nn, optim
from nablab.lab.common import DATASETS, accuracy, dataset
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import Diagnostics, fit


def _network(widths, init, activation, seed):
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = []
    pairs = list(itertools.pairwise(widths))
    for index, (a, b) in enumerate(pairs):
        layers.append(nn.Linear(a, b, init=init, rng=rng, dtype=np.float64))  # biases 0
        if index < len(pairs) - 1:
            layers.append(nn.activation(activation))
    return nn.Sequential(*layers)


def _units(layer: nn.Linear) -> np.ndarray:
    """One row per unit: its incoming weights and its bias."""
    return np.concatenate([layer.weight.data, layer.bias.data[None, :]]).T


def _spread(layer: nn.Linear) -> float:
    """The largest difference between any unit and the first: 0 when all are identical."""
    units = _units(layer)
    return float(np.max(np.abs(units - units[0])))


def _closest(layer: nn.Linear) -> float:
    """The smallest distance between two different units."""
    units = _units(layer)
    d = np.linalg.norm(units[:, None, :] - units[None, :, :], axis=2)
    return float(np.min(d[~np.eye(len(units), dtype=bool)]))


def _one_unit(model: nn.Sequential, activation: str) -> nn.Sequential:
    """The network with one unit per hidden layer that computes what ``model`` computes when
    its units are identical: unit 0 of each layer, its outgoing weight times the layer width."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    layers: list[nn.Module] = []
    fan = 1
    for index, layer in enumerate(linears):
        last = index == len(linears) - 1
        out = layer.out_features if last else 1
        single = nn.Linear(layer.in_features if index == 0 else 1, out, dtype=np.float64)
        rows = layer.weight.data if index == 0 else layer.weight.data[:1] * fan
        single.weight.data = rows[:, :out]
        single.bias.data = layer.bias.data[:out]
        layers.append(single)
        if not last:
            layers.append(nn.activation(activation))
        fan = layer.out_features
    return nn.Sequential(*layers)


@experiment(
    "zero-init-symmetry",
    "initialization",
    "With zero or constant initialization every unit of a layer gets the same gradient and "
    "stays identical to the others (exactly, in float64), so the network computes what one "
    "unit per layer computes and cannot learn; random initialization breaks the symmetry. "
    "nablab's Diagnostics name the identical units.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option("activation", str, "tanh", "hidden activation", choices=("tanh", "sigmoid")),
        Option("constant", float, 0.1, "the value of the constant initialization"),
        Option("hidden", int, 32, "units of each of the two hidden layers", 2, 1024),
        Option("epochs", int, 20, "epochs", 1, 1000),
        Option("lr", float, 0.05, "SGD learning rate (momentum 0.9)", 0.0, low_open=True),
        Option("seed", int, 0, "seed", 0),
    ),
    quick={"epochs": 5},
    source="004 (zero initialization and the symmetry problem)",
)
def zero_init_symmetry(params):
    x, y, x_val, y_val = dataset(params["data"])
    widths = (x.shape[1], params["hidden"], params["hidden"], int(y.max()) + 1)
    inits = {
        "zeros": "zeros",
        f"constant {params['constant']:g}": functools.partial(
            initializers.constant, value=params["constant"]
        ),
        "random (Xavier)": "xavier_normal",
    }
    results, models = {}, {}
    for label, init in inits.items():
        model = _network(widths, init, params["activation"], params["seed"])
        history = fit(
            model,
            nn.CrossEntropyLoss(),
            optim.SGD(model.parameters(), lr=params["lr"], momentum=0.9),
            (x, y),
            epochs=params["epochs"],
            seed=params["seed"],
            callbacks=[Diagnostics()],
        )
        hidden = [m for m in model if isinstance(m, nn.Linear)][:-1]
        model.eval()
        predictions = model(x_val).argmax(axis=1)
        model.train()
        results[label] = {
            "validation_accuracy": accuracy(model, x_val, y_val),
            "largest_unit_difference": [_spread(layer) for layer in hidden],
            "closest_units": [_closest(layer) for layer in hidden],
            "classes_predicted": len(np.unique(predictions)),
            "findings": [f.kind for f in history.findings],
        }
        models[label] = model
    zero, constant, random = inits
    single = _one_unit(models[constant], params["activation"])
    models[constant].eval()
    one_unit_gap = float(np.max(np.abs(single(x_val) - models[constant](x_val))))
    results[constant]["one_unit_network_difference"] = one_unit_gap
    numbers = {"runs": results}
    acc = {k: v["validation_accuracy"] for k, v in results.items()}
    checks = [
        Check(
            "with zero initialization every hidden layer's units stay identical",
            all(d == 0 for d in results[zero]["largest_unit_difference"]),
            f"largest difference between units after {params['epochs']} epochs, per hidden "
            f"layer: {', '.join(f'{d:.1e}' for d in results[zero]['largest_unit_difference'])}",
        ),
        Check(
            "with constant initialization too",
            all(d == 0 for d in results[constant]["largest_unit_difference"]),
            f"per hidden layer: "
            f"{', '.join(f'{d:.1e}' for d in results[constant]['largest_unit_difference'])}",
        ),
        Check(
            "a network of identical units computes what one unit per layer computes",
            one_unit_gap < 1e-10,
            f"largest difference between the constant-initialized network's logits and a "
            f"network of one unit per layer (outgoing weights × width): {one_unit_gap:.1e}",
        ),
        Check(
            "the zero-initialized network cannot learn: it predicts one class for every input",
            results[zero]["classes_predicted"] == 1,
            f"classes predicted on the validation set: {results[zero]['classes_predicted']}; "
            f"validation accuracy {acc[zero]:.3f} (only the output bias learns: the hidden "
            f"units output {params['activation']}(0) and get no gradient)",
        ),
        Check(
            "random initialization breaks the symmetry and learns better than either",
            min(results[random]["closest_units"]) > 1e-6
            and acc[random] > max(acc[zero], acc[constant]),
            f"closest two units: {min(results[random]['closest_units']):.2f}; validation "
            f"accuracy {acc[random]:.3f} against {acc[zero]:.3f} (zeros) and "
            f"{acc[constant]:.3f} (constant)",
        ),
        Check(
            "Diagnostics report identical units for the symmetric runs and not for the random",
            "identical_units" in results[zero]["findings"]
            and "identical_units" in results[constant]["findings"]
            and "identical_units" not in results[random]["findings"],
            "; ".join(
                f"{k}: {', '.join(v['findings']) or 'no findings'}" for k, v in results.items()
            ),
        ),
    ]
    return numbers, [_draw(models, results, params)], checks


def _draw(models, results, params):
    from nablab.viz import new_figure

    labels = list(models)
    figure, axes = new_figure(13, 4.4, 1, len(labels), squeeze=False)
    for ax, label in zip(axes[0], labels, strict=True):
        weight = models[label][0].weight.data
        limit = float(np.max(np.abs(weight))) or 1.0  # all zero: any range shows it
        image = ax.imshow(
            weight.T, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest"
        )
        ax.grid(False)
        ax.set_title(f"{label}: accuracy {results[label]['validation_accuracy']:.2f}", fontsize=9)
        ax.set_xlabel("input pixel")
        ax.set_ylabel("hidden unit of layer 1")
        figure.colorbar(image, ax=ax, shrink=0.8, label="weight")
    figure.suptitle(
        f"First-layer weights after {params['epochs']} epochs ({params['activation']}): identical "
        "rows are identical units"
    )
    return figure
