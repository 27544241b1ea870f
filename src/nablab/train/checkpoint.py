"""Checkpoints: model, optimizer, random states and run metadata in one ``.npz``.

Arrays are stored as ``model.<name>`` and ``optimizer.<key>``; everything else (epoch, the
history, the states of every random generator, callbacks) as one JSON string under ``meta``,
so the file loads with ``allow_pickle=False``. Writing goes to a temporary file first.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from nablab._io import read_npz, write_atomic
from nablab.errors import NablabError
from nablab.nn import Module
from nablab.optim import Optimizer

FORMAT_VERSION = 2  # 2: optimizer state per parameter, masks, the run's config and data
TRAINER_KEYS = ("epoch", "global_step", "samples_seen", "history", "rng", "callbacks")


class CheckpointError(NablabError):
    """A checkpoint that does not fit the model or optimizer it is loaded into."""


def module_rngs(model: Module) -> dict[str, np.random.Generator]:
    """Every random generator held by a module or its weight transforms (dropout masks,
    weight noise), by place."""
    found = {}
    for path, module in model.named_modules():
        owners = [("", module)]
        for name, transforms in module._weight_transforms.items():
            owners += [(f"{name}.{i}.", t) for i, t in enumerate(transforms.values())]
        for prefix, owner in owners:
            for attribute, value in vars(owner).items():
                if isinstance(value, np.random.Generator):
                    found[f"{path or '<root>'}:{prefix}{attribute}"] = value
    return found


def save_checkpoint(
    path: str | Path, model: Module, optimizer: Optimizer, meta: dict[str, Any]
) -> Path:
    arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
    arrays.update({f"optimizer.{k}": v for k, v in optimizer.state_dict().items()})
    meta = {
        **meta,
        "format": FORMAT_VERSION,
        "module_rngs": {k: g.bit_generator.state for k, g in module_rngs(model).items()},
    }
    arrays["meta"] = np.array(json.dumps(meta))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return write_atomic(path, buffer.getvalue())


def read_meta(path: str | Path) -> dict[str, Any]:
    """A checkpoint's metadata (its format checked), without loading the arrays."""
    path = Path(path)
    arrays = read_npz(path, CheckpointError, "checkpoint")
    return _meta(path, arrays)


def _meta(path: Path, arrays: dict) -> dict[str, Any]:
    if "meta" not in arrays:
        raise CheckpointError(f"{path}: not a nablab checkpoint (no 'meta' entry)")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: the checkpoint's metadata is damaged") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: the checkpoint's metadata is damaged")
    version = meta.get("format")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version}, this version of nablab reads format "
            f"{FORMAT_VERSION}; start the run again"
        )
    return meta


def load_checkpoint(path: str | Path, model: Module, optimizer: Optimizer) -> dict[str, Any]:
    """Load a checkpoint into ``model`` and ``optimizer`` and return its metadata."""
    path = Path(path)
    arrays = read_npz(path, CheckpointError, "checkpoint")
    meta = _meta(path, arrays)
    model_state = {k[len("model.") :]: v for k, v in arrays.items() if k.startswith("model.")}
    optimizer_state = {
        k[len("optimizer.") :]: v for k, v in arrays.items() if k.startswith("optimizer.")
    }
    for name, value in {**model_state, **optimizer_state}.items():
        if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
            raise CheckpointError(f"{path}: {name} holds non-finite values")
    try:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
    except (KeyError, ValueError) as error:
        raise CheckpointError(
            f"{path}: does not fit this model/optimizer: {error.args[0]}"
        ) from None
    generators = module_rngs(model)
    for key, state in meta.get("module_rngs", {}).items():
        if key in generators:
            generators[key].bit_generator.state = state
    return meta
