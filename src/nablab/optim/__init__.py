"""Optimizers (PyTorch-exact and textbook-exact), schedules, clipping and the LR range test."""

from nablab.optim.adam import Adam, AdamW
from nablab.optim.adaptive import AdaGrad, RMSProp
from nablab.optim.centralize import centralize
from nablab.optim.clip import clip_grad_norm
from nablab.optim.lr_finder import LRRangeResult, lr_range_test
from nablab.optim.newton import Newton
from nablab.optim.optimizer import Optimizer
from nablab.optim.proximal import L1Proximal, soft_threshold
from nablab.optim.registry import OPTIMIZERS, SCHEDULES, make_optimizer, make_schedule
from nablab.optim.schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearWarmup,
    LRScheduler,
    StepLR,
)
from nablab.optim.sgd import SGD

Adagrad = AdaGrad
RMSprop = RMSProp

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "AdaGrad",
    "Adagrad",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "ExponentialLR",
    "L1Proximal",
    "LRRangeResult",
    "LRScheduler",
    "LinearWarmup",
    "Newton",
    "Optimizer",
    "RMSProp",
    "RMSprop",
    "StepLR",
    "centralize",
    "clip_grad_norm",
    "lr_range_test",
    "make_optimizer",
    "make_schedule",
    "soft_threshold",
]
