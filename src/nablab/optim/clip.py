"""Gradient clipping by global norm."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from nablab.nn.module import Parameter


def clip_grad_norm(params: Iterable[Parameter], max_norm: float) -> float:
    """Scale every gradient by min(1, max_norm / (‖g‖ + 1e-6)), ‖g‖ the norm of all of them.

    Returns ‖g‖ before clipping (as PyTorch's ``clip_grad_norm_`` with the 2-norm). Pruned
    entries (mask 0) are left out of the norm and set to zero.
    """
    params = list(params)
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm: max_norm must be > 0, got {max_norm!r}")
    for param in params:
        if param.mask is not None:
            param.grad *= param.mask
    total = float(np.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in params)))
    coefficient = max_norm / (total + 1e-6)
    if coefficient < 1.0:
        for param in params:
            param.grad *= coefficient
    return total
