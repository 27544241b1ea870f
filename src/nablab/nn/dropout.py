"""Dropout, in its two formulations, with reproducible and inspectable masks."""

from __future__ import annotations

import numpy as np

from nablab._random import RngLike, as_generator
from nablab.nn.curvature import CurvatureMessage, elementwise
from nablab.nn.module import Module

DROPOUT_MODES = ("inverted", "scale_at_test")


class Dropout(Module):
    """Each unit is dropped with probability ``p`` (kept with q = 1 − p) during training.

    - ``mode="inverted"`` (PyTorch): train y = x·m / q, eval y = x.
    - ``mode="scale_at_test"`` (the original paper): train y = x·m, eval y = q·x.

    Both give E[y_train] = y_eval. Backward multiplies by the same mask and scale. Masks come
    from ``rng``, so a seed gives the same masks; ``last_mask`` holds the most recent one, and
    :meth:`set_mask` fixes the mask for every training forward (a worked exercise needs that).
    With n units a network with dropout samples one of 2ⁿ thinned sub-networks per forward.
    """

    def __init__(self, p: float = 0.5, mode: str = "inverted", rng: RngLike = None) -> None:
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p (the drop probability) must be in [0, 1], got {p}")
        if mode not in DROPOUT_MODES:
            raise ValueError(f"Dropout: mode must be one of {DROPOUT_MODES}, got {mode!r}")
        self.p, self.mode = float(p), mode
        self.rng = as_generator(rng)
        self.last_mask: np.ndarray | None = None
        self._fixed_mask: np.ndarray | None = None
        self._scale: float | None = None

    def set_mask(self, mask: np.ndarray | None) -> None:
        """Use ``mask`` (True = keep) in every training forward; ``None`` samples again."""
        self._fixed_mask = None if mask is None else np.asarray(mask, dtype=bool)

    def _train_scale(self) -> float:
        if self.mode == "scale_at_test":
            return 1.0
        return 0.0 if self.p == 1 else 1.0 / (1.0 - self.p)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training:
            self._scale, self.last_mask = (1.0 if self.mode == "inverted" else 1.0 - self.p), None
            return x if self._scale == 1.0 else x * x.dtype.type(self._scale)
        if self._fixed_mask is not None:
            mask = self._fixed_mask
            if mask.shape != x.shape:
                raise ValueError(
                    f"{self.label}: the fixed mask has shape {mask.shape}, the input {x.shape}"
                )
        else:
            draw_dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
            mask = self.rng.random(x.shape, dtype=draw_dtype) >= self.p
        self.last_mask = mask
        self._scale = self._train_scale()
        out = x * mask
        if self._scale != 1.0:
            out *= x.dtype.type(self._scale)
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self._require_forward(self._scale)
        if self.last_mask is not None:
            grad_out = grad_out * self.last_mask
        return grad_out if self._scale == 1.0 else grad_out * grad_out.dtype.type(self._scale)

    def curvature_need(self, need_input: str) -> str:
        return need_input

    def curvature_backward(
        self, message: CurvatureMessage, need: str = "full"
    ) -> CurvatureMessage | None:
        """y = c·m ⊙ x is linear in x: g_x = c·m ⊙ g, H_x = (c·m)ᵢ(c·m)ⱼH_ij, with the last
        forward's mask m (all ones in eval) and scale c."""
        if need == "none":
            return None
        self._require_forward(self._scale)
        factor = np.full(message.grad.shape, self._scale, message.grad.dtype)
        if self.last_mask is not None:
            factor *= self.last_mask
        return elementwise(message, factor, None, need)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"
