"""Curvature of a loss in a model's parameters: Hessian diagonals and Hessian-vector products.

:func:`hessian_diagonal` runs the curvature pass (:mod:`nablab.nn.curvature`): one forward,
then second derivatives flowing backward through every module, giving ∂²L/∂w² for every
parameter entry at once, written into each parameter's ``curvature`` slot. Three methods:

- ``exact``: the diagonal of the Hessian. Full per-sample blocks ∂²L/∂z∂zᵀ flow backward,
  with the f″·g terms of the activations.
- ``gauss_newton``: the diagonal of the Gauss–Newton matrix G = Σ_n J_nᵀ H_ℓ J_n (J_n the
  Jacobian of the model's output for sample n, H_ℓ the loss's Hessian in that output): the
  same pass without the f″ terms. G is positive semidefinite wherever H_ℓ is.
- ``lecun``: LeCun's diagonal recursion with the Levenberg–Marquardt approximation, as Optimal
  Brain Damage (LeCun, Denker & Solla, 1990) computes it: only diagonals flow back
  (h_x = (W ⊙ W) h_z, h_z = f′² h_a), dropping the off-diagonal terms and f″. It costs about
  one backward pass; it equals the Gauss–Newton diagonal on the last layer and wherever every
  unit feeds a single unit.

The blocks of the first two cost O(N·d²) memory per layer (d its width), so the data goes
through in chunks (``batch_size``); the result does not depend on the chunking.

:func:`hessian_vector_product` gives Hv for any direction v by differencing the analytic
gradient, fourth-order accurate: for any module that has a backward pass.
:func:`gauss_newton_vector_product` gives Gv (a difference of the outputs for Jv, the loss's
Hessian, one backward pass for Jᵀ); :func:`dense_hessian` builds either matrix column by
column for small models (Optimal Brain Surgeon).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nablab.analysis.hessian import flat_gradient
from nablab.nn.curvature import CurvatureMessage
from nablab.nn.losses import Loss
from nablab.nn.module import Module, Parameter
from nablab.registry import Registry

CURVATURES: Registry[tuple[bool, bool]] = Registry("curvature")
CURVATURES.add(
    "exact",
    (True, True),
    "the exact Hessian diagonal ∂²L/∂w² (full per-sample blocks, with the f″ terms)",
)
CURVATURES.add(
    "gauss_newton",
    (True, False),
    "the diagonal of the Gauss–Newton matrix JᵀHₗJ (full blocks, no f″ terms)",
    aliases=("gn",),
)
CURVATURES.add(
    "lecun",
    (False, False),
    "LeCun's diagonal recursion, Levenberg–Marquardt (Optimal Brain Damage); ~1 backward pass",
    aliases=("obd", "levenberg_marquardt"),
)

# Entries of the widest per-sample block times the rows of one chunk, at most.
_BLOCK_BUDGET = 1 << 22


def _rows_per_chunk(model: Module, rows: int, full: bool, batch_size: int | None) -> int:
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"hessian_diagonal: batch_size must be >= 1, got {batch_size}")
        return batch_size
    if not full:
        return rows
    width = max((max(p.shape, default=1) for p in model.parameters()), default=1)
    return max(1, min(rows, _BLOCK_BUDGET // (width * width)))


def hessian_diagonal(
    model: Module,
    loss: Loss,
    x: np.ndarray,
    target: np.ndarray,
    method: str = "exact",
    batch_size: int | None = None,
) -> dict[str, np.ndarray]:
    """∂²L/∂w² for every parameter entry of ``model`` at ``loss(model(x), target)``, by the
    curvature pass (see the module docstring for ``method``). Each parameter's ``curvature``
    slot receives its diagonal; the return value maps names to copies.

    The pass runs in eval mode (dropout off, running statistics in batch norm) and restores
    the mode afterwards. ``batch_size`` rows go through at a time (default: as many as keep
    the per-sample blocks within about 4 million entries).
    """
    full, second_order = CURVATURES[method]
    x, target = np.asarray(x), np.asarray(target)
    if len(x) != len(target) or len(x) == 0:
        raise ValueError(
            f"hessian_diagonal: need as many targets as inputs (at least one), got {len(x)} "
            f"inputs and {len(target)} targets"
        )
    params = model.parameters()
    for param in params:
        param.curvature = np.zeros(param.shape, param.dtype)
    need = model.curvature_need("none")
    blocks = full and need == "full"
    rows = _rows_per_chunk(model, len(x), blocks, batch_size)
    was_training = model.training
    model.eval()
    try:
        total_divisor = None
        for start in range(0, len(x), rows):
            out = model.forward(x[start : start + rows])
            loss.forward(out, target[start : start + rows])
            if total_divisor is None:
                total_divisor = loss.divisor((len(x), *out.shape[1:]))
            scale = loss.divisor(out.shape) / total_divisor
            message = CurvatureMessage(
                loss.backward() * scale,
                loss.hessian(blocks) * scale,
                second_order=second_order,
                lecun=not full,
            )
            model.curvature_backward(message, "none")
    finally:
        model.train(was_training)
    return {name: p.curvature.copy() for name, p in model.named_parameters()}


def _require_float64(params: Sequence[Parameter], who: str) -> None:
    for param in params:
        if param.dtype != np.float64:
            raise ValueError(
                f"{who}: differencing needs float64 parameters; {param.name!r} is "
                f"{param.dtype} (build the model with dtype=np.float64)"
            )


class _Point:
    """A model's parameters as one flat vector: read, move along a direction, restore."""

    def __init__(self, model: Module, vector, who: str) -> None:
        self.model, self.was_training = model, model.training
        self.params = model.parameters()
        _require_float64(self.params, who)
        sizes = [p.size for p in self.params]
        self.bounds = np.cumsum([0, *sizes])
        if isinstance(vector, np.ndarray) and vector.ndim == 1:
            v = np.asarray(vector, dtype=np.float64)
        else:
            v = np.concatenate([np.asarray(part, dtype=np.float64).ravel() for part in vector])
        if v.shape != (self.bounds[-1],):
            raise ValueError(
                f"{who}: the vector has {v.size} entries, the parameters {self.bounds[-1]}"
            )
        self.v = v
        self.w = np.concatenate([p.data.ravel() for p in self.params])
        self.saved_grads = [p.grad.copy() for p in self.params]
        model.eval()  # dropout would make every forward a different function

    def step(self, relative: float) -> float:
        """ε with ε·‖v‖ = relative·max(1, ‖w‖)."""
        return relative * max(1.0, float(np.linalg.norm(self.w))) / float(np.linalg.norm(self.v))

    def move(self, shift: float) -> None:
        point = self.w + shift * self.v
        for param, lo, hi in zip(self.params, self.bounds[:-1], self.bounds[1:], strict=True):
            param.data[...] = point[lo:hi].reshape(param.shape)

    def restore(self) -> None:
        self.move(0.0)
        for param, grad in zip(self.params, self.saved_grads, strict=True):
            np.copyto(param.grad, grad)
        self.model.train(self.was_training)


