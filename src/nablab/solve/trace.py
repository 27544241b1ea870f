"""Running an exercise through the engine and recording every named quantity.

The tracer runs the exercise's own nablab modules one layer at a time, so every forward value,
every dL/d(output) and every parameter gradient is what the engine computed; nothing here
differentiates anything. A ``Variant`` reproduces a common hand-computation mistake (the
checker re-runs the exercise under each one to see which explains a student's numbers).

A *step* is one parameter update: with ``batch: full`` each step uses every sample, with
``batch: per_sample`` each step uses the next sample, and ``steps`` counts passes over the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nablab import nn
from nablab.backend import use_kernels
from nablab.optim import SGD, Newton
from nablab.solve.build import Built, build
from nablab.solve.spec import DropoutLayer, Exercise

ACTIVATION_TYPES = (
    nn.Sigmoid,
    nn.Tanh,
    nn.ReLU,
    nn.LeakyReLU,
    nn.Swish,
    nn.SELU,
    nn.Softmax,
)


@dataclass(frozen=True)
class Variant:
    """A deliberate deviation from the correct computation.

    ``loss_grad`` replaces dL/d(output) (given it, the prediction and the target);
    ``identity_activation_derivative`` passes gradients through activations unchanged;
    ``negate_gradients`` flips every gradient before the update (w ← w + η·g);
    ``update_before_backprop`` updates each linear layer as soon as its gradient is known and
    backpropagates through the *new* weights (plain SGD only); the overrides rebuild the
    exercise with other trainable flags, optimizer options or loss options.
    """

    loss_grad: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
    identity_activation_derivative: bool = False
    negate_gradients: bool = False
    update_before_backprop: bool = False
    trainable_override: dict[str, bool] | None = None
    optimizer_override: dict[str, Any] | None = None
    loss_override: dict[str, Any] | None = None


CORRECT = Variant()


@dataclass
class LayerRecord:
    output: np.ndarray  # (n, width)
    grad: np.ndarray  # dL/d(output), as backpropagated
    batch_mean: np.ndarray | None = None  # batch norm statistics, for the solution text
    batch_var: np.ndarray | None = None


@dataclass
class StepTrace:
    index: int
    samples: list[int]
    inputs: np.ndarray
    targets: np.ndarray
    layers: list[LayerRecord]
    loss: float
    data_loss: float
    penalty: float
    loss_grad: np.ndarray
    params_before: dict[str, float]
    grads: dict[str, float]
    params_after: dict[str, float]
    state_before: dict[str, dict[str, float]]
    state: dict[str, dict[str, float]]
    update_grads: dict[str, float] | None = None
    hessian: np.ndarray | None = None

    def suffix(self, row: int) -> str:
        """The sample suffix of a value name: ``[n]`` when the step sees several samples."""
        return f"[{self.samples[row] + 1}]" if len(self.samples) > 1 else ""


@dataclass
class Trace:
    exercise: Exercise
    built: Built
    steps: list[StepTrace]
    final_loss: float
    final_params: dict[str, float]
    variant: Variant = field(default=CORRECT)

    def _repr_html_(self) -> str:
        """The worked solution, for a notebook."""
        from nablab.solve.derive import solution_document
        from nablab.solve.renderers import html_fragment

        return html_fragment(solution_document(self))

    def values(self, step: StepTrace) -> dict[str, float]:
        """Every named forward value of ``step``, in forward order."""
        out: dict[str, float] = {}
        for names, record in zip(self.built.output_names, step.layers, strict=True):
            for row in range(record.output.shape[0]):
                for j, name in enumerate(names):
                    out[name + step.suffix(row)] = float(record.output[row, j])
        return out

    def output_grads(self, step: StepTrace) -> dict[str, float]:
        """dL/d(every named forward value), in backward order (last layer first)."""
        out: dict[str, float] = {}
        for names, record in reversed(list(zip(self.built.output_names, step.layers, strict=True))):
            for row in range(record.grad.shape[0]):
                for j, name in enumerate(names):
                    out[name + step.suffix(row)] = float(record.grad[row, j])
        return out


def _targets(exercise: Exercise) -> np.ndarray:
    if exercise.loss.type == "cross_entropy" and isinstance(exercise.targets[0], int):
        return np.array(exercise.targets, dtype=np.int64)
    return np.array(exercise.targets, dtype=np.float64)


def _schedule(exercise: Exercise) -> list[list[int]]:
    n = exercise.n_samples
    one_pass = [list(range(n))] if exercise.batch == "full" else [[i] for i in range(n)]
    return one_pass * exercise.steps


def _set_masks(built: Built, samples: list[int]) -> None:
    for spec, module in zip(built.exercise.layers, built.model, strict=True):
        if isinstance(spec, DropoutLayer):
            module.set_mask(np.array(spec.mask, dtype=bool)[samples])


def _objective(built: Built, x: np.ndarray, t: np.ndarray) -> Callable[[], float]:
    """Forward, loss (with penalty) and backward at the current parameters: a closure."""

    def closure() -> float:
        value = built.loss(built.model(x), t)
        built.model.backward(built.loss.backward())
        if built.penalty is not None:
            value += built.penalty()
            built.penalty.backward()
        return value

    return closure


def _state(built: Built) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    optimizer = built.optimizer
    for scalar in built.scalars:
        if not scalar.trainable:
            continue
        for key, array in optimizer.state_of(scalar.param).items():
            if key != "step":
                out.setdefault(key, {})[scalar.name] = float(array[scalar.index])
    return out


def _backward(built: Built, grad: np.ndarray, variant: Variant) -> list[np.ndarray]:
    """Backpropagate layer by layer; returns dL/d(output) of every layer."""
    model = built.model
    grads: list[np.ndarray] = [grad] * len(model)
    lr = built.optimizer.lr
    for position in reversed(range(len(model))):
        grads[position] = grad
        module = model[position]
        if variant.identity_activation_derivative and isinstance(module, ACTIVATION_TYPES):
            continue
        if variant.update_before_backprop and isinstance(module, nn.Linear):
            module.backward_params(grad)
            for param in (module.weight, module.bias):
                if param is not None and param.requires_grad:
                    param.data -= lr * param.grad
            grad = grad @ module.weight.data.T
            continue
        grad = module.backward(grad)
    return grads


def _step(
    built: Built, index: int, samples: list[int], x: np.ndarray, t: np.ndarray, variant: Variant
) -> StepTrace:
    model, loss, optimizer = built.model, built.loss, built.optimizer
    _set_masks(built, samples)
    before = {s.name: s.value() for s in built.scalars}
    state_before = _state(built)
    outputs, h = [], x
    for module in model:
        h = module(h)
        outputs.append(h)
    data_loss = loss(h, t)
    penalty = built.penalty() if built.penalty is not None else 0.0
    loss_grad = loss.backward()
    if variant.loss_grad is not None:
        loss_grad = variant.loss_grad(loss_grad, h, t)
    model.zero_grad()
    layer_grads = _backward(built, loss_grad, variant)
    if built.penalty is not None:
        built.penalty.backward()
    grads = {s.name: s.grad() for s in built.scalars}
    update_grads = None
    if variant.negate_gradients:
        for param in model.parameters():
            param.grad *= -1
    if not variant.update_before_backprop:
        needs_closure = isinstance(optimizer, Newton) or (
            isinstance(optimizer, SGD) and optimizer.nesterov == "lookahead"
        )
        if needs_closure:
            optimizer.step(_objective(built, x, t))
            if not isinstance(optimizer, Newton):
                update_grads = {s.name: s.grad() for s in built.scalars if s.trainable}
        else:
            optimizer.step()
    records = []
    entering = [x, *outputs[:-1]]
    for module, before_layer, output, grad in zip(
        model, entering, outputs, layer_grads, strict=True
    ):
        record = LayerRecord(output.copy(), np.array(grad, dtype=np.float64))
        if isinstance(module, nn.BatchNorm1d):
            record.batch_mean, record.batch_var = before_layer.mean(0), before_layer.var(0)
        records.append(record)
    hessian = optimizer.last_hessian if isinstance(optimizer, Newton) else None
    return StepTrace(
        hessian=None if hessian is None else hessian.copy(),
        index=index,
        samples=samples,
        inputs=x,
        targets=t,
        layers=records,
        loss=data_loss + penalty,
        data_loss=data_loss,
        penalty=penalty,
        loss_grad=np.array(loss_grad, dtype=np.float64),
        params_before=before,
        grads=grads,
        params_after={s.name: s.value() for s in built.scalars},
        state_before=state_before,
        state=_state(built),
        update_grads=update_grads,
    )


def run(exercise: Exercise, variant: Variant = CORRECT) -> Trace:
    """Solve ``exercise`` step by step (under ``variant``, for the checker's hypotheses).

    The optimizers run their NumPy reference rules: the formulas a solution prints, and no
    compiler to start for a handful of numbers."""
    with use_kernels("numpy"):
        return _run(exercise, variant)


def _run(exercise: Exercise, variant: Variant) -> Trace:
    built = build(
        exercise, variant.trainable_override, variant.optimizer_override, variant.loss_override
    )
    x_all = np.array(exercise.inputs, dtype=np.float64)
    t_all = _targets(exercise)
    steps = [
        _step(built, index, samples, x_all[samples], t_all[samples], variant)
        for index, samples in enumerate(_schedule(exercise), start=1)
    ]
    everyone = list(range(exercise.n_samples))
    _set_masks(built, everyone)
    final_loss = built.loss(built.model(x_all), t_all)
    if built.penalty is not None:
        final_loss += built.penalty()
    final = {s.name: s.value() for s in built.scalars}
    return Trace(exercise, built, steps, final_loss, final, variant)
