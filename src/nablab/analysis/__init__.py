"""Analysis tools: gradient checks (and, with the optimizers, Hessians)."""

from nablab.analysis.gradcheck import GradCheckEntry, GradCheckReport, gradcheck, numerical_gradient

__all__ = ["GradCheckEntry", "GradCheckReport", "gradcheck", "numerical_gradient"]