def hessian_vector_product(
    model: Module,
    loss: Loss,
    x: np.ndarray,
    target: np.ndarray,
    vector: Sequence[np.ndarray] | np.ndarray,
    order: int = 4,
    step: float | None = None,
) -> np.ndarray:
    """H·v, H the Hessian of ``loss(model(x), target)`` in ``model.parameters()`` (in order,
    each C-ordered), v given flat or as one array per parameter; returns a flat vector.

    Central differences of the analytic gradient along v, fourth order (``order=4``, four
    gradients) or second order (``order=2``, two)::

        Hv ≈ [8(∇L(w + εv) − ∇L(w − εv)) − (∇L(w + 2εv) − ∇L(w − 2εv))] / 12ε
        Hv ≈ (∇L(w + εv) − ∇L(w − εv)) / 2ε

    with ε·‖v‖ = ``step``·max(1, ‖w‖) (default 1e-4 and 1e-5): truncation O(ε⁴) or O(ε²),
    rounding about 1e-16·‖∇L‖/ε, so in float64 the product agrees with the exact one to
    about 1e-9 relative (fourth order), for any module with a backward pass. Across a ReLU
    kink (a pre-activation within ε of 0) the gradient jumps and the difference is not a
    derivative. It runs in eval mode; the parameters, gradients and mode are restored.
    """
    if order not in (2, 4):
        raise ValueError(f"hessian_vector_product: order must be 2 or 4, got {order!r}")
    point = _Point(model, vector, "hessian_vector_product")
    if not point.v.any():
        point.restore()
        return np.zeros_like(point.v)
    eps = point.step((1e-4 if order == 4 else 1e-5) if step is None else step)

    def closure() -> float:
        value = loss(model(x), target)
        model.backward_params(loss.backward())
        return value

    def gradient_at(shift: float) -> np.ndarray:
        point.move(shift)
        return flat_gradient(point.params, closure)

    try:
        near = gradient_at(eps) - gradient_at(-eps)
        if order == 2:
            return near / (2 * eps)
        far = gradient_at(2 * eps) - gradient_at(-2 * eps)
        return (8 * near - far) / (12 * eps)
    finally:
        point.restore()


