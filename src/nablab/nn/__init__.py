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
from nablab.nn.conv import Conv1d, Conv2d
from nablab.nn.dropout import Dropout, Dropout1d, Dropout2d
from nablab.nn.linear import Linear
from nablab.nn.losses import LOSSES, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss
from nablab.nn.module import Module, Parameter, Sequential
from nablab.nn.noise import NoisyLinear
from nablab.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm, MeanOnlyBatchNorm1d
from nablab.nn.penalties import L1Penalty, L2Penalty, Penalty, penalized_parameters
from nablab.nn.perceptron import Perceptron, Step
from nablab.nn.pooling import AvgPool1d, AvgPool2d, GlobalAvgPool, MaxPool1d, MaxPool2d
from nablab.nn.shape import Flatten, Unflatten
from nablab.nn.store import ParameterStore
from nablab.nn.summary import Summary, summary
from nablab.nn.transform import GaussianNoise, WeightTransform

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "SELU",
    "AvgPool1d",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv1d",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Flatten",
    "GaussianNoise",
    "GlobalAvgPool",
    "Identity",
    "L1Penalty",
    "L2Penalty",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "Loss",
    "MSELoss",
    "MaxPool1d",
    "MaxPool2d",
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
    "Unflatten",
    "WeightTransform",
    "activation",
    "penalized_parameters",
    "summary",
]
