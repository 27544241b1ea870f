"""What ``nablab train`` and ``nablab summary`` do, given their parsed flags: check, run,
write, print. The work itself is :func:`nablab.train.run.run_training`."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from nablab.nn.summary import summary
from nablab.train.checkpoint import CheckpointError, read_meta
from nablab.train.config import ConfigError, TrainConfig, check_config
from nablab.train.run import build_model, load_data, run_training
from nablab.train.rundir import CHECKPOINT, RUN_FILES, run_lock, write_run

SHOWN_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


def _error(command: str, error: Exception) -> int:
    print(f"nablab {command}: error: {error}", file=sys.stderr)
    return 2


def _check_out(out: str | None, resume: bool) -> None:
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the run's outputs")
    if out is not None:
        for parent in Path(out).absolute().parents:
            if parent.exists():
                if not parent.is_dir():
                    raise ConfigError(f"--out {out}: {parent} is a file, not a folder")
                break
    if resume and (out is None or not (Path(out) / CHECKPOINT).is_file()):
        raise ConfigError(f"--resume needs --out pointing at a run folder with {CHECKPOINT}")


def summary_command(config: TrainConfig) -> int:
    try:
        check_config(config)
        splits = load_data(config)
        model = build_model(config, splits.input_shape, splits.classes)
    except ConfigError as error:
        return _error("summary", error)
    print(summary(model, splits.input_shape))
    return 0


def stored_config(checkpoint: Path, config: TrainConfig, given: set[str]) -> TrainConfig:
    """The configuration a checkpoint was made with, with the flags given now on top (a
    resumed run repeats its settings; a changed one is refused later, naming the change)."""
    stored = read_meta(checkpoint).get("config")
    if not isinstance(stored, dict):
        raise CheckpointError(f"{checkpoint}: the checkpoint does not record its configuration")
    values = {name: stored[name] for name in TrainConfig.field_names() if name in stored}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}  # sizes
    values.update(
        {name: getattr(config, name) for name in given if name in TrainConfig.field_names()}
    )
    return TrainConfig(**values)


def train_command(
    config: TrainConfig,
    out: str | None = None,
    resume: bool = False,
    progress: bool = True,
    given: set[str] | None = None,
) -> int:
    """Train, write the run's files into ``out`` and print the final metrics. Exit code 0, 1
    when training diverged, 2 for bad flags or files. With ``resume``, flags not ``given``
    come from the checkpoint."""
    try:
        _check_out(out, resume)
        folder = Path(out) if out else None
        checkpoint = str(folder / CHECKPOINT) if folder else None
        if resume:
            config = stored_config(Path(checkpoint), config, set(given or ()))
        check_config(config)
        splits = load_data(config)
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ConfigError(
                    f"--out {out}: cannot create the folder: {error.strerror}"
                ) from None
        with contextlib.ExitStack() as stack:
            if folder is not None:
                stack.enter_context(run_lock(folder))
            result = run_training(
                config,
                progress=progress,
                checkpoint=checkpoint,
                resume=checkpoint if resume else None,
                splits=splits,
            )
            if folder is not None:
                write_run(result, folder)
    except (ConfigError, CheckpointError) as error:
        return _error("train", error)
    lines = [
        f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}"
        for key, value in result.metrics.items()
        if key in SHOWN_METRICS and value is not None
    ]
    print("\n".join(lines))
    if result.history.stopped:
        print(f"stopped: {result.history.stopped}")
    from nablab.i18n import M, localized

    print(localized(M("diagnostics.prefix", "diagnostics: {finding}", finding=result.report())))
    if folder is not None:
        print(f"wrote {folder}/: {' '.join(RUN_FILES)}")
    return 1 if result.diverged else 0
