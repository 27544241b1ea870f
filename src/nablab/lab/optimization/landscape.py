"""loss-landscape: the loss along the line from the initial to the trained weights, and on a
plane of two filter-normalized random directions with the training path projected onto it."""

from __future__ import annotations

import numpy as np

from nablab import nn, optim
from nablab.lab.common import (
    DATASETS,
    dataset,
    flat_parameters,
    loss_of,
    mlp,
    set_flat_parameters,
)
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import fit


def filter_normalized_direction(model: nn.Module, rng: np.random.Generator) -> np.ndarray:
    """A random direction scaled like the weights (Li et al., 2018): for each weight matrix,
    each output unit's column d_j gets the norm of that unit's weights, d_j ← d_j·‖w_j‖/‖d_j‖;
    biases (and other vectors) get no component."""
    parts = []
    for param in model.parameters():
        if param.ndim >= 2:
            d = rng.normal(size=param.shape)
            d *= np.linalg.norm(param.data, axis=0) / np.linalg.norm(d, axis=0)
        else:
            d = np.zeros(param.shape)
        parts.append(d.ravel())
    return np.concatenate(parts)


@experiment(
    "loss-landscape",
    "optimization",
    "The loss falls without a barrier along the straight line from the initial to the trained "
    "weights, and the trained weights sit at the bottom of a basin in a plane of two "
    "filter-normalized random directions.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option("epochs", int, 10, "training epochs", 1, 1000),
        Option("resolution", int, 25, "grid points per axis of the plane", 5, 201),
        Option(
            "span", float, 1.0, "the plane covers ±span along each direction", 0.0, low_open=True
        ),
        Option("samples", int, 1000, "training samples the loss is evaluated on", 10),
        Option("seed", int, 0, "seed", 0),
    ),
    quick={"epochs": 4, "resolution": 11, "samples": 400},
    source="Goodfellow et al. (2015) and Li et al. (2018); often asked of loss-landscape code",
)
def loss_landscape(params):
    x, y, _, _ = dataset(params["data"])
    xs, ys = x[: params["samples"]], y[: params["samples"]]
    widths = (x.shape[1], 64, int(y.max()) + 1)
    model = mlp(widths, params["seed"])
    loss = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    trajectory = [flat_parameters(model)]
    for epoch in range(params["epochs"]):
        fit(model, loss, opt, (x, y), epochs=1, batch_size=32, seed=params["seed"] + epoch)
        trajectory.append(flat_parameters(model))
    start, end = trajectory[0], trajectory[-1]

    def at(theta: np.ndarray) -> float:
        set_flat_parameters(model, theta)
        return loss_of(model, loss, xs, ys)

    alphas = np.linspace(-0.25, 1.25, 31)
    line = np.array([at((1 - a) * start + a * end) for a in alphas])
    inside = (alphas >= 0) & (alphas <= 1)
    rises = np.diff(line[inside])
    barrier = float(max(rises.max(), 0.0))
    rng = np.random.default_rng(params["seed"] + 1)
    set_flat_parameters(model, end)
    d1 = filter_normalized_direction(model, rng)
    d2 = filter_normalized_direction(model, rng)
    ticks = np.linspace(-params["span"], params["span"], params["resolution"])
    plane = np.array([[at(end + a * d1 + b * d2) for a in ticks] for b in ticks])
    centre = params["resolution"] // 2
    basis = np.stack([d1, d2], axis=1)
    projected = np.linalg.lstsq(basis, (np.array(trajectory) - end).T, rcond=None)[0].T
    # random directions are nearly orthogonal to the training path in many dimensions, so the
    # path also gets a plane of its own: its first two principal directions (Li et al., §7)
    offsets = np.array(trajectory) - end
    _, _, components = np.linalg.svd(offsets, full_matrices=False)
    pc = components[:2]
    path_xy = offsets @ pc.T
    reach = 1.2 * np.abs(path_xy).max(axis=0)
    pa = np.linspace(-reach[0], reach[0], params["resolution"])
    pb = np.linspace(-reach[1], reach[1], params["resolution"])
    path_plane = np.array([[at(end + a * pc[0] + b * pc[1]) for a in pa] for b in pb])
    set_flat_parameters(model, end)
    lowest = float(plane.min())
    numbers = {
        "loss_at_start": float(line[np.argmin(np.abs(alphas))]),
        "loss_at_end": float(line[np.argmin(np.abs(alphas - 1))]),
        "largest_rise_between_0_and_1": barrier,
        "plane_centre": float(plane[centre, centre]),
        "plane_lowest": lowest,
        "plane_highest": float(plane.max()),
        "path_in_the_random_plane_largest_coordinate": float(np.abs(projected).max()),
        "path_share_in_two_principal_directions": float(
            np.sum(path_xy**2) / max(np.sum(offsets**2), 1e-300)
        ),
    }
    checks = [
        Check(
            "the loss falls without a barrier from the initial to the trained weights",
            barrier <= 1e-6 * float(line[inside].max()),
            f"{int(inside.sum())} points on the line: the loss goes from "
            f"{numbers['loss_at_start']:.3f} to {numbers['loss_at_end']:.4f}; largest rise "
            f"between neighbours {barrier:.2e}",
        ),
        Check(
            "the trained weights sit at the bottom of a basin of the plane",
            plane[centre, centre] <= lowest * (1 + 1e-9) + 1e-12,
            f"loss at the trained weights {plane[centre, centre]:.4f}; lowest on the "
            f"{params['resolution']}² grid {lowest:.4f}; highest {plane.max():.3g}",
        ),
    ]
    from nablab.viz import PALETTE, new_figure

    figure, (left, right, third) = new_figure(16, 4.6, 1, 3)
    left.plot(alphas, line, color=PALETTE[0])
    left.axvline(0, color="0.6", lw=0.8, ls=":")
    left.axvline(1, color="0.6", lw=0.8, ls=":")
    left.set_yscale("log")
    left.set_xlabel("α in θ = (1 − α)·θ_initial + α·θ_trained")
    left.set_ylabel("training loss (log scale)")
    left.set_title("Along the line from initial (α = 0) to trained (α = 1)")
    grid_a, grid_b = np.meshgrid(ticks, ticks)
    contours = right.contourf(grid_a, grid_b, np.log10(plane), levels=20, cmap="cividis")
    figure.colorbar(contours, ax=right, label="log₁₀ training loss")
    right.plot(
        projected[:, 0],
        projected[:, 1],
        "o-",
        color=PALETTE[1],
        ms=3,
        label="training path (projected)",
    )
    right.plot(0, 0, "*", color=PALETTE[7], ms=10, label="trained weights")
    right.set_xlabel("direction 1 (filter-normalized)")
    right.set_ylabel("direction 2 (filter-normalized)")
    right.set_title("Random filter-normalized plane")
    right.legend(loc="upper right", fontsize=8)
    ga, gb = np.meshgrid(pa, pb)
    filled = third.contourf(ga, gb, np.log10(path_plane), levels=20, cmap="cividis")
    figure.colorbar(filled, ax=third, label="log₁₀ training loss")
    third.plot(
        path_xy[:, 0],
        path_xy[:, 1],
        "o-",
        color=PALETTE[1],
        ms=3,
        label="training path (one dot per epoch)",
    )
    third.plot(0, 0, "*", color=PALETTE[7], ms=10, label="trained weights")
    third.set_xlabel("first principal direction of the path")
    third.set_ylabel("second principal direction")
    third.set_title("The plane the training path spans")
    third.legend(loc="upper right", fontsize=8)
    return numbers, [figure], checks
