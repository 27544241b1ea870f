"""The NumPy engine: modules with explicit, matrix-form forward and backward passes."""

from nablab.nn.activations import (
    ACTIVATIONS,
    SELU,
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
from nablab.nn.dropout import Dropout
from nablab.nn.linear import Linear
from nablab.nn.losses import LOSSES, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss
from nablab.nn.module import Module, Parameter, Sequential
from nablab.nn.noise import NoisyLinear
from nablab.nn.normalization import BatchNorm1d, LayerNorm, MeanOnlyBatchNorm1d
from nablab.nn.penalties import L1Penalty, L2Penalty, Penalty, penalized_parameters
from nablab.nn.perceptron import Perceptron, Step
from nablab.nn.store import ParameterStore
from nablab.nn.summary import Summary, summary
from nablab.nn.transform import GaussianNoise, WeightTransform

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "SELU",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "CrossEntropyLoss",
    "Dropout",
    "GaussianNoise",
    "Identity",
    "L1Penalty",
    "L2Penalty",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "Loss",
    "MSELoss",
    "MeanOnlyBatchNorm1d",
    "Module",
    "NoisyLinear",
    "Parameter",
    "ParameterStore",
    "Penalty",
    "Perceptron",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Step",
    "Summary",
    "Swish",
    "Tanh",
    "WeightTransform",
    "activation",
    "penalized_parameters",
    "summary",
]
