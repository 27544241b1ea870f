"""The curvature pass: second derivatives flowing backward through the modules.

The ordinary backward pass carries g = ∂L/∂y, one row per sample. The curvature pass carries,
with g, the second derivative of the loss with respect to the module's output, per sample:

- a full block H_n = ∂²L/∂y_n∂y_nᵀ, shape (N, d, d), or
- only its diagonal h_n = ∂²L/∂y_n², shape (N, d) (LeCun's recursion).

Each module turns the message about its output into the message about its input (the chain
rule twice) and *adds* the diagonal of ∂²L/∂w² of each parameter into ``param.curvature``, as
``backward`` adds into ``param.grad``. For an element-wise y = f(x)::

    g_x = f′(x) ⊙ g_y
    H_x = diag(f′) H_y diag(f′) + diag(f″(x) ⊙ g_y)      (drop the last term: Gauss–Newton)

and for Z = XW + b, whose output is linear in both X and W::

    ∂²L/∂W_ij² = Σ_n X_ni² · H_n[j, j]        ∂²L/∂b_j² = Σ_n H_n[j, j]
    g_X = g_Z Wᵀ                               H_X = W H_Z Wᵀ

(exact: X_n does not depend on W, and samples are independent given the parameters). So the
weight diagonal needs only diag(H_Z); the input block needs all of H_Z. LeCun, Denker & Solla
(1990) propagate only the diagonals, h_X = (W ⊙ W) h_Z, which drops the off-diagonal terms of
H_Z: cheap (about one backward pass) but approximate once a layer feeds several units. Keeping
full blocks gives the exact diagonal (with the f″ terms) or the exact Gauss–Newton diagonal
(without them).

What a module needs from its output depends on what its input message must be: the first
layer needs no input message ("none"), a Linear layer then needs only diag(H_Z) from its
output, and an element-wise module needs what its input needs. :meth:`Module.curvature_need`
answers that, so the costly full blocks are formed only where a later diagonal depends on them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

NEEDS = ("full", "diagonal", "none")


@dataclass(frozen=True)
class CurvatureMessage:
    """What flows backward in the curvature pass, about one module's output.

    ``grad`` is ∂L/∂y (N, d); ``hess`` is ∂²L/∂y_n∂y_nᵀ per sample (N, d, d) or its diagonal
    (N, d). ``second_order`` keeps the f″·g terms (the exact Hessian; without them the
    Gauss–Newton matrix). ``lecun`` allows dropping off-diagonal terms (LeCun's diagonal
    recursion); without it a module that would need a full block it was not given raises.
    """

    grad: np.ndarray
    hess: np.ndarray
    second_order: bool = True
    lecun: bool = False

    @property
    def full(self) -> bool:
        return self.hess.ndim == 3

    def diagonal(self) -> np.ndarray:
        """The per-sample diagonal (N, d), a view when the message holds full blocks."""
        return np.einsum("nii->ni", self.hess) if self.full else self.hess

    def with_(self, grad: np.ndarray, hess: np.ndarray) -> CurvatureMessage:
        return replace(self, grad=grad, hess=hess)


def wants_full(message: CurvatureMessage, need: str) -> bool:
    """Whether the input message is to be a full block: asked for, and possible."""
    if need not in NEEDS:
        raise ValueError(f"curvature need must be one of {NEEDS}, got {need!r}")
    return need == "full" and message.full


def require_full(message: CurvatureMessage, who: str) -> None:
    """A module that cannot drop off-diagonal terms exactly was given only diagonals."""
    if not message.full and not message.lecun:
        raise ValueError(
            f"{who}: the exact curvature pass needs the full block ∂²L/∂y∂yᵀ here, but received "
            "only its diagonal (a module upstream asked for less than it needed)"
        )


def elementwise(
    message: CurvatureMessage, d1: np.ndarray, d2: np.ndarray | None, need: str
) -> CurvatureMessage | None:
    """The message about x from the message about y = f(x), element-wise, given f′(x) and
    f″(x) (``None`` when f″ = 0): g_x = f′g and H_x = f′ᵢf′ⱼH_ij + δ_ij f″ᵢ gᵢ."""
    if need == "none":
        return None
    g = message.grad
    d1 = np.broadcast_to(d1, g.shape)
    grad_in = d1 * g
    curve = d2 * g if (d2 is not None and message.second_order) else None
    if wants_full(message, need):
        hess = d1[:, :, None] * message.hess * d1[:, None, :]
        if curve is not None:
            np.einsum("nii->ni", hess)[...] += curve
    else:
        hess = d1 * d1 * message.diagonal()
        if curve is not None:
            hess += curve
    return message.with_(grad_in, hess)


def add_curvature(param, value: np.ndarray) -> None:
    """``param.curvature += value`` (made zero first if the parameter has none yet)."""
    if param.curvature is None:
        param.curvature = np.zeros(param.shape, param.dtype)
    param.curvature[...] += value
