"""Training: the loop, callbacks, diagnostics, checkpoints and whole runs from a config."""

from nablab.train.callbacks import Callback, EarlyStopping, LRSchedule, ProgressBar, Proximal
from nablab.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from nablab.train.config import ConfigError, TrainConfig, check_config
from nablab.train.diagnostics import Diagnostics
from nablab.train.history import Finding, History
from nablab.train.loop import Trainer, evaluate, fit
from nablab.train.run import RunResult, run_training
from nablab.train.rundir import write_run

__all__ = [
    "Callback",
    "CheckpointError",
    "ConfigError",
    "Diagnostics",
    "EarlyStopping",
    "Finding",
    "History",
    "LRSchedule",
    "ProgressBar",
    "Proximal",
    "RunResult",
    "TrainConfig",
    "Trainer",
    "check_config",
    "evaluate",
    "fit",
    "load_checkpoint",
    "run_training",
    "save_checkpoint",
    "write_run",
]
