"""saddle-escape: a saddle holds gradient descent only on its stable manifold; a perturbation
of 1e-8 escapes at a predictable step, and noise or Adam escape sooner."""

from __future__ import annotations

import math

import numpy as np

from nablab import nn, optim
from nablab.lab.experiment import Check, experiment
from nablab.lab.functions import saddle
from nablab.registry import Option

ESCAPED = 0.1  # |y| beyond which a path has left the saddle


def _path(opt_name: str, start, lr: float, steps: int, noise: float, rng) -> np.ndarray:
    fn = saddle()
    p = nn.Parameter(np.array(start, dtype=np.float64))
    opt = optim.Adam([p], lr=lr) if opt_name == "adam" else optim.SGD([p], lr=lr)
    points = [p.data.copy()]
    for _ in range(steps):
        p.grad[...] = fn.gradient(p.data)
        if noise:
            p.grad += rng.normal(0.0, noise, size=2)
        opt.step()
        points.append(p.data.copy())
    return np.array(points)


def _escape_step(points: np.ndarray) -> int | None:
    out = np.flatnonzero(np.abs(points[:, 1]) > ESCAPED)
    return int(out[0]) if out.size else None


@experiment(
    "saddle-escape",
    "optimization",
    "A saddle point's Hessian has eigenvalues of both signs; gradient descent started exactly "
    "on its stable manifold converges to the saddle, a perturbation of 1e-8 escapes after a "
    "predictable number of steps, and noisy gradient descent and Adam escape sooner.",
    (
        Option("lr", float, 0.05, "learning rate of every method", 0.0, 0.5, low_open=True),
        Option("steps", int, 400, "steps", 10, 100000),
        Option("perturbation", float, 1e-8, "initial offset off the stable manifold", 0.0),
        Option("noise", float, 0.01, "standard deviation of the gradient noise", 0.0),
        Option("seeds", int, 20, "noise seeds averaged", 1, 1000),
    ),
    quick={"seeds": 8},
    source="001 (saddle points; why SGD and Adam rarely stick)",
)
def saddle_escape(params):
    fn = saddle()
    lr, steps, eps = params["lr"], params["steps"], params["perturbation"]
    eigenvalues = np.linalg.eigvalsh(fn.hessian(np.zeros(2)))
    rng = np.random.default_rng(0)
    x0 = 1.5
    on_manifold = _path("gd", (x0, 0.0), lr, steps, 0.0, rng)
    perturbed = _path("gd", (x0, eps), lr, steps, 0.0, rng)
    adam = _path("adam", (x0, eps), lr, steps, 0.0, rng)
    noisy = [
        _path("gd", (x0, 0.0), lr, steps, params["noise"], np.random.default_rng(s))
        for s in range(params["seeds"])
    ]
    predicted = math.log(ESCAPED / eps) / math.log(1 + 2 * lr) if eps else math.inf
    k_gd, k_adam = _escape_step(perturbed), _escape_step(adam)
    k_noisy = [_escape_step(p) for p in noisy]
    escaped_noisy = [k for k in k_noisy if k is not None]
    median_noisy = float(np.median(escaped_noisy)) if escaped_noisy else None
    stuck = float(np.abs(on_manifold[-1]).max())
    numbers = {
        "hessian_eigenvalues_at_saddle": eigenvalues.tolist(),
        "on_manifold_final_distance_to_saddle": stuck,
        "on_manifold_final_value": float(fn.value(on_manifold[-1])),
        "perturbed_gd_escape_step": k_gd,
        "predicted_escape_step": predicted,
        "adam_escape_step": k_adam,
        "noisy_gd_escape_steps": k_noisy,
        "noisy_gd_median_escape_step": median_noisy,
    }
    sooner = (
        k_gd is not None
        and k_adam is not None
        and median_noisy is not None
        and k_adam < k_gd
        and median_noisy < k_gd
    )
    checks = [
        Check(
            "the saddle's Hessian has eigenvalues of both signs",
            bool(eigenvalues.min() < 0 < eigenvalues.max()),
            f"eigenvalues of ∇²f at (0, 0): {eigenvalues[0]:g} and {eigenvalues[1]:g}",
        ),
        Check(
            "gradient descent started on the stable manifold converges to the saddle",
            stuck < 1e-8 and bool(np.all(on_manifold[:, 1] == 0)),
            f"y stayed exactly 0 and after {steps} steps the point is {stuck:.1e} from the "
            f"saddle, f = {fn.value(on_manifold[-1]):.1e} (the minima have f = −1)",
        ),
        Check(
            f"a perturbation of {eps:g} escapes after log(0.1/{eps:g})/log(1 + 2α) steps",
            k_gd is not None and abs(k_gd - predicted) <= 1.5,
            f"|y| passed {ESCAPED} at step {k_gd}; predicted {predicted:.1f} (y grows by "
            f"1 + 2α = {1 + 2 * lr:g} per step while small)",
        ),
        Check(
            "noisy gradient descent and Adam escape sooner",
            sooner,
            f"Adam from the same perturbation escaped at step {k_adam}; noisy GD (σ = "
            f"{params['noise']:g}) from exactly on the manifold at median step {median_noisy}"
            f" ({len(escaped_noisy)} of {len(noisy)} seeds escaped); perturbed GD at {k_gd}",
        ),
    ]
    return numbers, [_draw(fn, on_manifold, perturbed, noisy[0], adam, lr)], checks


def _draw(fn, on_manifold, perturbed, noisy, adam, lr):
    from nablab.viz import PALETTE, blank_figure

    figure = blank_figure(12, 4.8)
    surface = figure.add_subplot(1, 2, 1, projection="3d")
    xs, ys = np.meshgrid(np.linspace(-2, 2, 60), np.linspace(-2, 2, 60))
    zs = fn.value(np.stack([xs, ys], axis=-1))
    surface.plot_surface(xs, ys, zs, cmap="cividis", alpha=0.55, linewidth=0, antialiased=False)
    paths = (
        ("GD on the stable manifold", on_manifold, PALETTE[0]),
        ("GD, y₀ = 1e-8", perturbed, PALETTE[1]),
        ("noisy GD", noisy, PALETTE[2]),
        ("Adam, y₀ = 1e-8", adam, PALETTE[5]),
    )
    for label, path, color in paths:
        inside = np.all(np.abs(path) <= 2, axis=1)
        surface.plot(
            path[inside, 0],
            path[inside, 1],
            fn.value(path[inside]) + 0.05,
            color=color,
            lw=2,
            label=label,
        )
    surface.set_xlabel("x")
    surface.set_ylabel("y")
    surface.set_zlabel("f")
    surface.set_title("f = x² − y² + y⁴/4 with the paths")
    surface.view_init(elev=35, azim=-60)
    ax = figure.add_subplot(1, 2, 2)
    for label, path, color in paths:
        ax.plot(np.maximum(np.abs(path[:, 1]), 1e-12), color=color, label=label)
    ax.axhline(ESCAPED, color="0.4", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("|y|, distance off the stable manifold (log scale)")
    ax.set_title(f"Leaving the saddle (lr {lr:g}; dotted: |y| = {ESCAPED})")
    ax.legend(loc="center right", fontsize=8)
    return figure
