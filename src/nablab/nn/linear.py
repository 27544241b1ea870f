"""The fully connected layer in matrix form: Z = XW + b, one sample per row."""

from __future__ import annotations

from typing import Literal

import numpy as np

from nablab import init as initializers
from nablab._checks import positive_int
from nablab._random import RngLike, as_generator
from nablab.errors import UnsupportedError
from nablab.nn.curvature import CurvatureMessage, add_curvature, require_full, wants_full
from nablab.nn.module import Module, Parameter

BiasMode = bool | Literal["shared"]


class Linear(Module):
    """Z = XW + b with X of shape (N, in), W of shape (in, out) and b of shape (out,).

    Backward, for G = dL/dZ of shape (N, out)::

        dL/dW = Xᵀ G          (in, out)   accumulated into weight.grad
        dL/db = 1ᵀG = Σ_n G[n, :]  (out,)  accumulated into bias.grad
        dL/dX = G Wᵀ          (N, in)     returned

    ``bias="shared"`` uses one scalar b for every unit (as in classic textbook examples); its
    gradient is the sum of every entry of G. ``bias=False`` has no bias.

    The weight goes through the module's weight-transform seam: with a pruning mask M or a
    registered transform T (noise), forward uses W̃ = T(W ⊙ M), dL/dX = G W̃ᵀ, and
    dL/dW = (∂T)ᵀ(XᵀG) ⊙ M (see :mod:`nablab.nn.transform`).

    Cost: forward is one matrix product and one in-place add; the input X is kept by reference
    (never copied) for backward, which is two products (one when the input needs no gradient,
    see :meth:`backward_params`) and in-place accumulations.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: BiasMode = True,
        init: str | initializers.Initializer = "xavier_uniform",
        rng: RngLike = None,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__()
        in_features = positive_int("Linear", "in_features", in_features)
        out_features = positive_int("Linear", "out_features", out_features)
        if bias not in (True, False, "shared"):
            raise ValueError(f"Linear: bias must be True, False or 'shared', got {bias!r}")
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise ValueError(f"Linear: dtype must be a floating type, got {dtype}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.bias_mode: BiasMode = bias
        shape = (self.in_features, self.out_features)
        weight = np.asarray(initializers.get(init)(shape, rng=as_generator(rng), dtype=dtype))
        if weight.shape != shape or weight.dtype != dtype:
            raise ValueError(
                f"Linear: initializer returned shape {weight.shape} and dtype {weight.dtype}, "
                f"expected {shape} and {dtype}"
            )
        self.register_parameter("weight", Parameter(weight))
        bias_shape = {True: (self.out_features,), "shared": ()}.get(bias)
        bias_param = None if bias_shape is None else Parameter(np.zeros(bias_shape, dtype))
        self.register_parameter("bias", bias_param)
        self._x: np.ndarray | None = None
        self._weight_used: np.ndarray | None = None
        self._ones_cache = np.ones(0, dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        self._x = x
        weight = self.weight
        if weight._mask is None and not self._weight_transforms:
            weight = weight._data  # the common case: W itself, no copy
        else:
            weight = self.transformed("weight")
        self._weight_used = weight
        z = x @ weight
        if self.bias is not None:
            z += self.bias._data
        return z

    def _check_input(self, x: np.ndarray) -> None:
        if (
            not isinstance(x, np.ndarray)
            or x.ndim != 2
            or x.shape[1] != self.in_features
            or x.dtype != self.weight._data.dtype
            or not x.shape[0]
        ):
            self._reject_input(x)

    def _reject_input(self, x: object) -> None:
        expected = f"(N, {self.in_features}) {self.weight.dtype}"
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.label}: expected a NumPy array {expected}, got {type(x)}")
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"{self.label}: expected input of shape {expected}, got shape {x.shape}"
                + (" (one sample is a row: use x[None, :])" if x.ndim == 1 else "")
            )
        if not x.shape[0]:
            raise ValueError(
                f"{self.label}: the batch is empty (shape {x.shape}); give at least one sample"
            )
        raise ValueError(
            f"{self.label}: expected input dtype {self.weight.dtype}, got {x.dtype} "
            f"(a model never changes dtype silently: cast with x.astype(np.{self.weight.dtype}))"
        )

    def _accumulate(self, grad_out: np.ndarray) -> None:
        x = self._x
        self._require_forward(x)
        if grad_out.shape[0] != x.shape[0] or grad_out.shape[-1] != self.out_features:
            raise ValueError(
                f"{self.label}: expected grad_out of shape {(x.shape[0], self.out_features)}, "
                f"got {grad_out.shape}"
            )
        weight = self.weight
        # one sample: XᵀG is an outer product, far cheaper than a rank-1 matrix product
        product = np.multiply.outer(x[0], grad_out[0]) if x.shape[0] == 1 else x.T @ grad_out
        if weight._mask is None and not self._weight_transforms:
            weight._grad += product
        else:
            weight._grad += self.transform_gradient("weight", product)
        bias = self.bias
        if bias is not None:
            if self.bias_mode is True:
                bias._grad += self._ones(grad_out) @ grad_out  # Σ_n G[n, :] as one product
            else:
                bias._grad += grad_out.sum()

    def _ones(self, grad_out: np.ndarray) -> np.ndarray:
        """A cached vector of ones, so the bias gradient 1ᵀG is a matrix-vector product."""
        ones = self._ones_cache
        if ones.shape[0] != grad_out.shape[0] or ones.dtype != grad_out.dtype:
            ones = self._ones_cache = np.ones(grad_out.shape[0], grad_out.dtype)
        return ones

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self._accumulate(grad_out)
        return grad_out @ self._weight_used.T

    def backward_params(self, grad_out: np.ndarray) -> None:
        """Accumulate dL/dW and dL/db only; skips the product G Wᵀ."""
        self._accumulate(grad_out)

    # ----------------------------------------------------------------- curvature
    def curvature_need(self, need_input: str) -> str:
        """The weight's diagonal needs only diag(H_Z); the input's block and a shared bias
        need all of H_Z."""
        return "diagonal" if need_input == "none" and self.bias_mode != "shared" else "full"

    def curvature_backward(
        self, message: CurvatureMessage, need: str = "full"
    ) -> CurvatureMessage | None:
        """Add ∂²L/∂W_ij² = Σ_n X_ni²·H_n[j, j] and ∂²L/∂b_j² = Σ_n H_n[j, j] into the
        parameters' ``curvature`` (times the mask: a pruned weight has none) and return the
        message about X: g_X = g_Z W̃ᵀ and H_X = W̃ H_Z W̃ᵀ (full blocks), diag(W̃ H_Z W̃ᵀ)
        (``need="diagonal"``) or, from diagonals only, (W̃ ⊙ W̃) h_Z (LeCun's recursion).

        A shared bias b (one for all units) has ∂²L/∂b² = Σ_n Σ_jk H_n[j, k], the sum of the
        full blocks (of the diagonals in LeCun's recursion, which drops the rest).
        """
        x = self._x
        self._require_forward(x)
        if self._weight_transforms:
            raise UnsupportedError(
                f"{self.label}: the curvature pass does not support weight transforms "
                f"({', '.join(type(t).__name__ for t in self.weight_transforms())}) yet"
            )
        h = message.diagonal()
        if h.shape != (x.shape[0], self.out_features):
            raise ValueError(
                f"{self.label}: expected a curvature message for outputs of shape "
                f"{(x.shape[0], self.out_features)}, got {h.shape}"
            )
        weight_curvature = (x * x).T @ h
        if self.weight._mask is not None:
            weight_curvature *= self.weight._mask
        add_curvature(self.weight, weight_curvature)
        bias = self.bias
        if bias is not None:
            if self.bias_mode is True:
                value = h.sum(axis=0)
            else:
                if not message.full:
                    require_full(message, self.label)
                value = message.hess.sum() if message.full else h.sum()
            if bias._mask is not None:
                value = value * bias._mask
            add_curvature(bias, value)
        if need == "none":
            return None
        w = self._weight_used
        grad_in = message.grad @ w.T
        n, out = h.shape
        if message.full:
            # A_n = H_n W̃ᵀ for every sample as one product: (N·out, out) @ (out, in).
            a = (message.hess.reshape(n * out, out) @ w.T).reshape(n, out, -1)
            if wants_full(message, need):
                # (W̃ A_n)ᵀ = W̃ H_n W̃ᵀ (H_n is symmetric), again as one product.
                hess = (a.transpose(0, 2, 1).reshape(-1, out) @ w.T).reshape(n, -1, w.shape[0])
            else:
                hess = np.einsum("ij,nji->ni", w, a)
        else:
            if need == "full":
                require_full(message, self.label)
            hess = h @ (w * w).T
        return message.with_(grad_in, hess)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias_mode!r}, dtype={self.weight.dtype}"
        )
