"""Convolution in matrix form: im2col turns it into Z = XW + b, one output position per row.

A convolution slides a kernel over the input; every output position sees one window of the
(padded) input. Copy each window into a row (im2col) and the whole layer is one matrix
product, exactly the fully connected layer of :mod:`nablab.nn.linear` with shared weights:

    X_col  (N·O, K)      row (n, o) = the window at output position o of sample n, read in the
                         order (kernel position, input channel), K = k_1·k_2·…·C_in
    W      (K, C_out)    the weight (*k, C_in, C_out) reshaped: column j is output channel j's
                         kernel, in the same (kernel position, input channel) order
    Z = X_col W + b      (N·O, C_out), then laid out as (N, C_out, *O)

Backward, with G = dL/dZ in the same (N·O, C_out) rows::

    dL/dW = X_colᵀ G                  (K, C_out), reshaped to (*k, C_in, C_out)
    dL/db = Σ_rows G                  (C_out,)
    dL/dX = col2im(G Wᵀ)              each row of G Wᵀ added back onto the window it came from

Per output channel j and position o this is the textbook sum
z[n, j, o] = b_j + Σ_c Σ_i W[i, c, j] · x_pad[n, c, o·s + i·d]: a cross-correlation (the
kernel is not flipped, as in PyTorch). With ``groups = g`` the channels split into g blocks and
each block is its own product Z_g = X_col,g W_g + b_g with K = k_1·…·(C_in/g) columns and
C_out/g outputs.

The weight layout ``(*kernel_size, in_channels // groups, out_channels)`` keeps nablab's
(in, out) convention: the output axis is last (gradient centralization and per-output-channel
pruning read ``weight[..., j]``), and ``weight.reshape(-1, out_channels)`` is the W above.
PyTorch stores ``(out_channels, in_channels // groups, *kernel_size)``; moving the last axis to
the front and the channel axis after it converts one into the other.
"""

from __future__ import annotations

import math

import numpy as np

from nablab import init as initializers
from nablab._checks import positive_int
from nablab._random import RngLike, as_generator
from nablab.nn.module import Module, Parameter
from nablab.nn.sliding import (
    as_tuple,
    col2im,
    im2col,
    im2col_by_positions,
    interior,
    output_shape,
    pad_channels_last,
    same_padding,
)

PaddingSpec = int | tuple[int, ...] | str


def conv_padding(owner: str, padding: PaddingSpec, kernel, stride, dilation) -> tuple:
    """The (left, right) pads per spatial axis of ``padding``: an int or one int per axis
    (both sides), ``"valid"`` (none) or ``"same"`` (output as long as the input; stride 1)."""
    dims = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * dims
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"{owner}: padding='same' needs stride 1 (the output length would depend on "
                    f"where the windows start), got stride {stride}"
                )
            return same_padding(kernel, dilation)
        raise ValueError(
            f"{owner}: padding must be an integer, {dims} integers, 'same' or 'valid', "
            f"got {padding!r}"
        )
    return tuple((p, p) for p in as_tuple(owner, "padding", padding, dims, low=0))


def _by_positions(channels_per_group: int, positions: int) -> bool:
    """Copy the windows one kernel position at a time (inner axis: the output's positions)
    rather than window by window (inner axis: the channels) when a window holds fewer
    channels than the map has output positions: same X_col, fewer and longer inner loops."""
    return channels_per_group < positions


