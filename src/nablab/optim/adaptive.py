"""Per-coordinate adaptive methods: AdaGrad and RMSProp.

``eps_placement="outside"`` (PyTorch) divides by √r + ε; ``"inside"`` by √(r + ε), the
textbook's δ under the root.
"""

from __future__ import annotations

from collections.abc import Iterable

from nablab.nn.module import Parameter
from nablab.optim import kernels
from nablab.optim.optimizer import CENTRALIZE, EPS_PLACEMENT, LR, WEIGHT_DECAY, Optimizer
from nablab.registry import Option

EPS_PLACEMENTS = EPS_PLACEMENT.choices


def eps_option(default: float) -> Option:
    """ε > 0: with ε = 0 a zero gradient divides 0 by 0."""
    return Option("eps", float, default, "ε, keeps the division finite", 0.0, low_open=True)


class AdaGrad(Optimizer):
    """AdaGrad (PyTorch's ``torch.optim.Adagrad``), state ``sum``::

    lr_t = lr / (1 + (t − 1)·lr_decay)
    s ← s + g²                          (s starts at initial_accumulator_value)
    w ← w − lr_t · g / (√s + ε)         ("inside": g / √(s + ε))
    """

    state_names = ("sum",)
    options = (
        LR,
        Option("lr_decay", float, 0.0, "lr_t = lr / (1 + (t − 1)·lr_decay)", 0.0),
        WEIGHT_DECAY,
        Option("initial_accumulator_value", float, 0.0, "where s starts", 0.0),
        eps_option(1e-10),
        EPS_PLACEMENT,
        CENTRALIZE,
    )

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
        self.lr_decay = self._option("lr_decay", lr_decay)
        self.initial_accumulator_value = self._option(
            "initial_accumulator_value", initial_accumulator_value
        )
        self.eps = self._option("eps", eps)
        self.eps_placement = self._option("eps_placement", eps_placement)
        super().__init__(params, lr, weight_decay, centralize)

    def _initial_state(self, name: str) -> float:
        return self.initial_accumulator_value

    def _update(self, w, g, state, decay) -> None:
        clr = self.lr / (1.0 + (self.step_count - 1) * self.lr_decay)
        kernels.rule("adagrad")(
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

    options = (
        LR,
        Option(
            "alpha", float, 0.99, "smoothing constant α of the squared-gradient average", 0.0, 1.0
        ),
        eps_option(1e-8),
        WEIGHT_DECAY,
        Option("momentum", float, 0.0, "momentum coefficient μ", 0.0, 1.0),
        Option("centered", bool, False, "divide by the estimated variance r − ḡ²"),
        EPS_PLACEMENT,
        CENTRALIZE,
    )

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
        self.alpha = self._option("alpha", alpha)
        self.eps = self._option("eps", eps)
        self.momentum = self._option("momentum", momentum)
        self.centered = self._option("centered", centered)
        self.eps_placement = self._option("eps_placement", eps_placement)
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
        kernels.rule("rmsprop")(
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
