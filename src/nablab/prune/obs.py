"""Optimal Brain Surgeon (Hassibi & Stork, 1993): remove a weight and move the others.

Near a minimum w*, L(w* + δw) − L(w*) ≈ ½·δwᵀHδw. Removing weight q means δw_q = −w_q; the
other weights move to keep the increase smallest:

    minimize ½·δwᵀHδw  subject to  e_qᵀδw + w_q = 0
    ⇒  δw = −(w_q / [H⁻¹]_qq) · H⁻¹e_q,   increase L_q = w_q² / (2[H⁻¹]_qq)

and for a set Q removed together (a unit's weights and bias),
δw = −H⁻¹E_Q([H⁻¹]_QQ)⁻¹w_Q and L_Q = ½·w_Qᵀ([H⁻¹]_QQ)⁻¹w_Q. The pruner removes the least
salient weight (or unit), applies δw, and continues on the remaining weights with the inverse
Hessian of the constrained problem, H⁻¹ ← H⁻¹ − H⁻¹E_Q([H⁻¹]_QQ)⁻¹E_QᵀH⁻¹ (the rows and columns
of Q become zero). For a quadratic loss, pruning k weights one by one this way gives exactly
the minimum of the loss over the remaining weights.

H is a dense n×n matrix over every free parameter entry (weights, biases; masked entries are
held at zero), built one column at a time (:func:`nablab.analysis.dense_hessian`): n² memory
and n products, so models above ``max_params`` parameters are refused. By default it is the
Gauss–Newton matrix G = Σ_n J_nᵀH_ℓJ_n, the outer-product approximation Hassibi and Stork use,
which is positive semidefinite; ``curvature="exact"`` takes the Hessian itself, which away
from an exact minimum has negative eigenvalues that make [H⁻¹]_qq small or negative and the
updates huge. ``damping`` (default 1e-2) adds λ = damping·mean(diag H) to the diagonal
first. A singular H (a dead ReLU unit's weights have zero rows; shifting every logit together
changes no cross-entropy) then has an inverse, and the damping acts as a trust region: with
λ near 0 the update leans on nearly flat directions (an input pixel that is non-zero in two
training images) where the quadratic model promises almost nothing and the loss disagrees
(the README shows this on digits).
"""

from __future__ import annotations

import numpy as np

from nablab.nn.module import Parameter
from nablab.prune.criteria import Context
from nablab.prune.targets import UnitGroup


