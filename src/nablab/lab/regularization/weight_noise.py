"""weight-noise-is-l2: Gaussian noise on the weights of a linear unit, averaged by Monte Carlo,
against the closed forms of the expected loss and gradient."""

from __future__ import annotations

import numpy as np

from nablab import nn, optim
from nablab.lab.common import legend_outside
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option

SCALES = np.array([0.5, 1.0, 1.5, 2.0, 0.8])  # the inputs' standard deviations, one per weight


def _problem(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(SCALES))) * SCALES
    w_true = np.array([1.0, -2.0, 0.5, 1.5, -1.0])
    t = x @ w_true[:, None] + 0.5 * rng.normal(size=(n, 1))
    w = rng.normal(size=len(SCALES))  # where the expectations are measured
    return x, t, w


def _closed_forms(x, t, w, sigma, kind):
    """J = ½·mean_n (t_n − Σ_i w̃_i x_ni)² with w̃ = w ⊙ B (B ~ N(1, σ²)) or w + E (E ~ N(0, σ²)):

    multiplicative: E[J] = J₀ + (σ²/2) Σ_i w_i² m_i,  E[∇J]_i = −mean_n x_ni r_n + σ² w_i m_i
    additive:       E[J] = J₀ + (σ²/2) Σ_i m_i,       E[∇J]_i = −mean_n x_ni r_n
    with r = t − Xw (the clean residual) and m_i = mean_n x_ni²."""
    r = t[:, 0] - x @ w
    m = (x**2).mean(axis=0)
    j0 = 0.5 * float(np.mean(r**2))
    g0 = -(x * r[:, None]).mean(axis=0)
    if kind == "multiplicative":
        return j0 + 0.5 * sigma**2 * float(np.sum(w**2 * m)), g0 + sigma**2 * w * m
    return j0 + 0.5 * sigma**2 * float(np.sum(m)), g0


def _monte_carlo(x, t, w, sigma, kind, draws, seed):
    """The loss and gradient of ``draws`` noisy forward/backward passes through NoisyLinear:
    their means and standard errors."""
    layer = nn.NoisyLinear(len(w), 1, sigma, kind, noise_rng=seed, bias=False, dtype=np.float64)
    layer.weight.data = w[:, None]
    loss = nn.MSELoss(reduction="batch_mean", factor=0.5)
    values, grads = np.empty(draws), np.empty((draws, len(w)))
    for d in range(draws):
        layer.weight.grad[...] = 0
        values[d] = loss(layer(x), t)
        layer.backward(loss.backward())
        grads[d] = layer.weight.grad[:, 0]
    root = np.sqrt(draws)
    return values.mean(), values.std(ddof=1) / root, grads.mean(0), grads.std(0, ddof=1) / root


def _train_with_noise(x, t, sigma, steps, lr, seed):
    """Full-batch SGD through a multiplicatively noisy unit; the mean of the second half of the
    iterates (their stationary mean)."""
    layer = nn.NoisyLinear(
        x.shape[1],
        1,
        sigma,
        "multiplicative",
        noise_rng=seed,
        bias=False,
        init="zeros",
        dtype=np.float64,
    )
    opt = optim.SGD(layer.parameters(), lr=lr)
    loss = nn.MSELoss(reduction="batch_mean", factor=0.5)
    kept = []
    for step in range(steps):
        opt.zero_grad()
        loss(layer(x), t)
        layer.backward(loss.backward())
        opt.step()
        if step >= steps // 2:
            kept.append(layer.weight.data[:, 0].copy())
    return np.mean(kept, axis=0)


