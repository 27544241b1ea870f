"""The checker: tolerance from the written digits, the first divergence, and the mistakes."""

from __future__ import annotations

import pytest

from nablab.solve import check, parse_answers, run
from nablab.solve.checker import half_unit
from nablab.solve.mistakes import MISTAKES
from nablab.solve.trace import Variant

from helpers.solve_helpers import example

# The numbers of a real hand computation (course solution 004): Mazur's network with η = 0.3
# and the shared biases updated, where ∂L/∂o was taken as 1.
STUDENT_004 = {
    "loss@1": "0.29832905",
    "w1": "0.1495",
    "w2": "0.1989",
    "w3": "0.2494",
    "w4": "0.2987",
    "w5": "0.3668",
    "w6": "0.4166",
    "w7": "0.4688",
    "w8": "0.5186",
    "b1": "0.3252",
    "b2": "0.4913",
    "loss@final": "0.28321752",
}


def _mazur_004():
    data_changes = {"optimizer": {"type": "sgd", "lr": 0.3}}
    exercise = example("mazur", **data_changes)
    layers = [
        layer.model_copy(update={"update_bias": True}) if layer.type == "linear" else layer
        for layer in exercise.layers
    ]
    return exercise.model_copy(update={"layers": layers})


def test_half_unit_of_the_last_written_digit():
    assert half_unit("0.1495") == pytest.approx(5e-5)
    assert half_unit("1.5e-3") == pytest.approx(5e-5)
    assert half_unit("2") == 0.5
    assert half_unit("0.35") == pytest.approx(5e-3)


def test_the_004_numbers_are_explained_by_taking_the_loss_gradient_as_one():
    report = check(_mazur_004(), parse_answers(STUDENT_004))
    assert report.verdict == "incorrect"
    marks = {r.name: r.ok for r in report.results}
    assert marks["loss@1"] and not marks["w5"] and not marks["loss@final"]
    assert report.first_divergence["name"] == "w5"  # the first wrong one in computation order
    assert (
        "w5 ← w5 − η·∂E/∂w5 = 0.4 − 0.3·0.0821670406 = 0.375349888"
        in (report.first_divergence["formula"])
    )
    best = report.explanations[0]
    assert best["id"] == "loss_grad_one"
    assert (best["matched"], best["of"]) == (12, 12)


def _sheet(trace, step_keys, digits=6) -> dict[str, str]:
    """Answers a careful student would write: values of ``trace`` rounded to ``digits``."""
    step = trace.steps[0]
    values = trace.values(step)
    sheet = {"loss@1": step.loss, "loss@final": trace.final_loss}
    for key in step_keys:
        if key in values:
            sheet[f"{key}@1"] = values[key]
        elif key.startswith("grad("):
            sheet[f"{key}@1"] = step.grads[key[5:-1]]
        elif "(" in key:
            state, name = key[:-1].split("(")
            sheet[f"{key}@1"] = step.state[state][name]
        else:
            sheet[key] = trace.final_params[key]
    return {name: f"{value:.{digits}f}" for name, value in sheet.items()}


def test_a_correct_sheet_passes():
    exercise = _mazur_004()
    sheet = _sheet(run(exercise), ["out_h1", "out_o2", "grad(w5)", "w1", "w5", "b1", "b2"])
    report = check(exercise, parse_answers(sheet))
    assert report.verdict == "correct", report.to_json()
    assert report.first_divergence is None and report.explanations == []


def _variant(mistake_id: str, exercise, index: int = 0) -> Variant:
    mistake = next(m for m in MISTAKES if m.id == mistake_id)
    return mistake.variants(exercise)[index][1]


CASES = [
    ("loss_grad_one", "mazur", {}, ["w1", "w5", "w8"]),
    ("missing_activation_derivative", "mazur", {}, ["w2", "w6", "grad(w6)"]),
    ("missing_loss_factor", "relu_mse", {}, ["w11", "w31", "b3"]),
    ("wrong_update_sign", "mazur", {}, ["w1", "w5"]),
    ("updated_weights_in_backprop", "mazur", {}, ["w1", "w3", "w5"]),
    ("bias_update_mismatch", "mazur", {}, ["w1", "b1", "b2"]),
    ("momentum_convention", "swish_bce_momentum", {"steps": 1}, ["W1[1,1]"]),
    ("batch_sum_vs_mean", "swish_bce_momentum", {"steps": 1}, ["W1[1,1]", "W2[2,1]"]),
]


