"""Training: the loop, callbacks, diagnostics and checkpoints."""

from nablab.train.callbacks import Callback, EarlyStopping, LRSchedule, ProgressBar
from nablab.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from nablab.train.diagnostics import Diagnostics
from nablab.train.history import Finding, History
from nablab.train.loop import Trainer, evaluate, fit

__all__ = [
    "Callback",
    "CheckpointError",
    "Diagnostics",
    "EarlyStopping",
    "Finding",
    "History",
    "LRSchedule",
    "ProgressBar",
    "Trainer",
    "evaluate",
    "fit",
    "load_checkpoint",
    "save_checkpoint",
]
