"""optimal-brain-damage: the three figures of LeCun, Denker & Solla (1990) on digits, with the
computation in :mod:`nablab.prune.experiment`."""

from __future__ import annotations

from nablab.lab.experiment import Check, experiment
from nablab.prune.experiment import OPTIONS, QUICK, obd_figures


@experiment(
    "optimal-brain-damage",
    "pruning",
    "Deleting weights in order of their OBD saliency ½·h_kk·w_k² raises the objective less "
    "than deleting by magnitude or at random; the sum of the saliencies predicts the increase; "
    "and retraining after each deletion step keeps the objective low.",
    OPTIONS,
    quick=QUICK,
    source="004 (sparse connectivity; magnitude, sensitivity and OBD pruning); "
    "LeCun, Denker & Solla, Optimal Brain Damage (1990)",
)
def optimal_brain_damage(params):
    numbers, figures, _ = obd_figures(params)
    checks = [Check(**c) for c in numbers.pop("checks")]
    return numbers, figures, checks
