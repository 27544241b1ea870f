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
    norm: str | None = None,
    affine: bool = True,
    dropout: float = 0.0,
    output_init: str | None = "xavier_uniform",
    bias: float = 0.0,
) -> nn.Sequential:
    """Linear layers of ``widths`` with ``activation`` between them: Linear → [BatchNorm or
    LayerNorm (``norm="batch"``/``"layer"``, learned γ and β when ``affine``)] → activation →
    [Dropout] per hidden layer; the read-out is ``output_init`` (``None``: ``init``), hidden
    biases start at ``bias``."""
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = []
    pairs = list(itertools.pairwise(widths))
    for index, (a, b) in enumerate(pairs):
        last = index == len(pairs) - 1
        chosen = (output_init or init) if last else init
        layers.append(nn.Linear(a, b, init=chosen, rng=rng, dtype=dtype))
        if last:
            break
        if bias:
            layers[-1].bias.data[...] = bias
        if norm == "batch":
            layers.append(nn.BatchNorm1d(b, affine=affine, dtype=dtype))
        elif norm == "layer":
            layers.append(nn.LayerNorm(b, elementwise_affine=affine, dtype=dtype))
        elif norm is not None:
            raise ValueError(f"mlp: norm must be 'batch', 'layer' or None, got {norm!r}")
        layers.append(nn.activation(activation))
        if dropout:
            layers.append(nn.Dropout(dropout, rng=rng))
    return nn.Sequential(*layers)


def mean_and_error(values) -> tuple[float, float]:
    """The mean of ``values`` over seeds and its standard error (0 for one value)."""
    values = np.asarray(values, dtype=float)
    error = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    return float(values.mean()), error


def difference(a, b) -> tuple[float, float]:
    """mean(a) − mean(b) over seeds and the standard error of that difference."""
    (ma, ea), (mb, eb) = mean_and_error(a), mean_and_error(b)
    return ma - mb, float(np.hypot(ea, eb))


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


def legend_outside(ax, **options) -> None:
    """The legend to the right of ``ax``, off the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, **options)
