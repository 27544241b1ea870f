"""Initialization and activation experiments: the variance of activations through depth,
symmetric initialization, vanishing gradients and dying ReLUs."""

from nablab.lab.experiment import topic

topic(
    "initialization",
    "Initialization and activations",
    order=("init-variance", "zero-init-symmetry", "vanishing-gradients", "dying-relu"),
)

from nablab.lab.initialization import (  # noqa: E402, F401  (each module registers its experiment)
    dying_relu,
    symmetry,
    vanishing,
    variance,
)
