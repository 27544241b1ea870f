"""Element-wise activations and softmax, each a forward formula and its derivative.

Every activation keeps the input's dtype and stores by reference what its backward needs.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from nablab.nn.module import Module


class Identity(Module):
    """y = x;  dL/dx = dL/dy."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out


class Sigmoid(Module):
    """y = σ(x) = 1 / (1 + e^(−x));  dL/dx = dL/dy · y(1 − y)."""

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = y = expit(x)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._y
        self._require_forward(y)
        return grad_out * y * (1 - y)


class Tanh(Module):
    """y = tanh(x);  dL/dx = dL/dy · (1 − y²)."""

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = y = np.tanh(x)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._y
        self._require_forward(y)
        return grad_out * (1 - y * y)


class ReLU(Module):
    """y = max(x, 0);  dL/dx = dL/dy · [x > 0] (the subgradient at 0 is 0, as in PyTorch)."""

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = y = np.maximum(x, 0)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._y
        self._require_forward(y)
        return grad_out * (y > 0)


class LeakyReLU(Module):
    """y = x for x > 0, else a·x;  dL/dx = dL/dy · (1 if x > 0 else a) (a at 0, as in PyTorch)."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)
        self._positive: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._positive = positive = x > 0
        return np.where(positive, x, x * self.negative_slope)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        positive = self._positive
        self._require_forward(positive)
        return np.where(positive, grad_out, grad_out * self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Swish(Module):
    """y = x · σ(βx) (SiLU for β = 1);  dL/dx = dL/dy · (s + β·y·(1 − s)) with s = σ(βx)."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = float(beta)
        self._s: np.ndarray | None = None
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._s = s = expit(x * self.beta) if self.beta != 1.0 else expit(x)
        self._y = y = x * s
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        s, y = self._s, self._y
        self._require_forward(s)
        return grad_out * (s + self.beta * y * (1 - s))

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


SiLU = Swish


class Softmax(Module):
    """y_i = e^(x_i) / Σ_j e^(x_j) along ``axis`` (computed with the maximum subtracted).

    Backward is the exact Jacobian-vector product with J = diag(y) − y yᵀ::

        dL/dx = J (dL/dy) = y ⊙ (g − Σ_j g_j y_j)
    """

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        e = np.exp(x - x.max(axis=self.axis, keepdims=True))
        e /= e.sum(axis=self.axis, keepdims=True)
        self._y = e
        return e

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._y
        self._require_forward(y)
        return y * (grad_out - (grad_out * y).sum(axis=self.axis, keepdims=True))

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


ACTIVATIONS: dict[str, type[Module]] = {
    "identity": Identity,
    "linear": Identity,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "swish": Swish,
    "silu": Swish,
    "softmax": Softmax,
}


def activation(name: str, **options: float) -> Module:
    """A new activation module by name (``"relu"``, ``"leaky_relu"``, ``"swish"``, ...)."""
    try:
        cls = ACTIVATIONS[name]
    except KeyError:
        valid = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; valid names: {valid}") from None
    return cls(**options)
