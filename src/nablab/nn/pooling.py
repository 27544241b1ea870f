"""Pooling over windows of (N, C, L) signals and (N, C, H, W) images, channel by channel.

Windows are those of convolution (:mod:`nablab.nn.sliding`): kernel k, stride s (the kernel
size by default, so windows tile the input), padding p on both sides, dilation d (max pooling
only). Pooling has no parameters and never mixes channels. Each pass is a loop over the k
kernel positions (k_1·k_2 for images), each a whole-batch operation on one shifted slice.
"""

from __future__ import annotations

import math

import numpy as np

from nablab.nn.module import Module
from nablab.nn.sliding import (
    add_windows,
    as_tuple,
    interior,
    kernel_slices,
    output_shape,
    pad_channels_last,
)


class _Pool(Module):
    """Shared argument handling and input checks of the window poolings."""

    dims = 0
    _spatial_names = ""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1) -> None:
        super().__init__()
        owner = type(self).__name__
        self.kernel_size = as_tuple(owner, "kernel_size", kernel_size, self.dims)
        self.stride = (
            self.kernel_size if stride is None else as_tuple(owner, "stride", stride, self.dims)
        )
        self.dilation = as_tuple(owner, "dilation", dilation, self.dims)
        padding = as_tuple(owner, "padding", padding, self.dims, low=0)
        if any(p > k // 2 for p, k in zip(padding, self.kernel_size, strict=True)):
            raise ValueError(
                f"{owner}: padding {padding} must be at most half the kernel size "
                f"{self.kernel_size} (otherwise a window could hold padding only)"
            )
        self.padding = padding
        self._pads = tuple((p, p) for p in padding)
        self._cache: tuple | None = None

    def _windows_of(self, x: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Check ``x`` and return its spatial shape and the output's."""
        if (
            not isinstance(x, np.ndarray)
            or x.ndim != self.dims + 2
            or not np.issubdtype(x.dtype, np.floating)
        ):
            raise ValueError(
                f"{self.label}: expected a floating array of shape (N, C, {self._spatial_names}), "
                f"got {getattr(x, 'shape', type(x))} {getattr(x, 'dtype', '')}".rstrip()
            )
        spatial = x.shape[2:]
        out = output_shape(spatial, self._pads, self.kernel_size, self.stride, self.dilation)
        if min(out) < 1:
            raise ValueError(
                f"{self.label}: the input's spatial size {spatial} is smaller than the "
                f"window {self.kernel_size} (padding {self.padding}, dilation {self.dilation})"
            )
        return spatial, out

    def _check_grad(self, grad_out: np.ndarray, expected: tuple[int, ...]) -> None:
        if not isinstance(grad_out, np.ndarray) or grad_out.shape != expected:
            raise ValueError(
                f"{self.label}: expected grad_out of shape {expected}, "
                f"got {getattr(grad_out, 'shape', type(grad_out))}"
            )

    def _slices(self, position, out) -> tuple:
        return (slice(None), *kernel_slices(position, out, self.stride, self.dilation), Ellipsis)

    def extra_repr(self) -> str:
        text = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        if any(d != 1 for d in self.dilation):
            text += f", dilation={self.dilation}"
        return text


class _MaxPool(_Pool):
    def _check_reach(self, spatial: tuple[int, ...], out: tuple[int, ...]) -> None:
        """With dilation a window's taps can skip the input and land on padding only; its
        maximum would be −∞ with no input to send the gradient to, so that is an error."""
        axes = zip(
            spatial, self.padding, out, self.kernel_size, self.stride, self.dilation, strict=True
        )
        for axis, (size, pad, count, k, s, d) in enumerate(axes):
            for o in range(count):
                if all(not pad <= o * s + j * d < pad + size for j in range(k)):
                    raise ValueError(
                        f"{self.label}: window {o} along spatial axis {axis} reads padding "
                        f"only (input size {size}, padding {pad}, dilation {d}); use less "
                        "padding or dilation"
                    )

    def forward(self, x: np.ndarray) -> np.ndarray:
        spatial, out = self._windows_of(x)
        if any(self.padding) and any(d > 1 for d in self.dilation):
            self._check_reach(spatial, out)
        xp = pad_channels_last(np.moveaxis(x, 1, -1), self._pads, fill=-np.inf)
        taps = [xp[self._slices(position, out)] for position in np.ndindex(*self.kernel_size)]
        y = taps[0].copy() if len(taps) == 1 else np.maximum(taps[0], taps[1])  # (N, *O, C)
        for tap in taps[2:]:
            np.maximum(y, tap, out=y)  # a NaN anywhere in the window makes y NaN
        index_type = np.uint8 if len(taps) <= 256 else np.int32
        # the first tap equal to the maximum (or, where it is NaN, the first NaN tap)
        argmax = np.full(y.shape, len(taps) - 1, index_type)
        has_nan = bool(np.isnan(y).any())
        for p in range(len(taps) - 2, -1, -1):
            hit = taps[p] == y
            if has_nan:
                hit |= np.isnan(taps[p])
            argmax = np.where(hit, index_type(p), argmax)
        self._cache = (argmax, x.shape, xp.shape, out)
        return np.moveaxis(y, -1, 1)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self._require_forward(self._cache)
        argmax, x_shape, padded, out = self._cache
        self._check_grad(grad_out, (*x_shape[:2], *out))
        g = np.moveaxis(grad_out, 1, -1)
        dxp = np.zeros(padded, grad_out.dtype)
        for p, position in enumerate(np.ndindex(*self.kernel_size)):
            dxp[self._slices(position, out)] += g * (argmax == p)
        return np.moveaxis(dxp[interior(x_shape[2:], self._pads)], -1, 1)


class MaxPool1d(_MaxPool):
    """y[n, c, o] = max_i x_pad[n, c, o·s + i·d] over i = 0 … k − 1 (padding is −∞).

    Backward routes each output's gradient to the one input its maximum came from:
    dL/dx[n, c, t] = Σ_{o : argmax(o) = t} dL/dy[n, c, o] (windows that overlap add up). Ties
    go to the first maximum in the window (the smallest i), and a NaN counts as the maximum,
    as in PyTorch; ``argmax`` positions are kept for backward (one byte per output).
    """

    dims = 1
    _spatial_names = "L"


class MaxPool2d(_MaxPool):
    """y[n, c, a, b] = max_{u,v} x_pad[n, c, a·s_H + u·d_H, b·s_W + v·d_W] (padding is −∞).

    Backward routes each output's gradient to its maximum's input position (overlapping
    windows add up). Ties go to the first maximum in row-major window order (smallest u, then
    smallest v), and a NaN counts as the maximum, as in PyTorch.
    """

    dims = 2
    _spatial_names = "H, W"


class _AvgPool(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def _divisor(self, spatial, out, dtype) -> np.ndarray | float:
        """The number of values each window averages: k_1·k_2·… with the padding counted,
        otherwise the window's positions inside the input (as an (*O, 1) array)."""
        if self.count_include_pad or not any(self.padding):
            return float(math.prod(self.kernel_size))
        inside = pad_channels_last(np.ones((1, *spatial, 1), dtype), self._pads)
        count = np.zeros((1, *out, 1), dtype)
        for position in np.ndindex(*self.kernel_size):
            count += inside[self._slices(position, out)]
        return count[0]

    def forward(self, x: np.ndarray) -> np.ndarray:
        spatial, out = self._windows_of(x)
        xp = pad_channels_last(np.moveaxis(x, 1, -1), self._pads)
        total = np.zeros((x.shape[0], *out, x.shape[1]), x.dtype)
        for position in np.ndindex(*self.kernel_size):
            total += xp[self._slices(position, out)]
        divisor = self._divisor(spatial, out, x.dtype)
        total /= divisor if isinstance(divisor, float) else divisor.astype(x.dtype)
        self._cache = (divisor, x.shape, xp.shape, out)
        return np.moveaxis(total, -1, 1)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self._require_forward(self._cache)
        divisor, x_shape, padded, out = self._cache
        self._check_grad(grad_out, (*x_shape[:2], *out))
        share = np.moveaxis(grad_out, 1, -1) / (
            divisor if isinstance(divisor, float) else divisor.astype(grad_out.dtype)
        )
        share = share.astype(grad_out.dtype, copy=False)
        dxp = np.zeros(padded, grad_out.dtype)
        windows = np.broadcast_to(
            share.reshape(*share.shape[:-1], *(1,) * self.dims, share.shape[-1]),
            (*share.shape[:-1], *self.kernel_size, share.shape[-1]),
        )
        add_windows(dxp, windows, self.kernel_size, self.stride, self.dilation)
        return np.moveaxis(dxp[interior(x_shape[2:], self._pads)], -1, 1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, count_include_pad={self.count_include_pad}"


class AvgPool1d(_AvgPool):
    """y[n, c, o] = (1/m) Σ_i x_pad[n, c, o·s + i] over the k window positions, m = k (padding
    counted as zeros, ``count_include_pad=True``, PyTorch's default) or the number of window
    positions inside the input. Backward: each input in window o receives dL/dy[n, c, o] / m
    (overlapping windows add up)."""

    dims = 1
    _spatial_names = "L"


class AvgPool2d(_AvgPool):
    """y[n, c, a, b] = (1/m) Σ_{u,v} x_pad[n, c, a·s_H + u, b·s_W + v], m = kH·kW (padding
    counted, PyTorch's default) or the window's positions inside the image
    (``count_include_pad=False``). Backward spreads dL/dy / m evenly over each window."""

    dims = 2
    _spatial_names = "H, W"


class GlobalAvgPool(Module):
    """y[n, c] = mean over every spatial position of x[n, c, ...]: (N, C, *S) → (N, C).

    Backward: dL/dx[n, c, ...] = dL/dy[n, c] / |S| at every position. The same as PyTorch's
    ``adaptive_avg_pool`` to size 1 followed by a flatten; for signals and images alike.
    """

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.ndim < 3:
            raise ValueError(
                f"{self.label}: expected an array (N, C, L) or (N, C, H, W), "
                f"got {getattr(x, 'shape', type(x))}"
            )
        self._shape = x.shape
        return x.mean(axis=tuple(range(2, x.ndim)))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self._require_forward(self._shape)
        shape = self._shape
        if not isinstance(grad_out, np.ndarray) or grad_out.shape != shape[:2]:
            raise ValueError(
                f"{self.label}: expected grad_out of shape {shape[:2]}, "
                f"got {getattr(grad_out, 'shape', type(grad_out))}"
            )
        count = math.prod(shape[2:])
        dx = np.empty(shape, grad_out.dtype)
        share = grad_out / grad_out.dtype.type(count)
        dx[...] = share.reshape(*shape[:2], *(1,) * (len(shape) - 2))
        return dx
