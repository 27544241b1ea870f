"""What ``nablab prune RUN_DIR`` does: rebuild a trained run, prune it, retrain, write.

The run folder (written by ``nablab train --out``) holds the configuration in
``metrics.json`` and the weights in ``checkpoint.npz``. The model is rebuilt from the
configuration and loaded; the criterion scores a float64 copy of it (second derivatives and
differences of gradients need the precision), whose masks and weights are copied back; each
retraining uses the configuration's data, optimizer, learning rate and batch size. The output
folder gets the pruned ``checkpoint.npz`` (masks included: ``nablab prune`` can read it
again), ``metrics.json``, ``pruning.png``, ``layers.png`` and ``sensitivity.png``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from nablab._io import read_npz, write_atomic
from nablab.errors import NablabError
from nablab.nn import CrossEntropyLoss, Module
from nablab.prune.core import PruneReport, prune, sparsity
from nablab.prune.criteria import CRITERIA, DEFAULT_DAMPING, DEFAULT_MAX_PARAMS
from nablab.prune.schedule import (
    PruneHistory,
    criterion_data,
    measurements,
    prune_and_retrain,
    sparsity_schedule,
)
from nablab.train.config import ConfigError, TrainConfig, check_config
from nablab.train.rundir import CHECKPOINT

OUTPUT_FILES = ("checkpoint.npz", "metrics.json", "pruning.png", "layers.png", "sensitivity.png")
METRICS = "metrics.json"


class PruneError(NablabError):
    """A bad argument or run folder: one line, exit code 2."""


@dataclass(frozen=True)
class PruneSettings:
    """The command's options (the command line's flags)."""

    method: str = "magnitude"
    amount: float = 0.5
    structured: bool = False
    scope: str = "global"
    steps: int = 1
    schedule: str = "linear"
    retrain_epochs: int = 0
    curvature: str = "lecun"
    max_params: int = DEFAULT_MAX_PARAMS
    damping: float = DEFAULT_DAMPING
    seed: int = 0
    weights_only: bool = True


@dataclass
class LoadedRun:
    config: TrainConfig
    splits: Any
    model: Module


def _check_settings(settings: PruneSettings) -> None:
    from nablab.analysis.curvature import CURVATURES
    from nablab.prune.core import SCOPES
    from nablab.prune.schedule import SCHEDULES

    if settings.method not in CRITERIA:
        raise PruneError(f"--method: {CRITERIA.unknown_message(settings.method)}")
    if not 0 <= settings.amount < 1:
        raise PruneError(f"--amount must be a fraction in [0, 1), got {settings.amount!r}")
    if settings.scope not in SCOPES:
        raise PruneError(f"--scope must be one of {', '.join(SCOPES)}, got {settings.scope!r}")
    if settings.schedule not in SCHEDULES:
        raise PruneError(f"--schedule: {SCHEDULES.unknown_message(settings.schedule)}")
    if settings.curvature not in CURVATURES:
        raise PruneError(f"--curvature: {CURVATURES.unknown_message(settings.curvature)}")
    for name, low in (("steps", 1), ("retrain_epochs", 0), ("max_params", 1)):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            flag = "--" + name.replace("_", "-")
            raise PruneError(f"{flag} must be an integer >= {low}, got {value!r}")
    if not settings.damping >= 0:
        raise PruneError(f"--damping must be >= 0, got {settings.damping!r}")


def read_config(run_dir: Path) -> TrainConfig:
    """The :class:`TrainConfig` stored in a run folder's ``metrics.json``."""
    if not run_dir.is_dir():
        raise PruneError(f"{run_dir}: no such run folder (write one with `nablab train --out`)")
    for name in (METRICS, CHECKPOINT):
        if not (run_dir / name).is_file():
            raise PruneError(
                f"{run_dir}: no {name}; a run folder written by `nablab train --out` has both "
                f"{METRICS} and {CHECKPOINT}"
            )
    try:
        stored = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PruneError(f"{run_dir / METRICS}: cannot read the run's config ({error})") from None
    known = {f.name for f in fields(TrainConfig)}
    if not isinstance(stored, dict) or not set(stored) <= known:
        extra = sorted(set(stored) - known) if isinstance(stored, dict) else stored
        raise PruneError(f"{run_dir / METRICS}: unexpected config entries {extra}")
    if isinstance(stored.get("hidden"), list):
        stored["hidden"] = tuple(stored["hidden"])
    config = TrainConfig(**stored)
    try:
        check_config(config)
    except ConfigError as error:
        raise PruneError(f"{run_dir / METRICS}: {error}") from None
    return config


