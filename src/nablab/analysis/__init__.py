"""Analysis tools: gradient checks, Jacobians, Hessians (of parameters or of any array),
Hessian diagonals and Hessian-vector products."""

from nablab.analysis.curvature import (
    CURVATURES,
    dense_hessian,
    gauss_newton_vector_product,
    hessian_diagonal,
    hessian_vector_product,
)
from nablab.analysis.gradcheck import GradCheckEntry, GradCheckReport, gradcheck, numerical_gradient
from nablab.analysis.hessian import hessian, logistic_regression_hessian, model_hessian
from nablab.analysis.jacobian import array_hessian, jacobian, module_jacobian, softmax_hessian

__all__ = [
    "CURVATURES",
    "GradCheckEntry",
    "GradCheckReport",
    "array_hessian",
    "dense_hessian",
    "gauss_newton_vector_product",
    "gradcheck",
    "hessian",
    "hessian_diagonal",
    "hessian_vector_product",
    "jacobian",
    "logistic_regression_hessian",
    "model_hessian",
    "module_jacobian",
    "numerical_gradient",
    "softmax_hessian",
]