class _ConvNd(Module):
    """The shared machinery of :class:`Conv1d` and :class:`Conv2d` (``dims`` spatial axes)."""

    dims = 0
    _spatial_names = ""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: PaddingSpec = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        init: str | initializers.Initializer = "xavier_uniform",
        rng: RngLike = None,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.in_channels = positive_int(owner, "in_channels", in_channels)
        self.out_channels = positive_int(owner, "out_channels", out_channels)
        self.groups = positive_int(owner, "groups", groups)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"{owner}: in_channels ({self.in_channels}) and out_channels "
                f"({self.out_channels}) must both be divisible by groups ({self.groups})"
            )
        self.kernel_size = as_tuple(owner, "kernel_size", kernel_size, self.dims)
        self.stride = as_tuple(owner, "stride", stride, self.dims)
        self.dilation = as_tuple(owner, "dilation", dilation, self.dims)
        self.padding = padding
        self._pads = conv_padding(owner, padding, self.kernel_size, self.stride, self.dilation)
        if bias not in (True, False):
            raise ValueError(f"{owner}: bias must be True or False, got {bias!r}")
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise ValueError(f"{owner}: dtype must be a floating type, got {dtype}")
        shape = (*self.kernel_size, self.in_channels // self.groups, self.out_channels)
        weight = np.asarray(initializers.get(init)(shape, rng=as_generator(rng), dtype=dtype))
        if weight.shape != shape or weight.dtype != dtype:
            raise ValueError(
                f"{owner}: initializer returned shape {weight.shape} and dtype {weight.dtype}, "
                f"expected {shape} and {dtype}"
            )
        self.register_parameter("weight", Parameter(weight))
        self.register_parameter(
            "bias", Parameter(np.zeros(self.out_channels, dtype)) if bias else None
        )
        self._cache: tuple | None = None

    # ----------------------------------------------------------------- forward
    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        n, spatial = x.shape[0], x.shape[2:]
        kernel, stride, dilation = self.kernel_size, self.stride, self.dilation
        out = output_shape(spatial, self._pads, kernel, stride, dilation)
        if min(out) < 1:
            self._reject_size(spatial)
        g, c_out = self.groups, self.out_channels
        rows = n * math.prod(out)
        # im2col: X_col per group (g, N·O, K), the windows of the padded input as rows
        padded = (
            n,
            *(s + a + b for s, (a, b) in zip(spatial, self._pads, strict=True)),
            x.shape[1],
        )
        if _by_positions(self.in_channels // g, math.prod(out)):
            cols = im2col_by_positions(x, self._pads, out, kernel, stride, dilation, g)
        else:
            xp = pad_channels_last(np.moveaxis(x, 1, -1), self._pads)
            cols = im2col(xp, out, kernel, stride, dilation, g)
        weight = self.weight
        w = weight._data if weight._mask is None and not self._weight_transforms else None
        if w is None:
            w = self.transformed("weight")
        w_groups = w.reshape(-1, g, c_out // g).transpose(1, 0, 2)  # (g, K, C_out/g)
        z = np.matmul(cols, w_groups)  # Z_g = X_col,g W_g
        z = z[0] if g == 1 else z.transpose(1, 0, 2).reshape(rows, c_out)
        if self.bias is not None:
            z += self.bias._data
        self._cache = (cols, w_groups, x.shape, padded, out)
        return np.moveaxis(z.reshape(n, *out, c_out), -1, 1)

    def _check_input(self, x: np.ndarray) -> None:
        if (
            not isinstance(x, np.ndarray)
            or x.ndim != self.dims + 2
            or x.shape[1] != self.in_channels
            or x.dtype != self.weight._data.dtype
        ):
            self._reject_input(x)

    def _reject_input(self, x: object) -> None:
        expected = f"(N, {self.in_channels}, {self._spatial_names}) {self.weight.dtype}"
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.label}: expected a NumPy array {expected}, got {type(x)}")
        if x.ndim != self.dims + 2 or x.shape[1] != self.in_channels:
            hint = ""
            if x.ndim == self.dims + 1:
                hint = " (one sample needs a batch axis: use x[None])"
            raise ValueError(
                f"{self.label}: expected input of shape {expected}, got shape {x.shape}{hint}"
            )
        raise ValueError(
            f"{self.label}: expected input dtype {self.weight.dtype}, got {x.dtype} "
            f"(a model never changes dtype silently: cast with x.astype(np.{self.weight.dtype}))"
        )

    def _reject_size(self, spatial: tuple[int, ...]) -> None:
        reach = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation, strict=True))
        padded = tuple(s + a + b for s, (a, b) in zip(spatial, self._pads, strict=True))
        raise ValueError(
            f"{self.label}: the input's spatial size {spatial} (padded {padded}) is smaller than "
            f"the kernel's reach {reach} (dilation·(kernel − 1) + 1): no output position"
        )

    # ----------------------------------------------------------------- backward
    def _accumulate(self, grad_out: np.ndarray) -> np.ndarray:
        """Add dL/dW = X_colᵀ G and dL/db = Σ_rows G; return G per group (g, N·O, C_out/g)."""
        self._require_forward(self._cache)
        cols, _, x_shape, _, out = self._cache
        expected = (x_shape[0], self.out_channels, *out)
        if not isinstance(grad_out, np.ndarray) or grad_out.shape != expected:
            raise ValueError(
                f"{self.label}: expected grad_out of shape {expected}, "
                f"got {getattr(grad_out, 'shape', type(grad_out))}"
            )
        g, c_out = self.groups, self.out_channels
        G = np.moveaxis(grad_out, 1, -1).reshape(cols.shape[1], c_out)  # rows × C_out
        G_groups = G.reshape(-1, g, c_out // g).transpose(1, 0, 2)
        dW = np.matmul(cols.transpose(0, 2, 1), G_groups)  # (g, K, C_out/g) = X_colᵀ G
        weight = self.weight
        if weight._mask is None and not self._weight_transforms:
            grad = weight._grad.reshape(-1, g, c_out // g)
            grad += dW.transpose(1, 0, 2)
        else:
            dW = dW.transpose(1, 0, 2).reshape(weight.shape)
            weight._grad += self.transform_gradient("weight", dW)
        if self.bias is not None:
            self.bias._grad += G.sum(axis=0)
        return G_groups

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        G_groups = self._accumulate(grad_out)
        _, w_groups, x_shape, padded, out = self._cache
        d_cols = np.matmul(G_groups, w_groups.transpose(0, 2, 1))  # (g, N·O, K) = G Wᵀ
        dxp = col2im(d_cols, padded, out, self.kernel_size, self.stride, self.dilation)
        dx = dxp[interior(x_shape[2:], self._pads)]  # (N, *S, g, C/g)
        dx = dx.reshape(*dx.shape[:-2], -1)  # (N, *S, C_in), groups side by side
        return np.moveaxis(dx, -1, 1)

    def backward_params(self, grad_out: np.ndarray) -> None:
        """Accumulate dL/dW and dL/db only; skips G Wᵀ and col2im."""
        self._accumulate(grad_out)

    def extra_repr(self) -> str:
        parts = [
            f"{self.in_channels}, {self.out_channels}",
            f"kernel_size={self.kernel_size}",
            f"stride={self.stride}",
            f"padding={self.padding!r}",
        ]
        if any(d != 1 for d in self.dilation):
            parts.append(f"dilation={self.dilation}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        parts += [f"bias={self.bias is not None}", f"dtype={self.weight.dtype}"]
        return ", ".join(parts)


class Conv1d(_ConvNd):
    """1-D convolution of (N, C_in, L) signals into (N, C_out, L_out), in matrix form.

    Weight (k, C_in/groups, C_out), bias (C_out,). With padded length P = L + p_left + p_right,
    L_out = ⌊(P − d·(k − 1) − 1)/s⌋ + 1 and

        z[n, j, o] = b_j + Σ_c Σ_i W[i, c, j] · x_pad[n, c, o·s + i·d]

    computed as Z = X_col W + b with X_col of shape (N·L_out, k·C_in) (row (n, o) = the window
    at o, in (kernel tap, channel) order) and W = weight.reshape(k·C_in, C_out). Backward:
    dL/dW = X_colᵀ G, dL/db = Σ_rows G, dL/dX = col2im(G Wᵀ) (the "full" convolution of G with
    the flipped kernel). ``padding``: an int, ``"same"`` (stride 1; the extra pad on the right
    for an even reach, as PyTorch) or ``"valid"``. Masks and weight transforms apply to the
    weight as in :class:`~nablab.nn.Linear`.

    Cost: forward copies the windows once (N·L_out·k·C_in numbers, kept for backward) and does
    one matrix product; backward does two products and k slice additions. The output is a
    channels-last array seen as (N, C_out, L_out) (a view, no copy); the next layer reads it in
    the layout it was written.
    """

    dims = 1
    _spatial_names = "L"


class Conv2d(_ConvNd):
    """2-D convolution of (N, C_in, H, W) images into (N, C_out, H_out, W_out), in matrix form.

    Weight (kH, kW, C_in/groups, C_out), bias (C_out,). Per spatial axis the output size is
    ⌊(P − d·(k − 1) − 1)/s⌋ + 1 with P the padded size, and

        z[n, j, a, b] = b_j + Σ_c Σ_{u,v} W[u, v, c, j] · x_pad[n, c, a·s_H + u·d_H, b·s_W + v·d_W]

    computed as Z = X_col W + b, X_col of shape (N·H_out·W_out, kH·kW·C_in) (one row per output
    pixel, columns in (kernel row, kernel column, channel) order), W = weight.reshape(−1, C_out).
    Backward: dL/dW = X_colᵀ G, dL/db = Σ_rows G, dL/dX = col2im(G Wᵀ). ``kernel_size``,
    ``stride``, ``padding`` and ``dilation`` take an int or an (H, W) pair; ``padding`` also
    ``"same"`` (stride 1) or ``"valid"``. Masks and weight transforms apply to the weight as in
    :class:`~nablab.nn.Linear`; pruning output channel j is ``mask[..., j] = 0``.

    Cost: forward copies the windows once (kept for backward) and does one matrix product;
    backward does two products and kH·kW slice additions. The output is a channels-last array
    seen as (N, C_out, H_out, W_out) without a copy.
    """

    dims = 2
    _spatial_names = "H, W"
