"""The exercise sheet a student gets (the network, its numbers and what to compute, without
answers) and its answer key (the asked quantities with their exact values)."""

from __future__ import annotations

from typing import Any

from nablab.i18n import Listing, M
from nablab.solve.build import Built
from nablab.solve.document import Document, Equation, Heading, Para
from nablab.solve.expr import Matrix, Sym, matrix, num
from nablab.solve.names import Quantities
from nablab.solve.spec import (
    ActivationLayer,
    Asked,
    AvgPool1dLayer,
    BatchNormLayer,
    Conv1dLayer,
    DropoutLayer,
    Exercise,
    FlattenLayer,
    LinearLayer,
    MaxPool1dLayer,
    conv_pads,
)
from nablab.solve.trace import Trace
from nablab.solve.writers.update import describe


def _names_matrix(names: list[list[str]]) -> Matrix:
    return Matrix(tuple(tuple(Sym(n) for n in row) for row in names))


def _linear(doc: list, built: Built, position: int, layer: LinearLayer, digits: int) -> None:
    number = built.linear_number[position]
    weights = [s for s in built.scalars if s.layer == position and s.role == "weight"]
    rows, units = len(layer.weights), len(layer.weights[0])
    names = [[weights[i * units + j].name for j in range(units)] for i in range(rows)]
    doc.append(
        Para(
            M(
                "sheet.linear",
                "Layer {n}: linear, ⁅Z{number} = A·W{number} + b{number}⁆ (row i of W{number} "
                "takes "
                "input i, column j feeds unit j); outputs {outputs}.",
                n=position + 1,
                number=number,
                outputs=Listing(built.output_names[position]),
            )
        )
    )
    doc.append(Equation([Sym(f"W{number}"), _names_matrix(names), matrix(layer.weights, digits)]))
    biases = [s for s in built.scalars if s.layer == position and s.role == "bias"]
    if isinstance(layer.bias, list):
        doc.append(
            Equation([_names_matrix([[b.name for b in biases]]), matrix([layer.bias], digits)])
        )
    elif layer.bias is not None:
        doc.append(Equation([Sym(biases[0].name), num(layer.bias, digits)]))
        doc.append(Para(M("sheet.shared_bias", "(one bias shared by every unit of the layer)")))
    frozen = []
    if not layer.update_weights:
        frozen.append(M("sheet.frozen.weights", "its weights"))
    if layer.bias is not None and not layer.update_bias:
        frozen.append(M("sheet.frozen.biases", "its biases"))
    if frozen:
        doc.append(Para(M("sheet.frozen", "Not updated: {what}.", what=Listing(frozen))))


def _conv1d(doc: list, built: Built, position: int, layer: Conv1dLayer, digits: int) -> None:
    number = built.linear_number[position]
    kernel = layer.kernel_array()
    c_out, c_in, taps = len(kernel), len(kernel[0]), layer.taps
    left, right = conv_pads(layer)
    doc.append(
        Para(
            M(
                "sheet.conv1d",
                "Layer {n}: conv1d, {c_in} input and {c_out} output channel(s), {taps} taps, "
                "stride {stride}, padding {left} on the left and {right} on the right, dilation "
                "{dilation}; each output is the bias plus the kernel times its window, not "
                "flipped (a cross-correlation, as PyTorch); outputs {outputs}. Kernel of output "
                "channel o: one row per input channel, one column per tap:",
                n=position + 1,
                c_in=c_in,
                c_out=c_out,
                taps=taps,
                stride=layer.stride,
                left=left,
                right=right,
                dilation=layer.dilation,
                outputs=Listing(built.output_names[position]),
            )
        )
    )
    weights = {s.index: s.name for s in built.scalars if s.layer == position and s.role == "weight"}
    names = {(c, j, o): name for (j, c, o), name in weights.items()}
    for o in range(c_out):
        grid = [[names[(c, j, o)] for j in range(taps)] for c in range(c_in)]
        doc.append(
            Equation([Sym(f"K{number}_{o + 1}"), _names_matrix(grid), matrix(kernel[o], digits)])
        )
    biases = [s for s in built.scalars if s.layer == position and s.role == "bias"]
    if biases:
        doc.append(
            Equation([_names_matrix([[b.name for b in biases]]), matrix([layer.bias], digits)])
        )
    frozen = []
    if not layer.update_kernel:
        frozen.append(M("sheet.frozen.kernel", "its kernel"))
    if layer.bias is not None and not layer.update_bias:
        frozen.append(M("sheet.frozen.biases", "its biases"))
    if frozen:
        doc.append(Para(M("sheet.frozen", "Not updated: {what}.", what=Listing(frozen))))


