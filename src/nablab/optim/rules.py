"""Each optimizer's update rule on flat arrays, in NumPy: the readable reference.

Every function updates ``w`` and its state arrays in place from the gradient ``g``, given the
hyperparameter array ``h`` (in ``w``'s dtype, so float32 stays float32) and boolean options.
The numba kernels of :mod:`nablab.optim.kernels` compute the same formulas element by element
in the same order of operations, so both give bit-identical results; tests hold them to that.

The order of operations is PyTorch's single-tensor one. Moving averages are written
m + (1 − β)·(g − m), PyTorch's ``lerp`` for weights below ½ (every usual β).
"""

from __future__ import annotations

import numpy as np


def sgd_plain(w, g, h):
    """h = [lr, λ]:  w ← w − lr·(g + λw)."""
    lr, wd = h[0], h[1]
    step = wd * w
    step += g
    step *= lr
    w -= step


def sgd_buffer(w, g, b, h, nesterov, first):
    """h = [lr, λ, μ, 1 − dampening]:  ĝ = g + λw;  b ← ĝ on the first step, else
    b ← μb + (1 − dampening)ĝ;  w ← w − lr·(nesterov ? ĝ + μb : b)."""
    lr, wd, mu, one_minus_dampening = h[0], h[1], h[2], h[3]
    gi = wd * w
    gi += g
    if first:
        b[...] = gi
    else:
        b *= mu
        b += gi * one_minus_dampening
    if nesterov:
        gi += b * mu
        gi *= lr
        w -= gi
    else:
        w -= lr * b


def sgd_velocity(w, g, v, h, nesterov):
    """h = [lr, λ, μ]:  s = lr·(g + λw);  v ← μv − s;  w ← w + v  (nesterov: w ← w + μv − s)."""
    lr, wd, mu = h[0], h[1], h[2]
    step = wd * w
    step += g
    step *= lr
    v *= mu
    v -= step
    if nesterov:
        move = mu * v
        move -= step
        w += move
    else:
        w += v


def adagrad(w, g, s, h, inside):
    """h = [lr_t, λ, ε]:  ĝ = g + λw;  s ← s + ĝ²;  w ← w − lr_t·ĝ/(√s + ε)
    (inside: ĝ/√(s + ε))."""
    clr, wd, eps = h[0], h[1], h[2]
    gi = wd * w
    gi += g
    s += gi * gi
    denom = np.sqrt(s + eps) if inside else np.sqrt(s) + eps
    gi /= denom
    gi *= clr
    w -= gi


def rmsprop(w, g, r, gbar, b, h, inside, centered, use_momentum):
    """h = [lr, λ, α, 1 − α, ε, μ]:  ĝ = g + λw;  r ← αr + (1 − α)ĝ²;
    centered: ḡ ← ḡ + (1 − α)(ĝ − ḡ), r̃ = r − ḡ², else r̃ = r;  d = ĝ/(√r̃ + ε)
    (inside: ĝ/√(r̃ + ε));  μ > 0: b ← μb + d, w ← w − lr·b;  else w ← w − lr·d."""
    lr, wd, alpha, one_minus_alpha, eps, mu = h[0], h[1], h[2], h[3], h[4], h[5]
    gi = wd * w
    gi += g
    r *= alpha
    r += one_minus_alpha * (gi * gi)
    ri = r
    if centered:
        gbar += one_minus_alpha * (gi - gbar)
        ri = r - gbar * gbar
    denom = np.sqrt(ri + eps) if inside else np.sqrt(ri) + eps
    gi /= denom
    if use_momentum:
        b *= mu
        b += gi
        w -= lr * b
    else:
        w -= lr * gi


def adam(w, g, m, v, vmax, h, inside, amsgrad):
    """h = [lr/bc1, bc2, √bc2, λ, decay, 1 − β₁, β₂, 1 − β₂, ε, tiny]:  w ← w·decay;
    ĝ = g + λw;  m ← m + (1 − β₁)(ĝ − m);  v ← β₂v + (1 − β₂)ĝ², each set to 0 where it falls
    below tiny (the smallest normal number: the moments of idle units would otherwise decay
    into denormals, which are slow);  amsgrad: v̂ = max(v_max, v) kept in v_max, else v̂ = v;
    w ← w − (lr/bc1)·m / (√v̂/√bc2 + ε)  (inside: m / √(v̂/bc2 + ε))."""
    step_size, bc2, root_bc2, wd, decay = h[0], h[1], h[2], h[3], h[4]
    one_minus_beta1, beta2, one_minus_beta2, eps, tiny = h[5], h[6], h[7], h[8], h[9]
    w *= decay
    gi = wd * w
    gi += g
    m += one_minus_beta1 * (gi - m)
    v *= beta2
    v += one_minus_beta2 * (gi * gi)
    m[np.abs(m) < tiny] = 0
    v[v < tiny] = 0
    vi = v
    if amsgrad:
        np.maximum(vmax, v, out=vmax)
        vi = vmax
    denom = np.sqrt(vi / bc2 + eps) if inside else np.sqrt(vi) / root_bc2 + eps
    update = m / denom
    update *= step_size
    w -= update


REFERENCE = {
    "sgd_plain": sgd_plain,
    "sgd_buffer": sgd_buffer,
    "sgd_velocity": sgd_velocity,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
}
