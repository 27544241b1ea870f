"""Sweeps: many training runs from one file, on all local cores or a Ray cluster, recorded in a
resumable SQLite store, with a table, figures and run-folder comparisons.

``load_sweep(path)`` reads and checks a sweep file (:mod:`nablab.sweep.spec`);
``run_sweep(sweep, out)`` runs or resumes it (:mod:`nablab.sweep.runner`) and returns its
:class:`~nablab.sweep.results.SweepResults` (``records()``, ``summary()``, ``dataframe()``);
``load_results(out)`` reads a sweep folder, ``write_figures(results)`` draws its figures.
What a trial is comes from the trial-kind registry (:mod:`nablab.sweep.kinds`), where it runs
from the backend registry (:mod:`nablab.sweep.backends`), how points are chosen from the search
registry (:mod:`nablab.sweep.search`).

Names are imported on first use, so the command line can read the registries without loading
pydantic or YAML.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "BACKENDS": "backends",
    "BackendError": "backends",
    "write_figures": "figures",
    "TRIAL_KINDS": "kinds",
    "Outcome": "kinds",
    "SweepResults": "results",
    "load_results": "results",
    "Progress": "runner",
    "run_sweep": "runner",
    "SEARCHES": "search",
    "Sweep": "spec",
    "SweepError": "spec",
    "load_sweep": "spec",
    "parse_sweep": "spec",
    "StoreError": "store",
    "StoreLockedError": "store",
    "SweepStore": "store",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"nablab.sweep.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'nablab.sweep' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
