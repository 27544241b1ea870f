"""perceptron-vs-logistic: Rosenblatt's rule and logistic regression on separable blobs and on
XOR, with one hidden layer for contrast."""

from __future__ import annotations

import numpy as np

from nablab import data as datasets
from nablab import nn, optim
from nablab.lab.common import mlp
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import fit

XOR = (np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([0, 1, 1, 0]))


def _logistic(x, t, steps, lr, seed):
    """Logistic regression p = σ(x·w + b) by full-batch gradient descent on the mean binary
    cross-entropy; returns the layer and its final loss."""
    layer = nn.Linear(x.shape[1], 1, rng=seed, dtype=np.float64)
    layer.bias.data = np.random.default_rng(seed + 1).normal(size=1)
    loss = nn.BCEWithLogitsLoss()
    opt = optim.SGD(layer.parameters(), lr=lr)
    target = t[:, None].astype(np.float64)
    value = np.nan
    for _ in range(steps):
        opt.zero_grad()
        value = loss(layer(x), target)
        layer.backward(loss.backward())
        opt.step()
    return layer, float(value)


def _margin(x, t, w, b) -> float:
    """min_i s_i·(x_i·w + b)/‖(w, b)‖ with s = 2t − 1: the margin of the separator (w, b)."""
    s = 2 * t - 1
    return float(np.min(s * (x @ w + b)) / np.linalg.norm(np.r_[w, b]))


@experiment(
    "perceptron-vs-logistic",
    "losses",
    "On linearly separable data Rosenblatt's perceptron stops making mistakes after at most "
    "(R/γ)² updates (Novikoff), and logistic regression separates the data too; on XOR no "
    "linear model can: the perceptron never stops making mistakes and logistic regression "
    "ends at w = 0 (every prediction ½). One hidden layer solves XOR.",
    (
        Option("points", int, 200, "points of the blobs and of the noisy XOR", 4, 10**6),
        Option("epochs", int, 200, "perceptron passes at most", 1, 10**6),
        Option("steps", int, 3000, "gradient-descent steps of logistic regression", 1, 10**7),
        Option("lr", float, 0.5, "logistic regression's learning rate", 0.0, low_open=True),
        Option("seed", int, 0, "seed", 0),
    ),
    quick={"steps": 1500},
    source="004 (perceptron against logistic regression)",
)
def perceptron_vs_logistic(params):
    seed = params["seed"]
    x, t = datasets.blobs(params["points"], noise=1.0, seed=seed, centers=2)
    perceptron = nn.Perceptron(2)
    blob_history = perceptron.fit(x, t, epochs=params["epochs"], seed=seed)
    layer, blob_loss = _logistic(x, t, params["steps"], params["lr"], seed)
    w, b = layer.weight.data[:, 0], float(layer.bias.data[0])
    logistic_right = float(np.mean(((x @ w + b) > 0) == t))
    gamma = _margin(x, t, w, b)
    radius = float(np.max(np.linalg.norm(np.c_[x, np.ones(len(x))], axis=1)))
    bound = (radius / gamma) ** 2 if gamma > 0 else np.inf

    xor_x, xor_t = XOR
    xor_history = nn.Perceptron(2).fit(xor_x, xor_t, epochs=params["epochs"], seed=seed)
    xor_layer, xor_loss = _logistic(xor_x, xor_t, params["steps"], params["lr"], seed)
    xor_size = float(np.linalg.norm(np.r_[xor_layer.weight.data[:, 0], xor_layer.bias.data]))

    four = mlp((2, 8, 2), seed, activation="tanh", init="xavier_normal")
    fit(
        four,
        nn.CrossEntropyLoss(),
        optim.Adam(four.parameters(), lr=0.05),
        XOR,
        epochs=300,
        batch_size=4,
        seed=seed,
    )
    four.eval()
    four_right = float(np.mean(four(xor_x).argmax(axis=1) == xor_t))

    noisy_x, noisy_t = datasets.xor(params["points"], noise=0.1, seed=seed)
    hidden = mlp((2, 8, 2), seed, activation="tanh", init="xavier_normal")
    fit(
        hidden,
        nn.CrossEntropyLoss(),
        optim.Adam(hidden.parameters(), lr=0.03),
        (noisy_x, noisy_t),
        epochs=60,
        batch_size=32,
        seed=seed,
    )
    hidden.eval()
    hidden_right = float(np.mean(hidden(noisy_x).argmax(axis=1) == noisy_t))
    noisy_layer, _ = _logistic(noisy_x, noisy_t, params["steps"], params["lr"], seed)
    noisy_right = float(np.mean(((noisy_layer(noisy_x)[:, 0]) > 0) == noisy_t))
    numbers = {
        "blobs": {
            "perceptron_mistakes_per_pass": blob_history,
            "perceptron_total_mistakes": int(sum(blob_history)),
            "novikoff_bound": bound,
            "margin_of_logistic_separator": gamma,
            "radius": radius,
            "logistic_training_accuracy": logistic_right,
            "logistic_loss": blob_loss,
        },
        "xor_four_points": {
            "perceptron_mistakes_per_pass": xor_history,
            "logistic_weight_and_bias_norm": xor_size,
            "logistic_loss": xor_loss,
            "log_2": float(np.log(2)),
        },
        "one_hidden_layer_on_the_four_points": four_right,
        "noisy_xor": {"logistic_accuracy": noisy_right, "one_hidden_layer_accuracy": hidden_right},
    }
    checks = [
        Check(
            "on separable blobs the perceptron converges within Novikoff's (R/γ)² mistakes",
            blob_history[-1] == 0 and sum(blob_history) <= bound,
            f"{sum(blob_history)} mistake{'s' if sum(blob_history) != 1 else ''} over "
            f"{len(blob_history)} passes, the last without any; bound (R/γ)² = "
            f"({radius:.2f}/{gamma:.3f})² = {bound:.0f} (γ of the logistic regression's "
            "separator, a lower bound on the best margin)",
        ),
        Check(
            "logistic regression separates the blobs too",
            logistic_right == 1.0,
            f"training accuracy {logistic_right:.3f}, loss {blob_loss:.4f}",
        ),
        Check(
            "on XOR the perceptron never stops making mistakes",
            len(xor_history) == params["epochs"] and min(xor_history) > 0,
            f"mistakes in each of {len(xor_history)} passes over the four points: "
            f"{min(xor_history)} to {max(xor_history)}",
        ),
        Check(
            "on XOR logistic regression ends at w = 0, b = 0: every prediction ½, loss log 2",
            xor_size < 1e-3 and abs(xor_loss - np.log(2)) < 1e-6,
            f"‖(w, b)‖ = {xor_size:.1e} after {params['steps']} steps, loss {xor_loss:.8f} "
            f"(log 2 = {np.log(2):.8f}); on {params['points']} noisy XOR points it classifies "
            f"{noisy_right:.1%} right",
        ),
        Check(
            "one hidden layer (8 tanh units) solves XOR",
            four_right == 1.0,
            f"the four points: {four_right:.0%} right; {params['points']} noisy XOR points "
            f"(labels from the quadrant before the noise): {hidden_right:.1%} right, against "
            f"{noisy_right:.1%} for logistic regression",
        ),
    ]
    figure = _draw(
        x, t, perceptron, layer, noisy_x, noisy_t, noisy_layer, hidden, blob_history, xor_history
    )
    return numbers, [figure], checks


