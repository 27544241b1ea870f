"""The lab: every claim of the lectures as an experiment that runs, draws and decides.

    from nablab import lab
    result = lab.run("optimizer-paths", steps=200)   # numbers, figures, verdict
    result.verdict, result.checks, result.figures

``nablab lab`` lists the experiments by topic; ``nablab lab run NAME`` writes a figure, the
numbers and an HTML report; ``nablab lab run --all`` writes one offline lab notebook.
"""

from nablab.lab import optimization, pruning  # noqa: F401  (register the experiments)
from nablab.lab.experiment import (
    EXPERIMENTS,
    TOPICS,
    Check,
    Experiment,
    ExperimentError,
    Result,
    run,
)

__all__ = ["EXPERIMENTS", "TOPICS", "Check", "Experiment", "ExperimentError", "Result", "run"]
