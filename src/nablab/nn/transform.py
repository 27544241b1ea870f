"""Weight transforms: what a layer does to its weight before using it, and the chain rule back.

A layer with a weight W computes with W̃ = T(W) and receives dL/dW̃ in backward; the transform
turns that into dL/dW = (∂W̃/∂W)ᵀ dL/dW̃. Register one with
``module.register_weight_transform(transform)``; the parameter's pruning mask M is always the
first step (W ⊙ M, gradient ⊙ M), so a masked layer with weight noise computes T(W ⊙ M).
"""

from __future__ import annotations

import numpy as np

from nablab._random import RngLike, as_generator

NOISE_KINDS = ("multiplicative", "additive")


class WeightTransform:
    """Base class: ``forward(module, w) -> w̃`` and ``backward(module, dL/dw̃) -> dL/dw``."""

    def forward(self, module, weight: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, module, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class GaussianNoise(WeightTransform):
    """Gaussian weight noise, drawn anew at every training forward and absent in eval.

    - ``kind="multiplicative"``: W̃ = W ⊙ B, B ~ N(1, σ²) entry-wise;  dL/dW = dL/dW̃ ⊙ B.
    - ``kind="additive"``: W̃ = W + E, E ~ N(0, σ²);                  dL/dW = dL/dW̃.

    ``last_noise`` holds the most recent draw (B or E), ``None`` after an eval forward.
    """

    def __init__(self, sigma: float, kind: str = "multiplicative", rng: RngLike = None) -> None:
        if not sigma >= 0:
            raise ValueError(f"GaussianNoise: sigma must be >= 0, got {sigma}")
        if kind not in NOISE_KINDS:
            raise ValueError(f"GaussianNoise: kind must be one of {NOISE_KINDS}, got {kind!r}")
        self.sigma, self.kind = float(sigma), kind
        self.rng = as_generator(rng)
        self.last_noise: np.ndarray | None = None

    def forward(self, module, weight: np.ndarray) -> np.ndarray:
        if not module.training or self.sigma == 0:
            self.last_noise = None
            return weight
        center = 1.0 if self.kind == "multiplicative" else 0.0
        noise = self.rng.normal(center, self.sigma, size=weight.shape)
        self.last_noise = noise = noise.astype(weight.dtype, copy=False)
        return weight * noise if self.kind == "multiplicative" else weight + noise

    def backward(self, module, grad: np.ndarray) -> np.ndarray:
        if self.kind == "multiplicative" and self.last_noise is not None:
            grad *= self.last_noise
        return grad

    def __repr__(self) -> str:
        return f"GaussianNoise(sigma={self.sigma}, kind={self.kind!r})"