class Surgeon:
    """The weights and the inverse Hessian over the free parameter entries during OBS.

    Entries are addressed by their flat position among all of the model's parameters
    (``global`` indices, in ``model.parameters()`` order, each C-ordered).
    """

    def __init__(self, ctx: Context) -> None:
        from nablab.analysis.curvature import dense_hessian

        ctx.require_data("obs")
        model = ctx.model
        self.params = model.parameters()
        kind = "exact" if ctx.curvature == "exact" else "gauss_newton"
        hessian = dense_hessian(
            model, ctx.loss, ctx.x, ctx.target, ctx.max_params, kind=kind, who="obs"
        )
        self.offsets = {
            id(p): int(o) for p, o in zip(self.params, np.cumsum([0, *self._sizes()]), strict=False)
        }
        values = np.concatenate([p.data.ravel() for p in self.params]).astype(np.float64)
        free = np.concatenate(
            [np.ones(p.size, bool) if p.mask is None else p.mask.ravel() != 0 for p in self.params]
        )
        self.total = values.size
        self.index = np.flatnonzero(free)
        block = hessian[np.ix_(self.index, self.index)]
        scale = float(np.mean(np.abs(np.diag(block)))) if block.size else 0.0
        block[np.diag_indices_from(block)] += ctx.damping * (scale if scale > 0 else 1.0)
        self.hinv = np.linalg.inv(block)
        self.hinv = (self.hinv + self.hinv.T) / 2
        self.w = values[self.index]
        self.removed_since_compaction = 0
        self._refresh_lookup()

    def _sizes(self) -> list[int]:
        return [p.size for p in self.params]

    def _refresh_lookup(self) -> None:
        self.where = np.full(self.total, -1)
        self.where[self.index] = np.arange(self.index.size)

    def globals_of(self, param: Parameter, index=...) -> np.ndarray:
        """Global positions of ``param[index]`` (all of it by default)."""
        flat = np.arange(param.size).reshape(param.shape)[index]
        return self.offsets[id(param)] + np.ravel(flat)

    def alive(self, positions: np.ndarray) -> np.ndarray:
        """Which of these global positions are still free (not removed, not masked before)."""
        return self.where[positions] >= 0

    def saliencies(self, positions: np.ndarray) -> np.ndarray:
        """w_q² / (2[H⁻¹]_qq) for free global positions."""
        local = self.where[positions]
        return self.w[local] ** 2 / (2 * self.hinv[local, local])

    def group_saliency(self, positions: np.ndarray) -> float:
        """½·w_Qᵀ([H⁻¹]_QQ)⁻¹w_Q over the free entries among ``positions``."""
        local = self.where[positions]
        local = local[local >= 0]
        if local.size == 0:
            return 0.0
        w_q = self.w[local]
        return float(0.5 * w_q @ np.linalg.solve(self.hinv[np.ix_(local, local)], w_q))

    def remove(self, positions: np.ndarray) -> float:
        """Set the free entries among ``positions`` to zero, move the others by
        δw = −H⁻¹E_Q([H⁻¹]_QQ)⁻¹w_Q, update H⁻¹; returns the saliency L_Q."""
        local = self.where[positions]
        local = local[local >= 0]
        if local.size == 0:
            return 0.0
        hinv, w = self.hinv, self.w
        w_q = w[local]
        if local.size == 1:
            q = int(local[0])
            u = hinv[:, q].copy()
            h_qq = u[q]
            saliency = float(w_q[0] ** 2 / (2 * h_qq))
            w -= (w_q[0] / h_qq) * u
            _rank_one_update(hinv, u, -1.0 / h_qq)
        else:
            columns = hinv[:, local].copy()
            inner = np.linalg.inv(hinv[np.ix_(local, local)])
            coefficients = inner @ w_q
            saliency = float(0.5 * w_q @ coefficients)
            w -= columns @ coefficients
            hinv -= columns @ inner @ columns.T
        w[local] = 0.0
        hinv[local, :] = 0.0
        hinv[:, local] = 0.0
        self.where[self.index[local]] = -1
        self.removed_since_compaction += local.size
        if self.removed_since_compaction > self.index.size // 4:
            self._compact()
        return saliency

    def _compact(self) -> None:
        """Drop the rows and columns of removed entries (keeps later updates cheap)."""
        keep = self.where[self.index] >= 0
        self.index = self.index[keep]
        self.w = self.w[keep]
        self.hinv = np.ascontiguousarray(self.hinv[np.ix_(keep, keep)])
        self.removed_since_compaction = 0
        self._refresh_lookup()

    def write_back(self) -> None:
        """Copy the moved weights into the parameters (removed entries are zero)."""
        values = np.zeros(self.total)
        values[self.index] = self.w
        for param in self.params:
            start = self.offsets[id(param)]
            part = values[start : start + param.size].reshape(param.shape)
            removed = self.where[start : start + param.size].reshape(param.shape) < 0
            new = np.where(removed, 0.0, part).astype(param.dtype)
            if param.mask is not None:
                new = new * param.mask
            param.data = new


def _rank_one_update(matrix: np.ndarray, u: np.ndarray, alpha: float) -> None:
    """matrix += alpha·u·uᵀ in place (BLAS dger on the symmetric matrix, no temporary)."""
    from scipy.linalg.blas import dger

    if matrix.flags.c_contiguous and matrix.dtype == np.float64:
        result = dger(alpha, u, u, a=matrix.T, overwrite_a=True)
        if np.shares_memory(result, matrix):
            return
        matrix[...] = result.T
        return
    matrix += alpha * np.outer(u, u)


# --------------------------------------------------------------------------- scores
def obs_entry_saliencies(ctx: Context, params: list[Parameter]) -> list[np.ndarray]:
    """w_q²/(2[H⁻¹]_qq) for every entry (0 for masked ones)."""
    surgeon = Surgeon(ctx)
    scores = []
    for param in params:
        positions = surgeon.globals_of(param)
        score = np.zeros(param.size)
        alive = surgeon.alive(positions)
        score[alive] = surgeon.saliencies(positions[alive])
        scores.append(score.reshape(param.shape))
    return scores


