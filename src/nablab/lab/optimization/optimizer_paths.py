"""optimizer-paths: GD, momentum, Nesterov, AdaGrad, RMSProp and Adam on 2-D functions, in a
fair race (same learning-rate grid, same steps, same starting points for everyone)."""

from __future__ import annotations

import numpy as np

from nablab.lab.experiment import Check, experiment
from nablab.lab.functions import FUNCTIONS, Function2D, quadratic
from nablab.lab.paths import (
    OPTIMIZERS,
    Paths,
    overshoot,
    reversals,
    run_paths,
    steps_to,
    straightness,
    tune,
)
from nablab.registry import Option

LRS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
# the two momentum conventions trace the same path (checked below), so one of them races
RACE = ("gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


def _median_arrival(first: np.ndarray) -> float | None:
    arrived = first[first >= 0]
    return float(np.median(arrived)) if arrived.size else None


def _functions(kappa: float) -> dict[str, Function2D]:
    return {
        name: (quadratic(kappa) if name == "quadratic" else make())
        for name, make in FUNCTIONS.items()
    }


def _draw(functions, tuned, focus: str, steps: int):
    from nablab.viz import PALETTE, new_figure

    names = list(tuned[focus])
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    figure, (paths_ax, loss_ax) = new_figure(12, 4.8, 1, 2)
    fn = functions[focus]
    _contours(paths_ax, fn)
    for name in names:
        path = tuned[focus][name].points[:, 0]
        paths_ax.plot(
            path[:, 0],
            path[:, 1],
            "-",
            lw=1.2,
            color=colors[name],
            label=f"{OPTIMIZERS[name][0]} (lr {tuned[focus][name].lr:g})",
        )
        gaps = np.nanmean(
            np.where(np.isfinite(tuned[focus][name].gaps), tuned[focus][name].gaps, np.nan), axis=1
        )
        loss_ax.plot(np.arange(len(gaps)), np.maximum(gaps, 1e-16), color=colors[name])
    paths_ax.plot(*fn.starts[0], "ko", ms=5)
    paths_ax.set_title(f"Paths on f = {fn.formula} (one start)")
    paths_ax.set_xlabel("x")
    paths_ax.set_ylabel("y")
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("f − f* (mean over starts, log scale)")
    loss_ax.set_title("Distance to the minimum value")
    figure.legend(*paths_ax.get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    figure.suptitle(f"Each optimizer at its tuned learning rate, {steps} steps")
    grid, axes = new_figure(11, 8.5, 2, 2)
    for ax, (name, fn) in zip(axes.ravel(), functions.items(), strict=True):
        _contours(ax, fn)
        for opt in names:
            path = tuned[name][opt].points[:, 0]
            ax.plot(
                path[:, 0], path[:, 1], "-", lw=1.0, color=colors[opt], label=OPTIMIZERS[opt][0]
            )
        ax.plot(*fn.starts[0], "ko", ms=4)
        ax.set_title(f"f = {fn.formula}")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    grid.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    grid.suptitle("Each optimizer at its tuned learning rate, from the first start")
    return [figure, grid]


def _contours(ax, fn: Function2D) -> None:
    (x0, x1), (y0, y1) = fn.window
    xs, ys = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    values = fn.value(np.stack([xs, ys], axis=-1)) - fn.minimum
    levels = np.geomspace(max(values.min(), 1e-3), values.max(), 14)
    ax.contour(xs, ys, np.maximum(values, 1e-3), levels=levels, colors="0.75", linewidths=0.6)
    for m in fn.minimizers:
        ax.plot(*m, marker="*", color="0.2", ms=9, ls="none")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


@experiment(
    "optimizer-paths",
    "optimization",
    "Nesterov momentum oscillates less than heavy-ball momentum; RMSProp and AdaGrad walk a "
    "straighter path to the minimum of an ill-conditioned bowl than gradient descent and "
    "momentum; and momentum can end worse than plain gradient descent from some starts.",
    (
        Option("function", str, "quadratic", "the function drawn large", choices=tuple(FUNCTIONS)),
        Option("kappa", float, 20.0, "condition number of the quadratic x²/κ + y²", 1.0),
        Option("steps", int, 200, "steps every optimizer gets", 10, 5000),
        Option(
            "lrs",
            list,
            LRS,
            "the learning-rate grid every optimizer is tuned on",
            low=0.0,
            low_open=True,
        ),
        Option("tol", float, 1e-3, "f − f* counted as arrived", 0.0, low_open=True),
    ),
    quick={},  # the full race takes about a second
    source="000 (paths of GD, momentum, Nesterov, RMSProp and AdaGrad on a contour plot)",
)
def optimizer_paths(params):
    steps, lrs, tol = params["steps"], params["lrs"], params["tol"]
    functions = _functions(params["kappa"])
    tuned: dict[str, dict[str, Paths]] = {
        name: {opt: tune(fn, opt, lrs, steps) for opt in RACE} for name, fn in functions.items()
    }
    numbers = {
        name: {
            opt: {
                "lr": paths.lr,
                "mean_final_gap": paths.mean_final_gap(),
                "starts_within_tol": int(np.sum(steps_to(paths.gaps, tol) >= 0)),
                "median_steps_to_tol": _median_arrival(steps_to(paths.gaps, tol)),
                "diverged_starts": int(np.sum(~np.isfinite(paths.final_gaps))),
            }
            for opt, paths in by_opt.items()
        }
        for name, by_opt in tuned.items()
    }
    bowl = functions["quadratic"]
    # (a) the same rate and μ for both: the lower of their tuned rates, which both tolerate
    lr = min(tuned["quadratic"]["momentum"].lr, tuned["quadratic"]["nesterov"].lr)
    heavy = run_paths(bowl, "momentum", lr, steps)
    nesterov = run_paths(bowl, "nesterov", lr, steps)
    oscillation = {
        name: {
            "largest_overshoot_y": float(np.mean(overshoot(p.points, 1))),
            "zigzags_y": float(np.mean(reversals(p.points, 1))),
        }
        for name, p in (("momentum", heavy), ("nesterov", nesterov))
    }
    numbers["oscillation_at_momentum_rate"] = {"lr": lr, **oscillation}
    check_a = Check(
        "Nesterov oscillates less than momentum (same lr and μ = 0.9 on the quadratic)",
        oscillation["nesterov"]["largest_overshoot_y"]
        < oscillation["momentum"]["largest_overshoot_y"],
        f"largest overshoot of y past 0, mean over starts: Nesterov "
        f"{oscillation['nesterov']['largest_overshoot_y']:.3g} vs momentum "
        f"{oscillation['momentum']['largest_overshoot_y']:.3g}; zig-zags "
        f"{oscillation['nesterov']['zigzags_y']:.1f} vs {oscillation['momentum']['zigzags_y']:.1f}"
        f" (lr {lr:g})",
    )
    # (b) how straight each walks to the minimum, each at its tuned rate
    approach = {}
    for opt in ("gd", "momentum", "adagrad", "rmsprop"):
        paths = tuned["quadratic"][opt]
        arrived = steps_to(paths.gaps, 1e-4 * np.min(paths.gaps[0]))
        approach[opt] = {
            "straightness": float(np.mean(straightness(paths.points, arrived))),
            "zigzags_y": float(np.mean(reversals(paths.points, 1, arrived))),
        }
    numbers["straightness_on_the_way_in"] = approach
    adaptive = min(approach["adagrad"]["straightness"], approach["rmsprop"]["straightness"])
    plain = max(approach["gd"]["straightness"], approach["momentum"]["straightness"])
    check_b = Check(
        "RMSProp and AdaGrad walk a straighter path to the minimum of an ill-conditioned bowl "
        "than GD and momentum",
        adaptive > plain,
        "distance covered / length walked until f − f* falls 10⁴-fold, mean over starts, at "
        "tuned rates (1 = a straight line): "
        + ", ".join(f"{OPTIMIZERS[o][0]} {v['straightness']:.2f}" for o, v in approach.items()),
    )
    # (c) some start where momentum ends worse than GD
    worse = []
    for name in functions:
        gd, mom = tuned[name]["gd"].final_gaps, tuned[name]["momentum"].final_gaps
        worse += [f"{name} start {i + 1}" for i in np.flatnonzero(mom > gd)]
    total = len(functions) * len(bowl.starts)
    numbers["momentum_worse_than_gd"] = worse
    check_c = Check(
        "momentum can end worse than gradient descent from some starts",
        bool(worse),
        f"momentum ended with a larger f − f* than GD from {len(worse)} of {total} starts"
        + (f" ({', '.join(worse[:4])}{', …' if len(worse) > 4 else ''})" if worse else ""),
    )
    conventions = float(
        np.max(
            np.abs(
                run_paths(bowl, "momentum", 0.05, steps).points
                - run_paths(bowl, "momentum-velocity", 0.05, steps).points
            )
        )
    )
    numbers["momentum_conventions_max_difference"] = conventions
    check_d = Check(
        "the two momentum conventions trace the same path under a constant learning rate",
        conventions < 1e-12,
        f"largest coordinate difference on the quadratic, lr 0.05, every start: "
        f"{conventions:.1e} (rounding only)",
    )
    figures = _draw(functions, tuned, params["function"], steps)
    return numbers, figures, [check_a, check_b, check_c, check_d]
