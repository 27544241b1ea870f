"""The optimizer base class: runs over the parameter store, state, closures and transforms.

An optimizer works on the flat arrays of the model's parameter store
(:mod:`nablab.nn.store`): its parameters, per store group, form a few contiguous *runs* (one
for a whole model), and its state (velocity, moments, ...) lives in flat arrays as long as each
run. A step is then one fused kernel call per run, whatever the number of parameter tensors.
Several optimizers, a pruner and a curvature pass share the store without copying anything.

Around the rule sit small steps, each with one formula: coupled weight decay (g + λw), gradient
centralization, and pruning masks (a masked entry's gradient, state and value are zero after
every step, so nothing revives a pruned weight).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from nablab.nn.module import Parameter
from nablab.nn.store import StoreGroup, bind
from nablab.optim.centralize import CENTRALIZE_MODES, centralize_segments
from nablab.registry import Option

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
    option = Option(name, float, low=low, high=high, low_open=low_open, high_open=high_open)
    return option.check(value, owner)


LR = Option("lr", float, help="learning rate", low=0.0)
WEIGHT_DECAY = Option("weight_decay", float, 0.0, "coupled L2: adds λw to the gradient", 0.0)
CENTRALIZE = Option(
    "centralize",
    str,
    None,
    "gradient centralization: subtract each output unit's mean gradient",
    choices=CENTRALIZE_MODES,
)
EPS_PLACEMENT = Option(
    "eps_placement",
    str,
    "outside",
    "√v + ε (outside, PyTorch) or √(v + ε) (inside)",
    choices=("outside", "inside"),
)


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


class _Run:
    """A contiguous stretch ``[start, stop)`` of one store group that an optimizer updates:
    views ``w`` and ``g`` of the group's data and gradient, and the optimizer's state arrays
    for it. ``version`` is the group's version when the views were taken."""

    __slots__ = (
        "_mask",
        "_mask_source",
        "_work",
        "g",
        "group",
        "params",
        "spans",
        "start",
        "state",
        "stop",
        "version",
        "w",
    )

    def __init__(self, group: StoreGroup, start: int, stop: int, params: list[Parameter]) -> None:
        self.group, self.start, self.stop, self.params = group, start, stop, params
        self.version = group.version
        self.w = group.data[start:stop]
        self.g = group.grad[start:stop]
        self.spans = []
        for param in params:
            first = group.offsets[group.position(param)] - start
            self.spans.append(slice(first, first + param.size))
        self.state: dict[str, np.ndarray] = {}
        self._mask_source: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._work: np.ndarray | None = None

    @property
    def size(self) -> int:
        return self.stop - self.start

    def mask(self) -> np.ndarray | None:
        """This run's segment of the group's mask, or None when nothing in the group is masked
        (checked at every step: a mask may be set after the optimizer was made)."""
        source = self.group.mask
        if source is not self._mask_source:
            self._mask_source = source
            self._mask = None if source is None else source[self.start : self.stop]
        return self._mask

    def work(self) -> np.ndarray:
        """A run-sized scratch array for the decayed / masked / centralized gradient."""
        if self._work is None:
            self._work = np.empty(self.size, self.group.dtype)
        return self._work


def _runs(groups: list[StoreGroup], params: list[Parameter]) -> list[_Run]:
    """``params`` cut into maximal contiguous runs of their store groups."""
    runs: list[_Run] = []
    for group in groups:
        mine = sorted((p for p in params if p._group is group), key=group.position)
        current: list[Parameter] = []
        for param in mine:
            index = group.position(param)
            if current and group.offsets[group.position(current[-1]) + 1] != group.offsets[index]:
                runs.append(_make_run(group, current))
                current = []
            current.append(param)
        if current:
            runs.append(_make_run(group, current))
    return runs


def _make_run(group: StoreGroup, params: list[Parameter]) -> _Run:
    first, last = group.position(params[0]), group.position(params[-1])
    return _Run(group, group.offsets[first], group.offsets[last + 1], params)


