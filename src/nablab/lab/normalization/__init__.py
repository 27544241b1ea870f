"""Normalization experiments: BatchNorm and the learning rate, the batch size, the learned γ and
β, and the distribution of each layer's inputs during training."""

from nablab.lab.experiment import topic

topic(
    "normalization",
    "Normalization",
    order=(
        "batchnorm-learning-rate",
        "batchnorm-batch-size",
        "batchnorm-affine",
        "covariate-shift",
    ),
)

from nablab.lab.normalization import (  # noqa: E402, F401  (each module registers its experiment)
    affine,
    batch_size,
    covariate_shift,
    learning_rate,
)
