"""The verifier: every equation of every example holds, both sides, in every format; a false
equation is caught; every printed name reads back."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nablab.solve import load_exercise, render, run, solution_document
from nablab.solve.document import Equation
from nablab.solve.expr import Mul, Num, Paren, Sym, num, text
from nablab.solve.names import Quantities
from nablab.solve.verify import VerificationError, check_document, verify

from helpers.solve_helpers import EXAMPLES

NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


def _solve(name: str, explain=None):
    trace = run(load_exercise(EXAMPLES / f"{name}.yaml"))
    return trace, solution_document(trace, explain)


@pytest.mark.parametrize("name", NAMES)
def test_every_equation_of_every_example_holds(name):
    trace, document = _solve(name)
    checked = check_document(document, trace)
    equations = [i for i in document.items if isinstance(i, Equation)]
    assert checked == len(equations) > 10
    for fmt in ("text", "markdown", "html", "json"):  # every format renders this document
        assert len(render(trace, document, fmt)) > 500
    for equation in equations:  # each equation names its quantity or carries the engine's value
        assert equation.key is not None or equation.value is not None, text(equation.parts[0])


@pytest.mark.parametrize(
    ("name", "explain"),
    [
        ("mazur", ["w1", "out_h1", "b2"]),
        ("relu_mse", ["w21", "b1"]),
        ("swish_bce_momentum", ["W1[2,1]"]),
        ("softmax_adam", ["b1[2]"]),
        ("batchnorm_dropout", ["W2[1,1]", "b2"]),
        ("softmax_layer", ["W1[1,2]"]),
        ("l2_sigmoid_neuron", ["w2"]),
    ],
)
def test_explained_gradients_hold(name, explain):
    """The chain rule's sum over paths (with a penalty's term) adds up to the gradient."""
    trace, document = _solve(name, explain)
    check_document(document, trace)
    assert sum(isinstance(i, Equation) and bool(i.given) for i in document.items) >= len(explain)


def _corrupt(document, index: int, part: int, factor: float = 1.001):
    items = list(document.items)
    positions = [i for i, item in enumerate(items) if isinstance(item, Equation)]
    equation = items[positions[index]]
    parts = list(equation.parts)
    parts[part] = Mul((parts[part], num(factor)))
    items[positions[index]] = dataclasses.replace(equation, parts=parts)
    return dataclasses.replace(document, items=items), equation


@pytest.mark.parametrize("part", [1, 2, -1])
def test_a_false_equation_is_caught(part):
    """A symbolic side, a substituted side or a result off by 0.1% is reported."""
    trace, document = _solve("mazur")
    wrong, equation = _corrupt(document, 20, part)
    with pytest.raises(VerificationError) as info:
        check_document(wrong, trace)
    assert len(info.value.problems) == 1 and info.value.problems[0].startswith(equation.key)


def test_a_wrong_derivative_or_sign_is_caught():
    """tanh′ written as (1 − a) and an AdaGrad step that adds the gradient are false."""
    trace, document = _solve("adagrad_tanh")
    items = list(document.items)
    planted = 0
    for index, item in enumerate(items):
        if not isinstance(item, Equation):
            continue
        if item.key and item.key.startswith("grad(z") and "tanh" not in text(item.parts[1]):
            derivative = item.parts[1].factors[1]
            if isinstance(derivative, Paren):  # (1 − a²) → (1 − a)
                one_minus = derivative.arg
                wrong = Paren(one_minus.left - one_minus.right.base)
                parts = [item.parts[0], Mul((item.parts[1].factors[0], wrong)), *item.parts[2:]]
                items[index] = dataclasses.replace(item, parts=parts)
                planted += 1
                break
    wrong = dataclasses.replace(document, items=items)
    report = verify(wrong, trace)
    assert planted == 1 and len(report.problems) == 1 and "symbolic side" in report.problems[0]


def test_unbound_symbols_and_unknown_keys_are_reported():
    trace, document = _solve("relu_mse")
    extra = Equation([Sym("z1"), Sym("nonsense") * num(2), Num(1.0)], key="z1@1", step=1)
    keyless = Equation([Sym("q"), Num(1.0)], step=1)
    bad_key = Equation([Sym("q"), Num(1.0)], key="q@1", step=1)
    document.items.extend([extra, keyless, bad_key])
    problems = verify(document, trace).problems
    assert any("the symbol nonsense has no value here" in p for p in problems)
    assert any("nothing to check it against" in p for p in problems)
    assert any("names no quantity" in p for p in problems)


@pytest.mark.parametrize("name", NAMES)
def test_every_printed_name_reads_back(name):
    """The left side of every keyed equation, as the text prints it, and its ASCII form resolve
    to that equation's key; so do the keys themselves."""
    trace, document = _solve(name)
    quantities = Quantities(trace)
    for key, equation in document.equations().items():
        printed = text(equation.parts[0])
        at = key.rpartition("@")[2]
        assert quantities.resolve(f"{printed}@{at}") == key, printed
        assert quantities.resolve(key) == key
    for quantity in quantities:
        assert quantities.resolve(quantity.key) == quantity.key


def test_the_verifier_uses_the_engine_not_the_document():
    """A result printed wrongly, with every side rewritten to agree with it, still fails: the
    engine's number comes from the trace by the equation's key."""
    trace, document = _solve("mazur")
    items = list(document.items)
    for index, item in enumerate(items):
        if isinstance(item, Equation) and item.key == "w5@1":
            shifted = [Mul((part, num(1.01))) for part in item.parts[1:-1]]
            result = num(item.parts[-1].value * 1.01)
            items[index] = dataclasses.replace(item, parts=[item.parts[0], *shifted, result])
    problems = verify(dataclasses.replace(document, items=items), trace).problems
    assert len(problems) == 3 and all(p.startswith("w5@1") for p in problems)
    assert np.isclose(trace.steps[0].params_after["w5"], 0.35891648, atol=1e-8)


def test_a_selu_network_is_worked_out_and_verified():
    """SELU in the forward pass (λz or λα(eᶻ − 1), by the sign of z) and selu′ in the
    backward pass, every equation checked against the engine, with the chain rule explained."""
    from nablab.solve import parse_exercise

    from helpers.solve_helpers import example_data

    spec = example_data("relu_mse")
    spec["layers"][1]["type"] = "selu"  # z2 < 0: the exponential branch is worked too
    trace = run(parse_exercise(spec))
    document = solution_document(trace, ["w11"])
    assert check_document(document, trace) > 10
    shown = render(trace, document, "text")
    assert "selu(z2) = 1.05070099·1.67326324·(exp(−0.5) − 1) = −0.691758188" in shown
    assert "selu′(z2)" in shown
