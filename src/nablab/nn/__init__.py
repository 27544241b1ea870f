"""The NumPy engine: modules with explicit, matrix-form forward and backward passes."""

from nablab.nn.activations import (
    ACTIVATIONS,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Swish,
    Tanh,
    activation,
)
from nablab.nn.linear import Linear
from nablab.nn.losses import LOSSES, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss
from nablab.nn.module import Module, Parameter, Sequential

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "Identity",
    "LeakyReLU",
    "Linear",
    "Loss",
    "MSELoss",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Swish",
    "Tanh",
    "activation",
]
