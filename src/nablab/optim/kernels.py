"""Fused update kernels: each optimizer's rule as one pass over flat arrays, compiled by numba.

Each kernel reads and writes every element once, in the order of operations of PyTorch's
single-tensor implementation, so float64 results agree with ``torch.optim`` to rounding. Every
kernel is compiled twice: serial for small buffers (no thread start-up cost) and
multi-threaded for large ones (each element is independent, so results are identical).
``error_model="numpy"`` lets division and square root vectorize, and so does keeping the loop
body free of data-dependent branches: the weight-decay term λ·w is always computed (exact for
λ = 0 and finite w) and options arrive as booleans, which LLVM hoists out of the loop. Scalars
arrive in the arrays' dtype, complements such as 1 − β precomputed, so float32 stays float32.

The Python formulas live in the optimizers' docstrings; here they are written per element.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import numba
import numpy as np
from numba import prange

PARALLEL_MIN_SIZE = 1 << 15


class Kernel:
    """A rule compiled serial and parallel; calling it picks one by the first array's size."""

    def __init__(self, rule: Callable) -> None:
        options = {"cache": True, "error_model": "numpy", "nogil": True}
        self.serial = numba.njit(**options)(rule)
        twin = types.FunctionType(rule.__code__, rule.__globals__, rule.__name__ + "_parallel")
        twin.__qualname__ = rule.__qualname__ + "_parallel"  # a cache entry of its own
        self.parallel = numba.njit(parallel=True, **options)(twin)

    def __call__(self, w: np.ndarray, *args) -> None:
        (self.parallel if w.size >= PARALLEL_MIN_SIZE else self.serial)(w, *args)


def _lerp(start, end, weight, one_minus_weight, low):
    """start + weight·(end − start), in PyTorch's two-branch form (exact at weight 0 and 1);
    ``low`` = weight < 0.5, decided once outside the loop."""
    if low:
        return start + weight * (end - start)
    return end - (end - start) * one_minus_weight


_lerp = numba.njit(inline="always", error_model="numpy")(_lerp)


@Kernel
def sgd_plain(w, g, lr, wd):
    """w ← w − lr·(g + λw)."""
    for i in prange(w.size):
        gi = g[i] + wd * w[i]
        w[i] -= lr * gi


@Kernel
def sgd_buffer(w, g, b, lr, wd, mu, one_minus_dampening, nesterov, first):
    """b ← g (first step) or μb + (1 − dampening)g;  w ← w − lr·(nesterov ? g + μb : b)."""
    for i in prange(w.size):
        gi = g[i] + wd * w[i]
        bi = gi if first else b[i] * mu + gi * one_minus_dampening
        b[i] = bi
        w[i] -= lr * (gi + bi * mu if nesterov else bi)


@Kernel
def sgd_velocity(w, g, v, lr, wd, mu, nesterov):
    """v ← μv − lr·g;  w ← w + v  (nesterov: w ← w + μv − lr·g)."""
    for i in prange(w.size):
        gi = g[i] + wd * w[i]
        step = lr * gi
        vi = mu * v[i] - step
        v[i] = vi
        w[i] += mu * vi - step if nesterov else vi


@Kernel
def adagrad(w, g, s, clr, wd, eps, inside):
    """s ← s + g²;  w ← w − clr·g/(√s + ε)  (inside: g/√(s + ε))."""
    for i in prange(w.size):
        gi = g[i] + wd * w[i]
        si = s[i] + gi * gi
        s[i] = si
        denom = np.sqrt(si + eps) if inside else np.sqrt(si) + eps
        w[i] -= clr * (gi / denom)


@Kernel
def rmsprop(w, g, r, gbar, b, lr, wd, alpha, one_minus_alpha, lerp_low, eps, inside, centered,
            mu, use_momentum):
    """r ← αr + (1 − α)g²;  centered: ḡ ← lerp(ḡ, g, 1 − α), r̃ = r − ḡ²;
    d = g/(√r̃ + ε) (inside: g/√(r̃ + ε));  μ > 0: b ← μb + d, w ← w − lr·b;  else w ← w − lr·d."""
    for i in prange(w.size):
        gi = g[i] + wd * w[i]
        ri = r[i] * alpha + one_minus_alpha * (gi * gi)
        r[i] = ri
        if centered:
            gb = _lerp(gbar[i], gi, one_minus_alpha, alpha, lerp_low)
            gbar[i] = gb
            ri = ri - gb * gb
        denom = np.sqrt(ri + eps) if inside else np.sqrt(ri) + eps
        if use_momentum:
            bi = b[i] * mu + gi / denom
            b[i] = bi
            w[i] -= lr * bi
        else:
            w[i] -= lr * (gi / denom)


@Kernel
def adam(w, g, m, v, vmax, step_size, bc2, root_bc2, wd, decay, beta1, one_minus_beta1, lerp_low,
         beta2, one_minus_beta2, eps, inside, amsgrad):
    """w ← w·decay;  m ← lerp(m, g, 1 − β₁);  v ← β₂v + (1 − β₂)g²;
    w ← w − step_size · m / (√v / √bc2 + ε)  (inside: m / √(v / bc2 + ε)); amsgrad: max v."""
    for i in prange(w.size):
        wi = w[i] * decay
        gi = g[i] + wd * wi
        mi = _lerp(m[i], gi, one_minus_beta1, beta1, lerp_low)
        vi = v[i] * beta2 + one_minus_beta2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vi = max(vmax[i], vi)
            vmax[i] = vi
        denom = np.sqrt(vi / bc2 + eps) if inside else np.sqrt(vi) / root_bc2 + eps
        w[i] = wi - step_size * (mi / denom)
