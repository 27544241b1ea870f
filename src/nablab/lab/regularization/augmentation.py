"""augmentation: random affine transforms and elastic distortions of digits, and the
invariance that training on them buys."""

from __future__ import annotations

import numpy as np

from nablab import data as datasets
from nablab import nn, optim
from nablab.lab.common import mlp
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import fit


def _split(seed: int = 0):
    """Digits as pixels (training and validation), the standardizer of the training part (one
    mean and standard deviation over all pixels: a per-pixel one would blow up the ink a shift
    moves into a nearly always blank pixel) and the image shape."""
    digits = datasets.load("digits", dtype=np.float64)
    x, y, x_val, y_val = datasets.train_val_split(digits.x, digits.y, 0.2, seed)
    scaler = datasets.Standardizer(per_feature=False).fit(x)
    return x, y, x_val, y_val, scaler, digits.image_shape


def _accuracy(model, x, y):
    model.eval()
    correct = model(x).argmax(axis=1) == y
    model.train()
    return correct


@experiment(
    "augmentation",
    "regularization",
    "A network trained on digits as they are loses accuracy on shifted and rotated digits; "
    "trained on randomly shifted and rotated copies it keeps its accuracy on them (the "
    "invariance augmentation buys), at no cost on the digits as they are.",
    (
        Option("shift", float, 1.0, "largest shift in pixels (training and test)", 0.0, 4.0),
        Option("rotation", float, 10.0, "largest rotation in degrees", 0.0, 180.0),
        Option("elastic_alpha", float, 3.0, "elastic distortion α (pixels) in the gallery", 0.0),
        Option(
            "elastic_sigma",
            float,
            1.2,
            "elastic distortion σ (pixels) in the gallery",
            0.0,
            low_open=True,
        ),
        Option("epochs", int, 20, "epochs", 1, 1000),
        Option("seeds", int, 4, "seeds", 1, 50),
        Option("hidden", int, 64, "hidden units", 1, 4096),
    ),
    quick={"epochs": 6, "seeds": 2},
    source="003 (data augmentation with affine transforms)",
)
def augmentation(params):
    x, y, x_val, y_val, scaler, shape = _split()
    affine = datasets.RandomAffine(shift=params["shift"], rotation=params["rotation"])
    augment = datasets.OnFlatImages(affine, shape, scaler)
    xs, xs_val = scaler.transform(x), scaler.transform(x_val)
    # one fixed random transform per validation digit: the shifted/rotated test set
    xs_moved = augment(xs_val, np.random.default_rng(12345))
    correct = {(kind, test): [] for kind in ("plain", "augmented") for test in ("as is", "moved")}
    for seed in range(params["seeds"]):
        for kind in ("plain", "augmented"):
            model = mlp((x.shape[1], params["hidden"], int(y.max()) + 1), seed)
            fit(
                model,
                nn.CrossEntropyLoss(),
                optim.Adam(model.parameters(), lr=1e-3),
                (xs, y),
                epochs=params["epochs"],
                seed=seed,
                augment=augment if kind == "augmented" else None,
            )
            correct[(kind, "as is")].append(_accuracy(model, xs_val, y_val))
            correct[(kind, "moved")].append(_accuracy(model, xs_moved, y_val))
    acc = {k: float(np.mean(v)) for k, v in correct.items()}

    def paired(a, b):
        d = np.mean(correct[a], axis=0).astype(float) - np.mean(correct[b], axis=0)
        return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))

    drop, drop_error = paired(("plain", "as is"), ("plain", "moved"))
    gain, gain_error = paired(("augmented", "moved"), ("plain", "moved"))
    cost, cost_error = paired(("plain", "as is"), ("augmented", "as is"))
    numbers = {
        "accuracy": {f"{k} trained, tested {t}": v for (k, t), v in acc.items()},
        "plain_drop_on_moved": {"difference": drop, "standard_error": drop_error},
        "augmentation_gain_on_moved": {"difference": gain, "standard_error": gain_error},
        "augmentation_cost_as_is": {"difference": cost, "standard_error": cost_error},
    }
    moved = f"shifted up to {params['shift']:g} px and rotated up to {params['rotation']:g}°"
    checks = [
        Check(
            f"without augmentation accuracy drops on digits {moved}",
            drop > 2 * drop_error,
            f"{acc[('plain', 'as is')]:.4f} as they are, {acc[('plain', 'moved')]:.4f} moved: "
            f"{drop:+.4f} with a standard error of {drop_error:.4f} ({len(y_val)} validation "
            f"digits, {params['seeds']} seeds)",
        ),
        Check(
            "trained with the same random moves, the network is more accurate on moved digits",
            gain > 2 * gain_error,
            f"{acc[('augmented', 'moved')]:.4f} against {acc[('plain', 'moved')]:.4f}: "
            f"{gain:+.4f} with a standard error of {gain_error:.4f}",
        ),
        Check(
            "augmentation costs nothing on the digits as they are (within two standard errors)",
            cost <= 2 * cost_error,
            f"{acc[('augmented', 'as is')]:.4f} with augmentation against "
            f"{acc[('plain', 'as is')]:.4f} without ({-cost:+.4f}, standard error "
            f"{cost_error:.4f}) after {params['epochs']} epochs",
        ),
    ]
    figures = [_gallery(x, shape, affine, params), _draw(acc, params)]
    return numbers, figures, checks


def _gallery(x, shape, affine, params):
    from nablab.viz import new_figure

    elastic = datasets.ElasticDistortion(params["elastic_alpha"], params["elastic_sigma"])
    images = x[:8].reshape(8, *shape)
    rows = (
        ("as loaded", images),
        ("random affine", affine(images, np.random.default_rng(1))),
        ("random affine", affine(images, np.random.default_rng(2))),
        ("elastic", elastic(images, np.random.default_rng(3))),
        ("elastic", elastic(images, np.random.default_rng(4))),
    )
    figure, axes = new_figure(9, 6.2, len(rows), len(images), squeeze=False)
    for r, (label, batch) in enumerate(rows):
        for c, image in enumerate(batch):
            ax = axes[r][c]
            ax.imshow(image, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        axes[r][0].set_ylabel(label, fontsize=8)
    figure.supxlabel("eight training digits, 8 × 8 pixels (ink from 0 to 1)")
    figure.supylabel("transform")
    figure.suptitle(
        f"Affine: shift ≤ {params['shift']:g} px, rotation ≤ {params['rotation']:g}°; elastic "
        f"(Simard et al.): α = {params['elastic_alpha']:g} px, σ = {params['elastic_sigma']:g} px"
    )
    return figure


def _draw(acc, params):
    from nablab.viz import PALETTE, new_figure

    figure, ax = new_figure(7, 4.2)
    width = 0.38
    for i, test in enumerate(("as is", "moved")):
        values = [acc[("plain", test)], acc[("augmented", test)]]
        bars = ax.bar(
            np.arange(2) + (i - 0.5) * width,
            values,
            width,
            color=PALETTE[i],
            label=f"tested on digits {test}",
        )
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.set_xticks(range(2), ["trained as is", "trained with random moves"])
    ax.set_ylim(min(acc.values()) - 0.1, 1.0)
    ax.set_xlabel("training data")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"Mean of {params['seeds']} seeds, {params['epochs']} epochs")
    ax.legend(loc="lower left", fontsize=8)
    return figure
