"""The loss: its value (with a penalty, if any) and its gradient with respect to each output.

``LOSSES`` holds one writer per loss class: ``value`` writes E and ``gradient`` ∂E/∂o; the
divisor n of every reduction comes from the loss module (``Loss.divisor``), never re-derived.
``PENALTIES`` holds the penalty's value and its term in a parameter's gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nablab import nn
from nablab.i18n import Listing, M
from nablab.solve.expr import (
    Abs,
    Call,
    Div,
    Expr,
    Mul,
    Neg,
    Paren,
    Partial,
    Pow,
    Sym,
    matrix,
    total,
)
from nablab.solve.trace import Pass
from nablab.solve.writers.base import LOSS, ClassRegistry, Writer


@dataclass(frozen=True)
class LossWriter:
    value: Any
    gradient: Any


@dataclass(frozen=True)
class PenaltyWriter:
    value: Any  # (writer, pass, penalty, scalars) → R in symbols and numbers
    term: Any  # (writer, pass, penalty, scalar) → its term of ∂E/∂w
    matrix: Any  # (writer, penalty, symbol, values) → its term of ∂E/∂W in matrix form


LOSSES: ClassRegistry = ClassRegistry("loss")
PENALTIES: ClassRegistry = ClassRegistry("penalty")


def _names(w: Writer, p: Pass, row: int, j: int) -> tuple[Sym, Sym]:
    sfx = p.suffix(row)
    return Sym(w.built.output_names[-1][j] + sfx + p.tag), Sym(w.built.target_names[j] + sfx)


def _mean_factor(w: Writer, n: int, factor: float = 1.0) -> Expr | None:
    """The constant in front of the sum: factor/n, or nothing when it is 1."""
    if n == 1:
        return None if factor == 1 else w.n(factor)
    return Paren(Div(w.n(factor), w.n(n)))


def _scaled(coefficient: Expr | None, expr: Expr, negate: bool = False) -> Expr:
    """coefficient·(expr), −coefficient·(expr) with ``negate``."""
    if coefficient is None:
        return Neg(Paren(expr)) if negate else expr
    return Mul((Neg(coefficient) if negate else coefficient, Paren(expr)))


def _rows(p: Pass) -> range:
    return range(len(p.samples))


# ------------------------------------------------------------------------------- MSE


def _mse_value(w: Writer, p: Pass, loss: nn.MSELoss) -> tuple[Expr, Expr]:
    pred = p.layers[-1].output
    terms_s, terms_n = [], []
    for row in _rows(p):
        for j in range(pred.shape[1]):
            o, t = _names(w, p, row, j)
            terms_s.append(Pow(Paren(t - o), w.n(2)))
            terms_n.append(Pow(Paren(w.n(p.targets[row, j]) - w.n(pred[row, j])), w.n(2)))
    coefficient = _mean_factor(w, loss.divisor(pred.shape), loss.factor)
    w.para(
        M(
            "solve.loss.mse",
            "Loss: mean squared error (reduction {reduction}, factor {factor:g})",
            reduction=loss.reduction,
            factor=loss.factor,
        )
    )
    return _scaled(coefficient, total(terms_s)), _scaled(coefficient, total(terms_n))


def _mse_gradient(w: Writer, p: Pass, loss: nn.MSELoss, row: int, j: int) -> tuple[Expr, Expr]:
    """∂E/∂o = 2·factor/n·(o − t)."""
    pred = p.layers[-1].output
    c = 2 * loss.factor / loss.divisor(pred.shape)
    o, t = _names(w, p, row, j)
    symbolic = o - t
    numeric = w.n(pred[row, j]) - w.n(p.targets[row, j])
    if c != 1:
        return w.n(c) * Paren(symbolic), w.n(c) * Paren(numeric)
    return symbolic, numeric


LOSSES.register(nn.MSELoss)(LossWriter(_mse_value, _mse_gradient))


# ------------------------------------------------------------------------------- BCE


def _bce_value(w: Writer, p: Pass, loss: nn.Loss) -> tuple[Expr, Expr]:
    logits = isinstance(loss, nn.BCEWithLogitsLoss)
    pred = p.layers[-1].output
    terms_s, terms_n = [], []
    for row in _rows(p):
        for j in range(pred.shape[1]):
            o, t = _names(w, p, row, j)
            prob_s = Call("σ", (o,)) if logits else o
            prob_n = Call("σ", (w.n(pred[row, j]),)) if logits else w.n(pred[row, j])
            t_v = w.n(p.targets[row, j])
            terms_s.append(
                t * Call("ln", (prob_s,)) + Paren(w.n(1) - t) * Call("ln", (w.n(1) - prob_s,))
            )
            terms_n.append(
                t_v * Call("ln", (prob_n,)) + Paren(w.n(1) - t_v) * Call("ln", (w.n(1) - prob_n,))
            )
    coefficient = _mean_factor(w, loss.divisor(pred.shape))
    if logits:
        w.para(M("solve.loss.bce_logits", "Loss: binary cross-entropy on logits, ⁅σ⁆ the sigmoid"))
    else:
        w.para(M("solve.loss.bce", "Loss: binary cross-entropy"))
    return (
        _scaled(coefficient, total(terms_s), negate=True),
        _scaled(coefficient, total(terms_n), negate=True),
    )


def _bce_gradient(w: Writer, p: Pass, loss: nn.BCELoss, row: int, j: int) -> tuple[Expr, Expr]:
    """∂E/∂o = (o − t)/(n·o·(1 − o))."""
    pred = p.layers[-1].output
    n = loss.divisor(pred.shape)
    o, t = _names(w, p, row, j)
    o_v, t_v = w.n(pred[row, j]), w.n(p.targets[row, j])
    den_s = Mul((o, Paren(w.n(1) - o))) if n == 1 else Mul((w.n(n), o, Paren(w.n(1) - o)))
    den_n = Mul((o_v, Paren(w.n(1) - o_v))) if n == 1 else Mul((w.n(n), o_v, Paren(w.n(1) - o_v)))
    return Div(Paren(o - t), Paren(den_s)), Div(Paren(o_v - t_v), Paren(den_n))


def _logits_gradient(w: Writer, p: Pass, loss: nn.Loss, row: int, j: int) -> tuple[Expr, Expr]:
    """∂E/∂z = (σ(z) − t)/n."""
    pred = p.layers[-1].output
    n = loss.divisor(pred.shape)
    o, t = _names(w, p, row, j)
    symbolic = Call("σ", (o,)) - t
    numeric = Call("σ", (w.n(pred[row, j]),)) - w.n(p.targets[row, j])
    if n == 1:
        return symbolic, numeric
    return Div(Paren(symbolic), w.n(n)), Div(Paren(numeric), w.n(n))


LOSSES.register(nn.BCELoss)(LossWriter(_bce_value, _bce_gradient))
LOSSES.register(nn.BCEWithLogitsLoss)(LossWriter(_bce_value, _logits_gradient))


# ------------------------------------------------------------------------------- cross-entropy


def _probabilities(p: Pass) -> np.ndarray:
    logits = p.layers[-1].output
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _prob(p: Pass, row: int, j: int) -> Sym:
    return Sym(f"p{j + 1}{p.suffix(row)}{p.tag}")


def _ce_value(w: Writer, p: Pass, loss: nn.CrossEntropyLoss) -> tuple[Expr, Expr]:
    logits = p.layers[-1].output
    probs = _probabilities(p)
    names = w.built.output_names[-1]
    w.para(
        M(
            "solve.loss.cross_entropy",
            "Loss: softmax cross-entropy; first the softmax p of each sample's outputs:",
        )
    )
    for row in _rows(p):
        sfx = p.suffix(row)
        exps_s = [Call("exp", (Sym(name + sfx + p.tag),)) for name in names]
        exps_n = [Call("exp", (w.n(v),)) for v in logits[row]]
        for j in range(len(names)):
            w.eq(
                _prob(p, row, j),
                Div(exps_s[j], Paren(total(exps_s))),
                Div(exps_n[j], Paren(total(exps_n))),
                w.n(probs[row, j]),
                key=w.key(f"p{j + 1}{sfx}{p.tag}"),
            )
    terms_s, terms_n = [], []
    for row in _rows(p):
        if p.targets.ndim == 1:
            label = int(p.targets[row])
            terms_s.append(Call("ln", (_prob(p, row, label),)))
            terms_n.append(Call("ln", (w.n(probs[row, label]),)))
        else:
            for j in range(logits.shape[1]):
                t = Sym(w.built.target_names[j] + p.suffix(row))
                terms_s.append(t * Call("ln", (_prob(p, row, j),)))
                terms_n.append(w.n(p.targets[row, j]) * Call("ln", (w.n(probs[row, j]),)))
    if p.targets.ndim == 1:
        classes = [
            M(
                "solve.loss.sample_class",
                "sample {sample}: class {label}",
                sample=s + 1,
                label=c + 1,
            )
            for s, c in zip(p.samples, (int(c) for c in p.targets), strict=True)
        ]
        w.para(
            M(
                "solve.loss.classes",
                "and E sums ⁅−ln p⁆ of each sample's class ({classes}):",
                classes=Listing(classes),
            )
        )
    coefficient = _mean_factor(w, loss.divisor(logits.shape))
    return (
        _scaled(coefficient, total(terms_s), negate=True),
        _scaled(coefficient, total(terms_n), negate=True),
    )


def _ce_gradient(
    w: Writer, p: Pass, loss: nn.CrossEntropyLoss, row: int, j: int
) -> tuple[Expr, Expr]:
    """∂E/∂z_j = (p_j − y_j)/n, y the one-hot class (or the target row, which sums to 1)."""
    logits = p.layers[-1].output
    n = loss.divisor(logits.shape)
    probs = _probabilities(p)
    if p.targets.ndim == 1:
        y_s = Sym(f"y{j + 1}{p.suffix(row)}")
        y_v = float(int(p.targets[row]) == j)
    else:
        y_s = Sym(w.built.target_names[j] + p.suffix(row))
        y_v = float(p.targets[row, j])
    symbolic = _prob(p, row, j) - y_s
    numeric = w.n(probs[row, j]) - w.n(y_v)
    if n == 1:
        return symbolic, numeric
    return Div(Paren(symbolic), w.n(n)), Div(Paren(numeric), w.n(n))


LOSSES.register(nn.CrossEntropyLoss)(LossWriter(_ce_value, _ce_gradient))


# ------------------------------------------------------------------------------- penalties


def _l2_value(w: Writer, p: Pass, penalty: nn.L2Penalty, scalars: list) -> tuple[Expr, Expr]:
    factor = penalty.strength * (0.5 if penalty.convention == "half" else 1.0)
    squares = [Pow(Sym(w.param_name(s, p)), w.n(2)) for s in scalars]
    values = [Pow(w.n(p.params[s.name]), w.n(2)) for s in scalars]
    return w.n(factor) * Paren(total(squares)), w.n(factor) * Paren(total(values))


def _l2_term(w: Writer, p: Pass, penalty: nn.L2Penalty, scalar) -> tuple[Expr, Expr]:
    factor = penalty.strength * (1.0 if penalty.convention == "half" else 2.0)
    return w.n(factor) * Sym(w.param_name(scalar, p)), w.n(factor) * w.n(p.params[scalar.name])


def _l1_value(w: Writer, p: Pass, penalty: nn.L1Penalty, scalars: list) -> tuple[Expr, Expr]:
    absolute = [Abs(Sym(w.param_name(s, p))) for s in scalars]
    values = [Abs(w.n(p.params[s.name])) for s in scalars]
    return w.n(penalty.strength) * Paren(total(absolute)), w.n(penalty.strength) * Paren(
        total(values)
    )


def _l1_term(w: Writer, p: Pass, penalty: nn.L1Penalty, scalar) -> tuple[Expr, Expr]:
    sign = float(np.sign(p.params[scalar.name]))
    return (
        w.n(penalty.strength) * Call("sign", (Sym(w.param_name(scalar, p)),)),
        w.n(penalty.strength) * w.n(sign),
    )


def _l2_matrix(w: Writer, penalty: nn.L2Penalty, symbol: Expr, values) -> tuple[Expr, Expr]:
    factor = w.n(penalty.strength * (1.0 if penalty.convention == "half" else 2.0))
    return factor * symbol, factor * matrix(values, w.digits)


def _l1_matrix(w: Writer, penalty: nn.L1Penalty, symbol: Expr, values) -> tuple[Expr, Expr]:
    strength = w.n(penalty.strength)
    return strength * Call("sign", (symbol,)), strength * matrix(np.sign(values), w.digits)


PENALTIES.register(nn.L2Penalty)(PenaltyWriter(_l2_value, _l2_term, _l2_matrix))
PENALTIES.register(nn.L1Penalty)(PenaltyWriter(_l1_value, _l1_term, _l1_matrix))


def penalized(w: Writer) -> list:
    """The scalars the penalty covers, in the exercise's order."""
    penalty = w.built.penalty
    if penalty is None:
        return []
    return [s for s in w.built.scalars if any(s.param is q for q in penalty.params)]


