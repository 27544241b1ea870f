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
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
