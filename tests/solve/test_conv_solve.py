"""Worked solutions for convolution: conv1d, max and average pooling, flatten.

The shipped example against PyTorch value by value (every forward value, every gradient,
every update); random convolutional exercises (channels, stride, padding, dilation, several
samples, two convolutions, optimizers with state, a penalty) against PyTorch and through the
verifier in every format; names that read back; answer sheets checked, with a planted
mistake explained; clear errors for malformed layers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nablab.cli import main
from nablab.solve import (
    ExerciseError,
    check,
    load_exercise,
    parse_answers,
    parse_exercise,
    render,
    run,
    solution_document,
)
from nablab.solve.checker import load_answers
from nablab.solve.document import Equation
from nablab.solve.mistakes import MISTAKES
from nablab.solve.names import Quantities
from nablab.solve.renderers import to_text
from nablab.solve.sheet import sheet_document
from nablab.solve.verify import check_document

from helpers.oracle import assert_close
from helpers.solve_helpers import EXAMPLES, answers_of, example_data, mistake_variant
from helpers.solve_torch import torch_run

F = torch.nn.functional
T64 = torch.float64


def _problems(data) -> list[str]:
    with pytest.raises(ExerciseError) as info:
        parse_exercise(data)
    return info.value.problems


# ----------------------------------------------------------------------------- the example


def _torch_example(exercise):
    """The example in PyTorch's own layers and autograd: values, their gradients, parameters."""
    conv, pool, _, linear = exercise.layers
    x = torch.tensor(exercise.input_array(), dtype=T64, requires_grad=True)
    kernel = torch.tensor(conv.kernel_array(), dtype=T64, requires_grad=True)  # (C_out, C_in, k)
    b1 = torch.tensor(conv.bias, dtype=T64, requires_grad=True)
    w2 = torch.tensor(linear.weights, dtype=T64, requires_grad=True)
    b2 = torch.tensor(linear.bias, dtype=T64, requires_grad=True)
    z1 = F.conv1d(x, kernel, b1)
    mp1 = F.max_pool1d(z1, pool.kernel_size)
    z2 = mp1.flatten(1) @ w2 + b2
    for tensor in (z1, mp1, z2):
        tensor.retain_grad()
    loss = 0.5 * ((torch.tensor(exercise.targets, dtype=T64) - z2) ** 2).sum()
    loss.backward()
    return x, (kernel, b1, w2, b2), (z1, mp1, z2), loss


def test_the_example_matches_pytorch_value_by_value():
    exercise = load_exercise(EXAMPLES / "conv1d_pool.yaml")
    trace = run(exercise)
    step = trace.steps[0]
    x, (kernel, b1, w2, b2), (z1, mp1, z2), loss = _torch_example(exercise)
    values, grads = trace.values(step), trace.output_grads(step)
    assert_close(step.loss, loss.item())
    for t in range(4):
        assert_close(values[f"z1[{t + 1}]"], z1[0, 0, t].item())
        assert_close(grads[f"z1[{t + 1}]"], z1.grad[0, 0, t].item())
    for t in range(2):
        assert_close(values[f"mp1[{t + 1}]"], mp1[0, 0, t].item())
        assert_close(grads[f"mp1[{t + 1}]"], mp1.grad[0, 0, t].item())
    assert_close(values["z2_1"], z2[0, 0].item())
    assert_close(grads["z2_1"], z2.grad[0, 0].item())
    for u in range(6):  # the input gradient: the full convolution with the flipped kernel
        assert_close(grads[f"x[{u + 1}]"], x.grad[0, 0, u].item())
    torch_grads = {f"K1[{j + 1}]": kernel.grad[0, 0, j] for j in range(3)}
    torch_grads |= {"b1": b1.grad[0], "W2[1,1]": w2.grad[0, 0], "W2[2,1]": w2.grad[1, 0]}
    torch_grads |= {"b2[1]": b2.grad[0]}
    params = {f"K1[{j + 1}]": kernel[0, 0, j] for j in range(3)}
    params |= {"b1": b1[0], "W2[1,1]": w2[0, 0], "W2[2,1]": w2[1, 0], "b2[1]": b2[0]}
    lr = exercise.optimizer.options()["lr"]
    assert set(torch_grads) == set(step.grads)
    for name, grad in torch_grads.items():
        assert_close(step.grads[name], grad.item())
        assert_close(step.params_after[name], params[name].item() - lr * grad.item())
    losses, _ = torch_run(exercise.model_copy(update={"steps": 2}))
    assert_close(trace.final_loss, losses[1])  # the loss at the new parameters


