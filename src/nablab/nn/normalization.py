"""Batch normalization (of features and of feature maps) and layer normalization, forward and
closed-form backward.

Both normalize x̂ = (x − μ) / √(σ² + ε) and scale y = γ·x̂ + β; they differ in what μ and σ²
average over: BatchNorm over the samples of a batch (per feature; for feature maps per channel,
over the samples and every position), LayerNorm over the features of a sample (per sample),
which is why LayerNorm does not care about the batch size.

Backward, for one group of m values normalized together (g = dL/dy, ĝ = γ·g):

    dL/dγ = Σ g·x̂        dL/dβ = Σ g
    dL/dx = (1 / (m·√(σ² + ε))) · (m·ĝ − Σ ĝ − x̂·Σ(ĝ·x̂))

Derivation: x̂_i depends on x_j directly and through μ and σ². With s = 1/√(σ² + ε),
∂x̂_i/∂x_j = s·(δ_ij − 1/m) − s·x̂_i·x̂_j/m (the second term from ∂σ²/∂x_j = 2(x_j − μ)/m).
Summing ĝ_i against it gives the formula; its two sums are the gradient's projections on the
constant vector (from centering) and on x̂ (from scaling), which the normalization removes.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from nablab._checks import check_batch, positive_float, positive_int
from nablab.errors import UnsupportedError
from nablab.nn.curvature import CurvatureMessage, add_curvature, elementwise
from nablab.nn.module import Module, Parameter


def _check_features(module: Module, x: object) -> None:
    """Mean-only batch norm takes (N, C) arrays with C = ``module.num_features``."""
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != module.num_features:
        raise ValueError(
            f"{module.label}: expected input of shape (N, {module.num_features}), "
            f"got {getattr(x, 'shape', type(x))}"
        )


def _normalized_backward(
    g_hat: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray, axis
) -> np.ndarray:
    """dL/dx = inv_std/m · (m·ĝ − Σĝ − x̂·Σ(ĝ·x̂)), sums over ``axis`` (the normalized values)."""
    m = math.prod(g_hat.shape[a] for a in np.atleast_1d(axis))  # a Python int: no upcast
    sum_g = g_hat.sum(axis=axis, keepdims=True)
    sum_gx = (g_hat * x_hat).sum(axis=axis, keepdims=True)
    return (inv_std / m) * (m * g_hat - sum_g - x_hat * sum_gx)


class _BatchNorm(Module):
    """Batch normalization per channel: the statistics of channel c average over every axis
    but axis 1 (the samples, and for feature maps every position too). Subclasses say which
    input shapes they take."""

    _shapes = "(N, C)"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        num_features = positive_int(owner, "num_features", num_features)
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{owner}: momentum must be in [0, 1] or None, got {momentum}")
        dtype = np.dtype(dtype)
        self.dtype = dtype
        self.num_features, self.momentum = int(num_features), momentum
        self.eps = positive_float(owner, "eps", eps)
        self.affine, self.track_running_stats = affine, track_running_stats
        shape = (self.num_features,)
        self.register_parameter("weight", Parameter(np.ones(shape, dtype)) if affine else None)
        self.register_parameter("bias", Parameter(np.zeros(shape, dtype)) if affine else None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(shape, dtype))
            self.register_buffer("running_var", np.ones(shape, dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        self._cache: tuple | None = None
        self._warned_single = False

    def _accepts(self, x: np.ndarray) -> bool:
        return x.ndim == 2

    def _check(self, x: object) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The axes the statistics average over and the shape that broadcasts a per-channel
        vector against ``x``."""
        if not isinstance(x, np.ndarray) or not self._accepts(x) or x.shape[1] != self.num_features:
            raise ValueError(
                f"{self.label}: expected input of shape "
                f"{self._shapes.replace('C', str(self.num_features))}, "
                f"got {getattr(x, 'shape', type(x))}"
            )
        check_batch(self.label, x, self.dtype)
        axes = (0, *range(2, x.ndim))
        return axes, (self.num_features, *(1,) * (x.ndim - 2))

    def forward(self, x: np.ndarray) -> np.ndarray:
        axes, per_channel = self._check(x)
        use_batch = self.training or not self.track_running_stats
        if use_batch:
            n = math.prod(x.shape[a] for a in axes)
            mean = x.mean(axis=axes, keepdims=True)
            centered = x - mean
            var = (centered * centered).mean(axis=axes, keepdims=True)
            if self.training and self.track_running_stats:
                self._update_running(mean.reshape(-1), var.reshape(-1), n)
        else:
            mean, var = self.running_mean.reshape(per_channel), self.running_var
            var = var.reshape(per_channel)
            centered = x - mean
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = centered * inv_std
        self._cache = (x_hat, inv_std.astype(x.dtype, copy=False), use_batch, axes, per_channel)
        if not self.affine:
            return x_hat
        return x_hat * self.weight.data.reshape(per_channel) + self.bias.data.reshape(per_channel)

    def _update_running(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        if n == 1:
            if not self._warned_single:
                warnings.warn(
                    f"{self.label}: a training batch of one sample has x − μ = 0, so every "
                    "output equals β and no gradient reaches the input; the batch statistics "
                    "carry no information (running statistics left unchanged). Use batches of "
                    "two or more samples, or LayerNorm.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self._warned_single = True
            return
        self.num_batches_tracked += 1
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean *= 1 - factor
        self.running_mean += factor * mean
        self.running_var *= 1 - factor
        self.running_var += factor * var * (n / (n - 1))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self._require_forward(self._cache)
        x_hat, inv_std, used_batch, axes, per_channel = self._cache
        if grad_out.shape != x_hat.shape:
            raise ValueError(
                f"{self.label}: expected grad_out of shape {x_hat.shape}, got {grad_out.shape}"
            )
        if self.affine:
            self.weight.grad += (grad_out * x_hat).sum(axis=axes)
            self.bias.grad += grad_out.sum(axis=axes)
            g_hat = grad_out * self.weight.data.reshape(per_channel)
        else:
            g_hat = grad_out
        if not used_batch:
            return g_hat * inv_std
        return _normalized_backward(g_hat, x_hat, inv_std, axis=axes)

    def curvature_need(self, need_input: str) -> str:
        return "diagonal" if need_input == "none" else need_input

    def curvature_backward(
        self, message: CurvatureMessage, need: str = "full"
    ) -> CurvatureMessage | None:
        """With the running statistics (eval), y = γ·x̂ + β is affine in x and linear in γ:
        ∂²L/∂γ² = Σ_n x̂² h, ∂²L/∂β² = Σ_n h, and x gets the element-wise rule with
        f′ = γ/√(r_var + ε). Batch statistics couple the samples: not supported."""
        self._require_forward(self._cache)
        x_hat, inv_std, used_batch, *_ = self._cache
        if x_hat.ndim != 2:
            raise UnsupportedError(
                f"{self.label}: the curvature pass is supported for (N, C) features, not yet "
                f"for feature maps of shape {x_hat.shape}"
            )
        if used_batch:
            raise UnsupportedError(
                f"{self.label}: the curvature pass with batch statistics (training mode, or "
                "track_running_stats=False) is not supported yet; call model.eval() first"
            )
        h = message.diagonal()
        scale = inv_std
        if self.affine:
            add_curvature(self.weight, (x_hat * x_hat * h).sum(axis=0))
            add_curvature(self.bias, h.sum(axis=0))
            scale = inv_std * self.weight.data
        return elementwise(message, scale, None, need)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) features or (N, C, L) signals, per feature or channel
    (PyTorch's ``BatchNorm1d``): for (N, C, L) channel c's statistics average over the N·L
    values it holds.

    Training: μ and the biased σ² = mean((x − μ)²) of the batch normalize it; the running
    statistics follow r ← (1 − momentum)·r + momentum·s with the *unbiased* variance
    σ²·m/(m − 1), m the number of values averaged (``momentum=None``: cumulative average).
    Eval: the running statistics normalize, and backward is then dL/dx = γ·g/√(r_var + ε).

    A training batch of one sample has x − μ = 0: every output is β and its gradient with
    respect to x is zero. nablab returns that (with a warning, once) instead of failing, and
    leaves the running statistics alone, since one sample gives no variance estimate.
    """

    _shapes = "(N, C) or (N, C, L)"

    def _accepts(self, x: np.ndarray) -> bool:
        return x.ndim in (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) feature maps, one μ, σ², γ and β per channel
    (PyTorch's ``BatchNorm2d``).

    Channel c is normalized with the mean and biased variance of its m = N·H·W values,
    x̂ = (x − μ_c)/√(σ_c² + ε), y = γ_c·x̂ + β_c; the running statistics follow
    r ← (1 − momentum)·r + momentum·s with the unbiased variance σ²·m/(m − 1). Backward is
    the batch-norm formula of this module's docstring with the sums over the m values of a
    channel: dL/dx = (1/(m·√(σ² + ε)))·(m·ĝ − Σĝ − x̂·Σ(ĝ·x̂)), ĝ = γ·g.
    """

    _shapes = "(N, C, H, W)"

    def _accepts(self, x: np.ndarray) -> bool:
        return x.ndim == 4


class LayerNorm(Module):
    """Layer normalization over the last ``len(normalized_shape)`` axes of each sample
    (PyTorch's ``LayerNorm``): μ and the biased σ² are taken per sample, so training and eval
    compute the same function and any batch size works."""

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__()
        shape = (
            (int(normalized_shape),)
            if isinstance(normalized_shape, int | np.integer)
            else tuple(int(s) for s in normalized_shape)
        )
        if not shape or min(shape) < 1:
            raise ValueError(
                f"LayerNorm: normalized_shape must be positive, got {normalized_shape!r}"
            )
        dtype = np.dtype(dtype)
        self.dtype = dtype
        self.normalized_shape = shape
        self.eps = positive_float("LayerNorm", "eps", eps)
        self.elementwise_affine = elementwise_affine
        self._axes = tuple(range(-len(shape), 0))
        affine = elementwise_affine
        self.register_parameter("weight", Parameter(np.ones(shape, dtype)) if affine else None)
        self.register_parameter("bias", Parameter(np.zeros(shape, dtype)) if affine else None)
        self._cache: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        k = len(self.normalized_shape)
        if not isinstance(x, np.ndarray) or x.shape[x.ndim - k :] != self.normalized_shape:
            raise ValueError(
                f"{self.label}: expected input ending in {self.normalized_shape}, "
                f"got shape {getattr(x, 'shape', type(x))}"
            )
        check_batch(self.label, x, self.dtype)
        mean = x.mean(axis=self._axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=self._axes, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = centered * inv_std
        self._cache = (x_hat, inv_std)
        if not self.elementwise_affine:
            return x_hat
        return x_hat * self.weight.data + self.bias.data

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self._require_forward(self._cache)
        x_hat, inv_std = self._cache
        if grad_out.shape != x_hat.shape:
            raise ValueError(
                f"{self.label}: expected grad_out of shape {x_hat.shape}, got {grad_out.shape}"
            )
        g_hat = grad_out
        if self.elementwise_affine:
            batch_axes = tuple(range(grad_out.ndim - len(self.normalized_shape)))
            self.weight.grad += (grad_out * x_hat).sum(axis=batch_axes)
            self.bias.grad += grad_out.sum(axis=batch_axes)
            g_hat = grad_out * self.weight.data
        return _normalized_backward(g_hat, x_hat, inv_std, axis=self._axes)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class MeanOnlyBatchNorm1d(Module):
    """Mean-only batch normalization (Salimans & Kingma, 2016): y = γ·(x − μ) + β, μ the batch
    mean per feature (the running mean in eval). No division by σ, so backward is::

        dL/dx_i = γ·(dL/dy_i − mean_j dL/dy_j)

    the gradient minus its batch mean: zero for a batch of one sample.
    """

    def __init__(
        self, num_features: int, momentum: float = 0.1, dtype: np.dtype | type = np.float32
    ) -> None:
        super().__init__()
        num_features = positive_int("MeanOnlyBatchNorm1d", "num_features", num_features)
        dtype = np.dtype(dtype)
        self.dtype = dtype
        self.num_features, self.momentum = int(num_features), float(momentum)
        self.register_parameter("weight", Parameter(np.ones(num_features, dtype)))
        self.register_parameter("bias", Parameter(np.zeros(num_features, dtype)))
        self.register_buffer("running_mean", np.zeros(num_features, dtype))
        self._cache: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        _check_features(self, x)
        check_batch(self.label, x, self.dtype)
        if self.training:
            mean = x.mean(axis=0)
            self.running_mean *= 1 - self.momentum
            self.running_mean += self.momentum * mean
        else:
            mean = self.running_mean
        centered = x - mean
        self._cache = (centered, self.training)
        return centered * self.weight.data + self.bias.data

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self._require_forward(self._cache)
        centered, used_batch = self._cache
        self.weight.grad += (grad_out * centered).sum(axis=0)
        self.bias.grad += grad_out.sum(axis=0)
        g_hat = grad_out * self.weight.data
        return g_hat - g_hat.mean(axis=0) if used_batch else g_hat

    def curvature_need(self, need_input: str) -> str:
        return "diagonal" if need_input == "none" else need_input

    def curvature_backward(
        self, message: CurvatureMessage, need: str = "full"
    ) -> CurvatureMessage | None:
        """In eval, y = γ·(x − r_mean) + β: ∂²L/∂γ² = Σ_n (x − r_mean)² h, ∂²L/∂β² = Σ_n h,
        and x gets the element-wise rule with f′ = γ. The batch mean couples the samples in
        training: not supported."""
        self._require_forward(self._cache)
        centered, used_batch = self._cache
        if used_batch:
            raise UnsupportedError(
                f"{self.label}: the curvature pass with batch statistics (training mode) is not "
                "supported yet; call model.eval() first"
            )
        h = message.diagonal()
        add_curvature(self.weight, (centered * centered * h).sum(axis=0))
        add_curvature(self.bias, h.sum(axis=0))
        return elementwise(message, self.weight.data, None, need)

    def extra_repr(self) -> str:
        return f"{self.num_features}, momentum={self.momentum}"


NORMALIZATIONS = (_BatchNorm, LayerNorm, MeanOnlyBatchNorm1d)
"""The normalization layers (whose γ and β penalties leave alone unless asked)."""
