"""Per-coordinate adaptive methods: AdaGrad and RMSProp.

``eps_placement="outside"`` (PyTorch) divides by √r + ε; ``"inside"`` by √(r + ε), the
textbook's δ under the root.
"""

from __future__ import annotations

from collections.abc import Iterable

from nablab.nn.module import Parameter
from nablab.optim import kernels
from nablab.optim.optimizer import Optimizer, check_hyper

EPS_PLACEMENTS = ("outside", "inside")


def _check_placement(owner: str, placement: str) -> str:
    if placement not in EPS_PLACEMENTS:
        raise ValueError(f"{owner}: eps_placement must be 'outside' or 'inside', got {placement!r}")
    return placement


class AdaGrad(Optimizer):
    """AdaGrad (PyTorch's ``torch.optim.Adagrad``), state ``sum``::

    lr_t = lr / (1 + (t − 1)·lr_decay)
    s ← s + g²                          (s starts at initial_accumulator_value)
    w ← w − lr_t · g / (√s + ε)         ("inside": g / √(s + ε))
    """

    state_names = ("sum",)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        eps_placement: str = "outside",
        centralize: str | None = None,
    ) -> None:
        owner = type(self).__name__
        self.lr_decay = check_hyper(owner, "lr_decay", lr_decay)
        self.initial_accumulator_value = check_hyper(
            owner, "initial_accumulator_value", initial_accumulator_value
        )
        self.eps = check_hyper(owner, "eps", eps)
        self.eps_placement = _check_placement(owner, eps_placement)
        super().__init__(params, lr, weight_decay, centralize)
        for state in self._state:
            state["sum"].fill(self.initial_accumulator_value)

    def _update(self, w, g, state, decay) -> None:
        clr = self.lr / (1.0 + (self.step_count - 1) * self.lr_decay)
        kernels.adagrad(
            w, g, state["sum"], self._h(w, clr, decay, self.eps), self.eps_placement == "inside"
        )


class RMSProp(Optimizer):
    """RMSProp (PyTorch's ``torch.optim.RMSprop``), state ``square_avg`` (and ``grad_avg``,
    ``momentum_buffer``)::

        r ← α·r + (1 − α)·g²
        centered: ḡ ← α·ḡ + (1 − α)·g and r̃ = r − ḡ², else r̃ = r
        d = g / (√r̃ + ε)                    ("inside": g / √(r̃ + ε))
        momentum μ > 0: b ← μ·b + d, w ← w − lr·b;  else w ← w − lr·d
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        eps_placement: str = "outside",
        centralize: str | None = None,
    ) -> None:
        owner = type(self).__name__
        self.alpha = check_hyper(owner, "alpha", alpha, 0.0, 1.0)
        self.eps = check_hyper(owner, "eps", eps)
        self.momentum = check_hyper(owner, "momentum", momentum, 0.0, 1.0)
        self.centered = bool(centered)
        self.eps_placement = _check_placement(owner, eps_placement)
        super().__init__(params, lr, weight_decay, centralize)

    def _active_state_names(self) -> tuple[str, ...]:
        names = ["square_avg"]
        if self.centered:
            names.append("grad_avg")
        if self.momentum:
            names.append("momentum_buffer")
        return tuple(names)

    def _update(self, w, g, state, decay) -> None:
        empty = self._empty[w.dtype]
        h = self._h(w, self.lr, decay, self.alpha, 1.0 - self.alpha, self.eps, self.momentum)
        kernels.rmsprop(
            w,
            g,
            state["square_avg"],
            state.get("grad_avg", empty),
            state.get("momentum_buffer", empty),
            h,
            self.eps_placement == "inside",
            self.centered,
            self.momentum != 0,
        )
