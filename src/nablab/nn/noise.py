"""A linear layer trained with Gaussian weight noise: ``Linear`` plus one weight transform."""

from __future__ import annotations

import numpy as np

from nablab._random import RngLike, as_generator
from nablab.nn.linear import Linear
from nablab.nn.transform import NOISE_KINDS, GaussianNoise

__all__ = ["NOISE_KINDS", "NoisyLinear"]


class NoisyLinear(Linear):
    """A Linear layer trained with noisy weights W̃ while its clean W stays the parameter.

    - ``noise="multiplicative"``: W̃ = W ⊙ B, B ~ N(1, σ²) element-wise;  dL/dW = (XᵀG) ⊙ B.
    - ``noise="additive"``: W̃ = W + E, E ~ N(0, σ²);                       dL/dW = XᵀG.

    Forward is Z = X W̃ + b and dL/dX = G W̃ᵀ. The noise is drawn anew at every training forward
    (``last_noise`` holds it) and is absent in eval. For one linear unit with squared error,
    multiplicative noise adds (σ²/2)·Σ w_i² x_i² to the expected loss: an L2 penalty weighted
    by the input's energy. The noise is a :class:`~nablab.nn.transform.GaussianNoise` weight
    transform, so any layer with a weight can have it; :meth:`from_linear` adds noise to an
    existing layer, sharing its parameters.
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
        try:
            self.noise_transform = GaussianNoise(sigma, noise, noise_rng)
        except ValueError as error:
            raise ValueError(f"NoisyLinear: {str(error).split(': ', 1)[1]}") from None
        self.register_weight_transform(self.noise_transform)

    @property
    def sigma(self) -> float:
        return self.noise_transform.sigma

    @property
    def noise(self) -> str:
        return self.noise_transform.kind

    @property
    def noise_rng(self) -> np.random.Generator:
        return self.noise_transform.rng

    @noise_rng.setter
    def noise_rng(self, rng: RngLike) -> None:
        self.noise_transform.rng = as_generator(rng)

    @property
    def last_noise(self) -> np.ndarray | None:
        return self.noise_transform.last_noise

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

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, sigma={self.sigma}, noise={self.noise!r}"
