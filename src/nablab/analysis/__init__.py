"""Analysis tools: gradient checks and Hessians."""

from nablab.analysis.gradcheck import GradCheckEntry, GradCheckReport, gradcheck, numerical_gradient
from nablab.analysis.hessian import hessian, logistic_regression_hessian, model_hessian

__all__ = [
    "GradCheckEntry",
    "GradCheckReport",
    "gradcheck",
    "hessian",
    "logistic_regression_hessian",
    "model_hessian",
    "numerical_gradient",
]
