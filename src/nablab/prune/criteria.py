"""Pruning criteria: functions from parameters (and what they need) to scores.

A low score means "remove first". Every criterion scores entries of parameters (unstructured)
and whole output units of layers (structured, :mod:`nablab.prune.targets`):

- ``random``: uniform random scores, from the given generator.
- ``magnitude``: |w|; a unit scores the Euclidean norm of its weight slice ‖W[..., j]‖₂
  (PyTorch's ``l1_unstructured`` and ``ln_structured(n=2)``).
- ``sensitivity``: the measured increase of the loss on the given data when the entry (or the
  unit: its weights and bias) alone is set to zero. One forward pass per entry or unit.
- ``obd``: Optimal Brain Damage's saliency s_k = ½·h_kk·w_k², h_kk = ∂²L/∂w_k² from the
  curvature pass (:func:`nablab.analysis.hessian_diagonal`, LeCun's diagonal recursion by
  default, as the paper); the second-order change of the loss when w_k alone goes to zero at a
  minimum. A unit scores the sum over its weights and bias (cross terms ignored).
- ``obs``: Optimal Brain Surgeon's saliency L_q = w_q² / (2[H⁻¹]_qq), the loss increase when
  w_q goes to zero and every other weight moves by δw = −(w_q/[H⁻¹]_qq)·H⁻¹e_q to compensate;
  a unit (set Q) scores ½·w_Qᵀ([H⁻¹]_QQ)⁻¹w_Q. Pruning with it applies those updates
  (:mod:`nablab.prune.obs`). H is the dense Gauss–Newton matrix (the Hessian with
  ``curvature="exact"``): small models only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nablab.nn.losses import Loss
from nablab.nn.module import Module, Parameter
from nablab.prune.targets import UnitGroup
from nablab.registry import Registry

DEFAULT_MAX_PARAMS = 2500
# λ = DEFAULT_DAMPING·mean(diag H) for OBS: a trust region that keeps its updates out of the
# nearly flat directions where the quadratic model promises much and the loss disagrees.
DEFAULT_DAMPING = 1e-2


@dataclass
class Context:
    """What a criterion may use: the model, and for the data-driven criteria a loss, inputs
    and targets (the training objective for OBD and OBS, a validation batch for sensitivity),
    a random generator, and the options of the second-order criteria."""

    model: Module
    loss: Loss | None = None
    x: np.ndarray | None = None
    target: np.ndarray | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    curvature: str = "lecun"
    max_params: int = DEFAULT_MAX_PARAMS
    damping: float = DEFAULT_DAMPING
    batch_size: int | None = None

    def require_data(self, who: str) -> None:
        if self.loss is None or self.x is None or self.target is None:
            raise ValueError(
                f"criterion {who!r} measures the loss: pass data=(x, target) and a loss"
            )

    def loss_value(self) -> float:
        """The loss on the context's data, in eval mode."""
        model = self.model
        was_training = model.training
        model.eval()
        try:
            return float(self.loss(model(self.x), self.target))
        finally:
            model.train(was_training)


@dataclass(frozen=True)
class Criterion:
    """``entries(ctx, params) -> scores per entry`` and ``units(ctx, groups) -> scores per
    unit``; ``prune`` (OBS) replaces mask selection by a procedure that also moves weights."""

    entries: Callable[[Context, list[Parameter]], list[np.ndarray]]
    units: Callable[[Context, list[UnitGroup]], list[np.ndarray]]
    prune: Callable | None = None


# --------------------------------------------------------------------------- random
def _random_entries(ctx: Context, params: list[Parameter]) -> list[np.ndarray]:
    return [ctx.rng.random(p.shape) for p in params]


def _random_units(ctx: Context, groups: list[UnitGroup]) -> list[np.ndarray]:
    return [ctx.rng.random(g.size) for g in groups]


# --------------------------------------------------------------------------- magnitude
def _magnitude_entries(ctx: Context, params: list[Parameter]) -> list[np.ndarray]:
    return [np.abs(p.data) for p in params]


def _magnitude_units(ctx: Context, groups: list[UnitGroup]) -> list[np.ndarray]:
    scores = []
    for group in groups:
        w = group.weight.data.reshape(-1, group.size).astype(np.float64)
        scores.append(np.sqrt((w * w).sum(axis=0)))
    return scores


