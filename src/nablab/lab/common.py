"""What several experiments share: the digits data, small MLPs, a training loop with
snapshots, and a way to evaluate a model's loss."""

from __future__ import annotations

import itertools

import numpy as np

from nablab import data, nn

DATASETS = ("digits", "mnist1d")


def dataset(name: str = "digits", dtype=np.float64, seed: int = 0):
    """Standardized ``(x_train, y_train, x_val, y_val)`` of a built-in dataset (a 20%
    validation split; standardized with the training part's statistics)."""
    loaded = data.load(name, dtype=dtype)
    x_train, y_train, x_val, y_val = data.train_val_split(loaded.x, loaded.y, 0.2, seed)
    scaler = data.Standardizer().fit(x_train)
    return scaler.transform(x_train), y_train, scaler.transform(x_val), y_val


def mlp(
    widths: tuple[int, ...],
    seed: int = 0,
    dtype=np.float64,
    activation: str = "relu",
    init: str = "he_normal",
) -> nn.Sequential:
    """Linear layers of ``widths`` with ``activation`` between them (Xavier read-out)."""
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = []
    pairs = list(itertools.pairwise(widths))
    for index, (a, b) in enumerate(pairs):
        last = index == len(pairs) - 1
        layers.append(
            nn.Linear(a, b, init="xavier_uniform" if last else init, rng=rng, dtype=dtype)
        )
        if not last:
            layers.append(nn.activation(activation))
    return nn.Sequential(*layers)


def loss_of(model: nn.Module, loss: nn.Loss, x: np.ndarray, y: np.ndarray) -> float:
    """The loss of ``model`` on (x, y) in eval mode, training mode restored after."""
    was = model.training
    model.eval()
    try:
        return float(loss(model(x), y))
    finally:
        model.train(was)


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    was = model.training
    model.eval()
    try:
        return float(np.mean(model(x).argmax(axis=1) == y))
    finally:
        model.train(was)


def flat_parameters(model: nn.Module) -> np.ndarray:
    return np.concatenate([p.data.ravel() for p in model.parameters()])


def set_flat_parameters(model: nn.Module, flat: np.ndarray) -> None:
    offset = 0
    for param in model.parameters():
        param.data[...] = flat[offset : offset + param.size].reshape(param.shape)
        offset += param.size
