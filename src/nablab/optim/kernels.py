"""The optimizer rules as numba kernels: one fused pass over flat arrays per step.

These are accelerators of the NumPy references in :mod:`nablab.optim.rules`: the same formulas,
written per element in the same order of operations, so results are bit-identical (tested).
Optimizers call :func:`rule`, which picks the kernel or the reference by
:func:`nablab.backend.kernels`. numba is imported, and a kernel compiled (or loaded from its
cache), the first time that kernel runs.

``error_model="numpy"`` lets division and square root vectorize, and so does keeping the loop
body free of data-dependent branches: the weight-decay term λ·w is always computed (exact for
λ = 0 and finite w) and options arrive as booleans, which LLVM hoists out of the loop. Scalars
arrive in the arrays' dtype, complements such as 1 − β precomputed, so float32 stays float32.

Large buffers are cut into contiguous chunks updated by a small thread pool (the kernels release
the GIL; every element is independent, so results are identical). Numba's own OpenMP threads are
not used: after a parallel region they spin, and next to a BLAS library's threads in the
following matrix products that costs several times the update itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from nablab import backend
from nablab.optim import rules

PARALLEL_MIN_SIZE = 1 << 21
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    if _pool is None or _pool_size != workers:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(workers, thread_name_prefix="nablab-kernel")
        _pool_size = workers
    return _pool


class Kernel:
    """A rule compiled on first use (serial, nogil); large buffers are split across threads.

    The rule takes ``w``, then ``per_element`` arrays as long as ``w`` (gradient, state), then
    the hyperparameter array ``h`` and boolean options.
    """

    def __init__(self, rule: Callable, per_element: int) -> None:
        self.rule = rule
        self.per_element = per_element
        self._serial: Callable | None = None
        self.__doc__ = rule.__doc__

    @property
    def serial(self) -> Callable:
        if self._serial is None:
            import numba

            self._serial = numba.njit(cache=True, error_model="numpy", nogil=True)(self.rule)
        return self._serial

    def __call__(self, w: np.ndarray, *args) -> None:
        n = w.size
        threads = backend._Settings.threads
        if n < PARALLEL_MIN_SIZE or threads == 1:
            serial = self._serial
            (self.serial if serial is None else serial)(w, *args)
            return
        k = self.per_element
        bounds = np.linspace(0, n, threads + 1).astype(int)
        chunks = [
            (w[lo:hi], *(a[lo:hi] if a.size else a for a in args[:k]), *args[k:])
            for lo, hi in itertools.pairwise(bounds)
        ]
        serial = self.serial
        futures = [_executor(threads - 1).submit(serial, *chunk) for chunk in chunks[1:]]
        serial(*chunks[0])  # the calling thread takes the first chunk
        for future in futures:
            future.result()


def kernel(per_element: int) -> Callable[[Callable], Kernel]:
    return lambda rule: Kernel(rule, per_element)


@kernel(per_element=1)
def sgd_plain(w, g, h):
    """h = [lr, λ]:  w ← w − lr·(g + λw)."""
    lr, wd = h[0], h[1]
    for i in range(w.size):
        w[i] -= lr * (g[i] + wd * w[i])


@kernel(per_element=2)
def sgd_buffer(w, g, b, h, nesterov, first):
    """h = [lr, λ, μ, 1 − dampening]:  b ← g (first step) or μb + (1 − dampening)g;
    w ← w − lr·(nesterov ? g + μb : b)."""
    lr, wd, mu, one_minus_dampening = h[0], h[1], h[2], h[3]
    for i in range(w.size):
        gi = g[i] + wd * w[i]
        bi = gi if first else b[i] * mu + gi * one_minus_dampening
        b[i] = bi
        w[i] -= lr * (gi + bi * mu if nesterov else bi)


@kernel(per_element=2)
def sgd_velocity(w, g, v, h, nesterov):
    """h = [lr, λ, μ]:  v ← μv − lr·g;  w ← w + v  (nesterov: w ← w + μv − lr·g)."""
    lr, wd, mu = h[0], h[1], h[2]
    for i in range(w.size):
        step = lr * (g[i] + wd * w[i])
        vi = mu * v[i] - step
        v[i] = vi
        w[i] += mu * vi - step if nesterov else vi


@kernel(per_element=2)
def adagrad(w, g, s, h, inside):
    """h = [lr_t, λ, ε]:  s ← s + g²;  w ← w − lr_t·g/(√s + ε)  (inside: g/√(s + ε))."""
    clr, wd, eps = h[0], h[1], h[2]
    for i in range(w.size):
        gi = g[i] + wd * w[i]
        si = s[i] + gi * gi
        s[i] = si
        denom = np.sqrt(si + eps) if inside else np.sqrt(si) + eps
        w[i] -= clr * (gi / denom)


@kernel(per_element=4)
def rmsprop(w, g, r, gbar, b, h, inside, centered, use_momentum):
    """h = [lr, λ, α, 1 − α, ε, μ]:  r ← αr + (1 − α)g²;  centered: ḡ ← ḡ + (1 − α)(g − ḡ),
    r̃ = r − ḡ²;  d = g/(√r̃ + ε) (inside: g/√(r̃ + ε));  μ > 0: b ← μb + d, w ← w − lr·b;
    else w ← w − lr·d."""
    lr, wd, alpha, one_minus_alpha, eps, mu = h[0], h[1], h[2], h[3], h[4], h[5]
    for i in range(w.size):
        gi = g[i] + wd * w[i]
        ri = r[i] * alpha + one_minus_alpha * (gi * gi)
        r[i] = ri
        if centered:
            gb = gbar[i] + one_minus_alpha * (gi - gbar[i])
            gbar[i] = gb
            ri = ri - gb * gb
        denom = np.sqrt(ri + eps) if inside else np.sqrt(ri) + eps
        if use_momentum:
            bi = b[i] * mu + gi / denom
            b[i] = bi
            w[i] -= lr * bi
        else:
            w[i] -= lr * (gi / denom)


@kernel(per_element=4)
def adam(w, g, m, v, vmax, h, inside, amsgrad):
    """h = [lr/bc1, bc2, √bc2, λ, decay, 1 − β₁, β₂, 1 − β₂, ε, tiny]:  w ← w·decay;
    m ← m + (1 − β₁)(g − m);  v ← β₂v + (1 − β₂)g² (each set to 0 below tiny, the smallest
    normal number: moments of idle units would otherwise decay into slow denormals);
    amsgrad: v ← max(v_max, v);  w ← w − (lr/bc1)·m / (√v / √bc2 + ε)
    (inside: m / √(v / bc2 + ε))."""
    step_size, bc2, root_bc2, wd, decay = h[0], h[1], h[2], h[3], h[4]
    one_minus_beta1, beta2, one_minus_beta2, eps, tiny = h[5], h[6], h[7], h[8], h[9]
    zero = tiny - tiny
    for i in range(w.size):
        wi = w[i] * decay
        gi = g[i] + wd * wi
        mi = m[i] + one_minus_beta1 * (gi - m[i])
        vi = v[i] * beta2 + one_minus_beta2 * (gi * gi)
        mi = zero if abs(mi) < tiny else mi
        vi = zero if vi < tiny else vi
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vi = max(vmax[i], vi)
            vmax[i] = vi
        denom = np.sqrt(vi / bc2 + eps) if inside else np.sqrt(vi) / root_bc2 + eps
        w[i] = wi - step_size * (mi / denom)


ACCELERATED = {
    "sgd_plain": sgd_plain,
    "sgd_buffer": sgd_buffer,
    "sgd_velocity": sgd_velocity,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
}


def rule(name: str) -> Callable:
    """The rule ``name`` as the current backend runs it: the numba kernel or the reference."""
    if backend._Settings.kernels == "numba":
        return ACCELERATED[name]
    return rules.REFERENCE[name]
