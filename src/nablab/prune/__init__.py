"""Pruning: masks, criteria (random, magnitude, sensitivity, OBD, OBS), schedules, compact.

``prune(model, amount, method)`` masks the lowest-scoring weights (or whole units with
``structured=True``); masks keep pruned weights at exactly zero through training with every
optimizer, and travel in ``state_dict()`` and checkpoints. ``compact(model)`` removes pruned
units, giving a smaller model that computes the same function.
"""

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
from nablab.prune.targets import UnitGroup, unit_groups, weight_parameters

__all__ = [
    "CRITERIA",
    "SCOPES",
    "Context",
    "Criterion",
    "LayerSparsity",
    "PruneReport",
    "UnitGroup",
    "prune",
    "select_entries",
    "select_units",
    "sparsity",
    "unit_groups",
    "weight_parameters",
]
