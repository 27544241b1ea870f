"""Common hand-computation mistakes, each a way to re-run an exercise wrongly.

The checker runs the exercise under every hypothesis that applies and asks which one
reproduces the student's numbers. A hypothesis may have several variants (the loss factor can
be dropped or doubled); the best-matching variant speaks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from nablab.i18n import M
from nablab.optim.registry import OPTIMIZERS
from nablab.solve.build import build_loss
from nablab.solve.spec import Conv1dLayer, Exercise, LinearLayer, layer_shapes
from nablab.solve.trace import CORRECT, Variant

ELEMENTWISE = ("sigmoid", "tanh", "swish", "silu", "leaky_relu")


@dataclass(frozen=True)
class Mistake:
    id: str
    description: str
    variants: Callable[[Exercise], list[tuple[str, Variant]]]


def _loss_divisor(exercise: Exercise) -> int:
    """The n of the exercise's loss reduction for one step's predictions."""
    n = exercise.n_samples if exercise.batch == "full" else 1
    width = layer_shapes(exercise)[-1][0]
    return build_loss(exercise.loss.model_dump()).divisor((n, width))


def _scaled(factor: float) -> Variant:
    return Variant(loss_grad=lambda g, pred, target: g * factor)


def _loss_factor_variants(exercise: Exercise) -> list[tuple[str, Variant]]:
    n = _loss_divisor(exercise)
    candidates = {
        2.0: M("mistake.loss_factor.doubled", "the loss gradient doubled (an extra 2)"),
        0.5: M(
            "mistake.loss_factor.halved",
            "the loss gradient halved (the 2 of the square dropped, or an extra ½)",
        ),
    }
    if n > 1:
        candidates[float(n)] = M(
            "mistake.loss_factor.no_mean", "the loss gradient without the ⁅1/{n}⁆ of the mean", n=n
        )
        candidates[1.0 / n] = M(
            "mistake.loss_factor.divided", "the loss gradient divided by {n} once more", n=n
        )
    if exercise.loss.type == "mse" and exercise.loss.factor != 1:
        f = exercise.loss.factor
        candidates.setdefault(
            1.0 / f,
            M("mistake.loss_factor.no_factor", "the loss gradient without the factor {f:g}", f=f),
        )
    return [(text, _scaled(factor)) for factor, text in candidates.items() if factor != 1.0]


def _update_sign(exercise: Exercise) -> list[tuple[str, Variant]]:
    return [
        (
            M("mistake.update_sign.detail", "the update added the gradient (⁅w ← w + η·g⁆)"),
            Variant(negate_gradients=True),
        )
    ]


def _updated_weights(exercise: Exercise) -> list[tuple[str, Variant]]:
    options = exercise.optimizer.options()
    if (
        exercise.optimizer.type != "sgd"
        or options.get("momentum", 0)
        or options.get("weight_decay", 0)
    ):
        return []
    weighted = [layer for layer in exercise.layers if isinstance(layer, LinearLayer | Conv1dLayer)]
    if len(weighted) < 2:
        return []
    return [
        (
            M(
                "mistake.updated_weights.detail",
                "the hidden layers were backpropagated through already-updated weights",
            ),
            Variant(update_before_backprop=True),
        )
    ]


def _bias_mismatch(exercise: Exercise) -> list[tuple[str, Variant]]:
    biased = [
        layer
        for layer in exercise.layers
        if isinstance(layer, LinearLayer | Conv1dLayer) and layer.bias is not None
    ]
    if not biased:
        return []
    updated = all(layer.update_bias for layer in biased)
    text = (
        M("mistake.bias.kept", "the biases were kept fixed though the exercise updates them")
        if updated
        else M(
            "mistake.bias.updated", "the biases were updated though the exercise keeps them fixed"
        )
    )
    return [(text, Variant(trainable_override={"bias": not updated}))]


def _momentum_convention(exercise: Exercise) -> list[tuple[str, Variant]]:
    options = exercise.optimizer.options()
    if exercise.optimizer.type != "sgd" or not options.get("momentum", 0):
        return []
    current = options.get("convention", "pytorch")
    other = "velocity" if current == "pytorch" else "pytorch"
    text = {
        "velocity": M(
            "mistake.momentum.velocity",
            "momentum as a velocity ⁅v ← μv − η·g, w ← w + v⁆ (the exercise uses the {current} "
            "convention)",
            current=current,
        ),
        "pytorch": M(
            "mistake.momentum.buffer",
            "momentum as a buffer ⁅b ← μb + g, w ← w − η·b⁆ (the exercise uses the {current} "
            "convention)",
            current=current,
        ),
    }[other]
    return [(text, Variant(optimizer_override={"convention": other}))]


def _batch_reduction(exercise: Exercise) -> list[tuple[str, Variant]]:
    if exercise.n_samples < 2 or exercise.batch != "full":
        return []
    current = exercise.loss.reduction
    if current == "sum":
        other = "mean" if exercise.loss.type == "cross_entropy" else "batch_mean"
        text = M(
            "mistake.batch.averaged", "the loss was averaged over the samples instead of summed"
        )
    else:
        other = "sum"
        text = M("mistake.batch.summed", "the loss was summed over the samples instead of averaged")
    return [(text, Variant(loss_override={"reduction": other}))]


def _swapped_target(exercise: Exercise) -> list[tuple[str, Variant]]:
    return [
        (
            M(
                "mistake.swapped.detail",
                "the loss gradient taken as ⁅(t − o)⁆ instead of ⁅(o − t)⁆",
            ),
            Variant(loss_grad=lambda g, pred, target: -g),
        )
    ]


def _transposed(exercise: Exercise) -> list[tuple[str, Variant]]:
    square = [
        layer
        for layer in exercise.layers[1:]
        if isinstance(layer, LinearLayer) and len(layer.weights) == len(layer.weights[0])
    ]
    if not square or all(
        np.allclose(np.array(layer.weights), np.array(layer.weights).T) for layer in square
    ):
        return []
    return [
        (
            M("mistake.transposed.detail", "δ backpropagated with W instead of Wᵀ (⁅∂E/∂A = δ·W⁆)"),
            Variant(transpose_weights=True),
        )
    ]


def _derivative_at_output(exercise: Exercise) -> list[tuple[str, Variant]]:
    if not any(layer.type in ELEMENTWISE for layer in exercise.layers):
        return []
    return [
        (
            M(
                "mistake.derivative_at_output.detail",
                "activation derivatives evaluated at the output (⁅σ′(a)⁆ instead of ⁅σ′(z)⁆)",
            ),
            Variant(derivative_at_output=True),
        )
    ]


def _bias_not_summed(exercise: Exercise) -> list[tuple[str, Variant]]:
    if exercise.batch != "full" or exercise.n_samples < 2:
        return []
    if not any(
        isinstance(layer, LinearLayer) and layer.bias is not None for layer in exercise.layers
    ):
        return []
    return [
        (
            M("mistake.bias_sum.first", "each bias gradient taken from the first sample only"),
            Variant(bias_grad="first"),
        ),
        (
            M("mistake.bias_sum.mean", "each bias gradient averaged over the batch"),
            Variant(bias_grad="mean"),
        ),
    ]


def _flipped_kernel(exercise: Exercise) -> list[tuple[str, Variant]]:
    """Only where reversing a kernel changes it: more than one tap and not a palindrome."""
    kernels = [layer for layer in exercise.layers if isinstance(layer, Conv1dLayer)]
    if not any(
        row != row[::-1] for layer in kernels for per_out in layer.kernel_array() for row in per_out
    ):
        return []
    return [
        (
            M(
                "mistake.flipped_kernel.detail",
                "each kernel applied reversed, ⁅z[t] = Σ_j K[k + 1 − j]·x[t + j − 1]⁆ (a "
                "convolution; the layer correlates: ⁅Σ_j K[j]·x[t + j − 1]⁆)",
            ),
            Variant(flip_kernels=True),
        )
    ]


def _eps_placement(exercise: Exercise) -> list[tuple[str, Variant]]:
    cls = OPTIMIZERS[exercise.optimizer.type]
    if "eps_placement" not in {o.name for o in cls.options}:
        return []
    current = exercise.optimizer.options().get("eps_placement", "outside")
    other = "inside" if current == "outside" else "outside"
    where = {"inside": "√(v + ε)", "outside": "√v + ε"}
    return [
        (
            M(
                "mistake.eps.detail",
                "ε placed as {other} (the exercise uses {current})",
                other=where[other],
                current=where[current],
            ),
            Variant(optimizer_override={"eps_placement": other}),
        )
    ]


def _bias_correction(exercise: Exercise) -> list[tuple[str, Variant]]:
    cls = OPTIMIZERS[exercise.optimizer.type]
    options = exercise.optimizer.options()
    if "bias_correction" not in {o.name for o in cls.options}:
        return []
    if not options.get("bias_correction", True):
        return []
    return [
        (
            M(
                "mistake.bias_correction.detail",
                "Adam's bias correction left out (m and v used without dividing by ⁅1 − βᵗ⁆)",
            ),
            Variant(optimizer_override={"bias_correction": False}),
        )
    ]


def _nesterov(exercise: Exercise) -> list[tuple[str, Variant]]:
    options = exercise.optimizer.options()
    current = options.get("nesterov", False)
    if exercise.optimizer.type != "sgd" or not current:
        return []
    other = "lookahead" if current is True else True
    text = {
        True: M(
            "mistake.nesterov.pytorch",
            "Nesterov in PyTorch's form (gradient at w, step ⁅w − η·(g + μb)⁆)",
        ),
        "lookahead": M(
            "mistake.nesterov.lookahead", "Nesterov as a look-ahead (gradient at ⁅w + μv⁆)"
        ),
    }[other]
    return [(text, Variant(optimizer_override={"nesterov": other}))]


def _rounding(decimals: int):
    def variants(exercise: Exercise) -> list[tuple[str, Variant]]:
        return [
            (
                M(
                    "mistake.rounding.detail",
                    "every intermediate value rounded to {decimals} decimals and carried on",
                    decimals=decimals,
                ),
                Variant(round_decimals=decimals),
            )
        ]

    return variants


def rounding_mistake(decimals: int) -> Mistake:
    """Rounded intermediates carried through the computation (not a mistake of method)."""
    return Mistake(
        ROUNDING,
        M("mistake.rounding", "rounded intermediate values carried through the steps"),
        _rounding(decimals),
    )


ROUNDING = "rounding_carried"


def combine(first: Variant, second: Variant) -> Variant | None:
    """Both deviations at once, or None when they set the same thing differently."""
    changes: dict = {}
    for field_ in fields(Variant):
        a, b = getattr(first, field_.name), getattr(second, field_.name)
        default = getattr(CORRECT, field_.name)
        if a == default:
            changes[field_.name] = b
        elif b == default:
            changes[field_.name] = a
        elif isinstance(a, dict) and isinstance(b, dict):
            if any(k in a and a[k] != v for k, v in b.items()):
                return None
            changes[field_.name] = {**a, **b}
        elif field_.name == "loss_grad":
            changes[field_.name] = lambda g, pred, target, f=a, h=b: h(
                f(g, pred, target), pred, target
            )
        else:
            return None
    return Variant(**changes)


MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "loss_grad_one",
        M("mistake.loss_grad_one", "⁅∂L/∂output⁆ taken as 1 instead of the loss's derivative"),
        lambda e: [
            (
                M("mistake.loss_grad_one.detail", "⁅∂L/∂output = 1⁆"),
                Variant(loss_grad=lambda g, pred, target: np.ones_like(g)),
            )
        ],
    ),
    Mistake(
        "missing_activation_derivative",
        M(
            "mistake.missing_activation_derivative",
            "an activation's derivative left out of the chain rule",
        ),
        lambda e: [
            (
                M(
                    "mistake.missing_activation_derivative.detail",
                    "activation derivatives taken as 1",
                ),
                Variant(identity_activation_derivative=True),
            )
        ],
    ),
    Mistake(
        "missing_loss_factor",
        M(
            "mistake.missing_loss_factor",
            "a constant factor of the loss gradient dropped or doubled (the 2 of a square, the ½, "
            "the 1/n)",
        ),
        _loss_factor_variants,
    ),
    Mistake(
        "wrong_update_sign",
        M("mistake.wrong_update_sign", "the update moved along the gradient instead of against it"),
        _update_sign,
    ),
    Mistake(
        "updated_weights_in_backprop",
        M(
            "mistake.updated_weights_in_backprop",
            "new output weights used to backpropagate to the hidden layer",
        ),
        _updated_weights,
    ),
    Mistake(
        "bias_update_mismatch",
        M(
            "mistake.bias_update_mismatch",
            "biases updated when the exercise keeps them, or the reverse",
        ),
        _bias_mismatch,
    ),
    Mistake(
        "momentum_convention",
        M("mistake.momentum_convention", "momentum in the other convention (velocity vs buffer)"),
        _momentum_convention,
    ),
    Mistake(
        "batch_sum_vs_mean",
        M(
            "mistake.batch_sum_vs_mean",
            "the loss summed over the batch instead of averaged, or the reverse",
        ),
        _batch_reduction,
    ),
    Mistake(
        "target_output_swapped",
        M(
            "mistake.target_output_swapped",
            "target and output swapped in the loss gradient (⁅t − o⁆ instead of ⁅o − t⁆)",
        ),
        _swapped_target,
    ),
    Mistake(
        "transposed_weights",
        M(
            "mistake.transposed_weights",
            "weights used untransposed in backprop (W instead of ⁅Wᵀ⁆)",
        ),
        _transposed,
    ),
    Mistake(
        "derivative_at_output",
        M(
            "mistake.derivative_at_output",
            "an activation's derivative evaluated at its output instead of its input",
        ),
        _derivative_at_output,
    ),
    Mistake(
        "bias_not_summed",
        M("mistake.bias_not_summed", "a bias gradient not summed over the samples of the batch"),
        _bias_not_summed,
    ),
    Mistake(
        "flipped_kernel",
        M(
            "mistake.flipped_kernel",
            "a convolution's kernel flipped (the textbook's convolution instead of the "
            "cross-correlation the layer computes)",
        ),
        _flipped_kernel,
    ),
    Mistake(
        "eps_placement",
        M("mistake.eps_placement", "ε inside instead of outside the square root, or the reverse"),
        _eps_placement,
    ),
    Mistake(
        "bias_correction",
        M("mistake.bias_correction", "Adam's bias correction left out"),
        _bias_correction,
    ),
    Mistake(
        "nesterov_convention",
        M(
            "mistake.nesterov_convention",
            "Nesterov momentum in the other convention (look-ahead vs PyTorch's form)",
        ),
        _nesterov,
    ),
)
