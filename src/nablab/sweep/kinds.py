"""What one trial of a sweep is: the registry of trial kinds, and the function workers run.

A *trial kind* turns a sweep's ``base`` mapping, one value per axis and a seed into the full,
JSON-ready parameters of one trial, checks those values before anything runs, and runs a trial
from its parameters (in a worker process) into an :class:`Outcome`: the final metrics and the
per-epoch history. Today there is one kind, ``train``: a training run,
:func:`nablab.train.run.run_training` of a :class:`~nablab.train.config.TrainConfig`.

The seam for more kinds (a lab experiment, ``run(params) -> Result``): write a class with the
methods of :class:`TrainTrials` (``parameters``, ``check``, ``resolve``, ``run``, ``metrics``,
``direction``) and register an instance with ``TRIAL_KINDS.add(name, instance, summary)``; a
sweep file then says ``kind: NAME``, and the file checks, the searches, both backends, the
store, the table and the figures work unchanged, because they only see parameter mappings,
metric mappings and history rows.

Workers call :func:`execute`, which never raises: an error of the trial (a bad setting found
at run time, a data file that cannot be read, a bug) comes back as a failed outcome with its
message, so one bad trial does not stop the sweep.
"""

from __future__ import annotations

import math
import os
import socket
import time
import types
import typing
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from nablab.registry import Registry


@dataclass
class Outcome:
    """What a worker sends back for one trial (plain, picklable, JSON-ready values)."""

    status: str  # "done" or "failed"
    metrics: dict[str, float | None] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    worker: str = ""


# ------------------------------------------------------------------------------ train runs


def _hints() -> dict[str, Any]:
    from nablab.train.config import TrainConfig

    return typing.get_type_hints(TrainConfig)


_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _coerce(name: str, value: Any) -> Any:
    """``value`` as the TrainConfig field ``name`` holds it (lists of widths become tuples,
    whole numbers in float fields become floats), or ``ValueError`` saying what was expected."""
    hint = _hints()[name]
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    allowed = typing.get_args(hint) if union else (hint,)
    if value is None and type(None) in allowed:
        return None
    for kind in allowed:
        if typing.get_origin(kind) is tuple:
            if isinstance(value, list | tuple) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            ):
                return tuple(value)
        elif kind is bool:
            if isinstance(value, bool):
                return value
        elif kind is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        elif kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif kind is str and isinstance(value, str):
            return value
    words = [
        "a list of integers" if typing.get_origin(k) is tuple else _TYPE_WORDS.get(k, "null")
        for k in allowed
    ]
    raise ValueError(f"expected {' or '.join(words)}, got {value!r}")


@lru_cache(maxsize=4)
def _splits(data: str, labels: str | None, dtype: str, val_fraction: float, seed: int, std: bool):
    """The loaded, split and standardized data of a run, kept per worker process (the arrays
    are made read-only, so no trial can change what the next one sees)."""
    from nablab.train.config import TrainConfig
    from nablab.train.run import load_data

    config = TrainConfig(
        data=data, labels=labels, dtype=dtype, val_fraction=val_fraction, seed=seed, standardize=std
    )
    splits = load_data(config)
    for part in (splits.train, splits.val, splits.test):
        for array in part or ():
            array.setflags(write=False)
    return splits


class TrainTrials:
    """A trial is a training run: ``TrainConfig(**base, **axis values, seed=seed)``."""

    metrics = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
    default_metric = "val_acc"

    def parameters(self) -> tuple[str, ...]:
        """The names a sweep may set in ``base`` or vary along an axis (the seed comes from
        the sweep's ``seeds``)."""
        from nablab.train.config import TrainConfig

        return tuple(name for name in TrainConfig.field_names() if name != "seed")

    def direction(self, metric: str) -> str:
        return "minimize" if metric.endswith("loss") else "maximize"

    def check(self, base: dict[str, Any], values: dict[str, Any]) -> dict[str, str]:
        """Problems of ``base`` updated with ``values``, as ``{field: message}``: each value's
        type, then :func:`~nablab.train.config.check_config` (which stops at its first bad
        field; the caller checks fields one at a time, so that is the field asked about)."""
        from nablab.train.config import ConfigError, TrainConfig, check_config, flag

        settings: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for name, value in {**base, **values}.items():
            try:
                settings[name] = _coerce(name, value)
            except ValueError as error:
                problems[name] = str(error)
        if problems:
            return problems
        try:
            check_config(TrainConfig(**settings))
        except ConfigError as error:
            text = str(error)
            for name in TrainConfig.field_names():
                if text.startswith(flag(name) + " ") or text.startswith(flag(name) + ":"):
                    return {name: text[len(flag(name)) :].lstrip(": ")}
            return {"(config)": text}
        return {}

    def resolve(self, base: dict[str, Any], values: dict[str, Any], seed: int) -> dict[str, Any]:
        """Every field of the trial's TrainConfig, JSON-ready (the identity of the trial)."""
        from nablab.train.config import TrainConfig

        settings = {name: _coerce(name, v) for name, v in {**base, **values}.items()}
        config = asdict(TrainConfig(**settings, seed=seed))
        config["hidden"] = list(config["hidden"])
        return config

    def run(self, params: dict[str, Any]) -> Outcome:
        """Train; a run whose loss became non-finite is a failed trial (with its history)."""
        from nablab.train.config import TrainConfig
        from nablab.train.run import run_training

        config = TrainConfig(**{**params, "hidden": tuple(params["hidden"])})
        splits = _splits(
            config.data,
            config.labels,
            config.dtype,
            config.val_fraction,
            config.seed,
            config.standardize,
        )
        result = run_training(config, splits=splits)
        metrics = {k: _number(result.metrics.get(k)) for k in self.metrics}
        metrics = {k: v for k, v in metrics.items() if v is not None or k in result.metrics}
        metrics["epochs_run"] = float(result.metrics["epochs_run"])
        history = [dict(row) for row in result.history.epochs]
        if result.diverged:
            return Outcome("failed", metrics, history, f"diverged: {result.history.stopped}")
        return Outcome("done", metrics, history)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


TRIAL_KINDS: Registry[Any] = Registry("trial kind")
TRIAL_KINDS.add("train", TrainTrials(), "a training run: nablab train's settings (TrainConfig)")


# ---------------------------------------------------------------------------- in a worker

_WORKER_READY = False


def _watch_parent(parent: int) -> None:
    """Leave when the process that started this worker is gone (killed with SIGKILL, say), so
    no worker outlives its sweep."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def worker_setup(watch_parent: bool = False) -> None:
    """What a worker process does first: :func:`nablab.backend.worker_init` (one kernel and
    one BLAS thread), and one thread for any threaded library loaded later."""
    global _WORKER_READY
    from nablab.backend import worker_init

    worker_init()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = "1"
    if watch_parent:
        import threading

        threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    _WORKER_READY = True


def execute(kind: str, params: dict[str, Any]) -> Outcome:
    """Run one trial and return its :class:`Outcome`; errors become a failed outcome."""
    if not _WORKER_READY:
        worker_setup()
    start = time.perf_counter()
    try:
        outcome = TRIAL_KINDS[kind].run(params)
    except Exception as error:
        from nablab.train.config import ConfigError

        message = (
            str(error) if isinstance(error, ConfigError) else f"{type(error).__name__}: {error}"
        )
        outcome = Outcome("failed", error=message)
    outcome.seconds = time.perf_counter() - start
    outcome.worker = f"{socket.gethostname()}:{os.getpid()}"
    return outcome


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
