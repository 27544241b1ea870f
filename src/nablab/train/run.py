"""A training run from its configuration: data, model, optimizer, ``fit``, metrics.

:func:`run_training` writes nothing and prints nothing (unless asked for a checkpoint file or a
progress bar), so a figure, a sweep or a notebook can call it; :mod:`nablab.train.rundir`
writes a run's folder and :mod:`nablab.train.command` is the command line around both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nablab import data, nn
from nablab.optim.optimizer import Optimizer
from nablab.optim.registry import OPTIMIZERS, make_optimizer, make_schedule
from nablab.train.callbacks import Callback, EarlyStopping, LRSchedule
from nablab.train.config import ConfigError, TrainConfig, check_config, flag
from nablab.train.diagnostics import Diagnostics
from nablab.train.history import History, history_html
from nablab.train.loop import evaluate, fit
from nablab.train.models import MODELS

Arrays = tuple[np.ndarray, np.ndarray]


@dataclass
class Splits:
    """A dataset's name, one sample's shape, its standardized training, validation and test
    arrays, the shape of its images (``None`` when its samples are not images) and the fitted
    standardizer."""

    name: str
    input_shape: tuple[int, ...]
    classes: int
    train: Arrays
    val: Arrays
    test: Arrays | None
    image_shape: tuple[int, ...] | None = None
    scaler: data.Standardizer | None = None

    @property
    def n_features(self) -> int:
        """The numbers in one sample (the product of ``input_shape``)."""
        return int(np.prod(self.input_shape))


def load_data(config: TrainConfig) -> Splits:
    """Training, validation and (where the dataset has one) test arrays, standardized with the
    statistics of the training part only: per feature, or, when the run augments its images,
    by one mean and standard deviation over all pixels (a shift moves ink into pixels that are
    almost always blank, whose own standard deviation is near zero)."""
    dtype = np.dtype(config.dtype)
    try:
        if config.data in data.LOADERS:
            dataset = data.load(config.data, dtype=dtype)
        else:
            dataset = data.read_file(config.data, config.labels).astype(dtype)
    except data.DataFileError as error:
        raise ConfigError(str(error)) from None
    _check_labels(config.data, dataset.y)
    x_train, y_train, x_val, y_val = data.train_val_split(
        dataset.x, dataset.y, config.val_fraction, config.seed
    )
    if len(x_train) < 2 or len(x_val) < 1:
        raise ConfigError(
            f"--val-fraction {config.val_fraction}: of the {len(dataset.y)} samples this leaves "
            f"{len(x_train)} for training and {len(x_val)} for validation; each needs some"
        )
    x_test, y_test = dataset.x_test, dataset.y_test
    scaler = None
    if config.standardize:
        # augmented images move ink between pixels: standardize by one mean and std then
        scaler = data.Standardizer(per_feature=config.augment is None).fit(x_train)
        x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
        x_test = None if x_test is None else scaler.transform(x_test)
    test = None if x_test is None else (x_test, y_test)
    return Splits(
        dataset.name,
        dataset.input_shape,
        dataset.classes,
        (x_train, y_train),
        (x_val, y_val),
        test,
        dataset.image_shape,
        scaler,
    )


def build_augmentation(config: TrainConfig, splits: Splits) -> data.OnFlatImages | None:
    """The configured image augmentation on the training rows (undoing the standardization
    around it), or ``None``; a dataset whose samples are not images is a ``ConfigError``."""
    if config.augment is None:
        return None
    from nablab.data.augment_spec import make_augmentation, parse_augment

    if splits.image_shape is None:
        raise ConfigError(
            f"--augment: the samples of {splits.name!r} are not images (no image shape); "
            "augmentation needs image data such as digits or IDX images"
        )
    transforms = make_augmentation(parse_augment(config.augment))
    return data.OnFlatImages(transforms, splits.image_shape, splits.scaler)


def parameter_count(config: TrainConfig, input_shape: tuple[int, ...] | int, n_classes: int) -> int:
    """The number of parameters the config's model has (weights, biases, BatchNorm's γ and β),
    counted without building it."""
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    return MODELS.entry(config.model).extra["count"](config, shape, n_classes)


def available_memory() -> int:
    """Bytes of memory available to a new allocation (physical pages free), or 0 if unknown."""
    import os

    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def check_size(config: TrainConfig, splits: Splits) -> None:
    """Refuse, before allocating, a model whose parameters, gradients and optimizer state
    (about five copies with Adam) would not fit in the memory available."""
    count = parameter_count(config, splits.input_shape, splits.classes)
    needed = 5 * count * np.dtype(config.dtype).itemsize
    available = available_memory()
    if available and needed > 0.8 * available:
        sizes = ", ".join(
            f"{flag(name)} {','.join(map(str, value)) if isinstance(value, tuple) else value}"
            for name in MODELS.entry(config.model).extra["fields"]
            for value in [getattr(config, name)]
        )
        raise ConfigError(
            f"{sizes}: the model has {count:,} parameters "
            f"(about {needed / 2**30:.1f} GiB with gradients and optimizer state); this machine "
            f"has {available / 2**30:.1f} GiB available"
        )


def _check_labels(source: str, y: np.ndarray) -> None:
    """Class labels 0 … K − 1 with at least two classes and no more classes than samples."""
    present = np.unique(y)
    if len(present) < 2:
        raise ConfigError(
            f"--data {source}: every sample has label {present[0]}; a classifier "
            "needs at least two classes"
        )
    if int(present[-1]) >= len(y):
        raise ConfigError(
            f"--data {source}: the largest label is {int(present[-1])} but there "
            f"are only {len(y)} samples; labels must be class indices 0 … K − 1"
        )


def build_model(
    config: TrainConfig, input_shape: tuple[int, ...] | int, n_classes: int
) -> nn.Sequential:
    """The model ``config.model`` names (see :mod:`nablab.train.models`) for samples of
    ``input_shape``; a model that does not fit the data is a :class:`ConfigError`."""
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    try:
        return MODELS[config.model](config, shape, n_classes)
    except ValueError as error:
        raise ConfigError(f"--model {config.model}: {error}") from None


def build_optimizer(config: TrainConfig, model: nn.Module) -> Optimizer:
    """The optimizer the config names, with its learning rate and weight decay; ``momentum``
    goes to the names whose preset uses momentum."""
    options: dict[str, Any] = {"lr": config.lr, "weight_decay": config.weight_decay}
    if "momentum" in OPTIMIZERS.entry(config.optimizer).extra["preset"]:
        options["momentum"] = config.momentum
    return make_optimizer(config.optimizer, model.parameters(), **options)


def build_callbacks(config: TrainConfig, optimizer: Optimizer) -> list[Callback]:
    callbacks: list[Callback] = []
    schedule = make_schedule(config.schedule, optimizer, config.epochs)
    if schedule is not None:
        callbacks.append(LRSchedule(schedule))
    if config.patience:
        callbacks.append(EarlyStopping("val_loss", patience=config.patience))
    if config.diagnostics:
        callbacks.append(Diagnostics(verbose=False, seed=config.seed))
    return callbacks


def config_record(config: TrainConfig) -> dict[str, Any]:
    """The config as JSON stores it (tuples as lists)."""
    return json.loads(json.dumps(asdict(config)))


def fingerprint(splits: Splits) -> str:
    """A SHA-256 of the training and validation arrays (after standardizing): two runs on the
    same data have the same fingerprint."""
    digest = hashlib.sha256()
    for array in (*splits.train, *splits.val):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:32]


# What a resumed run may change: the number of epochs (to train further).
RESUMABLE = ("epochs",)


def check_resume(path: str, meta: dict[str, Any]) -> None:
    """Refuse to continue a checkpoint made with another configuration or other data, naming
    what differs."""
    from nablab.train.checkpoint import CheckpointError, read_meta

    stored = read_meta(path)
    before, now = stored.get("config"), meta["config"]
    if not isinstance(before, dict):
        raise CheckpointError(f"{path}: the checkpoint does not record its configuration")
    differences = [
        f"{flag(name)} {before.get(name)!r} in the checkpoint, {value!r} now"
        for name, value in now.items()
        if name not in RESUMABLE and before.get(name) != value
    ]
    if differences:
        raise CheckpointError(f"{path}: made with other settings: " + "; ".join(differences))
    if stored.get("data") != meta["data"]:
        raise CheckpointError(
            f"{path}: made with other data (fingerprint "
            f"{stored.get('data')} in the checkpoint, {meta['data']} now)"
        )


@dataclass
class RunResult:
    """A finished run: its configuration, the trained model, history and metrics."""

    config: TrainConfig
    dataset: str
    model: nn.Sequential
    optimizer: Optimizer
    history: History
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def diverged(self) -> bool:
        return bool(self.history.stopped and "non-finite" in self.history.stopped)

    def report(self) -> str:
        """The diagnostic findings as text (``"no problems found"`` when there are none)."""
        from nablab.i18n import M, localized

        none = localized(M("diagnostics.no_problems", "no problems found"))
        return "\n\n".join(str(f) for f in self.history.findings) or none

    def _repr_html_(self) -> str:
        from html import escape

        from nablab.viz import html_img

        shown = {k: v for k, v in self.metrics.items() if k not in ("config", "findings")}
        rows = "".join(
            f"<tr><th>{escape(k)}</th><td>{v:.4f}</td></tr>"
            if isinstance(v, float)
            else f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>"
            for k, v in shown.items()
        )
        figure = self.history.figures()["loss"]
        return (
            f"<h4>Training run on {escape(self.dataset)}</h4><table>{rows}</table>"
            + history_html(self.history)
            + html_img(figure, "loss curves")
        )


def run_training(
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    progress: bool = False,
    checkpoint: str | None = None,
    resume: str | None = None,
    splits: Splits | None = None,
) -> RunResult:
    """Train the configured model and return the :class:`RunResult` (no files written unless
    ``checkpoint`` names one). The same config gives bit-identical results. ``splits``, when
    given, is the config's data already loaded by :func:`load_data`."""
    check_config(config)
    splits = load_data(config) if splits is None else splits
    check_size(config, splits)
    augment = build_augmentation(config, splits)
    meta = {"config": config_record(config), "data": fingerprint(splits)}
    if resume is not None:
        check_resume(resume, meta)
    model = build_model(config, splits.input_shape, splits.classes)
    optimizer = build_optimizer(config, model)
    loss = nn.CrossEntropyLoss()
    history = fit(
        model,
        loss,
        optimizer,
        splits.train,
        splits.val,
        epochs=config.epochs,
        batch_size=config.batch_size,
        callbacks=[*build_callbacks(config, optimizer), *callbacks],
        seed=config.seed,
        progress=progress,
        checkpoint=checkpoint,
        resume=resume,
        checkpoint_meta=meta,
        augment=augment,
    )
    last = history.last
    metrics: dict[str, Any] = {
        "dataset": splits.name,
        "epochs_run": len(history.epochs),
        "train_loss": last.get("train_loss"),
        "train_acc": last.get("train_acc"),
        "val_loss": last.get("val_loss"),
        "val_acc": last.get("val_acc"),
        "stopped": history.stopped,
        "config": asdict(config),
        "findings": [f.kind for f in history.findings],
    }
    if splits.test is not None and not history.stopped:
        metrics["test_loss"], metrics["test_acc"] = evaluate(model, loss, *splits.test)
    return RunResult(config, splits.name, model, optimizer, history, metrics)
