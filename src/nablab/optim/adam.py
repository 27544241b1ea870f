"""Adam and AdamW."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from nablab.nn.module import Parameter
from nablab.optim import kernels
from nablab.optim.adaptive import eps_option
from nablab.optim.optimizer import CENTRALIZE, EPS_PLACEMENT, LR, WEIGHT_DECAY, Optimizer
from nablab.registry import Option

BETA = Option("beta", float, help="decay of a moving average", low=0.0, high=1.0, high_open=True)


class Adam(Optimizer):
    """Adam (PyTorch's ``torch.optim.Adam``), state ``m``, ``v`` (and ``v_max``)::

        m ← β₁·m + (1 − β₁)·g               first moment
        v ← β₂·v + (1 − β₂)·g²              second moment
        m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)   (bias_correction=False: m̂ = m, v̂ = v)
        amsgrad: v_max ← max(v_max, v), used in place of v
        w ← w − lr · m̂ / (√v̂ + ε)           ("inside": m̂ / √(v̂ + ε))

    The bias correction undoes the zero start: E[m_t] = (1 − β₁ᵗ)·E[g] for stationary g.
    ``weight_decay`` is coupled (added to g); see :class:`AdamW` for the decoupled form.
    """

    options = (
        LR,
        Option("betas", tuple, (0.9, 0.999), "(β₁, β₂), each in [0, 1)"),
        eps_option(1e-8),
        WEIGHT_DECAY,
        Option("amsgrad", bool, False, "divide by the largest v seen so far"),
        Option("bias_correction", bool, True, "divide m by 1 − β₁ᵗ and v by 1 − β₂ᵗ"),
        EPS_PLACEMENT,
        CENTRALIZE,
    )

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        bias_correction: bool = True,
        eps_placement: str = "outside",
        centralize: str | None = None,
    ) -> None:
        owner = type(self).__name__
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"{owner}: betas must be a pair (β₁, β₂), got {betas!r}")
        self.betas = tuple(
            replace(BETA, name=f"betas[{i}]").check(beta, owner) for i, beta in enumerate(betas)
        )
        self.eps = self._option("eps", eps)
        self.amsgrad = self._option("amsgrad", amsgrad)
        self.bias_correction = self._option("bias_correction", bias_correction)
        self.eps_placement = self._option("eps_placement", eps_placement)
        super().__init__(params, lr, weight_decay, centralize)

    def _active_state_names(self) -> tuple[str, ...]:
        return ("m", "v", "v_max") if self.amsgrad else ("m", "v")

    def _update(self, w, g, state, decay) -> None:
        beta1, beta2 = self.betas
        t = self.step_count
        bc1, bc2 = (1.0 - beta1**t, 1.0 - beta2**t) if self.bias_correction else (1.0, 1.0)
        h = self._h(
            w,
            self.lr / bc1,
            bc2,
            math.sqrt(bc2),
            decay,
            self._decoupled_factor(),
            1.0 - beta1,
            beta2,
            1.0 - beta2,
            self.eps,
            np.finfo(w.dtype).tiny,
        )
        kernels.rule("adam")(
            w,
            g,
            state["m"],
            state["v"],
            state.get("v_max", self._empty[w.dtype]),
            h,
            self.eps_placement == "inside",
            self.amsgrad,
        )

    def _decoupled_factor(self) -> float:
        return 1.0


class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch's ``torch.optim.AdamW``)::

    w ← w · (1 − lr·λ)      then the Adam step on the plain gradient g
    """

    coupled_decay = False
    options = tuple(
        replace(o, default=1e-2, help="decoupled: w ← w·(1 − lr·λ) before the step")
        if o.name == "weight_decay"
        else o
        for o in Adam.options
    )

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        bias_correction: bool = True,
        eps_placement: str = "outside",
        centralize: str | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            bias_correction,
            eps_placement,
            centralize,
        )

    def _decoupled_factor(self) -> float:
        return 1.0 - self.lr * self.weight_decay