def _unit_positions(surgeon: Surgeon, group: UnitGroup, unit: int) -> np.ndarray:
    return np.concatenate([surgeon.globals_of(p, i) for p, i in group.entries(unit)])


def obs_unit_saliencies(ctx: Context, groups: list[UnitGroup]) -> list[np.ndarray]:
    """½·w_Qᵀ([H⁻¹]_QQ)⁻¹w_Q for every unit Q (its weights and bias)."""
    surgeon = Surgeon(ctx)
    return [
        np.array([surgeon.group_saliency(_unit_positions(surgeon, g, j)) for j in range(g.size)])
        for g in groups
    ]


# --------------------------------------------------------------------------- pruning
def _quotas(sizes: list[int], done: list[int], amount: float, scope: str, floor: int) -> list:
    """How many more to remove per layer (``scope="layer"``) or in total (one number)."""
    if scope == "layer":
        return [
            max(0, min(round(amount * n), n - floor) - d) for n, d in zip(sizes, done, strict=True)
        ]
    return [max(0, round(amount * sum(sizes)) - sum(done))]


def obs_prune(
    ctx: Context,
    params: list[Parameter],
    groups: list[UnitGroup],
    amount: float,
    scope: str,
    structured: bool,
) -> float:
    """Remove the least salient entries (units) one at a time with the OBS update until a
    fraction ``amount`` is pruned; mask them, write the moved weights back, and return the sum
    of the saliencies (the increase the quadratic model predicts)."""
    from nablab.prune.core import mask_units

    surgeon = Surgeon(ctx)
    total = 0.0
    if structured:
        done = [int(g.pruned().sum()) for g in groups]
        quota = _quotas([g.size for g in groups], done, amount, scope, floor=1)
        left = [g.size - d for g, d in zip(groups, done, strict=True)]
        candidates = [
            (i, j, _unit_positions(surgeon, g, j))
            for i, g in enumerate(groups)
            for j in np.flatnonzero(~g.pruned())
        ]
        removed = [np.zeros(g.size, bool) for g in groups]
        while candidates and sum(quota) > 0:
            open_ = [
                c
                for c in candidates
                if left[c[0]] > 1 and (quota[c[0]] if scope == "layer" else quota[0]) > 0
            ]
            if not open_:
                break
            values = [surgeon.group_saliency(c[2]) for c in open_]
            layer, unit, positions = open_[int(np.argmin(values))]
            total += surgeon.remove(positions)
            removed[layer][unit] = True
            left[layer] -= 1
            quota[layer if scope == "layer" else 0] -= 1
            candidates = [c for c in candidates if not (c[0] == layer and c[1] == unit)]
        surgeon.write_back()
        for group, pick in zip(groups, removed, strict=True):
            mask_units(group, pick)
        return total
    done = [0 if p.mask is None else int((p.mask == 0).sum()) for p in params]
    quota = _quotas([p.size for p in params], done, amount, scope, floor=0)
    positions = [surgeon.globals_of(p) for p in params]
    owner = np.concatenate([np.full(pos.size, i) for i, pos in enumerate(positions)])
    everything = np.concatenate(positions)
    while sum(quota) > 0:
        open_ = surgeon.alive(everything)
        if scope == "layer":
            open_ &= np.array([q > 0 for q in quota])[owner]
        if not open_.any():
            break
        candidates = np.flatnonzero(open_)
        values = surgeon.saliencies(everything[candidates])
        pick = candidates[int(np.argmin(values))]
        total += surgeon.remove(everything[pick : pick + 1])
        quota[owner[pick] if scope == "layer" else 0] -= 1
    surgeon.write_back()
    for param, pos in zip(params, positions, strict=True):
        pruned = ~surgeon.alive(pos).reshape(param.shape)
        mask = np.ones(param.shape) if param.mask is None else param.mask.copy()
        mask[pruned] = 0
        if param.mask is not None or pruned.any():
            param.mask = mask
    return total