@pytest.mark.parametrize(
    ("mistake_id", "name", "changes", "keys"), CASES, ids=[c[0] for c in CASES]
)
def test_each_mistake_is_recognised_in_numbers_it_produced(mistake_id, name, changes, keys):
    exercise = example(name, **changes)
    wrong_trace = run(exercise, _variant(mistake_id, exercise))
    sheet = _sheet(wrong_trace, keys, digits=9)  # some mistakes move w1 by only 1e-6
    if mistake_id == "momentum_convention":  # the momentum state, in the other convention
        buffer = wrong_trace.steps[0].state["momentum_buffer"]
        for parameter in ("W1[1,1]", "W2[1,1]"):
            sheet[f"momentum({parameter})@1"] = f"{buffer[parameter]:.9f}"
    report = check(exercise, parse_answers(sheet), rtol=1e-6)
    assert report.verdict == "incorrect"
    top = report.explanations[0]
    assert top["id"] == mistake_id, report.explanations
    assert top["matched"] == top["of"]


def test_unknown_quantities_are_reported_not_fatal():
    report = check(
        example("mazur"), parse_answers({"w5": "0.358916", "w99@1": "1.0", "grad(w5)@7": "0.1"})
    )
    problems = {r.name: r.problem for r in report.results}
    status = {r.name: r.status for r in report.results}
    assert "unknown name 'w99@1'" in problems["w99@1"]
    assert "grad(w5) has no value at step '7'; steps: 1" in problems["grad(w5)@7"]
    assert status == {"w5": "ok", "w99@1": "unknown", "grad(w5)@7": "unknown"}
    assert report.verdict == "correct"  # unknown names are reported, not graded


def test_answer_file_errors():
    from nablab.solve import ExerciseError

    with pytest.raises(ExerciseError, match=r"w5: expected a finite number as written, got 'abo"):
        parse_answers({"w5": "about 0.36"})
    with pytest.raises(ExerciseError, match="expected a mapping"):
        parse_answers(["w5"])


def test_names_as_printed_and_in_ascii_are_accepted():
    """γ1[1] and gamma1[1], v_w5 and v(w5) and velocity(w5), ∂E/∂w5 and grad(w5) are one name."""
    exercise = example("batchnorm_dropout")
    trace = run(exercise)
    gamma = trace.steps[0].params_after["gamma1[1]"]
    r = trace.steps[0].state["square_avg"]["W2[1,1]"]
    grad = trace.steps[0].grads["W2[1,1]"]
    sheet = {
        "γ1[1]@1": f"{gamma:.6f}",
        "gamma1[1]@1": f"{gamma:.6f}",
        "r_W2[1,1]@1": f"{r:.9f}",
        "square_avg(W2[1,1])@1": f"{r:.9f}",
        "∂E/∂W2[1,1]@1": f"{grad:.6f}",
        "dE/dW2[1,1]@1": f"{grad:.6f}",
    }
    report = check(exercise, parse_answers(sheet))
    assert report.verdict == "correct", report.to_json()
    keys = {r.name: r.key for r in report.results}
    assert keys["γ1[1]@1"] == keys["gamma1[1]@1"] == "gamma1[1]@1"
    assert keys["r_W2[1,1]@1"] == keys["square_avg(W2[1,1])@1"] == "r(W2[1,1])@1"
    assert keys["∂E/∂W2[1,1]@1"] == "grad(W2[1,1])@1"


def test_an_unknown_name_gets_the_closest_valid_ones():
    report = check(example("mazur"), parse_answers({"W5": "0.3589", "v(w5)@1": "0.1"}))
    problems = {r.name: r.problem for r in report.results}
    assert "did you mean w5?" in problems["W5"]
    assert problems["v(w5)@1"].startswith("unknown name 'v(w5)@1'")
    assert report.verdict == "unchecked"


