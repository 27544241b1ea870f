"""Exercises too large to work out are refused before anything is built, with the limit."""

from __future__ import annotations

import time

import pytest

from nablab.solve.spec import ExerciseError, load_exercise, parse_exercise

from helpers.solve_helpers import example_data


def test_an_alias_bomb_is_stopped_before_validation(tmp_path):
    lines = [
        "row: &r [" + ", ".join(["0.1"] * 1000) + "]",
        "block: &b [" + ", ".join(["*r"] * 1000) + "]",
    ]
    text = "\n".join(lines) + "\ninputs: *b\ntargets: *b\nlayers: [{type: linear, weights: *b}]\n"
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    started = time.perf_counter()
    with pytest.raises(ExerciseError, match="more than 100,000 values"):
        load_exercise(path)
    assert time.perf_counter() - started < 2.0


def test_too_many_parameters_or_forward_passes_are_refused():
    data = example_data("mazur")
    data["layers"][0]["weights"] = [[0.1] * 3000, [0.2] * 3000]
    data["layers"][0].pop("names")
    data["layers"][0].pop("output_names")
    with pytest.raises(ExerciseError, match="6,006 parameters; a worked solution shows at most"):
        parse_exercise(data)
    data = example_data("mazur")
    data["inputs"] = [[0.05, 0.10]] * 100
    data["targets"] = [[0.01, 0.99]] * 100
    data["steps"] = 1000
    data["batch"] = "per_sample"
    with pytest.raises(ExerciseError, match=r"100 samples × 1000 steps = 100,000 forward passes"):
        parse_exercise(data)


def test_a_zero_loss_factor_and_a_network_without_parameters_are_spec_errors():
    data = example_data("mazur")
    data["loss"]["factor"] = 0
    with pytest.raises(ExerciseError, match=r"loss.factor: must be > 0, got 0"):
        parse_exercise(data)
    from nablab.solve.build import build

    data = example_data("mazur")
    data["layers"] = [{"type": "sigmoid"}]
    data["targets"] = [[0.01, 0.99]]
    with pytest.raises(ExerciseError, match="the network has no parameters"):
        build(parse_exercise(data))