def _pool(doc: list, built: Built, position: int, layer) -> None:
    if isinstance(layer, MaxPool1dLayer):
        message = M(
            "sheet.maxpool",
            "Layer {n}: max pooling, windows of {k} (stride {stride}, padding {padding}, dilation "
            "{dilation}); outputs {outputs}.",
            n=position + 1,
            k=layer.kernel_size,
            stride=layer.stride or layer.kernel_size,
            padding=layer.padding,
            dilation=layer.dilation,
            outputs=Listing(built.output_names[position]),
        )
    elif layer.count_include_pad or not layer.padding:
        message = M(
            "sheet.avgpool",
            "Layer {n}: average pooling, windows of {k} (stride {stride}, padding {padding}, "
            "counted in the divisor); outputs {outputs}.",
            n=position + 1,
            k=layer.kernel_size,
            stride=layer.stride or layer.kernel_size,
            padding=layer.padding,
            outputs=Listing(built.output_names[position]),
        )
    else:
        message = M(
            "sheet.avgpool_inside",
            "Layer {n}: average pooling, windows of {k} (stride {stride}, padding {padding}, the "
            "divisor counts the positions inside the signal); outputs {outputs}.",
            n=position + 1,
            k=layer.kernel_size,
            stride=layer.stride or layer.kernel_size,
            padding=layer.padding,
            outputs=Listing(built.output_names[position]),
        )
    doc.append(Para(message))


