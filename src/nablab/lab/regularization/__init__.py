"""Regularization experiments: dropout as an ensemble and against overfitting, weight noise as
an L2 penalty, L1 against L2, ensembles of networks and data augmentation."""

from nablab.lab.experiment import topic

topic(
    "regularization",
    "Regularization, ensembles and augmentation",
    order=(
        "dropout-ensemble",
        "dropout-overfitting",
        "weight-noise-is-l2",
        "l1-vs-l2",
        "ensembles",
        "augmentation",
    ),
)

from nablab.lab.regularization import (  # noqa: E402, F401  (each module registers its experiment)
    augmentation,
    dropout_ensemble,
    dropout_overfitting,
    ensembles,
    l1_l2,
    weight_noise,
)
