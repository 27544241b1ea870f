"""Element-wise activations and softmax, each a forward formula and its derivatives.

Every activation keeps the input's dtype and stores by reference what its backward needs.
The element-wise ones also give f′ and f″ at the last input (:meth:`Elementwise.derivatives`),
which is all the curvature pass needs from them (:mod:`nablab.nn.curvature`).
"""

from __future__ import annotations

import numpy as np

from nablab.errors import UnsupportedError
from nablab.nn.curvature import CurvatureMessage, elementwise, require_full, wants_full
from nablab.nn.kernels import sigmoid
from nablab.nn.module import Module
from nablab.registry import Option, Registry


class Elementwise(Module):
    """An activation applied entry by entry, y = f(x): its curvature rule is the element-wise
    one, from f′ and f″ at the last forward's input."""

    def derivatives(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(f′(x), f″(x)) at the last forward's input; f″ is ``None`` where it is 0."""
        raise NotImplementedError

    def curvature_need(self, need_input: str) -> str:
        return need_input

    def curvature_backward(
        self, message: CurvatureMessage, need: str = "full"
    ) -> CurvatureMessage | None:
        """g_x = f′g and H_x = f′ᵢf′ⱼH_ij + δ_ij f″ᵢgᵢ (the f″ term only for the exact pass)."""
        if need == "none":
            return None
        return elementwise(message, *self.derivatives(), need)


class Identity(Elementwise):
    """y = x;  dL/dx = dL/dy."""

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def derivatives(self) -> tuple[np.ndarray, None]:
        self._require_forward(self._shape)
        return np.ones(self._shape), None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out


class Sigmoid(Elementwise):
    """y = σ(x) = 1 / (1 + e^(−x));  dL/dx = dL/dy · y(1 − y);  f″ = y(1 − y)(1 − 2y)."""

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = y = sigmoid(x)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._y
        self._require_forward(y)
        return grad_out * y * (1 - y)

    def derivatives(self) -> tuple[np.ndarray, np.ndarray]:
        y = self._y
        self._require_forward(y)
        d1 = y * (1 - y)
        return d1, d1 * (1 - 2 * y)


class Tanh(Elementwise):
    """y = tanh(x);  dL/dx = dL/dy · (1 − y²);  f″ = −2y(1 − y²)."""

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

    def derivatives(self) -> tuple[np.ndarray, np.ndarray]:
        y = self._y
        self._require_forward(y)
        d1 = 1 - y * y
        return d1, -2 * y * d1


class ReLU(Elementwise):
    """y = max(x, 0);  dL/dx = dL/dy · [x > 0] (the subgradient at 0 is 0, as in PyTorch);
    f″ = 0 (away from 0)."""

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

    def derivatives(self) -> tuple[np.ndarray, None]:
        y = self._y
        self._require_forward(y)
        return (y > 0).astype(y.dtype), None


class LeakyReLU(Elementwise):
    """y = x for x > 0, else a·x;  dL/dx = dL/dy · (1 if x > 0 else a) (a at 0, as in PyTorch);
    f″ = 0 (away from 0)."""

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

    def derivatives(self) -> tuple[np.ndarray, None]:
        positive = self._positive
        self._require_forward(positive)
        return np.where(positive, 1.0, self.negative_slope), None

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Swish(Elementwise):
    """y = x · σ(βx) (SiLU for β = 1);  dL/dx = dL/dy · (s + β·y·(1 − s)) with s = σ(βx);
    f″ = β·s(1 − s)·(2 + βx(1 − 2s))."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = float(beta)
        self._x: np.ndarray | None = None
        self._s: np.ndarray | None = None
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        self._s = s = sigmoid(x * self.beta) if self.beta != 1.0 else sigmoid(x)
        self._y = y = x * s
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        s, y = self._s, self._y
        self._require_forward(s)
        return grad_out * (s + self.beta * y * (1 - s))

    def derivatives(self) -> tuple[np.ndarray, np.ndarray]:
        x, s, y = self._x, self._s, self._y
        self._require_forward(s)
        b = self.beta
        spread = s * (1 - s)
        return s + b * y * (1 - s), b * spread * (2 + b * x * (1 - 2 * s))

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


SiLU = Swish

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class SELU(Module):
    """y = λ·x for x > 0, else λ·α·(e^x − 1);  dL/dx = dL/dy · (λ if x > 0 else λ·α·e^x).

    λ = 1.0507009873554804934… and α = 1.6732632423543772848… (Klambauer et al., 2017) make
    (mean 0, variance 1) a stable fixed point of a layer's activations when the weights have
    variance 1/fan_in (LeCun initialization): a self-normalizing network. For x ≤ 0 the
    derivative is y + λ·α, which is what backward uses (λ·α at x = 0, as in PyTorch).
    """

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None
        self._positive: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._positive = positive = x > 0
        scale = x.dtype.type(SELU_SCALE)
        negative = np.expm1(np.minimum(x, 0)) * x.dtype.type(SELU_SCALE * SELU_ALPHA)
        self._y = y = np.where(positive, x * scale, negative)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y, positive = self._y, self._positive
        self._require_forward(y)
        slope = np.where(
            positive, y.dtype.type(SELU_SCALE), y + y.dtype.type(SELU_SCALE * SELU_ALPHA)
        )
        return grad_out * slope


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

    def curvature_backward(
        self, message: CurvatureMessage, need: str = "full"
    ) -> CurvatureMessage | None:
        """With J = diag(y) − yyᵀ and s = Σ_k g_k y_k: g_x = J g and, per sample,
        H_x = J H_y J + T, where T = Σ_k g_k ∂²y_k/∂x∂xᵀ has entries
        T_ij = δ_ij y_i (g_i − s) − y_i y_j (g_i + g_j − 2s) (dropped for Gauss–Newton).
        LeCun's recursion keeps Σ_k J_ki² h_k and T_ii = y_i (g_i − s)(1 − 2y_i)."""
        if need == "none":
            return None
        y = self._y
        self._require_forward(y)
        if y.ndim != 2 or self.axis not in (-1, 1):
            raise UnsupportedError(
                f"{self.label}: the curvature pass supports softmax over the last axis of "
                f"(N, C) arrays, got shape {y.shape} and axis {self.axis}"
            )
        g = message.grad
        s = (g * y).sum(axis=1, keepdims=True)
        grad_in = y * (g - s)
        if message.full:
            jacobian = -y[:, :, None] * y[:, None, :]
            np.einsum("nii->ni", jacobian)[...] += y
            hess = jacobian @ message.hess @ jacobian
            if message.second_order:
                hess -= (
                    y[:, :, None]
                    * y[:, None, :]
                    * (g[:, :, None] + g[:, None, :] - 2 * s[:, :, None])
                )
                np.einsum("nii->ni", hess)[...] += y * (g - s)
            if not wants_full(message, need):
                hess = np.einsum("nii->ni", hess).copy()
        else:
            require_full(message, self.label)
            h = message.hess
            # Σ_k J_ki² h_k with J_ki = y_k(δ_ki − y_i):  y_i²(1 − y_i)² h_i + y_i² Σ_{k≠i} y_k² h_k
            yy_h = (y * y * h).sum(axis=1, keepdims=True)
            hess = y * y * ((1 - y) ** 2 * h + yy_h - y * y * h)
            if message.second_order:
                hess += y * (g - s) * (1 - 2 * y)
        return message.with_(grad_in, hess)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


ACTIVATIONS: Registry[type[Module]] = Registry("activation")
ACTIVATIONS.add("identity", Identity, "y = x", aliases=("linear",), hidden=True)
ACTIVATIONS.add("sigmoid", Sigmoid, "y = 1/(1 + e^(−x))", hidden=True)
ACTIVATIONS.add("tanh", Tanh, "y = tanh(x)", hidden=True)
ACTIVATIONS.add("relu", ReLU, "y = max(x, 0)", hidden=True)
ACTIVATIONS.add(
    "leaky_relu",
    LeakyReLU,
    "y = x for x > 0, else a·x",
    options=(Option("negative_slope", float, 0.01, "the slope a for x ≤ 0", aliases=("slope",)),),
    hidden=True,
)
ACTIVATIONS.add(
    "swish",
    Swish,
    "y = x·σ(βx) (SiLU for β = 1)",
    aliases=("silu",),
    options=(Option("beta", float, 1.0, "the β in σ(βx)"),),
    hidden=True,
)
ACTIVATIONS.add(
    "selu",
    SELU,
    "y = λx for x > 0, else λα(e^x − 1); λ ≈ 1.0507, α ≈ 1.6733 (use LeCun init)",
    hidden=True,
)
ACTIVATIONS.add("softmax", Softmax, "y_i = e^(x_i)/Σ_j e^(x_j) over a row", hidden=False)


def hidden_activations() -> tuple[str, ...]:
    """The element-wise activations a hidden layer can use (softmax is an output)."""
    return tuple(e.name for e in ACTIVATIONS.entries() if e.extra["hidden"])


def activation(name: str, **options: float) -> Module:
    """A new activation module by name (``"relu"``, ``"leaky_relu"``, ``"swish"``, ...) with
    its options checked (``activation("leaky_relu", negative_slope=0.1)``)."""
    entry = ACTIVATIONS.entry(name)
    known = {
        alias: option
        for option in entry.options.values()
        for alias in (option.name, *option.aliases)
    }
    checked = {}
    for key, value in options.items():
        if key not in known:
            valid = ", ".join(entry.options) or "none"
            raise ValueError(f"activation {entry.name!r}: unknown option {key!r}; valid: {valid}")
        checked[known[key].name] = known[key].check(value, f"activation {entry.name!r}")
    return entry.value(**checked)
