"""Sliding windows over channels-last arrays: what convolution and pooling share.

An input (N, *S, C) (channels last) is padded to (N, *P, C). A window of kernel size k,
stride s and dilation d starts at output position o at o·s and reads the positions
o·s + j·d for j = 0 … k − 1, along each spatial axis. Along an axis of padded length P the
number of windows is ⌊(P − d·(k − 1) − 1)/s⌋ + 1.

- :func:`windows` is im2col as a strided *view* (no copy): shape (N, *O, *k, C), entry
  [n, o, j, c] = x_padded[n, o·s + j·d, c]. Copying it into rows (one row per output
  position, one column per (kernel position, channel)) gives the im2col matrix.
- :func:`add_windows` is col2im, the transpose: it adds each window's values back onto the
  positions they were read from, one kernel position at a time (k_1·k_2·… slice additions of
  the whole batch, rather than one scattered addition per element).

:func:`im2col` (a copy of the strided view) and :func:`col2im` are what convolution calls.
col2im is :func:`col2im_reference` (the slice additions above) or, when the kernels are numba
(:mod:`nablab.backend`), a compiled loop that does the same additions in the same order, so
both give bit-identical results; with a few channels per position the reference spends its
time in NumPy's short inner loops over the channels, which the loop does not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from nablab import backend

Pairs = tuple[tuple[int, int], ...]


def as_tuple(owner: str, name: str, value: object, dims: int, low: int = 1) -> tuple[int, ...]:
    """``value`` (an int or a sequence of ``dims`` ints, each ≥ ``low``) as a tuple of ints."""
    items = (value,) * dims if isinstance(value, int | np.integer) else value
    try:
        items = tuple(items)
    except TypeError:
        items = ()
    if len(items) != dims or any(
        isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low for v in items
    ):
        shape = "an integer" if dims == 1 else f"an integer or {dims} integers"
        raise ValueError(f"{owner}: {name} must be {shape} >= {low}, got {value!r}")
    return tuple(int(v) for v in items)


def output_size(padded: int, kernel: int, stride: int, dilation: int) -> int:
    """⌊(P − d·(k − 1) − 1)/s⌋ + 1 windows along an axis of padded length P (≤ 0: none)."""
    return (padded - dilation * (kernel - 1) - 1) // stride + 1


def output_shape(
    spatial: Sequence[int],
    pads: Pairs,
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
) -> tuple[int, ...]:
    axes = zip(spatial, pads, kernel, stride, dilation, strict=True)
    return tuple(output_size(size + a + b, k, s, d) for size, (a, b), k, s, d in axes)


def pad_channels_last(x: np.ndarray, pads: Pairs, fill: float = 0.0) -> np.ndarray:
    """(N, *S, C) padded along the spatial axes to (N, *P, C) with ``fill`` (``x`` itself
    when every pad is zero)."""
    if not any(left or right for left, right in pads):
        return x
    shape = (x.shape[0], *(s + a + b for s, (a, b) in zip(x.shape[1:-1], pads, strict=True)))
    out = np.full((*shape, x.shape[-1]), fill, dtype=x.dtype)
    out[interior(x.shape[1:-1], pads)] = x
    return out


def interior(spatial: Sequence[int], pads: Pairs) -> tuple[slice, ...]:
    """The index of the unpadded input inside a padded (N, *P, *C) array."""
    return (
        slice(None),
        *(slice(a, a + s) for s, (a, _) in zip(spatial, pads, strict=True)),
        Ellipsis,
    )


def windows(
    xp: np.ndarray, out: Sequence[int], kernel: Sequence[int], stride, dilation
) -> np.ndarray:
    """The strided view (N, *O, *k, C) of the padded channels-last ``xp``:
    view[n, o, j, c] = xp[n, o·s + j·d, c]. Read-only; copy it to write."""
    strides = xp.strides
    spatial = strides[1:-1]
    return np.lib.stride_tricks.as_strided(
        xp,
        shape=(xp.shape[0], *out, *kernel, xp.shape[-1]),
        strides=(
            strides[0],
            *(st * s for st, s in zip(spatial, stride, strict=True)),
            *(st * d for st, d in zip(spatial, dilation, strict=True)),
            strides[-1],
        ),
        writeable=False,
    )


def kernel_slices(
    position: Sequence[int], out: Sequence[int], stride, dilation
) -> tuple[slice, ...]:
    """The spatial slices of the padded input that kernel position j reads for every output
    position: j·d, j·d + s, …, j·d + (O − 1)·s."""
    return tuple(
        slice(j * d, j * d + (o - 1) * s + 1, s)
        for j, o, s, d in zip(position, out, stride, dilation, strict=True)
    )


def add_windows(
    target: np.ndarray, values: np.ndarray, kernel: Sequence[int], stride, dilation
) -> np.ndarray:
    """col2im: ``target[n, o·s + j·d, c] += values[n, o, j, c]`` for every window entry.

    ``target`` is (N, *P, *C) (padded, channels last; C may be several axes, such as
    (groups, channels per group)) and ``values`` (N, *O, *k, *C); one slice addition per
    kernel position, so overlapping windows add up.
    """
    dims = len(kernel)
    out = values.shape[1 : 1 + dims]
    for position in np.ndindex(*kernel):
        spatial = kernel_slices(position, out, stride, dilation)
        target[(slice(None), *spatial, Ellipsis)] += values[
            (slice(None),) + (slice(None),) * dims + position
        ]
    return target


def same_padding(kernel: Sequence[int], dilation: Sequence[int]) -> Pairs:
    """The pads of ``padding="same"`` (stride 1): d·(k − 1) in total per axis, the extra one on
    the right when it is odd (as PyTorch pads)."""
    pairs = []
    for k, d in zip(kernel, dilation, strict=True):
        total = d * (k - 1)
        pairs.append((total // 2, total - total // 2))
    return tuple(pairs)


# ----------------------------------------------------------------------------- im2col / col2im
def im2col(
    xp: np.ndarray, out: Sequence[int], kernel: Sequence[int], stride, dilation, groups: int
) -> np.ndarray:
    """X_col per group, (g, N·O, K) with K = k_1·k_2·…·(C/g): row (n, o) of group g holds the
    window at o, in (kernel position, channel) order, of the padded channels-last ``xp``."""
    view = windows(xp, out, kernel, stride, dilation)  # (N, *O, *k, C)
    view = np.moveaxis(view.reshape(*view.shape[:-1], groups, -1), -2, 0)  # (g, N, *O, *k, C/g)
    rows = xp.shape[0] * math.prod(out)
    return np.ascontiguousarray(view).reshape(groups, rows, -1)


def im2col_by_positions(
    x: np.ndarray,
    pads: Pairs,
    out: Sequence[int],
    kernel: Sequence[int],
    stride,
    dilation,
    groups: int,
) -> np.ndarray:
    """The X_col of :func:`im2col` from the channels-first (N, C, *S) input, filled one kernel
    position at a time: (g, N·O, K) as the transposed view of a (g, K, N·O) array.

    Each copy moves a (C, N, *O) block whose inner axis is the output's last spatial axis, so
    with few channels and large maps it is several times faster than copying windows whose
    inner axis is a handful of channels; the numbers are the same.
    """  # fmt: skip
    n, c = x.shape[:2]
    padded = x
    if any(a or b for a, b in pads):
        spatial = tuple(size + a + b for size, (a, b) in zip(x.shape[2:], pads, strict=True))
        padded = np.zeros((n, c, *spatial), x.dtype)
        padded[(slice(None), *interior(x.shape[2:], pads)[:-1])] = x
    cols_t = np.empty((groups, *kernel, c // groups, n, *out), x.dtype)
    for position in np.ndindex(*kernel):
        spatial = kernel_slices(position, out, stride, dilation)
        block = padded[(slice(None), slice(None), *spatial)].reshape(n, groups, -1, *out)
        cols_t[(slice(None), *position)] = np.moveaxis(block, 0, 2)  # (g, C/g, N, *O)
    return cols_t.reshape(groups, -1, n * math.prod(out)).transpose(0, 2, 1)


def col2im_reference(
    d_cols: np.ndarray, padded: Sequence[int], out, kernel, stride, dilation
) -> np.ndarray:
    """The transpose of :func:`im2col`: (g, N·O, K) rows added back onto a zero
    padded input (N, *P, g, C/g), one kernel position at a time."""
    groups = d_cols.shape[0]
    values = d_cols.reshape(groups, padded[0], *out, *kernel, -1)
    target = np.zeros((*padded[:-1], groups, values.shape[-1]), d_cols.dtype)
    return add_windows(target, np.moveaxis(values, 0, -2), kernel, stride, dilation)


def _col2im_loop(values, target, sh, sw, dh, dw):
    groups, n_samples, out_h, out_w, k_h, k_w, channels = values.shape
    for i in range(k_h):  # kernel positions outermost: the reference's order of additions
        for j in range(k_w):
            for n in range(n_samples):
                for a in range(out_h):
                    row = a * sh + i * dh
                    for b in range(out_w):
                        col = b * sw + j * dw
                        for g in range(groups):
                            for c in range(channels):
                                target[n, row, col, g, c] += values[g, n, a, b, i, j, c]


_loops: dict[str, Callable] = {}


def _compiled(name: str) -> Callable:
    if name not in _loops:
        import numba

        source = {"col2im": _col2im_loop}[name]
        _loops[name] = numba.njit(cache=True, nogil=True)(source)
    return _loops[name]


def _plane(sizes: Sequence[int], fill: int = 1) -> tuple[int, int]:
    """1-D sizes as 2-D ones with a unit first axis; 2-D sizes as they are."""
    return (fill, sizes[0]) if len(sizes) == 1 else (sizes[0], sizes[1])


def col2im(d_cols: np.ndarray, padded: Sequence[int], out, kernel, stride, dilation) -> np.ndarray:
    """:func:`col2im_reference`, by a compiled loop when the kernels are numba."""
    if backend._Settings.kernels != "numba" or len(kernel) > 2:
        return col2im_reference(d_cols, padded, out, kernel, stride, dilation)
    groups, n = d_cols.shape[0], padded[0]
    values = d_cols.reshape(groups, n, *_plane(out), *_plane(kernel), -1)
    target = np.zeros((n, *_plane(padded[1:-1]), groups, values.shape[-1]), d_cols.dtype)
    _compiled("col2im")(values, target, *_plane(stride), *_plane(dilation))
    return target.reshape(*padded[:-1], groups, values.shape[-1])
