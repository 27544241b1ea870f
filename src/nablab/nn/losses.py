"""Loss functions: ``loss(pred, target)`` returns a float, ``loss.backward()`` dL/d(pred).

The target is converted to the prediction's dtype, so a float32 model stays float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from nablab.errors import UnsupportedError
from nablab.nn.kernels import sigmoid, softmax_cross_entropy
from nablab.registry import Option, Registry

# PyTorch's BCE backward divides by max(p(1 − p), ε) with ε = 1e-12 stored as a C float.
_BCE_EPSILON = float(np.float32(1e-12))


def _as_array(value: object, what: str, where: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except Exception as error:  # ragged lists and the like
        raise ValueError(f"{where}: {what} is not an array: {error}") from None


class Loss:
    """Base class: subclasses implement ``forward`` (returns float) and ``backward``.

    ``reductions`` lists the accepted reductions; :meth:`divisor` says, once, what each one
    divides the summed loss by.
    """

    reductions: tuple[str, ...] = ("mean", "sum")

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in self.reductions:
            raise ValueError(
                f"{type(self).__name__}: unknown reduction {reduction!r}; "
                f"valid: {', '.join(self.reductions)}"
            )
        self.reduction = reduction
        self._grad: Callable[[], np.ndarray] | None = None
        self._saved: tuple[np.ndarray, np.ndarray] | None = None  # (pred, target), by reference

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        return self.forward(pred, target)

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        """dL/d(pred) of the last forward call."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}: backward() called before forward()")
        return self._grad()

    def hessian(self, full: bool = True) -> np.ndarray:
        """∂²L/∂p_n∂p_nᵀ of the last forward call, per sample: (N, d, d) blocks, or their
        diagonals (N, d) with ``full=False`` (the curvature pass starts from it). Different
        samples do not interact: every reduction is a sum over samples."""
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}: hessian() called before forward()")
        pred = self._saved[0]
        if pred.ndim != 2:
            raise ValueError(
                f"{type(self).__name__}: the Hessian is defined here for predictions of shape "
                f"(N, d), got {pred.shape}"
            )
        return self._hessian(full)

    def _hessian(self, full: bool) -> np.ndarray:
        raise UnsupportedError(f"{type(self).__name__}: no second derivative")

    @staticmethod
    def _diagonal_blocks(diagonal: np.ndarray, full: bool) -> np.ndarray:
        """(N, d) diagonals as (N, d, d) diagonal blocks when ``full``."""
        if not full:
            return diagonal
        n, d = diagonal.shape
        blocks = np.zeros((n, d, d), diagonal.dtype)
        np.einsum("nii->ni", blocks)[...] = diagonal
        return blocks

    def _pair(self, pred: object, target: object) -> tuple[np.ndarray, np.ndarray]:
        """Prediction and target as arrays of one floating dtype and one shape."""
        where = type(self).__name__
        pred = _as_array(pred, "pred", where)
        if not np.issubdtype(pred.dtype, np.floating):
            raise ValueError(f"{where}: pred must be a floating array, got dtype {pred.dtype}")
        target = _as_array(target, "target", where)
        if target.shape != pred.shape:
            raise ValueError(
                f"{where}: target shape {target.shape} does not match pred shape {pred.shape}"
            )
        if pred.size == 0:
            raise ValueError(f"{where}: the prediction is empty (shape {pred.shape})")
        return pred, target.astype(pred.dtype, copy=False)

    def divisor(self, shape: tuple[int, ...]) -> int:
        """n in L = Σ ℓ / n for a prediction of ``shape``: every element for ``"mean"``,
        1 for ``"sum"``."""
        return math.prod(shape) if self.reduction == "mean" else 1

    def _divisor(self, pred: np.ndarray) -> int:
        return self.divisor(pred.shape)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class MSELoss(Loss):
    """L = factor · Σ (p − t)² / n, where n is set by ``reduction``:

    - ``"mean"``: n = number of elements (PyTorch's ``MSELoss``);
    - ``"sum"``: n = 1;
    - ``"batch_mean"``: n = number of samples (rows): summed over features, averaged over samples.

    ``factor=0.5`` gives the textbook E = ½ Σ (t − o)². dL/dp = 2·factor·(p − t) / n.
    """

    reductions = ("mean", "sum", "batch_mean")

    def __init__(self, reduction: str = "mean", factor: float = 1.0) -> None:
        super().__init__(reduction)
        self.factor = float(factor)

    def divisor(self, shape: tuple[int, ...]) -> int:
        """Elements (``"mean"``), 1 (``"sum"``) or samples, the rows (``"batch_mean"``)."""
        if self.reduction == "batch_mean":
            return shape[0] if shape else 1
        return super().divisor(shape)

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        pred, target = self._pair(pred, target)
        diff = pred - target
        n = self._divisor(pred)
        scale = 2.0 * self.factor / n
        self._grad = lambda: diff * scale
        self._saved = (pred, target)
        flat = diff.ravel()
        return float(self.factor * np.dot(flat, flat) / n)

    def _hessian(self, full: bool) -> np.ndarray:
        """∂²L/∂p² = 2·factor/n on the diagonal, 0 elsewhere."""
        pred = self._saved[0]
        value = 2.0 * self.factor / self._divisor(pred)
        return self._diagonal_blocks(np.full(pred.shape, value, pred.dtype), full)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, factor={self.factor}"


