"""nablab: a lab for how neural networks learn.

``nablab.nn`` is the engine (modules with explicit matrix-form backward passes and the
parameter store), ``nablab.init`` the initializers, ``nablab.optim`` the optimizers,
``nablab.data`` datasets, ``nablab.train`` training runs, ``nablab.analysis`` gradient checks
and Hessians, ``nablab.solve`` worked solutions, ``nablab.sweep`` sweeps of training runs and
``nablab.viz`` figures.

Subpackages are imported on first use, so ``import nablab`` is quick and loads neither SciPy,
numba, matplotlib nor scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

from nablab.backend import get_num_threads, set_num_threads
from nablab.nn.summary import Summary, summary

__version__ = "0.1.0"

_SUBMODULES = (
    "analysis",
    "backend",
    "data",
    "init",
    "nn",
    "optim",
    "solve",
    "sweep",
    "train",
    "viz",
)

__all__ = [
    "Summary",
    "__version__",
    "analysis",
    "backend",
    "data",
    "get_num_threads",
    "init",
    "nn",
    "optim",
    "set_num_threads",
    "solve",
    "summary",
    "sweep",
    "train",
    "viz",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"nablab.{name}")
    raise AttributeError(f"module 'nablab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
