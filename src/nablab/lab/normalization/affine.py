"""batchnorm-affine: what the learned scale γ and shift β of BatchNorm buy."""

from __future__ import annotations

import numpy as np

from nablab import nn, optim
from nablab.lab.common import DATASETS, dataset, difference, mlp
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import fit

SETTINGS = {"affine off (γ = 1, β = 0)": False, "affine on (γ, β learned)": True}


def _active_fraction(model: nn.Sequential, x: np.ndarray) -> np.ndarray:
    """Per hidden unit, the share of samples on which its ReLU is on (eval mode)."""
    shares = []
    handles = [
        m.register_forward_hook(lambda m, i, o: shares.append((o > 0).mean(axis=0)))
        for m in model
        if isinstance(m, nn.ReLU)
    ]
    model.eval()
    model(x)
    model.train()
    for handle in handles:
        handle.remove()
    return np.concatenate(shares)


def _train(affine: bool, seed: int, data, params):
    x, y, x_val, y_val = data
    widths = (x.shape[1], *[params["hidden"]] * params["depth"], int(y.max()) + 1)
    model = mlp(widths, seed, norm="batch", affine=affine)
    fit(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=params["lr"], momentum=0.9),
        (x, y),
        epochs=params["epochs"],
        batch_size=params["batch_size"],
        seed=seed,
    )
    model.eval()
    accuracy = float(np.mean(model(x_val).argmax(axis=1) == y_val))
    model.train()
    return model, accuracy


@experiment(
    "batchnorm-affine",
    "normalization",
    "BatchNorm's learned γ and β give back what normalizing took away: with γ = √(σ² + ε) and "
    "β = μ the layer is the identity, and without them every unit is forced to mean 0 and "
    "variance 1 before its activation, which costs accuracy.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option("epochs", int, 10, "epochs", 1, 1000),
        Option("seeds", int, 8, "seeds per setting", 1, 100),
        Option("depth", int, 2, "hidden layers", 1, 20),
        Option("hidden", int, 64, "units per hidden layer", 1, 4096),
        Option("lr", float, 0.05, "SGD learning rate (momentum 0.9)", 0.0, low_open=True),
        Option("batch_size", int, 32, "mini-batch size", 2, 100000),
    ),
    quick={"epochs": 3, "seeds": 3},
    source="000, 002 (why γ and β are learned)",
)
def batchnorm_affine(params):
    data = dataset(params["data"])
    x = data[0]
    # the identity: γ = √(σ² + ε), β = μ on a batch of pre-activations
    rng = np.random.default_rng(0)
    z = x[:64] @ rng.normal(0, 1 / np.sqrt(x.shape[1]), size=(x.shape[1], 16)) + 3.0
    norm = nn.BatchNorm1d(16, dtype=np.float64)
    norm.weight.data = np.sqrt(z.var(axis=0) + norm.eps)
    norm.bias.data = z.mean(axis=0)
    identity_gap = float(np.max(np.abs(norm(z) - z)))
    plain = nn.BatchNorm1d(16, affine=False, dtype=np.float64)(z)
    forced = (
        float(np.max(np.abs(plain.mean(axis=0)))),
        float(np.max(np.abs(plain.var(axis=0) - 1))),
    )

    accuracy, gammas, betas, active = {}, [], [], {}
    for label, affine in SETTINGS.items():
        accuracy[label] = []
        for seed in range(params["seeds"]):
            model, acc = _train(affine, seed, data, params)
            accuracy[label].append(acc)
            if seed == 0:
                active[label] = _active_fraction(model, data[2])
                if affine:
                    for m in model:
                        if isinstance(m, nn.BatchNorm1d):
                            gammas.append(m.weight.data.copy())
                            betas.append(m.bias.data.copy())
    gammas, betas = np.concatenate(gammas), np.concatenate(betas)
    off, on = SETTINGS
    gain, error = difference(accuracy[on], accuracy[off])
    numbers = {
        "identity_largest_error": identity_gap,
        "without_affine_largest_batch_mean_and_variance_error": forced,
        "validation_accuracy": accuracy,
        "accuracy_gain": {"difference": gain, "standard_error": error},
        "learned_gamma": {
            "mean": float(gammas.mean()),
            "min": float(gammas.min()),
            "max": float(gammas.max()),
        },
        "learned_beta": {
            "mean": float(betas.mean()),
            "min": float(betas.min()),
            "max": float(betas.max()),
        },
        "relu_on_fraction_per_unit": {
            k: {"mean": float(v.mean()), "std": float(v.std())} for k, v in active.items()
        },
    }
    checks = [
        Check(
            "with γ = √(σ² + ε) and β = μ, BatchNorm returns its input unchanged",
            identity_gap < 1e-12,
            f"largest |BN(z) − z| over a batch of 64 × 16: {identity_gap:.1e}",
        ),
        Check(
            "without γ and β every unit has batch mean 0 and variance 1 (up to ε), whatever "
            "the layer before learned",
            forced[0] < 1e-12 and forced[1] < 1e-3,
            f"largest |batch mean| {forced[0]:.1e}, largest |variance − 1| {forced[1]:.1e} "
            "(ε = 1e-5 in the denominator)",
        ),
        Check(
            "learning γ and β improves validation accuracy",
            gain > 2 * error and params["seeds"] > 1,
            f"over {params['seeds']} seeds, {params['epochs']} epochs: "
            f"{np.mean(accuracy[on]):.4f} with γ, β against {np.mean(accuracy[off]):.4f} "
            f"without: a difference of {gain:+.4f} against a standard error of {error:.4f} "
            f"(more than two needed); the learned γ range over [{gammas.min():.2f}, "
            f"{gammas.max():.2f}] and β over [{betas.min():.2f}, {betas.max():.2f}]",
        ),
    ]
    return numbers, [_draw(accuracy, gammas, betas, active, params)], checks


def _draw(accuracy, gammas, betas, active, params):
    from nablab.viz import PALETTE, new_figure

    figure, (left, middle, right) = new_figure(13, 4.0, 1, 3)
    labels = list(accuracy)
    for i, label in enumerate(labels):
        values = accuracy[label]
        left.plot(np.full(len(values), i), values, "o", color=PALETTE[i], alpha=0.6)
        left.errorbar(
            [i],
            [np.mean(values)],
            yerr=[np.std(values)],
            fmt="_",
            color=PALETTE[7],
            capsize=8,
            ms=20,
        )
    left.set_xticks(range(len(labels)), [k.replace(" (", "\n(") for k in labels], fontsize=8)
    left.set_xlim(-0.6, len(labels) - 0.4)
    left.set_xlabel("BatchNorm")
    left.set_ylabel(f"validation accuracy after {params['epochs']} epochs")
    left.set_title(f"{params['seeds']} seeds (dots) and mean ± std")
    middle.hist(gammas, bins=30, color=PALETTE[0], alpha=0.7, label="γ (starts at 1)")
    middle.hist(betas, bins=30, color=PALETTE[1], alpha=0.7, label="β (starts at 0)")
    middle.set_xlabel("learned value")
    middle.set_ylabel("units")
    middle.set_title("γ and β after training (seed 0)")
    middle.legend(loc="upper right", fontsize=8)
    bins = np.linspace(0, 1, 21)
    for i, (label, shares) in enumerate(active.items()):
        right.hist(shares, bins=bins, color=PALETTE[i], alpha=0.6, label=label)
    right.set_xlabel("share of validation samples on which a ReLU is on")
    right.set_ylabel("units")
    right.set_title("How often each unit fires (seed 0)")
    right.legend(loc="upper left", fontsize=8)
    return figure
