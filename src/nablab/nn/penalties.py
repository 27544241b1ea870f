"""Explicit regularization penalties: their value joins the loss, their gradient ``.grad``.

By default only weights (matrices and convolution kernels) are penalized; biases and
normalization parameters (γ, β) opt in. Decoupled weight decay is an optimizer option
(``AdamW``), not a penalty.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from nablab.nn.module import Module, Parameter
from nablab.nn.normalization import NORMALIZATIONS

L2_CONVENTIONS = {"half": 0.5, "full": 1.0}


def penalized_parameters(
    model: Module, biases: bool = False, normalization: bool = False
) -> list[Parameter]:
    """The weights of ``model`` (matrices and convolution kernels; plus biases and γ/β when
    asked), in model order."""
    chosen: list[Parameter] = []
    for _, module in model.named_modules():
        is_norm = isinstance(module, NORMALIZATIONS)
        for name, param in module._params.items():
            if is_norm:
                keep = normalization
            elif param.ndim >= 2 or name == "weight":
                keep = True
            else:
                keep = biases
            if keep and all(param is not p for p in chosen):
                chosen.append(param)
    return chosen


class Penalty:
    """Base class: ``penalty()`` returns the value, ``penalty.backward()`` adds the gradient."""

    def __init__(
        self,
        model_or_params: Module | Iterable[Parameter],
        strength: float,
        biases: bool = False,
        normalization: bool = False,
    ) -> None:
        if not strength >= 0:
            raise ValueError(f"{type(self).__name__}: strength must be >= 0, got {strength}")
        self.strength = float(strength)
        if isinstance(model_or_params, Module):
            self.params = penalized_parameters(model_or_params, biases, normalization)
        else:
            self.params = list(model_or_params)

    def __call__(self) -> float:
        return self.value()

    def value(self) -> float:
        raise NotImplementedError

    def backward(self) -> None:
        raise NotImplementedError


class L2Penalty(Penalty):
    """``convention="half"``: ½λ‖w‖² with gradient λw (the usual textbook form);
    ``"full"``: λ‖w‖² with gradient 2λw."""

    def __init__(
        self,
        model_or_params: Module | Iterable[Parameter],
        strength: float,
        convention: str = "half",
        biases: bool = False,
        normalization: bool = False,
    ) -> None:
        if convention not in L2_CONVENTIONS:
            raise ValueError(
                f"L2Penalty: convention must be 'half' (½λ‖w‖²) or 'full' "
                f"(λ‖w‖²), got {convention!r}"
            )
        super().__init__(model_or_params, strength, biases, normalization)
        self.convention = convention
        self._factor = L2_CONVENTIONS[convention] * self.strength

    def value(self) -> float:
        return self._factor * sum(float(np.vdot(p.data, p.data)) for p in self.params)

    def backward(self) -> None:
        for param in self.params:
            param.grad += (2.0 * self._factor) * param.data


class L1Penalty(Penalty):
    """λ‖w‖₁ with (sub)gradient λ·sign(w) (0 at w = 0)."""

    def value(self) -> float:
        return self.strength * sum(float(np.abs(p.data).sum()) for p in self.params)

    def backward(self) -> None:
        for param in self.params:
            param.grad += self.strength * np.sign(param.data)
