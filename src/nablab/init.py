"""Weight initializers.

Each initializer has the signature ``name(shape, *, rng=None, dtype=np.float64, gain=1.0, ...)``
and returns a new array. Fans follow nablab's weight layouts, the output axis last: a linear
weight ``(in_features, out_features)`` has ``fan_in = shape[0]``, ``fan_out = shape[1]``; a
convolution weight ``(*kernel_size, in_channels // groups, out_channels)`` has a receptive
field r = prod(kernel_size) and ``fan_in = r · in_channels // groups``,
``fan_out = r · out_channels`` (PyTorch's fans for its ``(out, in // groups, *kernel)``
layout). A 1-D shape has ``fan_in = fan_out = shape[0]``.

==================  =============================  ===========================
name                variance                       distribution
==================  =============================  ===========================
xavier_uniform      gain² · 2 / (fan_in + fan_out)  U(−a, a), a = √(3·var)
xavier_normal       gain² · 2 / (fan_in + fan_out)  N(0, var)
lecun_uniform       gain² / fan_in                  U(−a, a), a = √(3·var)
lecun_normal        gain² / fan_in                  N(0, var)
he_uniform          gain² · 2 / fan_in              U(−a, a), a = √(3·var)
he_normal           gain² · 2 / fan_in              N(0, var)
==================  =============================  ===========================

``he_*`` is Kaiming initialization for ReLU (PyTorch's ``kaiming_*_`` with
``nonlinearity="relu"``, ``mode="fan_in"``); normals are not truncated.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from nablab._random import RngLike, as_generator
from nablab.registry import Registry

Shape = tuple[int, ...]
Initializer = Callable[..., np.ndarray]


def fans(shape: Shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape``, the output axis last.

    (in, out): (in, out). (*k, in, out), a convolution's kernel: with r = prod(k) the inputs
    one output sees, fan_in = r·in and fan_out = r·out (the outputs one input reaches).
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) >= 2:
        receptive = math.prod(shape[:-2])
        return receptive * shape[-2], receptive * shape[-1]
    raise ValueError(f"fans need a shape with at least one axis, got shape {shape}")


def zeros(shape: Shape, *, rng: RngLike = None, dtype=np.float64) -> np.ndarray:
    """All zeros (every unit computes the same function: the symmetry problem)."""
    return np.zeros(shape, dtype=dtype)


def constant(shape: Shape, value: float = 0.0, *, rng: RngLike = None, dtype=np.float64):
    """Every entry equal to ``value``."""
    return np.full(shape, value, dtype=dtype)


def normal(
    shape: Shape, std: float = 1.0, mean: float = 0.0, *, rng: RngLike = None, dtype=np.float64
) -> np.ndarray:
    """N(mean, std²) entries."""
    if std < 0:
        raise ValueError(f"normal: std must be >= 0, got {std}")
    return as_generator(rng).normal(mean, std, size=shape).astype(dtype, copy=False)


def uniform(
    shape: Shape, a: float = 0.0, b: float = 1.0, *, rng: RngLike = None, dtype=np.float64
) -> np.ndarray:
    """U(a, b) entries."""
    if b < a:
        raise ValueError(f"uniform: need a <= b, got a={a}, b={b}")
    return as_generator(rng).uniform(a, b, size=shape).astype(dtype, copy=False)


def _scaled(variance: float, distribution: str, shape: Shape, rng: RngLike, dtype) -> np.ndarray:
    std = math.sqrt(variance)
    if distribution == "normal":
        return normal(shape, std, rng=rng, dtype=dtype)
    bound = math.sqrt(3.0) * std
    return uniform(shape, -bound, bound, rng=rng, dtype=dtype)


def xavier_uniform(shape: Shape, *, gain: float = 1.0, rng: RngLike = None, dtype=np.float64):
    """Glorot uniform: variance gain² · 2 / (fan_in + fan_out)."""
    fan_in, fan_out = fans(shape)
    return _scaled(gain**2 * 2.0 / (fan_in + fan_out), "uniform", shape, rng, dtype)


def xavier_normal(shape: Shape, *, gain: float = 1.0, rng: RngLike = None, dtype=np.float64):
    """Glorot normal: variance gain² · 2 / (fan_in + fan_out)."""
    fan_in, fan_out = fans(shape)
    return _scaled(gain**2 * 2.0 / (fan_in + fan_out), "normal", shape, rng, dtype)


def lecun_uniform(shape: Shape, *, gain: float = 1.0, rng: RngLike = None, dtype=np.float64):
    """LeCun uniform: variance gain² / fan_in."""
    return _scaled(gain**2 / fans(shape)[0], "uniform", shape, rng, dtype)


def lecun_normal(shape: Shape, *, gain: float = 1.0, rng: RngLike = None, dtype=np.float64):
    """LeCun normal: variance gain² / fan_in."""
    return _scaled(gain**2 / fans(shape)[0], "normal", shape, rng, dtype)


def he_uniform(shape: Shape, *, gain: float = 1.0, rng: RngLike = None, dtype=np.float64):
    """He (Kaiming) uniform: variance gain² · 2 / fan_in."""
    return _scaled(gain**2 * 2.0 / fans(shape)[0], "uniform", shape, rng, dtype)


def he_normal(shape: Shape, *, gain: float = 1.0, rng: RngLike = None, dtype=np.float64):
    """He (Kaiming) normal: variance gain² · 2 / fan_in."""
    return _scaled(gain**2 * 2.0 / fans(shape)[0], "normal", shape, rng, dtype)


INITIALIZERS: Registry[Initializer] = Registry("initializer")
INITIALIZERS.add("zeros", zeros, "all zeros (units stay identical: the symmetry problem)")
INITIALIZERS.add("constant", constant, "every entry equal to value")
INITIALIZERS.add("normal", normal, "N(mean, std²), std = 1 by default")
INITIALIZERS.add("uniform", uniform, "U(a, b), U(0, 1) by default")
INITIALIZERS.add(
    "xavier_uniform",
    xavier_uniform,
    "Var = 2/(fan_in + fan_out), uniform",
    aliases=("glorot_uniform",),
)
INITIALIZERS.add(
    "xavier_normal", xavier_normal, "Var = 2/(fan_in + fan_out), normal", aliases=("glorot_normal",)
)
INITIALIZERS.add("lecun_uniform", lecun_uniform, "Var = 1/fan_in, uniform")
INITIALIZERS.add("lecun_normal", lecun_normal, "Var = 1/fan_in, normal")
INITIALIZERS.add(
    "he_uniform", he_uniform, "Var = 2/fan_in, uniform (for ReLU)", aliases=("kaiming_uniform",)
)
INITIALIZERS.add(
    "he_normal", he_normal, "Var = 2/fan_in, normal (for ReLU)", aliases=("kaiming_normal",)
)


def get(init: str | Initializer) -> Initializer:
    """The initializer named ``init`` (or ``init`` itself when it is callable)."""
    if callable(init):
        return init
    return INITIALIZERS[init]