def test_the_example_prints_the_sums_a_student_writes():
    trace = run(load_exercise(EXAMPLES / "conv1d_pool.yaml"))
    text = to_text(solution_document(trace))
    for line in (
        "z1[2] = K1[1]·x[2] + K1[2]·x[3] + K1[3]·x[4] + b1 = 0.5·2 + (−1)·(−1) + 0.25·0.5 + 0.1 "
        "= 2.225",
        "mp1[1] = max(z1[1], z1[2]) = max(−1.65, 2.225) = 2.225",
        "∂E/∂z1[1] = 0",
        "∂E/∂z1[2] = ∂E/∂mp1[1] = −0.07575 = −0.07575",
        "∂E/∂K1[2] = x[2]·∂E/∂z1[1] + x[3]·∂E/∂z1[2] + x[4]·∂E/∂z1[3] + x[5]·∂E/∂z1[4] = "
        "2·0 + (−1)·(−0.07575) + 0.5·0.0505 + 3·0 = 0.101",
        "∂E/∂x[3] = ∂E/∂z1[1]·K1[3] + ∂E/∂z1[2]·K1[2] + ∂E/∂z1[3]·K1[1] = "
        "0·0.25 + (−0.07575)·(−1) + 0.0505·0.5 = 0.101",
        "∂E/∂K1 = X_col1ᵀ·δ1 = [1 2 −1; 2 −1 0.5; −1 0.5 3; 0.5 3 −2]ᵀ·[0; −0.07575; 0.0505; 0] "
        "= [−0.202; 0.101; 0.113625]",
        "K1[1] ← K1[1] − η·∂E/∂K1[1] = 0.5 − 0.1·(−0.202) = 0.5202",
    ):
        assert f"  {line}\n" in text, line


def test_a_signal_given_as_channels_is_the_same_exercise():
    data = example_data("conv1d_pool")
    rows = run(parse_exercise(data))
    data["inputs"] = [[row] for row in data["inputs"]]  # (N, C, L) with C = 1
    channels = run(parse_exercise(data))
    assert rows.built.input_names == channels.built.input_names == [f"x[{t}]" for t in range(1, 7)]
    assert rows.final_params == channels.final_params


# ----------------------------------------------------------------------------- random exercises


def _r(rng, *shape):
    return np.round(rng.uniform(-1, 1, shape), 2).tolist()


