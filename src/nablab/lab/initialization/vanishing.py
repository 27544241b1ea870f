"""vanishing-gradients: each layer's weight-gradient norm through a deep network, for sigmoid,
tanh and ReLU."""

from __future__ import annotations

import numpy as np

from nablab import data as datasets
from nablab import nn
from nablab.lab.common import DATASETS, dataset, mlp
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option

SETUPS = {"sigmoid": "xavier_normal", "tanh": "xavier_normal", "relu": "he_normal"}


def _gradient_norms(activation, init, x, y, params):
    """Per layer, the norm of dL/dW averaged over mini-batches and seeds, and the mean of the
    activation's derivative in each hidden layer."""
    widths = (x.shape[1], *[params["width"]] * params["depth"], int(y.max()) + 1)
    loss = nn.CrossEntropyLoss()
    norms, slopes = [], []
    outputs: list[tuple[nn.Module, np.ndarray]] = []
    for seed in range(params["seeds"]):
        model = mlp(widths, seed, activation=activation, init=init, output_init=None)
        handles = [
            m.register_forward_hook(lambda m, i, o: outputs.append((m, o)))
            for m in model
            if not isinstance(m, nn.Linear)
        ]
        rng = np.random.default_rng(seed)
        for xb, yb in datasets.batches(x, y, params["batch_size"], rng=rng):
            outputs.clear()
            model.zero_grad()
            loss(model(xb), yb)
            model.backward_params(loss.backward())
            norms.append([np.linalg.norm(m.weight.grad) for m in model if isinstance(m, nn.Linear)])
            # each activation's derivative, from its own backward of a gradient of ones
            slopes.append([float(np.mean(m.backward(np.ones_like(o)))) for m, o in outputs])
            if len(norms) % params["batches"] == 0:
                break
        for handle in handles:
            handle.remove()
    return np.mean(norms, axis=0), np.mean(slopes, axis=0)


@experiment(
    "vanishing-gradients",
    "initialization",
    "Backpropagation multiplies by the activation's derivative at every layer, and σ′ ≤ ¼, so "
    "in a deep sigmoid network the gradient shrinks by orders of magnitude on its way to the "
    "first layer; tanh (tanh′ ≤ 1) loses less, and ReLU with He initialization keeps it "
    "roughly constant.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option("depth", int, 10, "hidden layers", 2, 100),
        Option("width", int, 64, "units per hidden layer", 2, 4096),
        Option("batches", int, 5, "mini-batches averaged per seed", 1, 1000),
        Option("batch_size", int, 64, "mini-batch size", 1, 100000),
        Option("seeds", int, 3, "seeds", 1, 100),
    ),
    quick={"seeds": 2, "batches": 3},
    source="004 (sigmoid and vanishing gradients, σ′ ≤ ¼)",
)
def vanishing_gradients(params):
    x, y, _, _ = dataset(params["data"])
    norms, slopes = {}, {}
    for activation, init in SETUPS.items():
        norms[activation], slopes[activation] = _gradient_norms(activation, init, x, y, params)
    grid = np.linspace(-8, 8, 16001)
    sigmoid = nn.Sigmoid()
    sigmoid(grid[None, :])
    derivative = sigmoid.backward(np.ones((1, grid.size)))[0]
    peak = float(derivative.max())
    ratio = {a: float(v[0] / v[-1]) for a, v in norms.items()}
    per_layer = {a: float(ratio[a] ** (1 / (params["depth"]))) for a in norms}
    numbers = {
        "gradient_norms_first_to_last": {a: list(v) for a, v in norms.items()},
        "first_over_last": ratio,
        "mean_factor_per_layer": per_layer,
        "mean_derivative_per_hidden_layer": {a: list(v) for a, v in slopes.items()},
        "largest_sigmoid_derivative": peak,
        "at": float(grid[derivative.argmax()]),
    }
    checks = [
        Check(
            "σ′(z) = σ(z)(1 − σ(z)) is at most ¼, reached at z = 0",
            peak == 0.25 and grid[derivative.argmax()] == 0,
            f"largest σ′ on a grid of 16001 points in [−8, 8]: {peak} at z = "
            f"{grid[derivative.argmax()]:g}; measured mean σ′ per hidden layer "
            f"{min(slopes['sigmoid']):.3f}…{max(slopes['sigmoid']):.3f}",
        ),
        Check(
            "with sigmoid the first layer's gradient is orders of magnitude (over 100×) smaller "
            "than the last layer's",
            ratio["sigmoid"] < 1e-2,
            f"‖dL/dW₁‖ / ‖dL/dW_last‖ = {ratio['sigmoid']:.1e} over {params['depth'] + 1} layers "
            f"(×{per_layer['sigmoid']:.2f} per layer)",
        ),
        Check(
            "tanh loses less of the gradient than sigmoid",
            ratio["tanh"] > ratio["sigmoid"],
            f"first/last: tanh {ratio['tanh']:.1e}, sigmoid {ratio['sigmoid']:.1e}",
        ),
        Check(
            "ReLU with He initialization keeps the first layer's gradient within a factor of 10 "
            "of the last layer's",
            0.1 <= ratio["relu"] <= 10,
            f"first/last: {ratio['relu']:.2f}",
        ),
    ]
    return numbers, [_draw(norms, grid, derivative, params)], checks


def _draw(norms, grid, derivative, params):
    from nablab.viz import PALETTE, new_figure

    figure, (left, right) = new_figure(12, 4.2, 1, 2, width_ratios=(1.4, 1))
    for i, (activation, values) in enumerate(norms.items()):
        layers = np.arange(1, len(values) + 1)
        left.plot(
            layers,
            values,
            "o-",
            color=PALETTE[i],
            label=f"{activation} ({SETUPS[activation].split('_')[0]} init)",
        )
    left.set_yscale("log")
    left.set_xlabel("layer (1 = next to the input)")
    left.set_ylabel("‖dL/dW‖ at initialization (log)")
    left.set_title(
        f"{params['depth']} hidden layers of {params['width']} units on {params['data']}"
    )
    left.legend(loc="lower right", fontsize=8)
    right.plot(grid, derivative, color=PALETTE[0], label="σ′(z) = σ(z)(1 − σ(z))")
    right.plot(grid, 1 - np.tanh(grid) ** 2, color=PALETTE[1], label="tanh′(z) = 1 − tanh²(z)")
    right.axhline(0.25, color=PALETTE[7], lw=0.8, ls="--", label="¼")
    right.set_xlabel("pre-activation z")
    right.set_ylabel("derivative")
    right.set_title("What each layer multiplies the gradient by")
    right.legend(loc="upper right", fontsize=8)
    return figure