class BCELoss(Loss):
    """Binary cross-entropy on probabilities p ∈ [0, 1]:

    L = −Σ [t·log p + (1 − t)·log(1 − p)] / n, each log clamped at −100 (as PyTorch).
    dL/dp = (p − t) / max(p(1 − p), ε) / n, ε = float32(1e-12) (PyTorch's backward formula).
    ∂²L/∂p² = [t/p² + (1 − t)/(1 − p)²] / n (per entry; no cross terms).
    """

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        pred, target = self._pair(pred, target)
        where = type(self).__name__
        for what, array in (("pred", pred), ("target", target)):
            inside = (array >= 0) & (array <= 1)
            if not inside.all():
                index = tuple(int(i) for i in np.argwhere(~inside)[0])
                raise ValueError(
                    f"{where}: {what} must be probabilities in [0, 1] (apply a sigmoid first, or "
                    f"use BCEWithLogitsLoss on logits); got {array[index]!r} at index {index}"
                )
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(pred), -100)
            log_q = np.maximum(np.log1p(-pred), -100)
        n = self._divisor(pred)
        self._grad = lambda: (pred - target) / np.maximum(pred * (1 - pred), _BCE_EPSILON) / n
        self._saved = (pred, target)
        return float(-(target * log_p + (1 - target) * log_q).sum() / n)

    def _hessian(self, full: bool) -> np.ndarray:
        pred, target = self._saved
        second = (target / (pred * pred) + (1 - target) / ((1 - pred) * (1 - pred))) / (
            self._divisor(pred)
        )
        return self._diagonal_blocks(second, full)


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits x, numerically stable:

    L = Σ [max(x, 0) − x·t + log(1 + e^(−|x|))] / n;  dL/dx = (σ(x) − t) / n;
    ∂²L/∂x² = σ(x)(1 − σ(x)) / n (per entry).
    """

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        pred, target = self._pair(pred, target)
        n = self._divisor(pred)
        self._grad = lambda: (sigmoid(pred) - target) / n
        self._saved = (pred, target)
        terms = np.maximum(pred, 0) - pred * target + np.log1p(np.exp(-np.abs(pred)))
        return float(terms.sum() / n)

    def _hessian(self, full: bool) -> np.ndarray:
        pred = self._saved[0]
        p = sigmoid(pred)
        return self._diagonal_blocks(p * (1 - p) / self._divisor(pred), full)


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits X of shape (N, C), with a stable log-softmax.

    Targets are class indices (N,) or probabilities / one-hot rows (N, C)::

        log p = X − max − log Σ e^(X − max)
        L = −Σ_n Σ_c T[n, c] · log p[n, c] / n        (n = N for "mean", 1 for "sum")
        dL/dX = (softmax(X) · Σ_c T[n, c] − T) / n   (= (p − T)/n for rows that sum to 1)
        ∂²L/∂X_n∂X_nᵀ = Σ_c T[n, c] · (diag(p_n) − p_n p_nᵀ) / n

    With class indices the whole forward is one fused pass per row
    (:func:`nablab.nn.kernels.softmax_cross_entropy`), and ``correct`` counts the rows whose
    target logit is the largest (the samples classified right, ties counted right). The
    gradient is formed in place in the probabilities, once; ``backward`` returns that array.
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.correct: int | None = None
        self._rows = np.arange(0)

    def divisor(self, shape: tuple[int, ...]) -> int:
        """Samples, the rows N of (N, C) logits (``"mean"``), or 1 (``"sum"``)."""
        return shape[0] if self.reduction == "mean" else 1

    def _row_index(self, n: int) -> np.ndarray:
        if len(self._rows) != n:
            self._rows = np.arange(n)
        return self._rows

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        where = type(self).__name__
        logits = pred if isinstance(pred, np.ndarray) else _as_array(pred, "pred", where)
        if logits.ndim != 2 or logits.dtype.kind != "f":
            raise ValueError(
                f"{where}: expected floating logits of shape (N, C), got shape {logits.shape} "
                f"and dtype {logits.dtype}"
            )
        n_rows, n_classes = logits.shape
        if n_rows == 0 or n_classes == 0:
            raise ValueError(f"{where}: the logits are empty (shape {logits.shape})")
        target = target if isinstance(target, np.ndarray) else _as_array(target, "target", where)
        self._saved = (logits, target)
        n = self.divisor(logits.shape)
        if target.dtype.kind in "iu":
            if target.shape != (n_rows,):
                raise ValueError(
                    f"{where}: class-index targets must have shape ({n_rows},), got {target.shape}"
                )
            probs = np.empty_like(logits)
            total, correct, bad_row = softmax_cross_entropy(logits, target, probs)
            if bad_row >= 0:
                raise ValueError(f"{where}: class index {target[bad_row]} outside [0, {n_classes})")
            self.correct = int(correct)
            rows = self._row_index(n_rows)

            done: list[np.ndarray] = []

            def grad() -> np.ndarray:
                if not done:  # turn the probabilities into (p − onehot)/n once, in place
                    probs[rows, target] -= 1
                    done.append(np.divide(probs, n, out=probs) if n != 1 else probs)
                return done[0]

            self._grad = grad
            return float(total / n)
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        self.correct = None
        if target.shape != logits.shape:
            raise ValueError(
                f"{where}: probability targets must have the logits' shape {logits.shape}, "
                f"got {target.shape} (class indices must be an integer array)"
            )
        target = target.astype(logits.dtype, copy=False)
        log_p = shifted - np.log(sum_exp)
        mass = target.sum(axis=1, keepdims=True)
        self._grad = lambda: (exp / sum_exp * mass - target) / n
        return float(-(target * log_p).sum() / n)

    def _hessian(self, full: bool) -> np.ndarray:
        logits, target = self._saved
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        weight = 1.0 / self.divisor(logits.shape)
        if target.dtype.kind not in "iu":
            weight = target.sum(axis=1).astype(logits.dtype)[:, None] * weight
        if not full:
            return p * (1 - p) * weight
        blocks = -p[:, :, None] * p[:, None, :]
        np.einsum("nii->ni", blocks)[...] += p
        return blocks * np.asarray(weight)[..., None]


LOSSES: Registry[type[Loss]] = Registry("loss")
LOSSES.add(
    "mse",
    MSELoss,
    "factor·Σ(p − t)²/n on any outputs",
    options=(
        Option("reduction", str, "mean", "n: elements, 1, or samples", choices=MSELoss.reductions),
        Option("factor", float, 1.0, "0.5 gives the textbook ½Σ(t − o)²", 0.0, low_open=True),
    ),
)
LOSSES.add(
    "bce",
    BCELoss,
    "−Σ[t·log p + (1 − t)·log(1 − p)]/n on probabilities",
    options=(Option("reduction", str, "mean", choices=BCELoss.reductions),),
)
LOSSES.add(
    "bce_with_logits",
    BCEWithLogitsLoss,
    "binary cross-entropy of σ(x), on logits",
    options=(Option("reduction", str, "mean", choices=BCEWithLogitsLoss.reductions),),
)
LOSSES.add(
    "cross_entropy",
    CrossEntropyLoss,
    "softmax cross-entropy on logits, targets as class indices or probabilities",
    options=(Option("reduction", str, "mean", choices=CrossEntropyLoss.reductions),),
)