def _cases():
    rng = np.random.default_rng(18)
    return {
        "channels_stride_padding_relu_avgpool_lookahead": dict(
            inputs=[_r(rng, 2, 7), _r(rng, 2, 7)],
            targets=[[0.5], [-0.3]],
            layers=[
                {
                    "type": "conv1d",
                    "kernel": _r(rng, 3, 2, 3),
                    "bias": _r(rng, 3),
                    "stride": 2,
                    "padding": 1,
                },
                {"type": "relu"},
                {
                    "type": "avgpool1d",
                    "kernel_size": 2,
                    "stride": 1,
                    "padding": 1,
                    "count_include_pad": False,
                },
                {"type": "flatten"},
                {"type": "linear", "weights": _r(rng, 15, 1), "bias": [0.1]},
            ],
            loss={"type": "mse"},
            optimizer={
                "type": "sgd",
                "lr": 0.1,
                "momentum": 0.9,
                "nesterov": "lookahead",
                "convention": "velocity",
            },
            steps=2,
        ),
        "dilation_same_two_convs_penalty_adam_per_sample": dict(
            inputs=[_r(rng, 8), _r(rng, 8), _r(rng, 8)],
            targets=[0, 1, 1],
            layers=[
                {"type": "conv1d", "kernel": _r(rng, 2, 3), "padding": "same", "dilation": 2},
                {"type": "tanh"},
                {"type": "conv1d", "kernel": _r(rng, 2, 2, 2), "bias": _r(rng, 2), "stride": 2},
                {"type": "maxpool1d", "kernel_size": 2, "stride": 1, "padding": 1},
                {"type": "flatten"},
                {"type": "linear", "weights": _r(rng, 10, 2), "bias": _r(rng, 2)},
            ],
            loss={"type": "cross_entropy"},
            penalty={"type": "l2", "strength": 0.1},
            optimizer={"type": "adam", "lr": 0.05},
            steps=2,
            batch="per_sample",
        ),
        "batch_of_two_centralized_decay_bce": dict(
            inputs=[[_r(rng, 5), _r(rng, 5)], [_r(rng, 5), _r(rng, 5)]],
            targets=[[1.0, 0.0], [0.0, 1.0]],
            layers=[
                {"type": "conv1d", "kernel": _r(rng, 2, 2, 2), "bias": _r(rng, 2)},
                {"type": "maxpool1d", "kernel_size": 3, "stride": 1, "dilation": 1},
                {"type": "flatten"},
                {"type": "linear", "weights": _r(rng, 4, 2)},
                {"type": "sigmoid"},
            ],
            loss={"type": "bce"},
            optimizer={"type": "sgd", "lr": 0.5, "centralize": "gradient", "weight_decay": 0.01},
        ),
        "batchnorm_dropout_after_flatten_rmsprop": dict(
            inputs=[_r(rng, 6), _r(rng, 6)],
            targets=[[1.0], [0.0]],
            layers=[
                {"type": "conv1d", "kernel": _r(rng, 1, 3), "bias": [0.1]},
                {"type": "maxpool1d", "kernel_size": 2},
                {"type": "flatten"},
                {"type": "batchnorm"},
                {"type": "dropout", "p": 0.5, "mask": [[1, 0], [1, 1]]},
                {"type": "linear", "weights": _r(rng, 2, 1), "bias": [0.05]},
            ],
            loss={"type": "bce_with_logits"},
            optimizer={"type": "rmsprop", "lr": 0.1, "centered": True, "momentum": 0.5},
        ),
        "frozen_kernel_l1_adamw": dict(
            inputs=[_r(rng, 6)],
            targets=[[1.0]],
            layers=[
                {"type": "conv1d", "kernel": _r(rng, 1, 3), "bias": [0.1], "update_kernel": False},
                {"type": "avgpool1d", "kernel_size": 3, "stride": 1},
                {"type": "flatten"},
                {"type": "linear", "weights": _r(rng, 2, 1), "bias": [0.05]},
            ],
            loss={"type": "mse", "reduction": "sum", "factor": 0.5},
            penalty={"type": "l1", "strength": 0.05, "biases": True},
            optimizer={"type": "adamw", "lr": 0.1, "weight_decay": 0.1},
        ),
        "newton": dict(
            inputs=[_r(rng, 5)],
            targets=[[0.5]],
            layers=[
                {"type": "conv1d", "kernel": _r(rng, 1, 2), "bias": [0.1]},
                {"type": "tanh"},
                {"type": "maxpool1d", "kernel_size": 2},
                {"type": "flatten"},
                {"type": "linear", "weights": _r(rng, 2, 1)},
            ],
            loss={"type": "mse"},
            optimizer={"type": "newton", "lr": 1.0, "damping": 0.1},
        ),
        "pooling_first_and_dilated_max": dict(
            inputs=[[_r(rng, 7), _r(rng, 7)]],
            targets=[[1.0]],
            layers=[
                {"type": "maxpool1d", "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2},
                {"type": "flatten"},
                {"type": "linear", "weights": _r(rng, 6, 1)},
            ],
            loss={"type": "mse"},
            optimizer={"type": "rmsprop", "lr": 0.1},
        ),
    }


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_random_conv_exercises_match_pytorch_and_every_equation_holds(name):
    exercise = parse_exercise(CASES[name])
    trace = run(exercise)
    losses, params = torch_run(exercise)
    assert_close([s.loss for s in trace.steps], losses)
    ours, seen = [], []
    for scalar in trace.built.scalars:  # each parameter tensor, in nablab's layout
        if any(scalar.param is p for p in seen):
            continue
        seen.append(scalar.param)
        values = np.zeros(scalar.param.shape)
        for s in trace.built.scalars:
            if s.param is scalar.param:
                values[s.index] = trace.final_params[s.name]
        ours.append(values)
    assert len(ours) == len(params)
    # Newton's Hessian is a central difference in nablab, exact in PyTorch
    rtol = 1e-8 if exercise.optimizer.type == "newton" else 1e-10
    for mine, theirs in zip(ours, params, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=1e-12)
    document = solution_document(trace)
    checked = check_document(document, trace)
    assert checked == sum(isinstance(i, Equation) for i in document.items) > 30
    for fmt in ("text", "markdown", "html", "json"):
        assert len(render(trace, document, fmt)) > 1000


def test_input_gradients_and_feature_maps_match_autograd_with_channels_and_stride():
    """Every ∂E/∂x, ∂E/∂z and ∂E/∂K of a two-channel, strided, padded layer, per sample."""
    exercise = parse_exercise(CASES["channels_stride_padding_relu_avgpool_lookahead"])
    trace = run(exercise)
    conv, _, _, _, linear = exercise.layers
    x = torch.tensor(exercise.input_array(), dtype=T64, requires_grad=True)
    kernel = torch.tensor(conv.kernel_array(), dtype=T64, requires_grad=True)
    z1 = F.conv1d(x, kernel, torch.tensor(conv.bias, dtype=T64), stride=2, padding=1)
    a1 = torch.relu(z1)
    ap1 = F.avg_pool1d(a1, 2, 1, 1, count_include_pad=False)
    out = ap1.flatten(1) @ torch.tensor(linear.weights, dtype=T64) + 0.1
    z1.retain_grad()
    ((out - torch.tensor(exercise.targets, dtype=T64)) ** 2).mean().backward()
    step = trace.steps[0]
    values, grads = trace.values(step), trace.output_grads(step)
    for n in range(2):
        for o in range(3):
            for t in range(4):
                name = f"z1_{o + 1}[{t + 1}][{n + 1}]"
                assert_close(values[name], z1[n, o, t].item())
                assert_close(grads[name], z1.grad[n, o, t].item())
        for c in range(2):
            for u in range(7):
                assert_close(grads[f"x_{c + 1}[{u + 1}][{n + 1}]"], x.grad[n, c, u].item())
    for o in range(3):
        for c in range(2):
            for j in range(3):
                assert_close(
                    step.grads[f"K1[{o + 1},{c + 1},{j + 1}]"], kernel.grad[o, c, j].item()
                )


# ----------------------------------------------------------------------------- names, checking


def test_every_name_reads_back_in_its_printed_and_typed_forms():
    trace = run(load_exercise(EXAMPLES / "conv1d_pool.yaml"))
    quantities = Quantities(trace)
    for key in quantities.table:
        assert quantities.resolve(key) == key
    for typed, key in [
        ("K1[2]", "K1[2]@1"),
        ("∂E/∂K1[2]", "grad(K1[2])@1"),
        ("dE/dx[3]", "grad(x[3])@1"),
        ("grad(mp1[1])", "grad(mp1[1])@1"),
        ("z1[4]@1", "z1[4]@1"),
        ("b1@0", "b1@0"),
    ]:
        assert quantities.resolve(typed) == key
    keyed = [i.key for i in solution_document(trace).items if isinstance(i, Equation) and i.key]
    assert {"grad(x[6])@1", "mp1[2]@1", "grad(b1)@1", "z1[1]@1"} <= set(keyed)


def test_explained_conv_gradients_hold():
    trace = run(load_exercise(EXAMPLES / "conv1d_pool.yaml"))
    document = solution_document(trace, ["K1[2]", "b1", "z1[2]", "z1[4]", "mp1[1]"])
    check_document(document, trace)
    text = to_text(document)
    assert "No path from the loss reaches z1[4]" in text
    assert (
        "  ∂E/∂z1[2] = ∂E/∂z2_1·∂z2_1/∂mp1[1]·∂mp1[1]/∂z1[2] = (−0.2525)·0.3·1 = −0.07575" in text
    )


NAMES = ["z1[2]", "mp1[1]", "z2_1", "loss@1", "∂E/∂mp1[2]", "grad(z1[3])", "∂E/∂K1[1]",
         "grad(b1)", "grad(x[4])", "K1[1]", "K1[3]", "b1", "W2[1,1]", "loss@final"]  # fmt: skip


def test_a_correct_sheet_and_a_flipped_kernel_are_told_apart():
    exercise = load_exercise(EXAMPLES / "conv1d_pool.yaml")
    correct = check(exercise, parse_answers(answers_of(run(exercise), NAMES)))
    assert correct.verdict == "correct" and all(r.ok for r in correct.results)
    flipped = answers_of(run(exercise, mistake_variant("flipped_kernel", exercise)), NAMES)
    report = check(exercise, parse_answers(flipped))
    assert report.verdict == "incorrect"
    assert report.first_divergence["name"] == "z1[2]"  # the first wrong number computed
    best = report.explanations[0]
    assert best["id"] == "flipped_kernel" and best["explains_wrong"] == best["wrong"] > 5


def test_the_shipped_student_sheet_is_explained_by_the_flipped_kernel(capsys):
    exercise = EXAMPLES / "conv1d_pool.yaml"
    sheet = EXAMPLES / "answers" / "conv1d_pool_student.yaml"
    report = check(load_exercise(exercise), load_answers(sheet))
    assert report.verdict == "incorrect" and report.explanations[0]["id"] == "flipped_kernel"
    assert report.explanations[0]["explains_wrong"] == report.explanations[0]["wrong"]
    assert main(["check", str(exercise), str(sheet)]) == 1
    assert "flipped_kernel" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["conv1d_pool", *sorted(CASES)])
