"""--compare-conventions: each convention flipped, the first quantity whose value changes, and
the values on both sides are those of the exercise solved each way."""

from __future__ import annotations

import pytest

from nablab.cli import main
from nablab.solve import parse_exercise, run
from nablab.solve.conventions import axes, compare, comparison_document
from nablab.solve.names import Quantities
from nablab.solve.renderers import to_html, to_text

from helpers.solve_helpers import EXAMPLES, example, example_data


def _by_axis(name: str) -> dict:
    _, comparisons = compare(example(name))
    return {c.axis.id: c for c in comparisons}


def _solved_with(name: str, section: str, **changes) -> Quantities:
    data = example_data(name)
    data[section] = {**data[section], **changes}
    return Quantities(run(parse_exercise(data)))


def test_the_axes_follow_the_exercise():
    assert [a.id for a in axes(example("mazur"))] == ["half", "reduction", "bias"]
    assert [a.id for a in axes(example("momentum_pytorch"))] == [
        "momentum",
        "half",
        "reduction",
        "bias",
    ]
    assert [a.id for a in axes(example("adam_plain"))] == [
        "eps",
        "half",
        "reduction",
        "bias",
        "bias_correction",
    ]


def test_the_half_and_the_mean_change_the_loss_first():
    found = _by_axis("mazur")
    half = found["half"]
    assert half.first == "E@1"
    mine, other = half.values
    assert other == pytest.approx(2 * mine, rel=1e-12)  # ½Σ(t − o)² against Σ(t − o)²
    reduction = found["reduction"]
    assert reduction.first == "E@1"
    assert reduction.values[1] == pytest.approx(reduction.values[0] / 2, rel=1e-12)
    flipped = _solved_with("mazur", "loss", reduction="mean")
    assert reduction.values[1] == flipped.value("E@1")


def test_momentum_as_a_velocity_is_minus_eta_times_the_buffer():
    momentum = _by_axis("momentum_pytorch")["momentum"]
    assert momentum.first.startswith("b(") and momentum.other_key.startswith("v(")
    buffer, velocity = momentum.values
    lr = example("momentum_pytorch").optimizer.options()["lr"]
    assert velocity == pytest.approx(-lr * buffer, rel=1e-12)  # same parameters, other state
    left, right = momentum.equations
    assert left.key == momentum.first and right.key == momentum.other_key


def test_a_shared_bias_gets_the_sum_of_the_units_gradients():
    bias = _by_axis("mazur")["bias"]
    assert (bias.first, bias.other_key) == ("grad(b2)@1", "grad(b2[1])@1")
    per_unit = Quantities(bias.trace)
    total = per_unit.value("grad(b2[1])@1") + per_unit.value("grad(b2[2])@1")
    assert bias.values[0] == pytest.approx(total, rel=1e-12)


def test_adam_conventions_part_at_the_update():
    found = _by_axis("adam_plain")
    for axis, option in (
        ("eps", {"eps_placement": "outside"}),
        ("bias_correction", {"bias_correction": True}),
    ):
        comparison = found[axis]
        assert comparison.first == "W1[1,1]@1"
        flipped = _solved_with("adam_plain", "optimizer", **option)
        assert comparison.values[1] == flipped.value("W1[1,1]@1")
    # one unit: its bias per unit and shared are the same number
    assert found["bias"].error is None and found["bias"].first is None


def test_per_unit_biases_with_different_values_have_no_shared_counterpart():
    assert "differ from unit to unit" in _by_axis("relu_mse")["bias"].error


@pytest.mark.parametrize("name", ["mazur", "momentum_pytorch", "adam_plain", "softmax_adam"])
def test_the_comparison_renders(name):
    document = comparison_document(example(name))
    text = to_text(document)
    assert "conventions compared" in text and "First difference" in text
    assert '<table class="pair">' in to_html(document)


def test_nablab_solve_compare_conventions(capsys, tmp_path):
    path = str(EXAMPLES / "mazur.yaml")
    assert main(["solve", path, "--compare-conventions", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "## a ½ in front of the squared error, or none" in out
    assert "**this exercise (factor 0.5)**" in out
    assert main(["solve", path, "--compare-conventions", "--format", "json"]) == 2
