"""Validation of exercise files: one clear message per problem, with its path."""

from __future__ import annotations

import pytest

from nablab.cli import main
from nablab.solve import ExerciseError, load_exercise, parse_exercise

from helpers.solve_helpers import example_data


def _problems(data) -> list[str]:
    with pytest.raises(ExerciseError) as info:
        parse_exercise(data)
    return info.value.problems


def test_shape_errors_name_the_path_and_the_expected_shape():
    data = example_data("mazur")
    data["layers"][2]["weights"] = [[0.4, 0.5], [0.45, 0.55], [0.1, 0.2]]
    data["layers"][2].pop("names")
    data["targets"] = [[0.01, 0.99, 0.5]]
    assert _problems(data) == [
        "layers[2].weights: expected 2 rows (the previous layer has 2 outputs), got 3; it looks "
        "transposed (3×2): nablab's layout is one row per input and one column per unit",
        "targets: expected 1×2 (one row per sample, one value per output), got 1×3",
    ]


def test_unknown_keys_and_types_are_errors():
    data = example_data("mazur")
    data["layers"][1]["slope"] = 0.1
    data["layers"][3]["type"] = "gelu"
    data["learning_rate"] = 0.5
    problems = _problems(data)
    assert (
        "layers[1].slope: unknown key (not part of the exercise format; see `nablab solve "
        "--help`)" in problems
    )
    assert any(
        p.startswith("layers[3]: unknown layer type 'gelu'; valid: linear") for p in problems
    )
    assert any(p.startswith("learning_rate: unknown key") for p in problems)


def test_missing_keys_and_bad_values():
    data = example_data("mazur")
    del data["loss"]
    data["layers"][0]["weights"] = "heavy"
    problems = _problems(data)
    assert "loss: required key is missing" in problems
    assert any(p.startswith("layers[0].weights:") for p in problems)


def test_optimizer_options_are_checked_against_the_optimizer():
    data = example_data("mazur")
    data["optimizer"] = {"type": "sgd", "lr": 0.5, "momentom": 0.9}
    assert _problems(data) == [
        "optimizer.momentom: unknown option for sgd; valid: lr, momentum, dampening, nesterov, "
        "weight_decay, convention, centralize"
    ]
    data["optimizer"] = {"type": "sgd"}
    assert _problems(data) == ["optimizer.lr: required for sgd"]
    data["optimizer"] = {"type": "sgd", "lr": -1, "momentum": 2, "convention": "textbook"}
    assert _problems(data) == [
        "optimizer.lr: lr must be in [0, inf), got -1",
        "optimizer.momentum: momentum must be in [0, 1], got 2",
        "optimizer.convention: convention must be one of 'pytorch', 'velocity', got 'textbook'",
    ]
    data["optimizer"] = {"type": "sgd", "lr": 0.1, "nesterov": True}
    with pytest.raises(ExerciseError, match="Nesterov momentum requires momentum > 0"):
        from nablab.solve import run

        run(parse_exercise(data))


def test_modelling_mistakes_are_errors_with_the_path():
    data = example_data("softmax_adam")
    data["layers"].append({"type": "softmax"})
    assert _problems(data) == [
        "layers[1]: a softmax layer before loss cross_entropy applies softmax twice "
        "(cross_entropy takes logits and applies softmax itself); remove the layer, or set "
        "loss.logits: true to apply it twice on purpose"
    ]
    data["loss"]["logits"] = True
    parse_exercise(data)  # accepted on purpose
    data = example_data("swish_bce_momentum")
    data["loss"]["type"] = "bce_with_logits"
    assert _problems(data)[0].startswith("layers[3]: a sigmoid layer before loss bce_with_logits")
    data = example_data("swish_bce_momentum")
    data["layers"].pop()  # the network now ends with a linear layer
    assert _problems(data) == [
        "layers[2]: loss bce needs probabilities in [0, 1], but the outputs of a linear layer "
        "are unbounded; end with a sigmoid layer, or use loss bce_with_logits"
    ]
    data = example_data("rmsprop_centered")
    data["targets"] = [[0.8, 0.3], [0.3, 0.7]]
    assert _problems(data) == [
        "targets[0]: cross_entropy probability targets must be ≥ 0 and sum to 1, got [0.8, 0.3]"
    ]


def test_pydantic_messages_are_in_the_projects_words():
    data = example_data("mazur")
    data["inputs"] = "many"
    data["steps"] = 0
    data["digits"] = "nine"
    data["layers"][0]["update_bias"] = "maybe"
    data["loss"]["reduction"] = "average"
    data["targets"] = [[float("nan"), 0.99]]
    problems = _problems(data)
    assert "inputs: expected a list, got 'many'" in problems
    assert "steps: must be ≥ 1, got 0" in problems
    assert "digits: expected a whole number, got 'nine'" in problems
    assert "layers[0].update_bias: expected true or false, got 'maybe'" in problems
    assert "loss.reduction: expected 'mean', 'sum' or 'batch_mean', got 'average'" in problems
    assert any(p.startswith("targets[0][0]: expected a finite number") for p in problems)
    assert not any("Input should" in p for p in problems)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["layers"][0].update(bias=[0.1, 0.2, 0.3]),
            "layers[0].bias: expected 2 values (one per unit) or one number (shared), got 3",
        ),
        (
            lambda d: d["layers"][1].update(output_names=["a"]),
            "layers[1].output_names: expected 2 names (one per output), got 1",
        ),
        (
            lambda d: d.update(input_names=["i1"]),
            "input_names: expected 2 names (one per input), got 1",
        ),
        (
            lambda d: d["layers"][0]["names"].update(bias=["b1", "b2"]),
            "layers[0].names.bias: give one name for a shared bias (a number) or a list of names "
            "for per-unit biases (a list)",
        ),
        (
            lambda d: d.update(targets=[1]),
            "targets: class indices need loss type cross_entropy; give one row of target values "
            "per sample",
        ),
        (lambda d: d.update(inputs=[[0.05, 0.1], [0.2]]), "inputs: rows have different lengths"),
    ],
)
def test_cross_field_problems(change, expected):
    data = example_data("mazur")
    change(data)
    assert any(p.startswith(expected) for p in _problems(data)), _problems(data)


def test_duplicate_names_are_reported():
    from nablab.solve import run

    data = example_data("mazur")
    data["layers"][1]["output_names"] = ["w1", "out_h2"]
    with pytest.raises(ExerciseError, match="'w1' names both a parameter and a layers"):
        run(parse_exercise(data))


def test_files_yaml_errors_and_cli_exit_code(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("inputs: [[0.05, 0.10]\nlayers: []\n", encoding="utf-8")
    with pytest.raises(ExerciseError, match=r"line \d+, column \d+: invalid YAML"):
        load_exercise(broken)
    with pytest.raises(ExerciseError, match="no such exercise file"):
        load_exercise(tmp_path / "missing.yaml")
    assert main(["solve", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "invalid YAML" in err and "Traceback" not in err
