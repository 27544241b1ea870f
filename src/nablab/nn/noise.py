"""Gaussian weight noise on a linear layer, resampled at every training forward."""

from __future__ import annotations

import numpy as np

from nablab._random import RngLike, as_generator
from nablab.nn.linear import Linear

NOISE_KINDS = ("multiplicative", "additive")


class NoisyLinear(Linear):
    """A Linear layer trained with noisy weights W̃ while its clean W stays the parameter.

    - ``noise="multiplicative"``: W̃ = W ⊙ B, B ~ N(1, σ²) element-wise;  dL/dW = (XᵀG) ⊙ B.
    - ``noise="additive"``: W̃ = W + E, E ~ N(0, σ²);                       dL/dW = XᵀG.

    Forward is Z = X W̃ + b and dL/dX = G W̃ᵀ. The noise is drawn anew at every training forward
    (``last_noise`` holds it) and is absent in eval. For one linear unit with squared error,
    multiplicative noise adds (σ²/2)·Σ w_i² x_i² to the expected loss: an L2 penalty weighted
    by the input's energy. :meth:`from_linear` adds noise to an existing layer, sharing its
    parameters.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        sigma: float,
        noise: str = "multiplicative",
        noise_rng: RngLike = None,
        **linear,
    ) -> None:
        super().__init__(in_features, out_features, **linear)
        if not sigma >= 0:
            raise ValueError(f"NoisyLinear: sigma must be >= 0, got {sigma}")
        if noise not in NOISE_KINDS:
            raise ValueError(f"NoisyLinear: noise must be one of {NOISE_KINDS}, got {noise!r}")
        self.sigma, self.noise = float(sigma), noise
        self.noise_rng = as_generator(noise_rng)
        self.last_noise: np.ndarray | None = None

    @classmethod
    def from_linear(
        cls, layer: Linear, sigma: float, noise: str = "multiplicative", noise_rng: RngLike = None
    ) -> NoisyLinear:
        """A noisy layer that shares ``layer``'s weight and bias parameters."""
        noisy = cls(
            layer.in_features,
            layer.out_features,
            sigma,
            noise,
            noise_rng,
            bias=layer.bias_mode,
            init="zeros",
            dtype=layer.weight.dtype,
        )
        noisy.register_parameter("weight", layer.weight)
        noisy.register_parameter("bias", layer.bias)
        return noisy

    def _forward_weight(self) -> np.ndarray:
        weight = self.weight.data
        if not self.training or self.sigma == 0:
            self.last_noise = None
            return weight
        center = 1.0 if self.noise == "multiplicative" else 0.0
        noise = self.noise_rng.normal(center, self.sigma, size=weight.shape)
        self.last_noise = noise = noise.astype(weight.dtype, copy=False)
        return weight * noise if self.noise == "multiplicative" else weight + noise

    def _weight_gradient(self, grad_used: np.ndarray) -> np.ndarray:
        if self.noise == "multiplicative" and self.last_noise is not None:
            grad_used *= self.last_noise
        return grad_used

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, sigma={self.sigma}, noise={self.noise!r}"