def load_model_state(path: Path, model: Module) -> None:
    """Load the ``model.*`` arrays of a checkpoint (masks included) into ``model``."""
    arrays = read_npz(path, PruneError, "checkpoint")
    state = {k[len("model.") :]: v for k, v in arrays.items() if k.startswith("model.")}
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError) as error:
        raise PruneError(
            f"{path}: does not fit the model its {METRICS} describes: {error.args[0]}"
        ) from None


def load_run(run_dir: str | Path) -> LoadedRun:
    """The run's configuration, data splits and trained model."""
    from nablab.train.run import build_model, load_data

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    try:
        splits = load_data(config)
    except ConfigError as error:
        raise PruneError(f"{run_dir / METRICS}: {error}") from None
    model = build_model(config, splits.n_features, splits.classes)
    load_model_state(run_dir / CHECKPOINT, model)
    return LoadedRun(config, splits, model)


def _copy_state(source: Module, target: Module) -> None:
    """Parameters, buffers and masks of ``source`` into ``target``, cast to its dtypes."""
    from nablab.nn.module import MASK_SUFFIX

    dtypes = {k: v.dtype for k, v in target.state_dict().items()}
    state = {}
    for key, value in source.state_dict().items():
        owner = key[: -len(MASK_SUFFIX)] if key.endswith(MASK_SUFFIX) else key
        state[key] = np.asarray(value).astype(dtypes.get(key, dtypes[owner]))
    target.load_state_dict(state)


def _as_float64(pair: tuple | None) -> tuple | None:
    if pair is None:
        return None
    x, y = pair
    return x.astype(np.float64), y


def run_pruning(run: LoadedRun, settings: PruneSettings) -> tuple[PruneHistory, Any, Any]:
    """Prune the loaded run's model in place, retraining between steps; returns the history,
    the sensitivity scan of the unpruned model and the last optimizer."""
    from nablab.prune.sensitivity import sensitivity_scan
    from nablab.train.loop import fit
    from nablab.train.run import build_model, build_optimizer

    _check_settings(settings)
    config, splits, model = run.config, run.splits, run.model
    loss = CrossEntropyLoss()
    n_params = sum(p.size for p in model.parameters())
    if settings.method == "obs" and n_params > settings.max_params:
        raise PruneError(
            f"--method obs: the model has {n_params} parameters, more than --max-params "
            f"{settings.max_params} (Optimal Brain Surgeon inverts the dense {n_params}×"
            f"{n_params} Hessian); raise --max-params or use --method obd"
        )
    scorer = build_model(replace(config, dtype="float64"), splits.n_features, splits.classes)
    train64, val64 = _as_float64(splits.train), _as_float64(splits.val)
    data = criterion_data(settings.method, train64, val64)
    named = {"train": splits.train, "val": splits.val}
    if splits.test is not None:
        named["test"] = splits.test
    scan = sensitivity_scan(model, loss, *splits.val)
    state: dict[str, Any] = {"optimizer": build_optimizer(config, model)}

    def prune_step(target: float) -> PruneReport:
        _copy_state(model, scorer)
        report = prune(
            scorer,
            target,
            settings.method,
            structured=settings.structured,
            scope=settings.scope,
            data=data,
            loss=CrossEntropyLoss(),
            rng=np.random.default_rng(settings.seed),
            curvature=settings.curvature,
            max_params=settings.max_params,
            damping=settings.damping,
            weights_only=settings.weights_only,
        )
        _copy_state(scorer, model)
        return report

    def retrain(number: int) -> None:
        state["optimizer"] = optimizer = build_optimizer(config, model)
        fit(
            model,
            loss,
            optimizer,
            splits.train,
            splits.val,
            epochs=settings.retrain_epochs,
            batch_size=config.batch_size,
            seed=config.seed + number,
        )

    history = prune_and_retrain(
        sparsity_schedule(settings.amount, settings.steps, settings.schedule),
        prune_step,
        lambda: measurements(model, loss, named),
        retrain if settings.retrain_epochs > 0 else None,
    )
    return history, scan, state["optimizer"]