def sheet_document(trace: Trace) -> Document:
    """The exercise as a student reads it: every given number, no computed one."""
    exercise: Exercise = trace.exercise
    built = trace.built
    digits = exercise.digits
    doc: list = []
    if exercise.description:
        doc.append(Para(exercise.description))
    doc.append(Heading(M("sheet.heading.data", "Data")))
    if len(built.input_shape) == 2 and isinstance(exercise.inputs[0][0], list):
        doc.append(
            Para(
                M(
                    "sheet.signals",
                    "Inputs, one signal per sample, one row per channel ({names}):",
                    names=Listing(built.input_names),
                )
            )
        )
        for n, sample in enumerate(exercise.inputs):
            doc.append(Equation([Sym(f"X{n + 1}"), matrix(sample, digits)]))
    else:
        doc.append(
            Para(
                M(
                    "sheet.inputs",
                    "Inputs, one row per sample ({names}):",
                    names=Listing(built.input_names),
                )
            )
        )
        doc.append(Equation([Sym("X"), matrix(exercise.inputs, digits)]))
    if exercise.targets and isinstance(exercise.targets[0], int):
        doc.append(
            Para(
                M(
                    "sheet.classes",
                    "Classes of the samples, numbered from 1: {classes}.",
                    classes=Listing(t + 1 for t in exercise.targets),
                )
            )
        )
    else:
        doc.append(
            Para(
                M(
                    "sheet.targets",
                    "Targets, one row per sample ({names}):",
                    names=Listing(built.target_names),
                )
            )
        )
        doc.append(Equation([Sym("T"), matrix(exercise.targets, digits)]))
    doc.append(Heading(M("sheet.heading.network", "Network")))
    for position, layer in enumerate(exercise.layers):
        if isinstance(layer, LinearLayer):
            _linear(doc, built, position, layer, digits)
        elif isinstance(layer, Conv1dLayer):
            _conv1d(doc, built, position, layer, digits)
        elif isinstance(layer, MaxPool1dLayer | AvgPool1dLayer):
            _pool(doc, built, position, layer)
        elif isinstance(layer, FlattenLayer):
            doc.append(
                Para(
                    M(
                        "sheet.flatten",
                        "Layer {n}: flatten, channel by channel: the next layer reads {names}.",
                        n=position + 1,
                        names=Listing(built.output_names[position]),
                    )
                )
            )
        elif isinstance(layer, BatchNormLayer):
            doc.append(
                Para(
                    M(
                        "sheet.batchnorm",
                        "Layer {n}: batch normalization over the batch, ⁅ε = {eps:g}⁆; "
                        "⁅γ = {gamma}⁆, "
                        "⁅β = {beta}⁆.",
                        n=position + 1,
                        eps=layer.eps,
                        gamma=Listing(layer.gamma or [1.0] * len(built.output_names[position])),
                        beta=Listing(layer.beta or [0.0] * len(built.output_names[position])),
                    )
                )
            )
        elif isinstance(layer, DropoutLayer):
            doc.append(
                Para(
                    M(
                        "sheet.dropout",
                        "Layer {n}: dropout with ⁅p = {p:g}⁆ ({mode}) and this mask (1 kept, 0 "
                        "dropped), one row per sample:",
                        n=position + 1,
                        p=layer.p,
                        mode=layer.mode,
                    )
                )
            )
            doc.append(Equation([Sym("mask"), matrix(layer.mask, digits)]))
        else:
            assert isinstance(layer, ActivationLayer)
            options = ", ".join(f"{k} = {v:g}" for k, v in layer.options().items())
            doc.append(
                Para(
                    M(
                        "sheet.activation",
                        "Layer {n}: {activation}{options}; outputs {outputs}.",
                        n=position + 1,
                        activation=layer.type,
                        options=f" ({options})" if options else "",
                        outputs=Listing(built.output_names[position]),
                    )
                )
            )
    loss = exercise.loss
    doc.append(Heading(M("sheet.heading.training", "Training")))
    doc.append(
        Para(
            M(
                "sheet.loss",
                "Loss: {loss} (reduction {reduction}, factor {factor:g}).",
                loss=loss.type,
                reduction=loss.reduction,
                factor=loss.factor,
            )
        )
    )
    if exercise.penalty is not None:
        doc.append(
            Para(
                M(
                    "sheet.penalty",
                    "Penalty: {kind} with strength {strength:g} ({convention}).",
                    kind=exercise.penalty.type,
                    strength=exercise.penalty.strength,
                    convention=exercise.penalty.convention,
                )
            )
        )
    doc.append(
        Para(
            M(
                "sheet.optimizer",
                "Optimizer: {optimizer}; {steps} step(s), batch: {batch}.",
                optimizer=describe(built.optimizer),
                steps=exercise.steps,
                batch=exercise.batch,
            )
        )
    )
    asked = exercise.asked()
    if asked:
        doc.append(Heading(M("sheet.heading.questions", "Compute")))
        doc.append(
            Para(
                M(
                    "sheet.decimals",
                    "Give each value with {decimals} decimals; write each answer as name: value "
                    "(the names below).",
                    decimals=exercise.grading.decimals,
                )
            )
        )
        for index, item in enumerate(asked, start=1):
            doc.append(
                Para(
                    M(
                        "sheet.question",
                        "{index}. {name} ({points:g} points)",
                        index=index,
                        name=item.name,
                        points=item.points,
                    )
                )
            )
    return Document(exercise.title, doc)


def answer_key(trace: Trace, quantities: Quantities | None = None) -> dict[str, float]:
    """The asked quantities (every parameter after the last step and the final loss when the
    exercise asks nothing) with their exact values."""
    from nablab.solve.grade import asked_keys

    quantities = quantities or Quantities(trace)
    exercise = trace.exercise
    if exercise.ask:
        pairs = asked_keys(exercise, quantities)
    else:
        pairs = [(Asked(name=s.name), f"{s.name}@final") for s in trace.built.scalars]
        pairs.append((Asked(name="loss@final"), "E@final"))
    return {item.name: float(quantities.value(key)) for item, key in pairs}


def key_yaml(key: dict[str, Any]) -> str:
    """The key as an answer file (17 significant digits: grading it gives full marks)."""
    return "".join(f"{name}: {value!r}\n" for name, value in key.items())
