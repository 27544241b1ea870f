"""Loss and linear-classifier experiments: MSE against cross-entropy, the two-class softmax,
convexity measured by Hessian eigenvalues, and the perceptron against logistic regression."""

from nablab.lab.experiment import topic

topic(
    "losses",
    "Losses, convexity and linear classifiers",
    order=("mse-vs-cross-entropy", "two-class-softmax", "convexity", "perceptron-vs-logistic"),
)

from nablab.lab.losses import (  # noqa: E402, F401  (each module registers its experiment)
    convexity,
    mse_cross_entropy,
    perceptron,
    two_class,
)