def pruning_metrics(
    run: LoadedRun, settings: PruneSettings, history: PruneHistory, seconds: float
) -> dict[str, Any]:
    """What ``metrics.json`` holds: the final measurements at the top level (as a training
    run's), the configuration, the settings, every step, and the sparsity per weight."""
    from nablab.prune.compaction import compact

    model = run.model
    last = history.steps[-1]
    final = last.retrained if last.retrained is not None else last.pruned
    total = sum(p.size for p in model.parameters())
    nonzero = sum(
        int(p.size if p.mask is None else np.count_nonzero(p.mask)) for p in model.parameters()
    )
    metrics: dict[str, Any] = {"dataset": run.splits.name, **final}
    metrics.update(
        {
            "sparsity": last.report.sparsity,
            "parameters": total,
            "unpruned_parameters": nonzero,
            "compact_parameters": sum(p.size for p in compact(model).parameters())
            if settings.structured
            else None,
            "predicted_increase": last.report.predicted_increase,
            "seconds": seconds,
            "pruning": asdict(settings),
            "baseline": history.baseline,
            "history": history.rows(),
            "layers": [asdict(row) for row in sparsity(model, settings.weights_only)],
            "units": [asdict(row) for row in last.report.units],
            "config": asdict(run.config),
        }
    )
    return metrics


def write_outputs(out: Path, run: LoadedRun, history, scan, optimizer, metrics) -> None:
    from nablab.prune.figures import layers_figure
    from nablab.train.checkpoint import save_checkpoint
    from nablab.viz import save

    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / CHECKPOINT, run.model, optimizer, {"pruning": metrics["pruning"]})
    write_atomic(out / METRICS, json.dumps(metrics, indent=2) + "\n")
    method = metrics["pruning"]["method"]
    save(history.figure(f"Pruning with {method}"), out / "pruning.png")
    rows = sparsity(run.model, metrics["pruning"]["weights_only"])
    save(layers_figure(rows, f"Entries pruned per parameter ({method})"), out / "layers.png")
    save(scan.figure(), out / "sensitivity.png")


def _summary(metrics: dict[str, Any], settings: PruneSettings, out: Path) -> str:
    kind = "structured (units)" if settings.structured else "unstructured"
    method = settings.method + (
        f" ({settings.curvature} curvature)" if settings.method == "obd" else ""
    )
    lines = [
        f"method: {method}, {kind}, {settings.scope}, amount {settings.amount:g} in "
        f"{settings.steps} step(s), {settings.retrain_epochs} retraining epoch(s) per step",
        f"{'weights' if settings.weights_only else 'parameters'} pruned: "
        f"{sum(r['pruned'] for r in metrics['layers'])} of "
        f"{sum(r['size'] for r in metrics['layers'])} ({metrics['sparsity']:.1%})",
    ]
    if metrics["compact_parameters"] is not None:
        lines.append(
            f"parameters: {metrics['parameters']} → {metrics['compact_parameters']} after compact"
        )
    baseline = metrics["baseline"]
    pruned = next(r for r in reversed(metrics["history"]) if r["stage"] == "pruned")
    for key in ("val_loss", "val_acc", "test_loss", "test_acc"):
        if baseline.get(key) is None:
            continue
        line = f"{key}: {baseline[key]:.4f} → {pruned[key]:.4f} (pruned)"
        if metrics["history"][-1]["stage"] == "retrained":
            line += f" → {metrics[key]:.4f} (retrained)"
        lines.append(line)
    lines.append(f"wrote {out}/: {' '.join(OUTPUT_FILES)}")
    return "\n".join(lines)


def prune_command(run_dir: str, out: str, settings: PruneSettings) -> int:
    """Prune the run in ``run_dir`` and write ``out``; exit code 0, or 2 for bad arguments."""
    started = time.perf_counter()
    try:
        _check_settings(settings)
        out_path = Path(out)
        if out_path.exists() and not out_path.is_dir():
            raise PruneError(f"--out {out} is a file; give a folder for the pruned run")
        if out_path.resolve() == Path(run_dir).resolve():
            raise PruneError("--out must differ from RUN_DIR (the trained run is kept as it is)")
        run = load_run(run_dir)
        history, scan, optimizer = run_pruning(run, settings)
    except (PruneError, ValueError) as error:
        print(f"nablab prune: error: {error}", file=sys.stderr)
        return 2
    metrics = pruning_metrics(run, settings, history, time.perf_counter() - started)
    write_outputs(out_path, run, history, scan, optimizer, metrics)
    print(_summary(metrics, settings, out_path))
    return 0