def test_every_mistake_runs_on_conv_exercises(name):
    """Every hypothesis the checker tries on a convolutional exercise runs (or is refused as
    an exercise error); the flipped kernel changes the loss."""
    exercise = (
        load_exercise(EXAMPLES / "conv1d_pool.yaml")
        if name == "conv1d_pool"
        else parse_exercise(CASES[name])
    )
    correct = run(exercise)
    ran = set()
    for mistake in MISTAKES:
        for _, variant in mistake.variants(exercise):
            try:
                wrong = run(exercise, variant)
            except ExerciseError:
                continue  # a variant the exercise cannot run (the checker skips it too)
            ran.add(mistake.id)
            if mistake.id == "flipped_kernel":  # the convolution's outputs change
                assert wrong.steps[0].loss != correct.steps[0].loss
    assert {"loss_grad_one", "wrong_update_sign"} <= ran
    assert ("flipped_kernel" in ran) == any(layer.type == "conv1d" for layer in exercise.layers)


def test_updated_weights_in_backprop_reaches_through_to_the_kernel():
    exercise = load_exercise(EXAMPLES / "conv1d_pool.yaml")
    wrong = run(exercise, mistake_variant("updated_weights_in_backprop", exercise))
    step = wrong.steps[0]
    w2 = step.params_after["W2[1,1]"]  # the read-out already updated when δ reaches mp1[1]
    assert_close(step.grads["W2[1,1]"], run(exercise).steps[0].grads["W2[1,1]"])
    assert_close(wrong.output_grads(step)["mp1[1]"], step.loss_grad[0, 0] * w2)