class Optimizer:
    """Base class. ``step(closure=None)`` applies one update from the parameters' ``.grad``.

    Subclasses set ``state_names`` (the flat state arrays they keep) and implement
    ``_update(w, g, state, decay)``, where ``w`` and ``g`` are one run's flat data and
    gradient, ``state`` maps each state name to its flat array and ``decay`` is the coupled
    weight decay λ still to add to g (zero when it was already added). The rules themselves are
    in :mod:`nablab.optim.rules` (NumPy) and :mod:`nablab.optim.kernels` (numba).

    ``weight_decay`` adds λw to the gradient (coupled L2, as PyTorch's ``weight_decay``).
    ``centralize="gradient"`` subtracts from each weight gradient (ndim ≥ 2) its mean over every
    axis but the last (the output axis), after weight decay and before any momentum or moment
    estimate; ``centralize="update"`` centralizes the final update of each such tensor instead.
    With a pruning mask the mean is taken over the kept entries only.

    Masks: where a parameter's ``mask`` is 0, the gradient is zeroed before the rule, and the
    value and every state entry after it, so a pruned weight stays exactly zero whatever the
    rule, momentum, decay or centralization.
    """

    state_names: tuple[str, ...] = ()
    coupled_decay = True
    options: tuple[Option, ...] = (LR, WEIGHT_DECAY, CENTRALIZE)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        weight_decay: float = 0.0,
        centralize: str | None = None,
    ) -> None:
        self.params = collect_parameters(params, type(self).__name__)
        self.lr = lr
        self.weight_decay = self._option("weight_decay", weight_decay)
        self.centralize = self._option("centralize", centralize)
        self._hyper: dict[np.dtype, np.ndarray] = {}
        self._empty: dict[np.dtype, np.ndarray] = {}
        self._runs: list[_Run] = []
        self._bind()
        self.step_count = 0

    # ----------------------------------------------------------------- hyperparameters
    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = self._option("lr", value)

    @classmethod
    def option(cls, name: str) -> Option:
        """The declared :class:`~nablab.registry.Option` called ``name``."""
        for option in (*cls.options, *Optimizer.options):
            if option.name == name:
                return option
        raise KeyError(f"{cls.__name__} has no option {name!r}")

    def _option(self, name: str, value: Any) -> Any:
        """``value`` checked against the declared option ``name`` (limits, choices, type)."""
        return self.option(name).check(value, type(self).__name__)

    def _active_state_names(self) -> tuple[str, ...]:
        """The state arrays this configuration keeps (a subclass may drop unused ones)."""
        return self.state_names

    def _initial_state(self, name: str) -> float:
        """The value a state array starts at (AdaGrad's accumulator may start above 0)."""
        return 0.0

    # ----------------------------------------------------------------- the store
    def _bind(self) -> None:
        """Find the parameters in the store (binding loose ones) and cut them into runs; state
        already kept for a parameter moves with it."""
        previous = {
            id(p): (run, span)
            for run in self._runs
            for p, span in zip(run.params, run.spans, strict=True)
        }
        runs = _runs(bind(self.params), self.params)
        for run in runs:
            dtype = run.group.dtype
            self._hyper.setdefault(dtype, np.zeros(16, dtype))
            self._empty.setdefault(dtype, np.empty(0, dtype))
            for name in self._active_state_names():
                run.state[name] = np.full(run.size, self._initial_state(name), dtype)
            for param, span in zip(run.params, run.spans, strict=True):
                if id(param) in previous:
                    old_run, old_span = previous[id(param)]
                    for name, array in run.state.items():
                        array[span] = old_run.state[name][old_span]
        self._runs = runs

    def _ensure_bound(self) -> None:
        """Look the parameters up again if any left the store group they were found in."""
        for run in self._runs:
            if run.group.version != run.version:
                self._bind()
                return

    # ----------------------------------------------------------------- stepping
    def zero_grad(self) -> None:
        self._ensure_bound()
        for run in self._runs:
            run.g.fill(0)

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
        for run in self._runs:
            self._update_run(run)
        return loss

    def _update_run(self, run: _Run, at: np.ndarray | None = None) -> None:
        """Update one run from its gradient.

        Coupled weight decay adds λ·w to the gradient, with w taken at ``at`` (default: the
        current parameters); the mask and gradient centralization follow, then the rule.
        """
        state, w, g = run.state, run.w, run.g
        mask = None if run.group.mask is None else run.mask()
        decay = self.weight_decay if self.coupled_decay else 0.0
        centralize_gradient = self.centralize == "gradient"
        if mask is not None or centralize_gradient or (decay and at is not None):
            work = run.work()
            if decay and (at is not None or centralize_gradient):
                np.multiply(w if at is None else at, decay, out=work)
                work += g
                decay = 0.0
            else:
                np.copyto(work, g)
            if mask is not None:
                work *= mask
            if centralize_gradient:
                centralize_segments(work, run, mask)
            g = work
        if self.centralize == "update":
            # run the rule, then centralize the change it made and apply that instead
            before = w.copy()
            self._update(w, g, state, decay)
            w -= before
            if mask is not None:
                w *= mask
            centralize_segments(w, run, mask)
            w += before
        else:
            self._update(w, g, state, decay)
        if mask is not None:
            w *= mask
            for array in state.values():
                array *= mask

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

    def _locate(self, param: Parameter) -> tuple[_Run, slice]:
        self._ensure_bound()
        for run in self._runs:
            for candidate, span in zip(run.params, run.spans, strict=True):
                if candidate is param:
                    return run, span
        raise KeyError(f"{type(self).__name__}: {param!r} is not optimized here")

    def state_of(self, param: Parameter) -> dict[str, Any]:
        run, span = self._locate(param)
        entry: dict[str, Any] = {
            name: array[span].reshape(param.shape) for name, array in run.state.items()
        }
        entry["step"] = self.step_count
        return entry

    def state_dict(self) -> dict[str, np.ndarray]:
        """Step count, learning rate and every parameter's state arrays (copies), as a flat
        dict of arrays keyed ``"<parameter index>.<state name>"`` (the index into
        ``self.params``), so it does not depend on how the store lays parameters out."""
        out = {"step": np.array(self.step_count), "lr": np.array(self.lr)}
        for index, param in enumerate(self.params):
            for name, array in self.state_of(param).items():
                if name != "step":
                    out[f"{index}.{name}"] = array.copy()
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
        for index, param in enumerate(self.params):
            for name, array in self.state_of(param).items():
                if name != "step":
                    np.copyto(array, np.asarray(state[f"{index}.{name}"]), casting="same_kind")

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
