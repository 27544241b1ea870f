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
