"""The optimizer base class: flat parameter buffers, state, closures and transforms.

An optimizer gathers its parameters, per dtype, into one contiguous buffer (see
:class:`~nablab.optim.flat.FlatGroup`); its state (velocity, moments, ...) lives in arrays of the
same length. A step is then a fixed number of vectorized NumPy operations over whole buffers,
whatever the number of parameter tensors. Subclasses implement :meth:`Optimizer._update` on
those flat arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from nablab.nn.module import Parameter
from nablab.optim.centralize import CENTRALIZE_MODES, centralize_segments
from nablab.optim.flat import FlatGroup

Closure = Callable[[], float]


def check_hyper(
    owner: str,
    name: str,
    value: float,
    low: float = 0.0,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float inside [low, high] (ends open when asked), else a clear ValueError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be a number, got {value!r}") from None
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if not math.isfinite(number) or too_low or too_high:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{owner}: {name} must be in {left}{low}, {high}{right}, got {value!r}")
    return number


def collect_parameters(params: Iterable[Parameter], owner: str) -> list[Parameter]:
    """The distinct trainable parameters in ``params``, in order; a clear error when empty."""
    if isinstance(params, Parameter):
        raise TypeError(
            f"{owner}: params must be an iterable of Parameter, e.g. "
            "model.parameters(), not a single Parameter"
        )
    seen: dict[int, Parameter] = {}
    for param in params:
        if not isinstance(param, Parameter):
            raise TypeError(f"{owner}: params must contain Parameter objects, got {type(param)}")
        if param.requires_grad:
            seen.setdefault(id(param), param)
    if not seen:
        raise ValueError(f"{owner}: got an empty parameter list")
    return list(seen.values())


class Optimizer:
    """Base class. ``step(closure=None)`` applies one update from the parameters' ``.grad``.

    Subclasses set ``state_names`` (the flat state arrays they keep) and implement
    ``_update(w, g, state, decay)``, where ``w`` and ``g`` are one group's flat data and
    gradient, ``state`` maps each state name to its flat array and ``decay`` is the coupled
    weight decay λ still to add to g (zero when it was already added). The rules themselves are
    fused kernels (:mod:`nablab.optim.kernels`).

    ``weight_decay`` adds λw to the gradient (coupled L2, as PyTorch's ``weight_decay``).
    ``centralize="gradient"`` subtracts from each weight gradient (ndim ≥ 2) its mean over every
    axis but the last (the output axis), after weight decay and before any momentum or moment
    estimate; ``centralize="update"`` centralizes the final update of each such tensor instead.
    """

    state_names: tuple[str, ...] = ()
    coupled_decay = True

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        weight_decay: float = 0.0,
        centralize: str | None = None,
    ) -> None:
        self.params = collect_parameters(params, type(self).__name__)
        self.lr = lr
        self.weight_decay = check_hyper(type(self).__name__, "weight_decay", weight_decay)
        if centralize not in CENTRALIZE_MODES:
            raise ValueError(
                f"{type(self).__name__}: centralize must be one of "
                f"{CENTRALIZE_MODES}, got {centralize!r}"
            )
        self.centralize = centralize
        by_dtype: dict[np.dtype, list[Parameter]] = {}
        for param in self.params:
            by_dtype.setdefault(param.dtype, []).append(param)
        self._groups = [FlatGroup(group) for group in by_dtype.values()]
        self._bound_at = Parameter.rebinds
        self._where = {
            id(param): (index, group.slice_of(i))
            for index, group in enumerate(self._groups)
            for i, param in enumerate(group.params)
        }
        self._state = [
            {name: np.zeros(group.size, group.dtype) for name in self._active_state_names()}
            for group in self._groups
        ]
        self._works: dict[int, np.ndarray] = {}
        self._hyper = {group.dtype: np.zeros(16, group.dtype) for group in self._groups}
        self._empty = {group.dtype: np.empty(0, group.dtype) for group in self._groups}
        self.step_count = 0

    # ----------------------------------------------------------------- hyperparameters
    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_hyper(type(self).__name__, "lr", value)

    def _active_state_names(self) -> tuple[str, ...]:
        """The state arrays this configuration keeps (a subclass may drop unused ones)."""
        return self.state_names

    # ----------------------------------------------------------------- binding
    def _ensure_bound(self) -> None:
        """Gather parameters back into the buffers if any ``data``/``grad`` was rebound."""
        if Parameter.rebinds != self._bound_at:
            for group in self._groups:
                if not group.is_bound():
                    group.gather()
            self._bound_at = Parameter.rebinds

    # ----------------------------------------------------------------- stepping
    def zero_grad(self) -> None:
        self._ensure_bound()
        for group in self._groups:
            group.grad.fill(0)

    def _evaluate(self, closure: Closure) -> float:
        """Zero the gradients, run ``closure`` (forward, loss, backward), return its loss."""
        self.zero_grad()
        loss = closure()
        self._ensure_bound()
        return loss

    def step(self, closure: Closure | None = None) -> float | None:
        """One update. With a closure (forward + loss + backward, returning the loss), the
        gradients are zeroed and recomputed first and the closure's loss is returned."""
        self._ensure_bound()
        loss = self._evaluate(closure) if closure is not None else None
        self.step_count += 1
        for index, group in enumerate(self._groups):
            self._update_group(index, group)
        return loss

    def _update_group(
        self,
        index: int,
        group: FlatGroup,
        grad: np.ndarray | None = None,
        at: np.ndarray | None = None,
    ) -> None:
        """Update one group from ``grad`` (default: its ``.grad``).

        Coupled weight decay adds λ·w to the gradient, with w taken at ``at`` (default: the
        current parameters); gradient centralization follows, then the rule itself.
        """
        state, w = self._state[index], group.data
        g = group.grad if grad is None else grad
        decay = self.weight_decay if self.coupled_decay else 0.0
        if self.centralize == "gradient" or (decay and at is not None):
            work = self._work(index)
            np.multiply(w if at is None else at, decay, out=work)
            work += g
            if self.centralize == "gradient":
                centralize_segments(work, group)
            g, decay = work, 0.0
        if self.centralize != "update":
            self._update(w, g, state, decay)
            return
        # "update": run the rule, then centralize the change it made and apply that instead.
        before = w.copy()
        self._update(w, g, state, decay)
        w -= before
        centralize_segments(w, group)
        w += before

    def _work(self, index: int) -> np.ndarray:
        """A group-sized array for the decayed / centralized gradient (allocated once)."""
        work = self._works.get(index)
        if work is None:
            group = self._groups[index]
            work = self._works[index] = np.empty(group.size, group.dtype)
        return work

    def _update(
        self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], decay: float
    ) -> None:
        """Apply the rule to flat ``w`` given flat ``g`` (plus ``decay``·w, coupled L2)."""
        raise NotImplementedError

    def _h(self, w: np.ndarray, *values: float) -> np.ndarray:
        """The kernels' hyperparameter array for ``w``'s dtype, filled with ``values``."""
        h = self._hyper[w.dtype]
        h[: len(values)] = values
        return h

    # ----------------------------------------------------------------- state
    @property
    def state(self) -> _StateView:
        """``opt.state[param]``: that parameter's state arrays (views, in its shape) and step."""
        return _StateView(self)

    def state_of(self, param: Parameter) -> dict[str, Any]:
        self._ensure_bound()
        try:
            index, span = self._where[id(param)]
        except KeyError:
            raise KeyError(f"{type(self).__name__}: {param!r} is not optimized here") from None
        entry: dict[str, Any] = {
            name: array[span].reshape(param.shape) for name, array in self._state[index].items()
        }
        entry["step"] = self.step_count
        return entry

    def state_dict(self) -> dict[str, np.ndarray]:
        """Step count, learning rate and every state array (copies), as a flat dict of arrays."""
        out = {"step": np.array(self.step_count), "lr": np.array(self.lr)}
        for index, state in enumerate(self._state):
            for name, array in state.items():
                out[f"group{index}.{name}"] = array.copy()
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore :meth:`state_dict` output (strict: same keys, shapes and dtypes)."""
        expected = self.state_dict()
        owner = type(self).__name__
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        if missing or extra:
            raise KeyError(f"{owner}.load_state_dict: missing keys {missing}, unexpected {extra}")
        for key, value in expected.items():
            given = np.asarray(state[key])
            if given.shape != value.shape:
                raise ValueError(
                    f"{owner}.load_state_dict: key {key!r} has shape "
                    f"{given.shape}, expected {value.shape}"
                )
        self.step_count = int(state["step"])
        self.lr = float(state["lr"])
        for index, group_state in enumerate(self._state):
            for name, array in group_state.items():
                np.copyto(array, np.asarray(state[f"group{index}.{name}"]), casting="same_kind")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, params={len(self.params)})"


class _StateView(Mapping):
    """A read-only mapping Parameter → state dict, computed on access."""

    def __init__(self, optimizer: Optimizer) -> None:
        self._optimizer = optimizer

    def __getitem__(self, param: Parameter) -> dict[str, Any]:
        return self._optimizer.state_of(param)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._optimizer.params)

    def __len__(self) -> int:
        return len(self._optimizer.params)