def penalty_term(w: Writer, p: Pass, scalar) -> tuple[Expr, Expr] | None:
    """The penalty's term in ∂E/∂(scalar), or None when the scalar is not penalized."""
    if scalar not in penalized(w):
        return None
    return PENALTIES.lookup(w.built.penalty).term(w, p, w.built.penalty, scalar)


# ------------------------------------------------------------------------------- writing


def write_loss(w: Writer, p: Pass) -> None:
    """E (and E_data, R with a penalty) for pass ``p``."""
    loss = w.built.loss
    symbolic, numeric = LOSSES.lookup(loss).value(w, p, loss)
    tag = p.tag
    if w.built.penalty is None:
        w.eq(Sym(LOSS + tag), symbolic, numeric, w.n(p.loss), key=w.key(f"E{tag}"))
        return
    w.eq(Sym(f"E_data{tag}"), symbolic, numeric, w.n(p.data_loss), key=w.key(f"E_data{tag}"))
    penalty = w.built.penalty
    value_s, value_n = PENALTIES.lookup(penalty).value(w, p, penalty, penalized(w))
    w.eq(Sym(f"R{tag}"), value_s, value_n, w.n(p.penalty), key=w.key(f"R{tag}"))
    w.eq(
        Sym(LOSS + tag),
        Sym(f"E_data{tag}") + Sym(f"R{tag}"),
        w.n(p.data_loss) + w.n(p.penalty),
        w.n(p.loss),
        key=w.key(f"E{tag}"),
    )


def write_loss_gradient(w: Writer, p: Pass) -> None:
    """∂E/∂o for every output of every sample of pass ``p``."""
    loss = w.built.loss
    gradient = LOSSES.lookup(loss).gradient
    names = w.built.output_names[-1]
    w.para(
        M(
            "solve.loss.gradient",
            "Gradient of the loss with respect to each output, ⁅∂{loss}/∂o⁆:",
            loss=LOSS,
        )
    )
    onehot: dict[str, float] = {}
    if p.targets.ndim == 1:
        for row in _rows(p):
            for j in range(len(names)):
                onehot[f"y{j + 1}{p.suffix(row)}"] = float(int(p.targets[row]) == j)
        w.para(M("solve.loss.one_hot", "⁅y⁆ is the one-hot vector of the sample's class."))
    for row in _rows(p):
        sfx = p.suffix(row)
        for j, name in enumerate(names):
            symbolic, numeric = gradient(w, p, loss, row, j)
            w.eq(
                Partial(LOSS, name + sfx + p.tag),
                symbolic,
                numeric,
                w.n(p.layers[-1].grad[row, j]),
                key=w.key(f"grad({name}{sfx}{p.tag})"),
                given=onehot,
            )
