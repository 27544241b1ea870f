"""mse-vs-cross-entropy: the gradient when badly wrong, the curvature in the logit, training
speed, and both losses as negative log-likelihoods."""

from __future__ import annotations

import numpy as np

from nablab import nn, optim
from nablab.analysis import array_hessian
from nablab.lab.common import DATASETS, dataset, difference, mlp
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import fit


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _logit_gradients(z: float, t: float) -> tuple[float, float]:
    """dL/dz of ½(σ(z) − t)² (through nablab's Sigmoid and MSELoss) and of the binary
    cross-entropy on the logit (BCEWithLogitsLoss)."""
    sigmoid, mse, bce = nn.Sigmoid(), nn.MSELoss("sum", factor=0.5), nn.BCEWithLogitsLoss()
    x, target = np.array([[z]]), np.array([[t]])
    mse(sigmoid(x), target)
    g_mse = float(sigmoid.backward(mse.backward())[0, 0])
    bce(x, target)
    return g_mse, float(bce.backward()[0, 0])


def _curvatures(zs: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """d²L/dz² of both losses at every z, by nablab.analysis.array_hessian (differences of
    the exact gradients)."""
    target = np.array([[t]])
    through_sigmoid = nn.Sequential(nn.Sigmoid())
    mse = [
        array_hessian(
            nn.MSELoss("sum", factor=0.5), np.array([[z]]), target, model=through_sigmoid
        )[0, 0]
        for z in zs
    ]
    ce = [array_hessian(nn.BCEWithLogitsLoss(), np.array([[z]]), target)[0, 0] for z in zs]
    return np.array(mse), np.array(ce)


def _closed_curvatures(zs, t):
    s = _sigmoid(zs)
    first, second = s * (1 - s), s * (1 - s) * (1 - 2 * s)
    return first**2 + (s - t) * second, first


def _train(kind: str, lr: float, seed: int, data, params):
    x, y, x_val, y_val = data
    classes = int(y.max()) + 1
    model = mlp((x.shape[1], params["hidden"], classes), seed)
    if kind == "MSE":
        model = nn.Sequential(*model, nn.Softmax())
        loss, target = nn.MSELoss("batch_mean", factor=0.5), np.eye(classes)[y]
    else:
        loss, target = nn.CrossEntropyLoss(), y
    fit(
        model,
        loss,
        optim.SGD(model.parameters(), lr=lr),
        (x, target),
        epochs=params["epochs"],
        seed=seed,
    )
    model.eval()
    return float(np.mean(model(x_val).argmax(axis=1) == y_val))


@experiment(
    "mse-vs-cross-entropy",
    "losses",
    "For classification, cross-entropy beats MSE on a sigmoid or softmax: when the prediction "
    "is badly wrong MSE's gradient with respect to the logit vanishes while cross-entropy's "
    "stays near −1; MSE after a sigmoid is not convex in the logit while cross-entropy is; "
    "cross-entropy trains faster. MSE is the negative log-likelihood of a Gaussian, "
    "cross-entropy of a Bernoulli.",
    (
        Option("data", str, "digits", "the dataset of the training race", choices=DATASETS),
        Option("logit", float, -10.0, "the badly wrong logit (target 1)", -50.0, 0.0),
        Option(
            "lrs",
            list,
            (0.1, 0.3, 1.0, 3.0),
            "SGD learning rates tried for each loss",
            0.0,
            low_open=True,
        ),
        Option("epochs", int, 10, "epochs of the training race", 1, 1000),
        Option("hidden", int, 32, "hidden units", 1, 4096),
        Option("seeds", int, 3, "seeds", 1, 50),
    ),
    quick={"epochs": 3, "seeds": 2},
    source="004 (MSE against cross-entropy for classification), 002 (convexity)",
)
def mse_vs_cross_entropy(params):
    z_bad = params["logit"]
    g_mse, g_ce = _logit_gradients(z_bad, 1.0)
    zs = np.linspace(-8, 8, 81)
    mse_curv, ce_curv = _curvatures(zs, 1.0)
    closed_mse, closed_ce = _closed_curvatures(zs, 1.0)
    curvature_error = float(
        max(np.max(np.abs(mse_curv - closed_mse)), np.max(np.abs(ce_curv - closed_ce)))
    )
    data = dataset(params["data"])
    seeds = range(params["seeds"])
    accuracy = {
        k: {lr: [_train(k, lr, s, data, params) for s in seeds] for lr in params["lrs"]}
        for k in ("MSE", "cross-entropy")
    }
    best = {k: max(v, key=lambda lr, v=v: np.mean(v[lr])) for k, v in accuracy.items()}
    gain, gain_error = difference(
        accuracy["cross-entropy"][best["cross-entropy"]], accuracy["MSE"][best["MSE"]]
    )
    from scipy import stats

    rng = np.random.default_rng(0)
    y_pred, t = rng.normal(size=50), rng.normal(size=50)
    gaussian = -stats.norm.logpdf(t, loc=y_pred, scale=1.0) - 0.5 * np.log(2 * np.pi)
    mse_terms = [
        nn.MSELoss("sum", factor=0.5)(np.array([a]), np.array([b]))
        for a, b in zip(y_pred, t, strict=True)
    ]
    p, labels = rng.uniform(0.01, 0.99, 50), rng.integers(0, 2, 50)
    bernoulli = -stats.bernoulli.logpmf(labels, p)
    bce_terms = [
        nn.BCELoss("sum")(np.array([a]), np.array([float(b)]))
        for a, b in zip(p, labels, strict=True)
    ]
    nll_error = (
        float(np.max(np.abs(np.array(mse_terms) - gaussian))),
        float(np.max(np.abs(np.array(bce_terms) - bernoulli))),
    )
    numbers = {
        "gradient_at_bad_logit": {"MSE": g_mse, "cross-entropy": g_ce},
        "curvature_mse_min": float(mse_curv.min()),
        "curvature_mse_min_at": float(zs[np.argmin(mse_curv)]),
        "curvature_ce_min": float(ce_curv.min()),
        "curvature_largest_error_vs_closed_form": curvature_error,
        "validation_accuracy": {
            k: {f"{lr:g}": float(np.mean(a)) for lr, a in v.items()} for k, v in accuracy.items()
        },
        "best_rate": best,
        "gain_at_best_rates": {"difference": gain, "standard_error": gain_error},
        "nll_largest_error": {"mse_vs_gaussian": nll_error[0], "bce_vs_bernoulli": nll_error[1]},
    }
    checks = [
        Check(
            f"badly wrong (logit {z_bad:g}, target 1), MSE's gradient with respect to the logit "
            "vanishes while cross-entropy's is about −1",
            abs(g_mse) < 1e-3 * abs(g_ce) and abs(g_ce + 1) < 1e-3,
            f"dL/dz = (σ − t)·σ(1 − σ) = {g_mse:.2e} for MSE, σ − t = {g_ce:.6f} for cross-entropy",
        ),
        Check(
            "MSE after a sigmoid is not convex in the logit; cross-entropy is",
            mse_curv.min() < 0 <= ce_curv.min() and curvature_error < 1e-6,
            f"smallest d²L/dz² on [−8, 8]: MSE {mse_curv.min():.4f} (at z = "
            f"{zs[np.argmin(mse_curv)]:g}), cross-entropy {ce_curv.min():.2e} ≥ 0; measured "
            f"by array_hessian, within {curvature_error:.1e} of σ′² + (σ − t)σ″ and σ(1 − σ)",
        ),
        Check(
            f"cross-entropy trains faster: higher validation accuracy after {params['epochs']} "
            "epochs, each loss at its best rate",
            gain > 2 * gain_error and params["seeds"] > 1,
            f"cross-entropy (lr {best['cross-entropy']:g}) "
            f"{np.mean(accuracy['cross-entropy'][best['cross-entropy']]):.4f}, MSE on the "
            f"softmax (lr {best['MSE']:g}) {np.mean(accuracy['MSE'][best['MSE']]):.4f}: "
            f"{gain:+.4f} against a standard error of {gain_error:.4f} over "
            f"{params['seeds']} seeds"
            + "".join(
                f"; {k}'s best rate is at the edge of the grid (a rate beyond it might do better)"
                for k, lr in best.items()
                if lr in (min(params["lrs"]), max(params["lrs"]))
            ),
        ),
        Check(
            "½(t − y)² is the Gaussian negative log-likelihood (σ = 1) less ½·log 2π, and binary "
            "cross-entropy is the Bernoulli negative log-likelihood",
            max(nll_error) < 1e-12,
            f"largest differences from scipy.stats over 50 values: {nll_error[0]:.1e} "
            f"(Gaussian), {nll_error[1]:.1e} (Bernoulli)",
        ),
    ]
    return numbers, [_draw(zs, mse_curv, ce_curv, accuracy, params)], checks


def _draw(zs, mse_curv, ce_curv, accuracy, params):
    from nablab.viz import PALETTE, new_figure

    figure, axes = new_figure(14, 4.0, 1, 4)
    fine = np.linspace(-8, 8, 401)
    s = _sigmoid(fine)
    loss_ax, grad_ax, curv_ax, race_ax = axes
    loss_ax.plot(fine, 0.5 * (s - 1) ** 2, color=PALETTE[0], label="MSE ½(σ(z) − 1)²")
    loss_ax.plot(fine, np.logaddexp(0, -fine), color=PALETTE[1], label="cross-entropy −log σ(z)")
    loss_ax.set_ylim(0, 4)
    loss_ax.set_title("Loss, target 1")
    grad_ax.plot(fine, (s - 1) * s * (1 - s), color=PALETTE[0], label="MSE")
    grad_ax.plot(fine, s - 1, color=PALETTE[1], label="cross-entropy")
    grad_ax.set_title("dL/dz")
    curv_ax.plot(zs, mse_curv, "o", ms=3, color=PALETTE[0], label="MSE")
    curv_ax.plot(zs, ce_curv, "o", ms=3, color=PALETTE[1], label="cross-entropy")
    curv_ax.axhline(0, color=PALETTE[7], lw=0.8)
    curv_ax.set_title("d²L/dz² (array_hessian)")
    for ax in (loss_ax, grad_ax, curv_ax):
        ax.set_xlabel("logit z")
    loss_ax.set_ylabel("value")
    grad_ax.set_ylabel("gradient")
    curv_ax.set_ylabel("second derivative")
    loss_ax.legend(loc="upper right", fontsize=7)
    grad_ax.legend(loc="lower right", fontsize=7)
    curv_ax.legend(loc="upper right", fontsize=7)
    lrs = list(params["lrs"])
    for i, (kind, values) in enumerate(accuracy.items()):
        race_ax.plot(
            lrs,
            [np.mean(values[lr]) for lr in lrs],
            "o-",
            color=PALETTE[i],
            label=kind if kind != "MSE" else "MSE on the softmax",
        )
    race_ax.set_xscale("log")
    race_ax.set_xlabel("SGD learning rate (log)")
    race_ax.set_ylabel(f"validation accuracy, {params['epochs']} epochs")
    race_ax.set_title(f"Training on {params['data']}")
    race_ax.legend(loc="center left", fontsize=7)
    return figure