@experiment(
    "weight-noise-is-l2",
    "regularization",
    "Multiplicative Gaussian weight noise (w̃ᵢ = wᵢβᵢ, βᵢ ~ N(1, σ²)) on a linear unit with "
    "squared error has expected loss J₀ + (σ²/2)Σwᵢ²xᵢ² and expected gradient "
    "−xᵢ(y − Σwₖxₖ) + σ²wᵢxᵢ²: an L2 penalty weighted by each input's energy, so training "
    "with it finds the matching ridge solution. Additive noise only adds a constant to the "
    "loss and leaves the gradient unchanged.",
    (
        Option("sigma", float, 0.5, "standard deviation of the noise", 0.0, 3.0, low_open=True),
        Option("draws", int, 20000, "Monte Carlo draws", 100, 10**7),
        Option("samples", int, 200, "data points", 2, 10**6),
        Option("steps", int, 6000, "SGD steps of the training run", 10, 10**7),
        Option("lr", float, 0.05, "SGD learning rate of the training run", 0.0, low_open=True),
        Option("seed", int, 0, "seed", 0),
    ),
    quick={"draws": 4000, "steps": 3000},
    source="002, 003 (weight noise β ~ N(1, σ²) and the L2 penalty it amounts to)",
)
def weight_noise_is_l2(params):
    x, t, w = _problem(params["samples"], params["seed"])
    sigma, draws = params["sigma"], params["draws"]
    results, within = {}, {}
    for k, kind in enumerate(("multiplicative", "additive")):
        expected_j, expected_g = _closed_forms(x, t, w, sigma, kind)
        mean_j, se_j, mean_g, se_g = _monte_carlo(x, t, w, sigma, kind, draws, params["seed"] + k)
        z_j = (mean_j - expected_j) / se_j
        z_g = (mean_g - expected_g) / se_g
        results[kind] = {
            "expected_loss": expected_j,
            "monte_carlo_loss": mean_j,
            "loss_standard_error": se_j,
            "expected_gradient": expected_g,
            "monte_carlo_gradient": mean_g,
            "gradient_standard_error": se_g,
            "largest_z": float(max(abs(z_j), np.max(np.abs(z_g)))),
        }
        within[kind] = abs(z_j) < 4 and bool(np.all(np.abs(z_g) < 4))
    m = (x**2).mean(axis=0)
    a, b = x.T @ x / len(x), (x.T @ t)[:, 0] / len(x)
    ridge = np.linalg.solve(a + sigma**2 * np.diag(m), b)
    least_squares = np.linalg.solve(a, b)
    trained = _train_with_noise(x, t, sigma, params["steps"], params["lr"], params["seed"] + 7)
    distance = float(np.linalg.norm(trained - ridge))
    gap = float(np.linalg.norm(least_squares - ridge))
    curve = _loss_against_sigma(x, t, w, max(400, draws // 10), params["seed"])
    numbers = {
        **results,
        "clean_gradient": _closed_forms(x, t, w, 0.0, "additive")[1],
        "ridge_solution": ridge,
        "least_squares_solution": least_squares,
        "trained_with_noise": trained,
        "trained_minus_ridge": distance,
        "least_squares_minus_ridge": gap,
    }
    mult, add = results["multiplicative"], results["additive"]
    checks = [
        Check(
            "multiplicative noise: the Monte Carlo expected loss and gradient match "
            "J₀ + (σ²/2)Σwᵢ²xᵢ² and −xᵢ(y − Σwₖxₖ) + σ²wᵢxᵢ²",
            within["multiplicative"],
            f"{draws} draws at σ = {sigma:g}: loss {mult['monte_carlo_loss']:.5f} ± "
            f"{mult['loss_standard_error']:.5f} against {mult['expected_loss']:.5f}; every "
            f"entry within {mult['largest_z']:.1f} standard errors (4 allowed)",
        ),
        Check(
            "additive noise adds (σ²/2)Σxᵢ² to the expected loss (a constant) and leaves the "
            "expected gradient unchanged",
            within["additive"],
            f"loss {add['monte_carlo_loss']:.5f} ± {add['loss_standard_error']:.5f} against "
            f"{add['expected_loss']:.5f}; gradient within {add['largest_z']:.1f} standard errors "
            "of the clean gradient (4 allowed)",
        ),
        Check(
            "training with multiplicative noise finds the ridge solution "
            "(XᵀX/N + σ²·diag(mean x²))⁻¹Xᵀt/N, not least squares",
            distance < 0.1 * gap,
            f"after {params['steps']} noisy SGD steps the mean weights are {distance:.4f} from "
            f"the ridge solution and least squares is {gap:.4f} from it (less than a tenth "
            "needed)",
        ),
    ]
    return numbers, [_draw(curve, results, ridge, least_squares, trained, params)], checks


def _loss_against_sigma(x, t, w, draws, seed):
    sigmas = np.linspace(0.0, 1.0, 6)
    rows = {}
    for k, kind in enumerate(("multiplicative", "additive")):
        measured = [
            (0.0, 0.0) if s == 0 else _monte_carlo(x, t, w, s, kind, draws, seed + 10 + k)[:2]
            for s in sigmas
        ]
        measured[0] = (_closed_forms(x, t, w, 0.0, kind)[0], 0.0)
        rows[kind] = np.array(measured)
    return sigmas, rows


def _draw(curve, results, ridge, least_squares, trained, params):
    from nablab.viz import PALETTE, new_figure

    sigmas, rows = curve
    fine = np.linspace(0, 1, 101)
    x, t, w = _problem(params["samples"], params["seed"])
    figure, (left, middle, right) = new_figure(15.5, 4.2, 1, 3)
    for i, kind in enumerate(rows):
        left.errorbar(
            sigmas,
            rows[kind][:, 0],
            yerr=2 * rows[kind][:, 1],
            fmt="o",
            color=PALETTE[i],
            capsize=3,
            label=f"{kind}: Monte Carlo (±2 s.e.)",
        )
        left.plot(
            fine,
            [_closed_forms(x, t, w, s, kind)[0] for s in fine],
            color=PALETTE[i],
            lw=1,
            label=f"{kind}: closed form",
        )
    left.set_xlabel("noise standard deviation σ")
    left.set_ylabel("expected loss E[J]")
    left.set_title("Expected loss against the noise level")
    left.legend(loc="upper left", fontsize=7)
    index = np.arange(len(w))
    for i, kind in enumerate(results):
        middle.errorbar(
            index + (i - 0.5) * 0.25,
            results[kind]["monte_carlo_gradient"],
            yerr=2 * results[kind]["gradient_standard_error"],
            fmt="o",
            color=PALETTE[i],
            capsize=3,
            label=f"{kind}: Monte Carlo",
        )
        middle.plot(
            index + (i - 0.5) * 0.25,
            results[kind]["expected_gradient"],
            "_",
            ms=14,
            color=PALETTE[7],
            label="closed form" if i == 0 else None,
        )
    middle.set_xticks(index, [f"w{i + 1}" for i in index])
    middle.set_xlabel("weight")
    middle.set_ylabel("expected gradient ∂E[J]/∂wᵢ")
    middle.set_title(f"Gradients at σ = {params['sigma']:g}")
    middle.legend(loc="lower left", fontsize=7)
    width = 0.27
    for i, (values, label) in enumerate(
        (
            (least_squares, "least squares"),
            (ridge, "ridge, strength σ²·mean xᵢ²"),
            (trained, "trained with noise (mean)"),
        )
    ):
        right.bar(index + (i - 1) * width, values, width, color=PALETTE[i + 2], label=label)
    right.set_xticks(index, [f"w{i + 1}" for i in index])
    right.set_xlabel("weight")
    right.set_ylabel("value")
    right.set_title("Where noisy training ends")
    legend_outside(right)
    return figure
