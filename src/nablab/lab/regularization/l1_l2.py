"""l1-vs-l2: the weights L2 and L1 leave, and the exact zeros of the proximal L1 step."""

from __future__ import annotations

import numpy as np

from nablab import data as datasets
from nablab import nn, optim
from nablab.lab.common import DATASETS, accuracy, dataset, legend_outside, mlp
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option

SETTINGS = ("none", "L2", "L1 (subgradient)", "L1 (proximal)")


def _train(setting: str, data, params):
    """Plain SGD on the mean cross-entropy plus the setting's penalty on the weight matrices:
    L2 as ½λ‖W‖² (gradient λW), L1 as λ‖W‖₁ either by its subgradient λ·sign(W) or by the
    soft threshold after each step."""
    x, y, x_val, y_val = data
    model = mlp((x.shape[1], params["hidden"], int(y.max()) + 1), params["seed"])
    opt = optim.SGD(model.parameters(), lr=params["lr"])
    penalty = {
        "L2": nn.L2Penalty(model, params["l2"]),
        "L1 (subgradient)": nn.L1Penalty(model, params["l1"]),
    }.get(setting)
    proximal = optim.L1Proximal(model, params["l1"], opt) if setting == "L1 (proximal)" else None
    loss = nn.CrossEntropyLoss()
    rng = np.random.default_rng(params["seed"])
    for _ in range(params["epochs"]):
        for xb, yb in datasets.batches(x, y, 32, rng=rng):
            opt.zero_grad()
            loss(model(xb), yb)
            model.backward_params(loss.backward())
            if penalty is not None:
                penalty.backward()
            opt.step()
            if proximal is not None:
                proximal.step()
    weights = np.concatenate([p.data.ravel() for p in nn.penalized_parameters(model)])
    return weights, accuracy(model, x_val, y_val)


@experiment(
    "l1-vs-l2",
    "regularization",
    "L2 shrinks every weight but sets none to zero; L1 drives weights to zero (sparse "
    "connectivity), but only a proximal (soft-threshold) step makes them exactly zero: its "
    "subgradient λ·sign(w) leaves them jittering around zero. Both forms of L1 reach the same "
    "accuracy.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option("l1", float, 2e-3, "L1 strength λ (on λ‖W‖₁)", 0.0, low_open=True),
        Option("l2", float, 1e-2, "L2 strength λ (on ½λ‖W‖²)", 0.0, low_open=True),
        Option("epochs", int, 20, "epochs", 1, 1000),
        Option("hidden", int, 64, "hidden units", 1, 4096),
        Option("lr", float, 0.1, "SGD learning rate", 0.0, low_open=True),
        Option("seed", int, 0, "seed", 0),
    ),
    quick={"epochs": 6},
    source="004 (L1 and sparse connectivity)",
)
def l1_vs_l2(params):
    data = dataset(params["data"])
    weights, acc = {}, {}
    for setting in SETTINGS:
        weights[setting], acc[setting] = _train(setting, data, params)
    zeros = {k: float(np.mean(w == 0)) for k, w in weights.items()}
    small = {k: float(np.mean(np.abs(w) < 1e-3)) for k, w in weights.items()}
    norms = {k: float(np.linalg.norm(w)) for k, w in weights.items()}
    sub, prox = "L1 (subgradient)", "L1 (proximal)"
    numbers = {
        "exact_zero_fraction": zeros,
        "below_1e-3_fraction": small,
        "weight_norm": norms,
        "validation_accuracy": acc,
        "weights": len(weights["none"]),
    }
    checks = [
        Check(
            "L2 shrinks the weights but sets none exactly to zero",
            norms["L2"] < norms["none"] and zeros["L2"] == 0,
            f"‖W‖ {norms['L2']:.2f} with L2 against {norms['none']:.2f} without; exact zeros "
            f"{zeros['L2']:.1%} of {len(weights['L2'])} weights",
        ),
        Check(
            "the L1 subgradient makes weights small but not exactly zero",
            small[sub] > small["none"] and zeros[sub] < 1e-3,
            f"below 1e-3 in size: {small[sub]:.1%} (none: {small['none']:.1%}); exactly zero: "
            f"{zeros[sub]:.2%}",
        ),
        Check(
            "the proximal L1 step sets weights exactly to zero (at least 1% of them), where the "
            "subgradient sets none",
            zeros[prox] >= 0.01 and zeros[sub] < 1e-3,
            f"exactly zero: {zeros[prox]:.1%} with the soft threshold, {zeros[sub]:.2%} with "
            f"the subgradient, at the same λ = {params['l1']:g}",
        ),
        Check(
            "the two forms of L1 reach the same validation accuracy (within 2 points)",
            abs(acc[prox] - acc[sub]) <= 0.02,
            f"proximal {acc[prox]:.3f}, subgradient {acc[sub]:.3f} (L2 {acc['L2']:.3f}, none "
            f"{acc['none']:.3f})",
        ),
    ]
    return numbers, [_draw(weights, zeros, params)], checks


def _draw(weights, zeros, params):
    from nablab.viz import PALETTE, new_figure

    figure, (left, right) = new_figure(13, 4.3, 1, 2)
    bins = np.linspace(-0.6, 0.6, 121)
    for i, (setting, w) in enumerate(weights.items()):
        left.hist(
            np.clip(w, -0.6, 0.6),
            bins=bins,
            histtype="step",
            lw=1.4,
            color=PALETTE[i],
            label=f"{setting}: {zeros[setting]:.0%} exactly 0",
        )
    left.set_yscale("log")
    left.set_xlabel("weight value (clipped to ±0.6)")
    left.set_ylabel("weights (log scale)")
    left.set_title(f"Weights after {params['epochs']} epochs of SGD")
    legend_outside(left)
    magnitudes = np.logspace(-12, 0, 200)
    for i, (setting, w) in enumerate(weights.items()):
        share = [np.mean(np.abs(w) <= m) for m in magnitudes]
        right.plot(magnitudes, share, color=PALETTE[i], label=setting)
        right.plot([1e-12], [zeros[setting]], "o", color=PALETTE[i])
    right.set_xscale("log")
    right.set_xlabel("weight magnitude m (log scale)")
    right.set_ylabel("share of weights with |w| ≤ m")
    right.set_title("Small against exactly zero (dots: |w| = 0)")
    return figure