def test_the_sheet_shows_the_kernel_and_the_layers():
    trace = run(load_exercise(EXAMPLES / "conv1d_pool.yaml"))
    text = to_text(sheet_document(trace))
    assert "  K1_1 = [K1[1] K1[2] K1[3]] = [0.5 −1 0.25]" in text
    assert "Layer 2: max pooling, windows of 2 (stride 2, padding 0, dilation 1)" in text
    assert "Layer 3: flatten, channel by channel: the next layer reads mp1[1], mp1[2]." in text


def test_the_names_flag_lists_the_conv_quantities(capsys):
    assert main(["solve", str(EXAMPLES / "conv1d_pool.yaml"), "--names"]) == 0
    listing = capsys.readouterr().out
    for name in ("K1[2]@0", "x[3]@1", "z1[4]@1", "mp1[2]@1", "grad(x[6])@1", "b1@final"):
        assert f"  {name} " in listing, name


# ----------------------------------------------------------------------------- validation


def _conv_data(**layer):
    data = example_data("conv1d_pool")
    data["layers"][0] = {**data["layers"][0], **layer}
    return data


def test_malformed_conv_layers_get_one_line_with_their_path():
    assert _problems(_conv_data(kernel=[[0.5, [1.0], 0.25]])) == [
        "layers[0].kernel[0]: mixes numbers and lists; give the taps (one input channel) or a "
        "list of taps per input channel"
    ]
    assert _problems(_conv_data(kernel=[[[0.5, 1.0], [0.1, 0.2]]])) == [
        "layers[0].kernel[0]: expected 1 input channel(s), a list of taps per channel (the "
        "inputs have 1 channel(s)), got 2 lists of taps"
    ]
    assert _problems(_conv_data(kernel=[[1.0, 2.0, 3.0], [1.0]], bias=[0.1, 0.2])) == [
        "layers[0].kernel[1]: expected 3 taps like the first, got 1"
    ]
    assert _problems(_conv_data(bias=0.1)) == [
        "layers[0].bias: expected a list, one value per output channel ([0.1] for one channel)"
    ]
    assert _problems(_conv_data(padding=-1)) == [
        "layers[0].padding: expected a whole number ≥ 0, 'same' or 'valid', got -1"
    ]
    assert _problems(_conv_data(padding="same", stride=2)) == [
        "layers[0].padding: 'same' needs stride 1, got stride 2"
    ]
    assert _problems(_conv_data(dilation=3)) == [
        "layers[0]: the kernel reaches 7 positions (dilation·(taps − 1) + 1), more than the 6 "
        "of the padded signal (the inputs have 6): no output position"
    ]
    assert _problems(_conv_data(bias=[0.1, 0.2], names={"kernel": [["a", "b"]]})) == [
        "layers[0].bias: expected 1 values (one per output channel), got 2",
        "layers[0].names.kernel: expected names shaped like kernel (1 output channel(s), 1 input "
        "channel(s), 3 taps)",
    ]


