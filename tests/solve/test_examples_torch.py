"""Every example exercise against PyTorch (float64, 1e-10): the loss of every step and every
parameter at the end."""

from __future__ import annotations

import numpy as np
import pytest

from nablab.solve import load_exercise, run

from helpers.oracle import assert_close
from helpers.solve_helpers import EXAMPLES
from helpers.solve_torch import torch_run

NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


def _nablab_tensors(trace) -> list[np.ndarray]:
    """The exercise's parameters as tensors, in layer order (weight, bias; γ, β)."""
    out, seen = [], []
    for scalar in trace.built.scalars:
        if any(scalar.param is p for p in seen):
            continue
        seen.append(scalar.param)
        values = np.zeros(scalar.param.shape)
        for s in trace.built.scalars:
            if s.param is scalar.param:
                values[s.index] = trace.final_params[s.name]
        out.append(values)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_example_matches_pytorch(name):
    exercise = load_exercise(EXAMPLES / f"{name}.yaml")
    trace = run(exercise)
    losses, params = torch_run(exercise)
    assert_close([s.loss for s in trace.steps], losses)
    ours = _nablab_tensors(trace)
    assert len(ours) == len(params)
    for mine, theirs in zip(ours, params, strict=True):
        # Newton's Hessian is a central difference in nablab, exact in PyTorch
        tolerance = 1e-8 if exercise.optimizer.type == "newton" else 1e-10
        np.testing.assert_allclose(mine, theirs, rtol=tolerance, atol=1e-12)


def test_every_layer_optimizer_and_convention_has_an_example():
    """The examples cover every layer type, optimizer, and the conventions the issue lists."""
    exercises = [load_exercise(p) for p in EXAMPLES.glob("*.yaml")]
    layers = {layer.type for e in exercises for layer in e.layers}
    assert layers >= {
        "linear",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "swish",
        "softmax",
        "identity",
        "batchnorm",
        "dropout",
        "conv1d",
        "maxpool1d",
        "flatten",
    }
    options = [(e.optimizer.type, e.optimizer.options()) for e in exercises]
    kinds = {kind for kind, _ in options}
    assert kinds >= {"sgd", "adagrad", "rmsprop", "adam", "adamw", "newton"}

    def has(kind, **wanted):
        return any(k == kind and all(o.get(a) == v for a, v in wanted.items()) for k, o in options)

    assert has("sgd", momentum=None)
    assert has("sgd", convention="velocity") and has("sgd", convention="pytorch")
    assert has("sgd", nesterov=True) and has("sgd", nesterov="lookahead")
    assert has("rmsprop", centered=True) and has("rmsprop", momentum=0.5)
    assert has("adam", bias_correction=False, eps_placement="inside")
    assert has("sgd", centralize="gradient") and has("sgd", weight_decay=0.01)
    penalties = {e.penalty.type for e in exercises if e.penalty is not None}
    assert penalties == {"l1", "l2"}
    assert {e.loss.type for e in exercises} == {"mse", "bce", "bce_with_logits", "cross_entropy"}
