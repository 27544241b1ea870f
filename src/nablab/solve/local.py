"""Local derivatives of element-wise activations, as formulas and as numbers: the one place
the backward writer and ``--explain`` take f′ from.

``derivative(module, z, a, g)`` gives ∂E/∂z = g·f′ as a formula in symbols and the same
formula with numbers substituted; ``values(module, z)`` gives f′(z) from the engine's own
module (its backward on ones), which the verifier holds the formulas to.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from nablab import nn
from nablab.solve.expr import Call, Expr, Paren, Pow, num
from nablab.solve.spec import ExerciseError

Formula = Callable[[nn.Module, Expr, Expr, float, float, int], tuple[Expr, Expr]]


def _sigmoid(module, z, a, z_value, a_value, digits):
    return a * Paren(num(1, digits) - a), num(a_value, digits) * Paren(
        num(1, digits) - num(a_value, digits)
    )


def _tanh(module, z, a, z_value, a_value, digits):
    one = num(1, digits)
    return Paren(one - Pow(a, num(2, digits))), Paren(one - Pow(num(a_value, digits), num(2)))


def _relu(module, z, a, z_value, a_value, digits):
    return Call("relu′", (z,)), Call("relu′", (num(z_value, digits),))


def leaky_name(module: nn.LeakyReLU) -> str:
    """lrelu′ with its slope: lrelu′(z) = 1 for z > 0, else a."""
    return f"lrelu′[{module.negative_slope:g}]"


def leaky_function(module: nn.LeakyReLU) -> Callable[[float], float]:
    slope = module.negative_slope
    return lambda x: 1.0 if x > 0 else slope


def _leaky(module, z, a, z_value, a_value, digits):
    name = leaky_name(module)
    return Call(name, (z,)), Call(name, (num(z_value, digits),))


def _swish(module, z, a, z_value, a_value, digits):
    """swish′(z) = σ(βz) + βz·σ(βz)·(1 − σ(βz))."""
    beta = module.beta
    one = num(1, digits)
    bz = z if beta == 1 else num(beta, digits) * z
    s = Call("σ", (bz,))
    symbolic = Paren(s + bz * s * Paren(one - s))
    s_value = 1.0 / (1.0 + np.exp(-beta * z_value))
    s_n = num(s_value, digits)
    bz_n = num(beta * z_value, digits)
    return symbolic, Paren(s_n + bz_n * s_n * Paren(one - s_n))


def selu_function(x: float) -> float:
    """selu(x) = λx for x > 0, else λα(eˣ − 1)."""
    scale, alpha = nn.activations.SELU_SCALE, nn.activations.SELU_ALPHA
    return scale * x if x > 0 else scale * alpha * float(np.expm1(x))


def selu_derivative(x: float) -> float:
    """selu′(x) = λ for x > 0, else λα·eˣ (λα at 0, as the engine)."""
    scale, alpha = nn.activations.SELU_SCALE, nn.activations.SELU_ALPHA
    return scale if x > 0 else scale * alpha * float(np.exp(x))


def _selu(module, z, a, z_value, a_value, digits):
    return Call("selu′", (z,)), Call("selu′", (num(z_value, digits),))


def _identity(module, z, a, z_value, a_value, digits):
    return num(1, digits), num(1, digits)


FORMULAS: dict[type, Formula] = {
    nn.Sigmoid: _sigmoid,
    nn.Tanh: _tanh,
    nn.ReLU: _relu,
    nn.LeakyReLU: _leaky,
    nn.Swish: _swish,
    nn.SELU: _selu,
    nn.Identity: _identity,
}


def is_elementwise(module: nn.Module) -> bool:
    return type(module) in FORMULAS


def derivative(
    module: nn.Module, z: Expr, a: Expr, z_value: float, a_value: float, digits: int
) -> tuple[Expr, Expr]:
    """f′ of an element-wise activation in symbols (of z and a = f(z)) and in numbers."""
    formula = FORMULAS.get(type(module))
    if formula is None:
        raise ExerciseError(
            [f"worked solutions do not support the derivative of {type(module).__name__} yet"],
            "solution",
        )
    return formula(module, z, a, z_value, a_value, digits)


def values(module: nn.Module, z: np.ndarray) -> np.ndarray:
    """f′(z) element-wise, from a copy of the engine's own module (its caches stay)."""
    twin = copy.copy(module)
    twin(z)
    return twin.backward(np.ones_like(z))


def dropout_scale(module: nn.Dropout) -> float:
    """What a kept unit is multiplied by in training: 1/(1 − p) inverted, else 1."""
    return 1 / (1 - module.p) if module.mode == "inverted" else 1.0


def jacobian(
    module: nn.Module, entering: np.ndarray, row: int, mask: np.ndarray | None = None
) -> np.ndarray:
    """∂out_k/∂in_j of ``module`` for sample ``row`` of the batch ``entering``, from the
    engine's backward on unit vectors: rows[k][j], with a feature map's values counted channel
    by channel (a dropout layer's is its ``mask`` row times its scale). The module's parameter
    gradients are left as they were."""
    if isinstance(module, nn.Dropout):
        return np.diag(np.asarray(mask, dtype=np.float64) * dropout_scale(module))
    twin = copy.copy(module)
    sample = entering[row : row + 1]
    kept = [(param, param.grad.copy()) for param in module.parameters()]
    shape = twin(sample).shape
    rows = []
    for unit in range(int(np.prod(shape))):
        twin(sample)
        seed = np.zeros(shape)
        seed.flat[unit] = 1.0
        rows.append(twin.backward(seed)[0].reshape(-1))
    for param, grad in kept:  # a convolution's backward adds into its gradients
        param.grad[...] = grad
    return np.array(rows)


def functions(model: nn.Module) -> dict[str, Callable[[float], float]]:
    """The derivative functions a solution of ``model`` names beyond the standard ones."""
    named = {leaky_name(m): leaky_function(m) for m in model if isinstance(m, nn.LeakyReLU)}
    if any(isinstance(m, nn.SELU) for m in model):
        named.update({"selu": selu_function, "selu′": selu_derivative})
    return named


__all__ = ["FORMULAS", "derivative", "functions", "is_elementwise", "jacobian", "values"]
