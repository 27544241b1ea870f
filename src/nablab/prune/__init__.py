"""Pruning: masks, criteria (random, magnitude, sensitivity, OBD, OBS), schedules, compact.

``prune(model, amount, method)`` masks the lowest-scoring weights (or whole units with
``structured=True``); masks keep pruned weights at exactly zero through training with every
optimizer, and travel in ``state_dict()`` and checkpoints. ``compact(model)`` removes pruned
units, giving a smaller model that computes the same function.
"""

from nablab.prune.compaction import compact, removable_units
from nablab.prune.core import (
    SCOPES,
    LayerSparsity,
    PruneReport,
    prune,
    select_entries,
    select_units,
    sparsity,
)
from nablab.prune.criteria import CRITERIA, Context, Criterion
from nablab.prune.schedule import (
    SCHEDULES,
    PruneHistory,
    iterative_pruning,
    prune_and_retrain,
    sparsity_schedule,
)
from nablab.prune.sensitivity import SensitivityScan, sensitivity_scan
from nablab.prune.targets import UnitGroup, unit_groups, weight_parameters

__all__ = [
    "CRITERIA",
    "SCHEDULES",
    "SCOPES",
    "Context",
    "Criterion",
    "LayerSparsity",
    "PruneHistory",
    "PruneReport",
    "SensitivityScan",
    "UnitGroup",
    "compact",
    "iterative_pruning",
    "prune",
    "prune_and_retrain",
    "removable_units",
    "select_entries",
    "select_units",
    "sensitivity_scan",
    "sparsity",
    "sparsity_schedule",
    "unit_groups",
    "weight_parameters",
]
