"""Pruning experiments: Optimal Brain Damage against magnitude and random deletion."""

from nablab.lab.experiment import topic

topic("pruning", "Pruning", order=("optimal-brain-damage",))

from nablab.lab.pruning import obd  # noqa: E402, F401  (registers the experiment)