def test_the_value_before_the_update_is_wrong_even_inside_the_tolerance():
    report = check(example("mazur"), parse_answers({"w5": "0.4", "w6@1": "0.4087"}))
    marks = {r.name: (r.ok, r.problem) for r in report.results}
    assert marks["w5"] == (False, "this is the value before the update (0.4), not after it")
    assert marks["w6@1"] == (True, None)


def test_the_tolerance_and_the_digits_written_are_shown():
    from nablab.solve.commands import report_text

    report = check(example("mazur"), parse_answers({"w5": "0.3590", "loss@1": "0.29837"}))
    result = {r.name: r for r in report.results}
    assert result["w5"].text == "0.3590"
    assert result["w5"].tolerance == pytest.approx(5e-5 + 1e-3 * 0.35891648, rel=1e-6)
    text = report_text(report)
    assert "0.3590" in text and "±0.00041" in text
    assert report.to_json()["results"][0]["written"] in ("0.29837", "0.3590")


def _rounded_sheet(exercise, decimals: int) -> dict[str, str]:
    rounded = run(exercise, Variant(round_decimals=decimals))
    sheet = {
        f"{name}@{s.index}": value for s in rounded.steps for name, value in s.params_after.items()
    }
    return {name: f"{value:.{decimals}f}" for name, value in sheet.items()}


def test_rounded_intermediates_carried_through_are_recognised():
    """Four decimals at every step: the last weights miss the exact ones by more than their
    half unit, and the sheet is recognised as rounding carried, not as wrong."""
    exercise = example("swish_bce_momentum")
    sheet = _rounded_sheet(exercise, 4)
    report = check(exercise, parse_answers(sheet), rtol=0.0)
    assert any(r.status == "wrong" for r in report.results)
    assert report.verdict == "rounding_carried", report.explanations[:2]


NEW_CASES = [
    ("target_output_swapped", "relu_mse", ["w11", "w31", "b3", "grad(o1)"]),
    ("transposed_weights", "mazur", ["w1", "w2", "w3"]),
    ("derivative_at_output", "mazur", ["w1", "w2", "w4"]),
    ("bias_not_summed", "swish_bce_momentum", ["b1[1]", "b2[1]"]),
    ("eps_placement", "adam_plain", ["W1[1,1]", "b1[1]"]),
    ("bias_correction", "softmax_adam", ["W1[1,1]", "b1[2]"]),
    ("nesterov_convention", "nesterov_pytorch", ["W1[1,1]", "W2[2,1]"]),
]


@pytest.mark.parametrize(("mistake_id", "name", "keys"), NEW_CASES, ids=[c[0] for c in NEW_CASES])
def test_each_new_mistake_is_recognised(mistake_id, name, keys):
    exercise = example(name)
    wrong = run(exercise, _variant(mistake_id, exercise))
    step = wrong.steps[0]
    values = {**step.params_after, **{f"grad({k})": v for k, v in wrong.output_grads(step).items()}}
    sheet = {f"{k}@1": f"{values[k]:.9f}" for k in keys}
    report = check(exercise, parse_answers(sheet), rtol=1e-7)
    assert report.verdict == "incorrect"
    top = report.explanations[0]
    assert top["id"] == mistake_id, report.explanations
    assert top["explains_wrong"] == top["wrong"] == sum(r.status == "wrong" for r in report.results)


def test_two_mistakes_combined_are_recognised_and_singles_only_when_they_explain():
    from nablab.solve.mistakes import combine

    exercise = example("mazur")
    both = combine(_variant("loss_grad_one", exercise), _variant("wrong_update_sign", exercise))
    wrong = run(exercise, both)
    sheet = {f"{k}@1": f"{v:.9f}" for k, v in wrong.steps[0].params_after.items() if k[0] == "w"}
    report = check(exercise, parse_answers(sheet), rtol=1e-7)
    top = report.explanations[0]
    assert top["id"] == "loss_grad_one+wrong_update_sign"
    assert top["explains_wrong"] == top["wrong"] == 8
    assert all(e["explains_wrong"] > 0 for e in report.explanations)
    assert (
        combine(Variant(optimizer_override={"eps": 1}), Variant(optimizer_override={"eps": 2}))
        is None
    )
