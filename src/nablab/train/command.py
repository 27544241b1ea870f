"""What ``nablab train`` and ``nablab summary`` do, given their parsed flags."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from nablab import data, nn, optim
from nablab._io import write_atomic
from nablab.summary import summary
from nablab.train.callbacks import Callback, EarlyStopping, LRSchedule, ProgressBar
from nablab.train.checkpoint import CheckpointError
from nablab.train.diagnostics import Diagnostics
from nablab.train.loop import evaluate, fit

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "swish", "identity")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("none", "cosine", "step", "exponential")


@dataclass
class TrainConfig:
    data: str = "digits"
    labels: str | None = None
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    init: str = "he_normal"
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    epochs: int = 20
    batch_size: int = 32
    batch_norm: bool = False
    dropout: float = 0.0
    schedule: str = "none"
    patience: int | None = None
    val_fraction: float = 0.2
    standardize: bool = True
    seed: int = 0
    dtype: str = "float32"
    out: str | None = None
    resume: bool = False
    progress: bool = True
    diagnostics: bool = True


class ConfigError(ValueError):
    """A bad flag: one line, exit code 2."""


def check_config(config: TrainConfig) -> None:
    if config.lr <= 0 or not math.isfinite(config.lr):
        raise ConfigError(f"--lr must be a positive number, got {config.lr}")
    if any(width < 1 for width in config.hidden):
        raise ConfigError(
            f"--hidden sizes must be positive integers, got {','.join(map(str, config.hidden))}"
        )
    if config.epochs < 1 or config.batch_size < 1:
        raise ConfigError("--epochs and --batch-size must be at least 1")
    if not 0 <= config.dropout < 1:
        raise ConfigError(f"--dropout is a drop probability in [0, 1), got {config.dropout}")
    if config.weight_decay < 0:
        raise ConfigError(f"--weight-decay must be >= 0, got {config.weight_decay}")
    if not 0 < config.val_fraction < 1:
        raise ConfigError(f"--val-fraction must be in (0, 1), got {config.val_fraction}")
    if config.out is not None and Path(config.out).exists() and not Path(config.out).is_dir():
        raise ConfigError(f"--out {config.out} is a file; give a folder for the run's outputs")
    if config.resume and (
        config.out is None or not (Path(config.out) / "checkpoint.npz").is_file()
    ):
        raise ConfigError("--resume needs --out pointing at a run folder with checkpoint.npz")


def load_data(config: TrainConfig):
    """Train, validation and (where the dataset has one) test arrays, standardized on the
    training part only."""
    dtype = np.dtype(config.dtype)
    try:
        if config.data in data.LOADERS:
            dataset = data.load(config.data, dtype=dtype)
        else:
            dataset = data.read_file(config.data, config.labels).astype(dtype)
    except data.DataFileError as error:
        raise ConfigError(str(error)) from None
    x_train, y_train, x_val, y_val = data.train_val_split(
        dataset.x, dataset.y, config.val_fraction, config.seed
    )
    x_test, y_test = dataset.x_test, dataset.y_test
    if config.standardize:
        scaler = data.Standardizer().fit(x_train)
        x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
        x_test = None if x_test is None else scaler.transform(x_test)
    return (
        dataset,
        (x_train, y_train),
        (x_val, y_val),
        (None if x_test is None else (x_test, y_test)),
    )


def build_model(config: TrainConfig, n_features: int, n_classes: int) -> nn.Sequential:
    rng = np.random.default_rng(config.seed)
    dtype = np.dtype(config.dtype)
    layers: list[nn.Module] = []
    width = n_features
    for hidden in config.hidden:
        layers.append(nn.Linear(width, hidden, init=config.init, rng=rng, dtype=dtype))
        if config.batch_norm:
            layers.append(nn.BatchNorm1d(hidden, dtype=dtype))
        layers.append(nn.activation(config.activation))
        if config.dropout:
            layers.append(nn.Dropout(config.dropout, rng=rng))
        width = hidden
    output_init = "xavier_uniform" if config.init.startswith(("he", "kaiming")) else config.init
    layers.append(nn.Linear(width, n_classes, init=output_init, rng=rng, dtype=dtype))
    return nn.Sequential(*layers)


def build_optimizer(config: TrainConfig, model: nn.Module) -> optim.Optimizer:
    params = model.parameters()
    wd = config.weight_decay
    match config.optimizer:
        case "sgd":
            return optim.SGD(params, lr=config.lr, weight_decay=wd)
        case "momentum":
            return optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=wd)
        case "nesterov":
            return optim.SGD(
                params, lr=config.lr, momentum=config.momentum, nesterov=True, weight_decay=wd
            )
        case "adagrad":
            return optim.AdaGrad(params, lr=config.lr, weight_decay=wd)
        case "rmsprop":
            return optim.RMSProp(params, lr=config.lr, weight_decay=wd)
        case "adam":
            return optim.Adam(params, lr=config.lr, weight_decay=wd)
        case "adamw":
            return optim.AdamW(params, lr=config.lr, weight_decay=wd)
    raise ConfigError(f"unknown optimizer {config.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")


def _schedule(config: TrainConfig, optimizer) -> Callback | None:
    match config.schedule:
        case "cosine":
            return LRSchedule(optim.CosineAnnealingLR(optimizer, T_max=config.epochs))
        case "step":
            return LRSchedule(optim.StepLR(optimizer, step_size=max(config.epochs // 3, 1)))
        case "exponential":
            return LRSchedule(optim.ExponentialLR(optimizer, gamma=0.9))
    return None


def summary_command(config: TrainConfig) -> int:
    try:
        check_config(config)
        dataset, *_ = load_data(config)
    except ConfigError as error:
        print(f"nablab summary: error: {error}", file=sys.stderr)
        return 2
    model = build_model(config, dataset.n_features, dataset.classes)
    print(summary(model, dataset.n_features))
    return 0


def train_command(config: TrainConfig) -> int:
    """Train, write the run's files into ``config.out`` and print the final metrics."""
    try:
        check_config(config)
        dataset, train, val, test = load_data(config)
        model = build_model(config, dataset.n_features, dataset.classes)
        optimizer = build_optimizer(config, model)
    except ConfigError as error:
        print(f"nablab train: error: {error}", file=sys.stderr)
        return 2
    out = Path(config.out) if config.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    callbacks: list[Callback] = []
    schedule = _schedule(config, optimizer)
    if schedule is not None:
        callbacks.append(schedule)
    if config.patience:
        callbacks.append(EarlyStopping("val_loss", patience=config.patience))
    if config.diagnostics:
        callbacks.append(Diagnostics(verbose=False, seed=config.seed))
    if config.progress:
        callbacks.append(ProgressBar())
    checkpoint = str(out / "checkpoint.npz") if out else None
    loss = nn.CrossEntropyLoss()
    try:
        history = fit(
            model,
            loss,
            optimizer,
            train,
            val,
            epochs=config.epochs,
            batch_size=config.batch_size,
            callbacks=callbacks,
            seed=config.seed,
            checkpoint=checkpoint,
            resume=checkpoint if config.resume else None,
        )
    except CheckpointError as error:
        print(f"nablab train: error: {error}", file=sys.stderr)
        return 2
    metrics = {
        "dataset": dataset.name,
        "epochs_run": len(history.epochs),
        "train_loss": history.last.get("train_loss"),
        "train_acc": history.last.get("train_acc"),
        "val_loss": history.last.get("val_loss"),
        "val_acc": history.last.get("val_acc"),
        "stopped": history.stopped,
        "config": asdict(config),
        "findings": [f.kind for f in history.findings],
    }
    if test is not None and not history.stopped:
        metrics["test_loss"], metrics["test_acc"] = evaluate(model, loss, *test)
    report = "\n\n".join(str(f) for f in history.findings) or "no problems found"
    if out is not None:
        write_atomic(out / "history.csv", history.epochs_csv())
        write_atomic(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        write_atomic(out / "diagnostics.txt", report + "\n")
        history.plot(out / "loss.png", out / "accuracy.png")
    lines = [
        f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}"
        for key, value in metrics.items()
        if key in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
        and value is not None
    ]
    print("\n".join(lines))
    if history.stopped:
        print(f"stopped: {history.stopped}")
    print(f"diagnostics: {report}")
    if out is not None:
        print(
            f"wrote {out}/: history.csv metrics.json loss.png accuracy.png checkpoint.npz "
            "diagnostics.txt"
        )
    return 1 if history.stopped and "non-finite" in history.stopped else 0
