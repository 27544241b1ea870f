"""Pruning a model: score, select the lowest scores, mask them.

``prune(model, amount, method)`` makes a fraction ``amount`` of the candidates pruned: weight
entries (unstructured) or output units (structured), counted over all candidates together
(``scope="global"``) or per layer (``scope="layer"``). Entries already pruned count toward the
amount and stay pruned, so calling it with growing amounts is an iterative schedule.

Selection, as PyTorch's ``torch.nn.utils.prune``: k = round(amount · n) (Python's round, half
to even), the k lowest scores are pruned. Ties between equal scores go to the lowest flat
index in C order over the candidates (in registration order, each parameter flattened in its
own (in, out) layout); PyTorch's ``topk`` picks among ties in an unspecified order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from nablab._random import RngLike, as_generator
from nablab.nn.losses import Loss
from nablab.nn.module import Module, Parameter
from nablab.prune.criteria import CRITERIA, DEFAULT_DAMPING, DEFAULT_MAX_PARAMS, Context
from nablab.prune.targets import UnitGroup, unit_groups, weight_parameters

SCOPES = ("global", "layer")


@dataclass(frozen=True)
class LayerSparsity:
    """One scored parameter (or, structured, one layer's units): how many are pruned."""

    name: str
    size: int
    pruned: int

    @property
    def fraction(self) -> float:
        return self.pruned / self.size if self.size else 0.0


@dataclass
class PruneReport:
    """What :func:`prune` did: per parameter (and per layer of units) how much is pruned,
    and ``predicted_increase``, the sum of the newly pruned entries' scores (for OBD and OBS
    the loss increase their quadratic model predicts; for sensitivity, the sum of the
    single-removal increases)."""

    method: str
    amount: float
    structured: bool
    scope: str
    params: list[LayerSparsity]
    units: list[LayerSparsity] = field(default_factory=list)
    predicted_increase: float | None = None
    seconds: float = 0.0

    @property
    def size(self) -> int:
        return sum(p.size for p in self.params)

    @property
    def pruned(self) -> int:
        return sum(p.pruned for p in self.params)

    @property
    def sparsity(self) -> float:
        """The fraction of the scored parameters' entries that are pruned."""
        return self.pruned / self.size if self.size else 0.0

    def table(self) -> str:
        rows = [(p.name, p.size, p.pruned) for p in self.params]
        rows += [(f"{u.name} (units)", u.size, u.pruned) for u in self.units]
        width = max(len("parameter"), *(len(r[0]) for r in rows))
        lines = [f"{'parameter':<{width}}  {'size':>8}  {'pruned':>8}  {'sparsity':>8}"]
        for name, size, pruned in rows:
            lines.append(f"{name:<{width}}  {size:>8}  {pruned:>8}  {pruned / size:>8.1%}")
        lines.append(f"{'total':<{width}}  {self.size:>8}  {self.pruned:>8}  {self.sparsity:>8.1%}")
        return "\n".join(lines)


def sparsity(model: Module, weights_only: bool = True) -> list[LayerSparsity]:
    """How many entries of each weight (every parameter with ``weights_only=False``) are
    pruned by its mask."""
    rows = []
    for name, param in weight_parameters(model, weights_only):
        pruned = 0 if param.mask is None else int((param.mask == 0).sum())
        rows.append(LayerSparsity(name, param.size, pruned))
    return rows


def _count(amount: float, n: int) -> int:
    return round(amount * n)


def select_entries(
    scores: list[np.ndarray], masks: list[np.ndarray | None], amount: float, scope: str
) -> list[np.ndarray]:
    """Which entries to prune (bool arrays): the round(amount·n) lowest scores, globally or per
    array; entries already masked score −∞ (they stay pruned); ties go to the lowest index."""
    ranked = []
    for score, mask in zip(scores, masks, strict=True):
        score = np.array(score, dtype=np.float64)
        if mask is not None:
            score[mask == 0] = -np.inf
        ranked.append(score)
    if scope == "layer":
        chosen = []
        for score in ranked:
            flat = np.zeros(score.size, bool)
            flat[np.argsort(score.ravel(), kind="stable")[: _count(amount, score.size)]] = True
            chosen.append(flat.reshape(score.shape))
        return chosen
    everything = np.concatenate([s.ravel() for s in ranked]) if ranked else np.zeros(0)
    flat = np.zeros(everything.size, bool)
    flat[np.argsort(everything, kind="stable")[: _count(amount, everything.size)]] = True
    bounds = np.cumsum([0, *(s.size for s in ranked)])
    return [
        flat[lo:hi].reshape(s.shape)
        for s, lo, hi in zip(ranked, bounds[:-1], bounds[1:], strict=True)
    ]


def select_units(
    scores: list[np.ndarray], done: list[np.ndarray], amount: float, scope: str
) -> list[np.ndarray]:
    """Which units to prune (bool per unit): the round(amount·n) lowest scores, globally or per
    layer, units already pruned first; every layer keeps at least one unit."""
    ranked = []
    for score, pruned in zip(scores, done, strict=True):
        score = np.array(score, dtype=np.float64)
        score[pruned] = -np.inf
        ranked.append(score)
    chosen = [np.zeros(s.size, bool) for s in ranked]
    if scope == "layer":
        for score, pick in zip(ranked, chosen, strict=True):
            k = min(_count(amount, score.size), score.size - 1)
            pick[np.argsort(score, kind="stable")[:k]] = True
        return chosen
    everything = np.concatenate(ranked)
    owner = np.concatenate([np.full(s.size, i) for i, s in enumerate(ranked)])
    position = np.concatenate([np.arange(s.size) for s in ranked])
    left = [s.size for s in ranked]
    k = _count(amount, everything.size)
    taken = 0
    for flat in np.argsort(everything, kind="stable"):
        if taken == k:
            break
        layer = owner[flat]
        if left[layer] == 1:
            continue
        chosen[layer][position[flat]] = True
        left[layer] -= 1
        taken += 1
    return chosen


def mask_entries(param: Parameter, prune: np.ndarray) -> None:
    """Add ``prune`` (bool) to the parameter's mask."""
    if param.mask is None and not prune.any():
        return
    mask = np.ones(param.shape) if param.mask is None else param.mask.copy()
    mask[prune] = 0
    param.mask = mask


def mask_units(group: UnitGroup, prune: np.ndarray) -> None:
    """Mask the weight slices ``weight[..., j]`` and bias entries of the chosen units."""
    units = np.flatnonzero(prune)
    if units.size == 0:
        return
    for param in (group.weight, group.bias):
        if param is None:
            continue
        mask = np.ones(param.shape) if param.mask is None else param.mask.copy()
        mask[..., units] = 0
        param.mask = mask


def _check(amount: float, scope: str, method: str) -> None:
    CRITERIA.entry(method)  # an unknown name lists the valid ones
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not 0 <= amount < 1:
        raise ValueError(f"prune: amount must be a fraction in [0, 1), got {amount!r}")
    if scope not in SCOPES:
        raise ValueError(f"prune: scope must be one of {', '.join(SCOPES)}, got {scope!r}")


def prune(
    model: Module,
    amount: float,
    method: str = "magnitude",
    *,
    structured: bool = False,
    scope: str = "global",
    data: tuple[np.ndarray, np.ndarray] | None = None,
    loss: Loss | None = None,
    weights_only: bool = True,
    rng: RngLike = None,
    curvature: str = "lecun",
    max_params: int = DEFAULT_MAX_PARAMS,
    damping: float = DEFAULT_DAMPING,
    batch_size: int | None = None,
) -> PruneReport:
    """Prune ``model`` in place until a fraction ``amount`` of its candidates is pruned.

    ``method`` names a criterion (:data:`nablab.prune.CRITERIA`: random, magnitude,
    sensitivity, obd, obs); the data-driven ones need ``data=(x, target)`` and ``loss``.
    Candidates are the weights' entries (and with ``weights_only=False`` biases and
    normalization parameters too), or with ``structured=True`` the output units of every layer
    that feeds another (weight slice and bias entry together). ``curvature`` picks the OBD
    diagonal (:data:`nablab.analysis.CURVATURES`); ``max_params`` and ``damping`` (λ added to
    H's diagonal, relative to its mean) are OBS's. Returns a :class:`PruneReport`.
    """
    _check(amount, scope, method)
    started = time.perf_counter()
    criterion = CRITERIA[method]
    x, target = (None, None) if data is None else data
    ctx = Context(
        model,
        loss,
        x,
        target,
        as_generator(rng),
        curvature,
        max_params,
        damping,
        batch_size,
    )
    if CRITERIA.entry(method).extra["data"]:
        ctx.require_data(method)
    named = weight_parameters(model, weights_only)
    params = [p for _, p in named]
    groups = unit_groups(model) if structured else []
    if structured and not groups:
        raise ValueError(
            "prune: structured pruning removes units of layers that feed another layer; this "
            "model has none"
        )
    predicted = None
    if criterion.prune is not None:
        predicted = criterion.prune(ctx, params, groups, amount, scope, structured)
    elif structured:
        scores = criterion.units(ctx, groups)
        chosen = select_units(scores, [g.pruned() for g in groups], amount, scope)
        new = [c & ~g.pruned() for c, g in zip(chosen, groups, strict=True)]
        predicted = float(sum(s[n].sum() for s, n in zip(scores, new, strict=True)))
        for group, pick in zip(groups, chosen, strict=True):
            mask_units(group, pick)
    else:
        scores = criterion.entries(ctx, params)
        masks = [p.mask for p in params]
        chosen = select_entries(scores, masks, amount, scope)
        predicted = 0.0
        for score, pick, mask in zip(scores, chosen, masks, strict=True):
            new = pick if mask is None else pick & (mask != 0)
            predicted += float(np.asarray(score, np.float64)[new].sum())
        for param, pick in zip(params, chosen, strict=True):
            mask_entries(param, pick)
    units = [LayerSparsity(g.name, g.size, int(g.pruned().sum())) for g in groups]
    return PruneReport(
        method,
        float(amount),
        structured,
        scope,
        sparsity(model, weights_only),
        units,
        None if method in ("random", "magnitude") else predicted,
        time.perf_counter() - started,
    )