def _boundary(ax, predict, window, color, label, style="-"):
    grid = np.linspace(*window, 200)
    gx, gy = np.meshgrid(grid, grid)
    values = predict(np.c_[gx.ravel(), gy.ravel()]).reshape(gx.shape)
    ax.contour(gx, gy, values, levels=[0.0], colors=[color], linestyles=[style])
    ax.plot([], [], style, color=color, label=label)


def _draw(
    x, t, perceptron, layer, noisy_x, noisy_t, noisy_layer, hidden, blob_history, xor_history
):
    from nablab.viz import PALETTE, new_figure

    figure, (blobs_ax, xor_ax, mistakes_ax) = new_figure(15, 4.5, 1, 3)
    for ax, points, labels in ((blobs_ax, x, t), (xor_ax, noisy_x, noisy_t)):
        for k in (0, 1):
            ax.plot(
                *points[labels == k].T, "o", ms=3, color=PALETTE[4 if k else 1], label=f"class {k}"
            )
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
    limit = float(np.abs(x).max()) + 1
    _boundary(
        blobs_ax, lambda p: perceptron.linear(p)[:, 0], (-limit, limit), PALETTE[7], "perceptron"
    )
    _boundary(
        blobs_ax, lambda p: layer(p)[:, 0], (-limit, limit), PALETTE[5], "logistic regression", "--"
    )
    blobs_ax.set_title("Separable blobs")
    blobs_ax.legend(loc="upper left", fontsize=7)
    _boundary(
        xor_ax, lambda p: noisy_layer(p)[:, 0], (-1.5, 1.5), PALETTE[5], "logistic regression", "--"
    )
    _boundary(
        xor_ax,
        lambda p: hidden(p)[:, 1] - hidden(p)[:, 0],
        (-1.5, 1.5),
        PALETTE[2],
        "one hidden layer",
    )
    xor_ax.set_title("XOR (noisy)")
    xor_ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    mistakes_ax.plot(
        np.arange(1, len(blob_history) + 1),
        blob_history,
        "o-",
        ms=3,
        color=PALETTE[0],
        label="blobs",
    )
    mistakes_ax.plot(
        np.arange(1, len(xor_history) + 1), xor_history, color=PALETTE[3], label="XOR, four points"
    )
    mistakes_ax.set_xscale("log")
    mistakes_ax.set_xlabel("pass over the data (log)")
    mistakes_ax.set_ylabel("perceptron mistakes in the pass")
    mistakes_ax.set_title("The perceptron rule")
    mistakes_ax.legend(loc="lower right", fontsize=7)
    return figure
