"""Analysis tools: gradient checks, Hessians, Hessian diagonals and Hessian-vector products."""

from nablab.analysis.curvature import (
    CURVATURES,
    dense_hessian,
    gauss_newton_vector_product,
    hessian_diagonal,
    hessian_vector_product,
)
from nablab.analysis.gradcheck import GradCheckEntry, GradCheckReport, gradcheck, numerical_gradient
from nablab.analysis.hessian import hessian, logistic_regression_hessian, model_hessian

__all__ = [
    "CURVATURES",
    "GradCheckEntry",
    "GradCheckReport",
    "dense_hessian",
    "gauss_newton_vector_product",
    "gradcheck",
    "hessian",
    "hessian_diagonal",
    "hessian_vector_product",
    "logistic_regression_hessian",
    "model_hessian",
    "numerical_gradient",
]
