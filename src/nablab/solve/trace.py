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
from nablab.solve import local
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
    ``update_before_backprop`` updates each linear or conv1d layer as soon as its gradient is
    known and backpropagates through the *new* weights (plain SGD only); ``transpose_weights``
    backpropagates with W instead of Wᵀ (square W only); ``derivative_at_output`` evaluates
    each element-wise activation's derivative at its output (σ′(a) for σ′(z)); ``bias_grad``
    takes a bias's gradient from the first sample only (``"first"``) or averages it over the
    batch (``"mean"``) instead of summing; ``round_decimals`` rounds every value, gradient and
    parameter to that many decimals as it is computed (a hand computation carrying rounded
    numbers); ``flip_kernels`` applies every conv1d kernel reversed (a true convolution where
    the layer correlates, as PyTorch); the overrides rebuild the exercise with other
    trainable flags, optimizer options or loss options.
    """

    loss_grad: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
    identity_activation_derivative: bool = False
    negate_gradients: bool = False
    update_before_backprop: bool = False
    trainable_override: dict[str, bool] | None = None
    optimizer_override: dict[str, Any] | None = None
    loss_override: dict[str, Any] | None = None
    transpose_weights: bool = False
    derivative_at_output: bool = False
    bias_grad: str | None = None
    round_decimals: int | None = None
    flip_kernels: bool = False


CORRECT = Variant()


def _rounded(array: np.ndarray, variant: Variant) -> np.ndarray:
    if variant.round_decimals is None:
        return array
    return np.round(array, variant.round_decimals)


def rows(array: np.ndarray) -> np.ndarray:
    """One row per sample: (n, d) as it is, a feature map (n, C, L) as (n, C·L) in C order (the
    order of a layer's names)."""
    return array.reshape(array.shape[0], -1)


@dataclass
class LayerRecord:
    output: np.ndarray  # (n, width) or feature maps (n, C, L)
    grad: np.ndarray  # dL/d(output), as backpropagated
    batch_mean: np.ndarray | None = None  # batch norm statistics and x̂, for the solution text
    batch_var: np.ndarray | None = None
    x_hat: np.ndarray | None = None


@dataclass
class Pass:
    """One forward and backward pass: at the step's parameters (``tag`` "") or at Nesterov's
    look-ahead point (``tag`` "~", its names are written ``w5~``, ``out_h1~``)."""

    samples: list[int]
    inputs: np.ndarray
    targets: np.ndarray
    layers: list[LayerRecord]
    loss: float
    data_loss: float
    penalty: float
    loss_grad: np.ndarray
    params: dict[str, float]
    grads: dict[str, float]
    tag: str = ""
    input_grad: np.ndarray | None = None  # dL/d(inputs), as backpropagated through layer 1

    def suffix(self, row: int) -> str:
        """The sample suffix of a value name: ``[n]`` when the pass sees several samples."""
        return f"[{self.samples[row] + 1}]" if len(self.samples) > 1 else ""


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
    lookahead: Pass | None = None
    input_grad: np.ndarray | None = None

    def suffix(self, row: int) -> str:
        """The sample suffix of a value name: ``[n]`` when the step sees several samples."""
        return f"[{self.samples[row] + 1}]" if len(self.samples) > 1 else ""

    @property
    def main(self) -> Pass:
        """The step's own forward and backward pass, at the parameters before the update."""
        return Pass(
            self.samples,
            self.inputs,
            self.targets,
            self.layers,
            self.loss,
            self.data_loss,
            self.penalty,
            self.loss_grad,
            self.params_before,
            self.grads,
            input_grad=self.input_grad,
        )


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

    def values(self, step: StepTrace | Pass) -> dict[str, float]:
        """Every named forward value of a step (or pass), in forward order."""
        tag = getattr(step, "tag", "")
        out: dict[str, float] = {}
        for position, (names, record) in enumerate(
            zip(self.built.output_names, step.layers, strict=True)
        ):
            if self.built.renames(position):
                continue
            values = rows(record.output)
            for row in range(values.shape[0]):
                for j, name in enumerate(names):
                    out[name + step.suffix(row) + tag] = float(values[row, j])
        return out

    def output_grads(self, step: StepTrace | Pass) -> dict[str, float]:
        """dL/d(every named forward value), in backward order (last layer first), and
        dL/d(inputs) where the solution writes it (a first conv1d layer)."""
        tag = getattr(step, "tag", "")
        out: dict[str, float] = {}
        layers = list(enumerate(zip(self.built.output_names, step.layers, strict=True)))
        for position, (names, record) in reversed(layers):
            if self.built.renames(position):
                continue
            grads = rows(record.grad)
            for row in range(grads.shape[0]):
                for j, name in enumerate(names):
                    out[name + step.suffix(row) + tag] = float(grads[row, j])
        if self.built.input_gradients:
            grads = rows(step.input_grad)
            for row in range(grads.shape[0]):
                for j, name in enumerate(self.built.input_names):
                    out[name + step.suffix(row) + tag] = float(grads[row, j])
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


def _backward(
    built: Built,
    grad: np.ndarray,
    variant: Variant,
    outputs: list[np.ndarray],
    update_early: bool = False,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Backpropagate layer by layer; returns dL/d(output) of every layer and dL/d(inputs).
    ``update_early`` updates each linear or conv1d layer (plain SGD) as soon as its gradient
    is known and backpropagates through the new weights (a mistake the checker looks for)."""
    model = built.model
    grads: list[np.ndarray] = [grad] * len(model)
    lr = built.optimizer.lr
    for position in reversed(range(len(model))):
        grads[position] = grad
        module = model[position]
        if variant.identity_activation_derivative and isinstance(module, ACTIVATION_TYPES):
            continue
        if variant.derivative_at_output and local.is_elementwise(module):
            grad = _rounded(grad * local.values(module, outputs[position]), variant)
            continue
        if isinstance(module, nn.Linear) and (variant.transpose_weights or variant.bias_grad):
            module.backward_params(grad)
            if variant.bias_grad is not None and module.bias is not None:
                per_sample = grad[0] if variant.bias_grad == "first" else grad.mean(0)
                module.bias.grad[...] = per_sample.sum() if module.bias.shape == () else per_sample
            weight = module.weight.data
            square = weight.shape[0] == weight.shape[1]
            grad = _rounded(
                grad @ (weight if variant.transpose_weights and square else weight.T), variant
            )
            continue
        if update_early and isinstance(module, nn.Linear):
            module.backward_params(grad)
            for param in (module.weight, module.bias):
                if param is not None and param.requires_grad:
                    param.data -= lr * param.grad
            grad = grad @ module.weight.data.T
            continue
        if update_early and isinstance(module, nn.Conv1d):
            module.backward_params(grad)
            kept = [p.grad.copy() for p in module.parameters()]
            for param in module.parameters():
                if param.requires_grad:
                    param.data -= lr * param.grad
            grad_in = module.backward(grad)  # through the new kernel (adds to .grad once more)
            for param, before in zip(module.parameters(), kept, strict=True):
                param.grad[...] = before
            grad = grad_in
            continue
        grad = _rounded(module.backward(grad), variant)
    return grads, grad


def _pass(
    built: Built,
    samples: list[int],
    x: np.ndarray,
    t: np.ndarray,
    variant: Variant,
    tag: str = "",
    update_early: bool = False,
) -> Pass:
    """Forward, loss (with penalty) and backward at the current parameters, every layer's
    output and gradient recorded."""
    model, loss = built.model, built.loss
    params = {s.name: s.value() for s in built.scalars}
    outputs, h = [], x
    for module in model:
        h = _rounded(module(h), variant)
        outputs.append(h)
    data_loss = loss(h, t)
    penalty = built.penalty() if built.penalty is not None else 0.0
    loss_grad = loss.backward()
    if variant.loss_grad is not None:
        loss_grad = variant.loss_grad(loss_grad, h, t)
    loss_grad = _rounded(loss_grad, variant)
    model.zero_grad()
    layer_grads, input_grad = _backward(built, loss_grad, variant, outputs, update_early)
    if built.penalty is not None:
        built.penalty.backward()
    records = []
    entering = [x, *outputs[:-1]]
    for module, before_layer, output, grad in zip(
        model, entering, outputs, layer_grads, strict=True
    ):
        record = LayerRecord(output.copy(), np.array(grad, dtype=np.float64))
        if isinstance(module, nn.BatchNorm1d):
            record.batch_mean, record.batch_var = before_layer.mean(0), before_layer.var(0)
            record.x_hat = (before_layer - record.batch_mean) / np.sqrt(
                record.batch_var + module.eps
            )
        records.append(record)
    return Pass(
        samples,
        x,
        t,
        records,
        data_loss + penalty,
        data_loss,
        penalty,
        np.array(loss_grad, dtype=np.float64),
        params,
        {s.name: s.grad() for s in built.scalars},
        tag,
        np.array(input_grad, dtype=np.float64),
    )


def _recording(built, samples, x, t, variant, tag, passes: list[Pass]) -> Callable[[], float]:
    """The closure an optimizer calls (look-ahead Nesterov, Newton); its first pass is kept."""

    def closure() -> float:
        recorded = _pass(built, samples, x, t, variant, tag)
        if not passes:
            passes.append(recorded)
        return recorded.loss

    return closure


def _step(
    built: Built, index: int, samples: list[int], x: np.ndarray, t: np.ndarray, variant: Variant
) -> StepTrace:
    model, optimizer = built.model, built.optimizer
    _set_masks(built, samples)
    before = {s.name: s.value() for s in built.scalars}
    state_before = _state(built)
    main = _pass(built, samples, x, t, variant, update_early=variant.update_before_backprop)
    if variant.update_before_backprop:  # the weights already moved inside the backward pass
        for scalar in built.scalars:
            scalar.param.data[scalar.index] = before[scalar.name]
        main.grads = {s.name: s.grad() for s in built.scalars}
        for scalar in built.scalars:
            if scalar.trainable:
                scalar.param.data[scalar.index] -= optimizer.lr * main.grads[scalar.name]
    grads = main.grads
    if variant.negate_gradients:
        for param in model.parameters():
            param.grad *= -1
    lookahead: list[Pass] = []
    if not variant.update_before_backprop:
        if isinstance(optimizer, SGD) and optimizer.nesterov == "lookahead":
            optimizer.step(_recording(built, samples, x, t, variant, "~", lookahead))
        elif isinstance(optimizer, Newton):
            optimizer.step(_recording(built, samples, x, t, variant, "", []))
        else:
            optimizer.step()
    if variant.round_decimals is not None:
        for scalar in built.scalars:
            scalar.param.data[scalar.index] = round(scalar.value(), variant.round_decimals)
    hessian = optimizer.last_hessian if isinstance(optimizer, Newton) else None
    return StepTrace(
        index=index,
        samples=samples,
        inputs=x,
        targets=t,
        layers=main.layers,
        loss=main.loss,
        data_loss=main.data_loss,
        penalty=main.penalty,
        loss_grad=main.loss_grad,
        params_before=before,
        grads=grads,
        params_after={s.name: s.value() for s in built.scalars},
        state_before=state_before,
        state=_state(built),
        update_grads=lookahead[0].grads if lookahead else None,
        hessian=None if hessian is None else hessian.copy(),
        lookahead=lookahead[0] if lookahead else None,
        input_grad=main.input_grad,
    )


def run(exercise: Exercise, variant: Variant = CORRECT) -> Trace:
    """Solve ``exercise`` step by step (under ``variant``, for the checker's hypotheses).

    The optimizers run their NumPy reference rules: the formulas a solution prints, and no
    compiler to start for a handful of numbers."""
    with use_kernels("numpy"):
        return _run(exercise, variant)


def _run(exercise: Exercise, variant: Variant) -> Trace:
    built = build(
        exercise,
        variant.trainable_override,
        variant.optimizer_override,
        variant.loss_override,
        variant.flip_kernels,
    )
    x_all = np.array(exercise.input_array(), dtype=np.float64)
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