def gauss_newton_vector_product(
    model: Module,
    loss: Loss,
    x: np.ndarray,
    target: np.ndarray,
    vector: Sequence[np.ndarray] | np.ndarray,
    step: float = 1e-5,
) -> np.ndarray:
    """G·v with G = Σ_n J_nᵀ H_n J_n, the Gauss–Newton matrix (J_n the Jacobian of sample n's
    output in the parameters, H_n the loss's Hessian in that output); flat, as
    :func:`hessian_vector_product`.

    Jv by a central difference of the outputs, (f(w + εv) − f(w − εv)) / 2ε with
    ε·‖v‖ = ``step``·max(1, ‖w‖); then u_n = H_n (Jv)_n from the loss, and Jᵀu by one backward
    pass at w. G is positive semidefinite wherever the loss is convex in the output (squared
    error, cross-entropy): Hassibi and Stork's outer-product approximation of the Hessian.
    """
    point = _Point(model, vector, "gauss_newton_vector_product")
    if not point.v.any():
        point.restore()
        return np.zeros_like(point.v)
    eps = point.step(step)
    try:
        point.move(eps)
        plus = model(x)
        point.move(-eps)
        jv = (plus - model(x)) / (2 * eps)
        point.move(0.0)
        loss.forward(model(x), target)
        u = np.einsum("nij,nj->ni", loss.hessian(full=True), jv.reshape(len(jv), -1))
        return flat_gradient(point.params, lambda: model.backward_params(u.reshape(jv.shape)))
    finally:
        point.restore()


DENSE = {"exact": hessian_vector_product, "gauss_newton": gauss_newton_vector_product}


def dense_hessian(
    model: Module,
    loss: Loss,
    x: np.ndarray,
    target: np.ndarray,
    max_params: int,
    kind: str = "exact",
    who: str = "dense_hessian",
) -> np.ndarray:
    """The n×n Hessian (``kind="exact"``, two gradient evaluations per column) or Gauss–Newton
    matrix (``"gauss_newton"``, three forward passes and a backward one per column) in all
    parameters, one product with e_j per column, symmetrized; refuses when n exceeds
    ``max_params``."""
    if kind not in DENSE:
        raise ValueError(f"{who}: kind must be one of {', '.join(DENSE)}, got {kind!r}")
    params = model.parameters()
    n = sum(p.size for p in params)
    if n > max_params:
        raise ValueError(
            f"{who}: the model has {n} parameters, more than max_params={max_params} (the "
            f"dense matrix has {n}² = {n * n:,} entries, {8 * n * n / 2**20:.1f} MiB, and "
            f"costs {n} products with a unit vector); raise max_params to proceed"
        )
    _require_float64(params, who)
    product = DENSE[kind]
    options = {"order": 2} if kind == "exact" else {}
    columns = np.empty((n, n))
    unit = np.zeros(n)
    for j in range(n):
        unit[j] = 1.0
        columns[:, j] = product(model, loss, x, target, unit, **options)
        unit[j] = 0.0
    return (columns + columns.T) / 2