def test_layers_in_the_wrong_place_are_errors():
    data = example_data("conv1d_pool")
    del data["layers"][2]  # no flatten before the read-out
    assert _problems(data) == [
        "layers[2]: a linear layer reads rows, but the layer before it gives feature maps of 1 "
        "channel(s) × 2 positions; put a flatten layer before it"
    ]
    data = example_data("conv1d_pool")
    data["layers"] = data["layers"][:2]
    data["targets"] = [[1.0, 0.0]]
    assert _problems(data) == [
        "layers: the network ends in feature maps of 1 channel(s) × 2 positions; end with a "
        "flatten layer (and a read-out) so that the loss sees one row per sample"
    ]
    data = example_data("mazur")
    data["layers"].insert(2, {"type": "maxpool1d", "kernel_size": 2})
    assert _problems(data) == [
        "layers[2]: a maxpool1d layer reads signals (channels × positions), but the layer before "
        "it gives rows of 2 values"
    ]
    data = example_data("conv1d_pool")
    data["layers"][1]["padding"] = 2
    assert _problems(data) == [
        "layers[1].padding: must be at most half the kernel size (1 for kernel_size 2), got 2"
    ]


def test_signal_inputs_are_checked_sample_by_sample():
    data = example_data("conv1d_pool")
    data["inputs"] = [[[1, 2, 3, 4, 5, 6], [1, 2, 3]]]
    assert _problems(data) == [
        "inputs[0]: channels have different lengths [3, 6]; a signal's channels are equally long"
    ]
    data["inputs"] = [[[1, 2, 3, 4, 5, 6]], [1, 2, 3, 4, 5, 6]]
    assert _problems(data) == ["inputs[1]: expected channels (lists of values) like inputs[0]"]
    data["inputs"] = [[[1, 2, 3, 4, 5, 6]]]
    data["input_names"] = ["a", "b"]
    assert _problems(data) == [
        "input_names: expected 6 names (one per input value, channel by channel), got 2"
    ]
    data = example_data("conv1d_pool")
    data["inputs"] = [[1, "x", 3, 4, 5, 6]]
    assert _problems(data) == ["inputs[0][1]: expected a number, got 'x'"]
