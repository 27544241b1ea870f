"""Small training setups shared by the training tests."""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

from nablab import data, nn


@lru_cache(maxsize=1)
def digits_split():
    digits = data.load("digits")
    x_train, y_train, x_val, y_val = data.train_val_split(digits.x, digits.y, 0.2, seed=0)
    scaler = data.Standardizer().fit(x_train)
    return scaler.transform(x_train), y_train, scaler.transform(x_val), y_val


def mlp(widths, activation="relu", init="he_normal", seed=0, dtype=np.float32, dropout=0.0):
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(widths):
        layers += [
            nn.Linear(fan_in, fan_out, init=init, rng=rng, dtype=dtype),
            nn.activation(activation),
        ]
        if dropout:
            layers.append(nn.Dropout(dropout, rng=rng))
    return nn.Sequential(*layers[: -2 if dropout else -1])
