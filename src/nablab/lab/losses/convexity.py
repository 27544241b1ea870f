"""convexity: the Hessians of logistic regression, of softmax cross-entropy in the logits, and
of a small MLP, judged by their eigenvalues."""

from __future__ import annotations

import numpy as np

from nablab import data as datasets
from nablab import nn, optim
from nablab.analysis import (
    array_hessian,
    logistic_regression_hessian,
    model_hessian,
    softmax_hessian,
)
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import fit


def _digits(features: int, samples: int, seed: int):
    """Standardized digits: the ``features`` pixels with the largest variance."""
    digits = datasets.load("digits", dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(digits.x), samples, replace=False)
    columns = np.argsort(digits.x.var(axis=0))[::-1][:features]
    x = datasets.Standardizer().fit_transform(digits.x[rows][:, columns])
    return x, digits.y[rows]


def _relative_error(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@experiment(
    "convexity",
    "losses",
    "Logistic regression's Hessian Σŷ(1 − ŷ)xxᵀ and softmax cross-entropy's Hessian in the "
    "logits, diag(ŷ) − ŷŷᵀ, are positive semidefinite (every eigenvalue ≥ 0), so those losses "
    "are convex; an MLP's loss is not: its Hessian has negative eigenvalues.",
    (
        Option("features", int, 10, "input features (the most variable pixels)", 1, 64),
        Option("samples", int, 200, "samples", 2, 1797),
        Option("hidden", int, 6, "hidden units of the MLP", 1, 64),
        Option("epochs", int, 5, "epochs of MLP training before its second Hessian", 1, 1000),
        Option("seed", int, 0, "seed", 0),
    ),
    quick={},
    source="002 (the logistic-regression and softmax Hessians are PSD; convexity)",
)
def convexity(params):
    x, y = _digits(params["features"], params["samples"], params["seed"])
    rng = np.random.default_rng(params["seed"])
    t = (y % 2).astype(np.float64)[:, None]  # odd against even digits
    bce = nn.BCEWithLogitsLoss()

    # logistic regression at a random point: numerical against Xᵀdiag(p(1 − p))X / N
    logistic = nn.Sequential(nn.Linear(x.shape[1], 1, rng=rng, dtype=np.float64))
    logistic[0].bias.data = rng.normal(size=1)
    numeric = model_hessian(logistic, bce, x, t)
    p = 1 / (1 + np.exp(-logistic(x)))
    closed = logistic_regression_hessian(np.c_[x, np.ones(len(x))], p)
    logistic_error = _relative_error(numeric, closed)
    logistic_eig = np.linalg.eigvalsh(closed)

    # softmax cross-entropy in the logits of a few samples
    logits = rng.normal(0, 2, size=(5, 10))
    labels = rng.integers(0, 10, 5)
    numeric_ce = array_hessian(nn.CrossEntropyLoss(), logits, labels)
    closed_ce = softmax_hessian(nn.Softmax()(logits))
    softmax_error = _relative_error(numeric_ce, closed_ce)
    softmax_eig = np.linalg.eigvalsh(closed_ce)

    # softmax regression in its weights: convex too
    regression = nn.Sequential(nn.Linear(x.shape[1], 10, rng=rng, dtype=np.float64))
    regression_eig = np.linalg.eigvalsh(model_hessian(regression, nn.CrossEntropyLoss(), x, y))

    # an MLP, at initialization and after a little training
    mlp_eig = {}
    model = nn.Sequential(
        nn.Linear(x.shape[1], params["hidden"], rng=rng, dtype=np.float64),
        nn.Tanh(),
        nn.Linear(params["hidden"], 10, rng=rng, dtype=np.float64),
    )
    ce = nn.CrossEntropyLoss()
    mlp_eig["MLP at initialization"] = np.linalg.eigvalsh(model_hessian(model, ce, x, y))
    fit(
        model,
        ce,
        optim.Adam(model.parameters(), lr=1e-2),
        (x, y),
        epochs=params["epochs"],
        seed=params["seed"],
    )
    mlp_eig[f"MLP after {params['epochs']} epochs"] = np.linalg.eigvalsh(
        model_hessian(model, ce, x, y)
    )
    spectra = {
        "logistic regression (weights)": logistic_eig,
        "softmax cross-entropy (logits)": softmax_eig,
        "softmax regression (weights)": regression_eig,
        **mlp_eig,
    }
    numbers = {
        "smallest_and_largest_eigenvalue": {
            k: [float(v.min()), float(v.max())] for k, v in spectra.items()
        },
        "negative_eigenvalues": {k: int(np.sum(v < -1e-9 * v.max())) for k, v in spectra.items()},
        "logistic_numeric_vs_closed_form": logistic_error,
        "softmax_numeric_vs_closed_form": softmax_error,
    }

    def psd(values, tolerance):
        return values.min() >= -tolerance * values.max()

    mlp_min = {k: float(v.min() / v.max()) for k, v in mlp_eig.items()}
    checks = [
        Check(
            "logistic regression's Hessian is Σŷ(1 − ŷ)xxᵀ/N and positive semidefinite",
            logistic_error < 1e-6 and psd(logistic_eig, 1e-12),
            f"finite differences of the exact gradient within {logistic_error:.1e} (relative) "
            f"of the closed form; eigenvalues from {logistic_eig.min():.2e} to "
            f"{logistic_eig.max():.3f}",
        ),
        Check(
            "softmax cross-entropy's Hessian in the logits is diag(ŷ) − ŷŷᵀ and positive "
            "semidefinite, with the all-ones direction flat",
            softmax_error < 1e-6
            and psd(softmax_eig, 1e-12)
            and int(np.sum(np.abs(softmax_eig) < 1e-12)) >= len(logits),
            f"array_hessian within {softmax_error:.1e} of the closed form; eigenvalues from "
            f"{softmax_eig.min():.1e} to {softmax_eig.max():.3f}, "
            f"{int(np.sum(np.abs(softmax_eig) < 1e-12))} of them zero (one per sample)",
        ),
        Check(
            "softmax regression is convex in its weights too",
            psd(regression_eig, 1e-6),
            f"eigenvalues from {regression_eig.min():.1e} to {regression_eig.max():.3f} "
            "(finite differences: zero to about 1e-7)",
        ),
        Check(
            "a one-hidden-layer MLP's Hessian has negative eigenvalues (non-convex)",
            all(v < -1e-3 for v in mlp_min.values()),
            "; ".join(
                f"{k}: smallest/largest eigenvalue {v:+.3f}, "
                f"{numbers['negative_eigenvalues'][k]} negative of {len(mlp_eig[k])}"
                for k, v in mlp_min.items()
            ),
        ),
    ]
    return numbers, [_draw(spectra, params)], checks


def _draw(spectra, params):
    from nablab.viz import PALETTE, new_figure

    figure, ax = new_figure(10, 4.4)
    for i, (label, values) in enumerate(spectra.items()):
        ranks = np.linspace(0, 1, len(values))
        ax.plot(ranks, np.sort(values), "o-", ms=2.5, lw=1, color=PALETTE[i], label=label)
    ax.axhline(0, color=PALETTE[7], lw=0.8)
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_xlabel("eigenvalue rank (0 = smallest, 1 = largest)")
    ax.set_ylabel("Hessian eigenvalue (symmetric log, linear within ±1e-4)")
    ax.set_title(f"Hessian spectra ({params['features']} pixels of {params['samples']} digits)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    return figure
