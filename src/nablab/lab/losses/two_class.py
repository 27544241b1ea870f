"""two-class-softmax: a softmax over two classes is a sigmoid of the logit difference, in value,
gradient and training."""

from __future__ import annotations

import numpy as np

from nablab import data as datasets
from nablab import nn, optim
from nablab.lab.experiment import Check, ExperimentError, experiment
from nablab.registry import Option


def _pair(first: int, second: int):
    """Digits of two classes, standardized, labelled 0 and 1."""
    digits = datasets.load("digits", dtype=np.float64)
    keep = np.isin(digits.y, (first, second))
    x = datasets.Standardizer().fit_transform(digits.x[keep])
    return x, (digits.y[keep] == second).astype(np.int64)


def _race(x, t, steps: int, lr: float):
    """Full-batch gradient descent from zero: softmax regression (two columns, rate lr) and
    logistic regression (one column, rate 2·lr). Returns, per step, the largest difference
    between the logistic weights and the softmax's column difference, and both losses."""
    softmax = nn.Linear(x.shape[1], 2, init="zeros", dtype=np.float64)
    logistic = nn.Linear(x.shape[1], 1, init="zeros", dtype=np.float64)
    ce, bce = nn.CrossEntropyLoss(), nn.BCEWithLogitsLoss()
    opt_s = optim.SGD(softmax.parameters(), lr=lr)
    opt_l = optim.SGD(logistic.parameters(), lr=2 * lr)
    gaps, losses = [], []
    for _ in range(steps):
        opt_s.zero_grad()
        opt_l.zero_grad()
        loss_s = ce(softmax(x), t)
        softmax.backward(ce.backward())
        loss_l = bce(logistic(x), t[:, None].astype(np.float64))
        logistic.backward(bce.backward())
        opt_s.step()
        opt_l.step()
        w = softmax.weight.data[:, 1] - softmax.weight.data[:, 0]
        b = softmax.bias.data[1] - softmax.bias.data[0]
        gaps.append(
            max(
                float(np.max(np.abs(logistic.weight.data[:, 0] - w))),
                abs(float(logistic.bias.data[0] - b)),
            )
        )
        losses.append((loss_s, loss_l))
    return np.array(gaps), np.array(losses)


@experiment(
    "two-class-softmax",
    "losses",
    "A softmax over two classes is the sigmoid of the logit difference: p₁ = σ(z₁ − z₀); its "
    "cross-entropy and gradient are those of logistic regression on z₁ − z₀, and gradient "
    "descent on softmax regression moves w₁ − w₀ exactly as logistic regression moves w at "
    "twice the learning rate.",
    (
        Option("samples", int, 2000, "random logit pairs compared", 1, 10**7),
        Option(
            "classes",
            list,
            (3, 8),
            "the two digit classes of the training race",
            0,
            9,
            item_kind=int,
        ),
        Option("steps", int, 200, "full-batch gradient-descent steps", 1, 10**6),
        Option("lr", float, 0.05, "learning rate of the softmax model", 0.0, low_open=True),
        Option("seed", int, 0, "seed of the random logits", 0),
    ),
    quick={"steps": 100},
    source="003 (a two-class softmax equals a sigmoid of the logit difference)",
)
def two_class_softmax(params):
    if len(params["classes"]) != 2 or params["classes"][0] == params["classes"][1]:
        raise ExperimentError(
            f"two-class-softmax: classes must be two different digits, got {params['classes']}"
        )
    rng = np.random.default_rng(params["seed"])
    z = rng.normal(0, 4, size=(params["samples"], 2))
    t = rng.integers(0, 2, params["samples"])
    p = nn.Softmax()(z)[:, 1]
    d = (z[:, 1] - z[:, 0])[:, None]
    sigma = nn.Sigmoid()(d)[:, 0]
    value_gap = float(np.max(np.abs(p - sigma)))
    ce, bce = nn.CrossEntropyLoss(), nn.BCEWithLogitsLoss()
    loss_gap = abs(ce(z, t) - bce(d, t[:, None].astype(np.float64)))
    g_softmax, g_logistic = ce.backward(), bce.backward()[:, 0]
    gradient_gap = float(
        max(
            np.max(np.abs(g_softmax[:, 1] - g_logistic)),
            np.max(np.abs(g_softmax[:, 0] + g_logistic)),
        )
    )
    x, labels = _pair(*params["classes"])
    gaps, losses = _race(x, labels, params["steps"], params["lr"])
    numbers = {
        "largest_probability_difference": value_gap,
        "loss_difference": loss_gap,
        "largest_gradient_difference": gradient_gap,
        "training_largest_weight_difference": float(gaps.max()),
        "training_final_losses": {
            "softmax": float(losses[-1, 0]),
            "logistic": float(losses[-1, 1]),
        },
    }
    checks = [
        Check(
            "softmax(z)₁ = σ(z₁ − z₀)",
            value_gap < 1e-14,
            f"largest difference over {params['samples']} random pairs (z ~ N(0, 4²)): "
            f"{value_gap:.1e}",
        ),
        Check(
            "the cross-entropy and its gradient are logistic regression's on z₁ − z₀ "
            "(∂L/∂z₁ = −∂L/∂z₀ = σ(z₁ − z₀) − t)",
            loss_gap < 1e-13 and gradient_gap < 1e-14,
            f"mean losses differ by {loss_gap:.1e}; gradients by at most {gradient_gap:.1e}",
        ),
        Check(
            "gradient descent on softmax regression (rate η) moves w₁ − w₀ exactly as logistic "
            "regression moves w at rate 2η",
            gaps.max() < 1e-10,
            f"digits {params['classes'][0]} vs {params['classes'][1]}, {params['steps']} "
            f"full-batch steps from zero: largest weight difference {gaps.max():.1e}; final "
            f"losses {losses[-1, 0]:.6f} and {losses[-1, 1]:.6f}",
        ),
    ]
    return numbers, [_draw(gaps, losses, params)], checks


def _draw(gaps, losses, params):
    from nablab.viz import PALETTE, new_figure

    figure, (left, middle, right) = new_figure(14, 4.0, 1, 3)
    grid = np.linspace(-6, 6, 121)
    z0, z1 = np.meshgrid(grid, grid)
    p1 = nn.Softmax()(np.stack([z0.ravel(), z1.ravel()], axis=1))[:, 1].reshape(z0.shape)
    contours = left.contourf(z0, z1, p1, levels=np.linspace(0, 1, 11), cmap="cividis")
    figure.colorbar(contours, ax=left, label="softmax(z)₁")
    left.set_xlabel("logit z₀")
    left.set_ylabel("logit z₁")
    left.set_title("p₁ depends only on z₁ − z₀")
    steps = np.arange(1, len(gaps) + 1)
    middle.plot(steps, losses[:, 0], color=PALETTE[0], lw=3, label="softmax regression, η")
    middle.plot(steps, losses[:, 1], "--", color=PALETTE[1], label="logistic regression, 2η")
    middle.set_xlabel("gradient-descent step")
    middle.set_ylabel("training cross-entropy")
    middle.set_title(f"Digits {params['classes'][0]} vs {params['classes'][1]}")
    middle.legend(loc="upper right", fontsize=8)
    right.plot(steps, np.maximum(gaps, 1e-18), color=PALETTE[2])
    right.set_yscale("log")
    right.set_xlabel("gradient-descent step")
    right.set_ylabel("max |w_logistic − (w₁ − w₀)| (log)")
    right.set_title("The two models' weights (rounding only)")
    return figure
