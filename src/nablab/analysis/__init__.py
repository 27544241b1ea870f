"""Analysis tools: gradient checks, Jacobians and Hessians (of parameters or of any array)."""

from nablab.analysis.gradcheck import GradCheckEntry, GradCheckReport, gradcheck, numerical_gradient
from nablab.analysis.hessian import hessian, logistic_regression_hessian, model_hessian
from nablab.analysis.jacobian import array_hessian, jacobian, module_jacobian, softmax_hessian

__all__ = [
    "GradCheckEntry",
    "GradCheckReport",
    "array_hessian",
    "gradcheck",
    "hessian",
    "jacobian",
    "logistic_regression_hessian",
    "model_hessian",
    "module_jacobian",
    "numerical_gradient",
    "softmax_hessian",
]
