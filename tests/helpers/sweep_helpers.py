"""Small sweeps shared by the sweep tests: digits, a few epochs, tiny networks."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

SMALL = {
    "title": "a small sweep",
    "base": {"data": "digits", "hidden": [16], "epochs": 2, "batch_size": 64},
    "axes": {"optimizer": ["sgd", "adam"], "lr": [0.01, 0.1]},
    "seeds": 2,
}


def small(**changes) -> dict:
    """SMALL with top-level keys replaced (``base`` entries merged)."""
    data = copy.deepcopy(SMALL)
    base = changes.pop("base", {})
    data["base"].update(base)
    data.update(changes)
    return data


def write_sweep(folder: Path, data: dict, name: str = "sweep.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def env() -> dict[str, str]:
    """The environment of a child process that imports this checkout's nablab."""
    variables = dict(os.environ)
    source = str(ROOT / "src")
    variables["PYTHONPATH"] = os.pathsep.join(
        p for p in (source, variables.get("PYTHONPATH", "")) if p
    )
    return variables


def nablab(*args: str, **options) -> subprocess.CompletedProcess:
    """Run ``python -m nablab ARGS`` to completion."""
    options.setdefault("env", env())
    return subprocess.run(
        [sys.executable, "-m", "nablab", *args],
        capture_output=True,
        text=True,
        timeout=300,
        **options,
    )


def metrics_by_trial(results) -> dict[int, dict]:
    return {t["number"]: t["metrics"] for t in results.trials}


def thread_probe() -> tuple[int, list[int], str | None]:
    """In a worker: nablab's kernel threads, every loaded BLAS/OpenMP pool's threads, and the
    thread count a library loaded later would read."""
    from threadpoolctl import threadpool_info

    import nablab
    import nablab.train.run  # loads the training stack's libraries

    pools = [pool["num_threads"] for pool in threadpool_info()]
    return nablab.get_num_threads(), pools, os.environ.get("OPENBLAS_NUM_THREADS")