# --------------------------------------------------------------------------- sensitivity
def _sensitivity_entries(ctx: Context, params: list[Parameter]) -> list[np.ndarray]:
    """ΔL_k = L(w with w_k = 0) − L(w), one forward pass per entry (pruned entries: 0)."""
    ctx.require_data("sensitivity")
    base = ctx.loss_value()
    scores = []
    for param in params:
        score = np.zeros(param.shape)
        data, mask = param.data, param.mask
        for index in np.ndindex(param.shape):
            if mask is not None and mask[index] == 0:
                continue
            kept = data[index].copy()
            data[index] = 0
            try:
                score[index] = ctx.loss_value() - base
            finally:
                data[index] = kept
        scores.append(score)
    return scores


def _sensitivity_units(ctx: Context, groups: list[UnitGroup]) -> list[np.ndarray]:
    """ΔL_j = L(unit j's weights and bias zero) − L, one forward pass per unit."""
    ctx.require_data("sensitivity")
    base = ctx.loss_value()
    scores = []
    for group in groups:
        score = np.zeros(group.size)
        for unit in range(group.size):
            parts = group.entries(unit)
            kept = [param.data[index].copy() for param, index in parts]
            for param, index in parts:
                param.data[index] = 0
            try:
                score[unit] = ctx.loss_value() - base
            finally:
                for (param, index), value in zip(parts, kept, strict=True):
                    param.data[index] = value
        scores.append(score)
    return scores


# --------------------------------------------------------------------------- OBD
def _curvature(ctx: Context) -> None:
    """Fill every parameter's ``curvature`` slot with ∂²L/∂w² by the curvature pass."""
    from nablab.analysis.curvature import hessian_diagonal

    ctx.require_data("obd")
    hessian_diagonal(ctx.model, ctx.loss, ctx.x, ctx.target, ctx.curvature, ctx.batch_size)


def _saliency(param: Parameter) -> np.ndarray:
    w = param.data.astype(np.float64)
    return 0.5 * param.curvature.astype(np.float64) * w * w


def _obd_entries(ctx: Context, params: list[Parameter]) -> list[np.ndarray]:
    _curvature(ctx)
    return [_saliency(p) for p in params]


def _obd_units(ctx: Context, groups: list[UnitGroup]) -> list[np.ndarray]:
    _curvature(ctx)
    scores = []
    for group in groups:
        score = _saliency(group.weight).reshape(-1, group.size).sum(axis=0)
        if group.bias is not None:
            score = score + _saliency(group.bias)
        scores.append(score)
    return scores


# --------------------------------------------------------------------------- OBS
def _obs_entries(ctx: Context, params: list[Parameter]) -> list[np.ndarray]:
    from nablab.prune.obs import obs_entry_saliencies

    return obs_entry_saliencies(ctx, params)


def _obs_units(ctx: Context, groups: list[UnitGroup]) -> list[np.ndarray]:
    from nablab.prune.obs import obs_unit_saliencies

    return obs_unit_saliencies(ctx, groups)


def _obs_prune(*args, **kwargs):
    from nablab.prune.obs import obs_prune

    return obs_prune(*args, **kwargs)


CRITERIA: Registry[Criterion] = Registry("pruning criterion")
CRITERIA.add(
    "random",
    Criterion(_random_entries, _random_units),
    "uniform random scores",
    data=False,
    split=None,
)
CRITERIA.add(
    "magnitude",
    Criterion(_magnitude_entries, _magnitude_units),
    "|w| (a unit: the L2 norm of its weights)",
    data=False,
    split=None,
)
CRITERIA.add(
    "sensitivity",
    Criterion(_sensitivity_entries, _sensitivity_units),
    "measured loss increase when the weight (unit) alone is removed",
    data=True,
    split="validation",
)
CRITERIA.add(
    "obd",
    Criterion(_obd_entries, _obd_units),
    "Optimal Brain Damage: ½·∂²L/∂w²·w² from the curvature pass",
    data=True,
    split="train",
)
CRITERIA.add(
    "obs",
    Criterion(_obs_entries, _obs_units, _obs_prune),
    "Optimal Brain Surgeon: w²/(2[H⁻¹]_qq), and the compensating update (small models)",
    data=True,
    split="train",
)
