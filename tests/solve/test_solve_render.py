"""The renderers: Markdown with LaTeX, XHTML with MathML, JSON, plain text."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from nablab.solve import load_exercise, render, run, solution_document, to_json

from helpers.solve_helpers import EXAMPLES

MATHML = "{http://www.w3.org/1998/Math/MathML}"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


def _solve(name: str, explain=None):
    trace = run(load_exercise(EXAMPLES / f"{name}.yaml"))
    return trace, solution_document(trace, explain)


def test_markdown_contains_the_latex():
    trace, document = _solve("mazur", ["w1"])
    markdown = render(trace, document, "markdown")
    assert markdown.startswith("# Step-by-step backpropagation (Mazur)")
    assert r"\frac{\partial E}{\partial w_{5}} = \mathrm{out}_{h1} \cdot" in markdown
    assert r"w_{5} \leftarrow w_{5} - \eta \cdot \frac{\partial E}{\partial w_{5}}" in markdown
    assert markdown.count("$$") % 2 == 0


@pytest.mark.parametrize("name", NAMES)
def test_html_is_xml_valid_mathml_without_tex(name):
    trace, document = _solve(name)
    html = render(trace, document, "html")
    root = ET.fromstring(html.replace("<!DOCTYPE html>", ""))
    maths = list(root.iter(f"{MATHML}math"))
    assert len(maths) >= 5
    for math in maths:
        content = "".join(math.itertext())
        assert "\\" not in content and "$" not in content
        assert math.get("display") == "inline"
    assert "<script" not in html and "http://" not in html.replace(
        "http://www.w3.org/", ""
    )  # self-contained: nothing fetched


@pytest.mark.parametrize("name", NAMES)
def test_json_round_trips_and_follows_the_contract(name):
    trace, document = _solve(name)
    text = render(trace, document, "json")
    data = json.loads(text)
    assert data == json.loads(json.dumps(to_json(trace)))
    assert set(data) >= {"steps", "final_loss", "params"}
    for step in data["steps"]:
        assert set(step) >= {
            "index",
            "loss",
            "values",
            "grads",
            "params_before",
            "params_after",
            "state",
        }
        assert set(step["grads"]) == set(step["params_before"]) == set(data["params"])
    assert data["steps"][0]["index"] == 1
    assert data["final_loss"] == trace.final_loss


def test_mazur_json_names():
    trace, _ = _solve("mazur")
    data = to_json(trace)
    step = data["steps"][0]
    assert list(step["values"]) == [
        "net_h1",
        "net_h2",
        "out_h1",
        "out_h2",
        "net_o1",
        "net_o2",
        "out_o1",
        "out_o2",
    ]
    assert step["params_after"]["w5"] == pytest.approx(0.35891648, abs=1e-8)


def test_text_and_explain():
    trace, document = _solve("mazur", ["w1"])
    text = render(trace, document, "text")
    assert "∂E/∂w5 = out_h1·∂E/∂net_o1 = 0.593269992·0.138498562 = 0.0821670406" in text
    assert (
        "∂E/∂w1 = [∂E/∂out_o1·∂out_o1/∂net_o1·∂net_o1/∂out_h1 + "
        "∂E/∂out_o2·∂out_o2/∂net_o2·∂net_o2/∂out_h1]·∂out_h1/∂net_h1·∂net_h1/∂w1"
    ) in text
    assert "w5 ← w5 − η·∂E/∂w5 = 0.4 − 0.5·0.0821670406 = 0.35891648" in text
    assert "b1 stays 0.35 (not updated in this exercise)." in text


def test_explain_numbers_multiply_out_to_the_gradient():
    from nablab.solve.derive import Equation
    from nablab.solve.expr import evaluate

    for name, parameter in [
        ("mazur", "w1"),
        ("relu_mse", "w21"),
        ("swish_bce_momentum", "W1[2,1]"),
        ("softmax_adam", "b1[2]"),
        ("relu_mse", "b1"),
    ]:
        trace, document = _solve(name, [parameter])
        equation = [i for i in document.items if isinstance(i, Equation)][-1]
        assert evaluate(equation.parts[2]) == pytest.approx(
            trace.steps[0].grads[parameter], rel=1e-7, abs=1e-9
        ), name


def test_explain_rejects_unknown_names():
    from nablab.solve import ExerciseError

    with pytest.raises(ExerciseError, match="--explain unknown name 'w9'"):
        _solve("mazur", ["w9"])
    with pytest.raises(ExerciseError, match=r"unknown name 'W5'; did you mean w5\?"):
        _solve("mazur", ["W5"])
