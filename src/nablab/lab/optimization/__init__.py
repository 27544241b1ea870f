"""Optimization experiments: optimizer paths, stability limits, adaptive steps, Adam's bias
correction, Newton's method, saddles, learning rates, batch sizes, gradient centralization and
the loss landscape."""

from nablab.lab.experiment import topic

topic(
    "optimization",
    "Optimization",
    order=(
        "optimizer-paths",
        "stability-limits",
        "adaptive-step-sizes",
        "adam-bias-correction",
        "newton",
        "saddle-escape",
        "learning-rate-sweep",
        "lr-range-test",
        "batch-size-noise",
        "gradient-centralization",
        "loss-landscape",
    ),
)

from nablab.lab.optimization import (  # noqa: E402, F401  (each module registers its experiments)
    adaptive_steps,
    batch_size,
    centralization,
    landscape,
    lr_range,
    lr_sweep,
    newton,
    optimizer_paths,
    saddle,
    stability_limits,
)
