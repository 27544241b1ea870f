"""Jacobians and Hessians with respect to arrays, against closed forms and torch.autograd."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nablab import nn
from nablab.analysis import (
    array_hessian,
    jacobian,
    logistic_regression_hessian,
    module_jacobian,
    softmax_hessian,
)

from helpers.oracle import assert_close, tt


def _mlp(rng, widths=(3, 5, 4), activation="tanh"):
    layers = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b, rng=rng, dtype=np.float64), nn.activation(activation)]
    return nn.Sequential(*layers[:-1])


def test_numerical_jacobian_of_a_closed_form():
    a = np.array([1.0, -2.0, 0.5])
    x = np.array([0.3, 1.1, -0.7])
    J = jacobian(lambda v: a * v**2 + np.array([v.sum(), 0, 0]), x)
    expected = np.diag(2 * a * x)
    expected[0] += 1.0
    assert_close(J, expected, rtol=1e-8)
    assert np.array_equal(x, [0.3, 1.1, -0.7])  # restored


def test_softmax_jacobian_is_diag_minus_outer(rng):
    x = rng.normal(size=(1, 5))
    y = nn.Softmax()(x)[0]
    assert_close(module_jacobian(nn.Softmax(), x), np.diag(y) - np.outer(y, y))


def test_module_jacobian_of_an_mlp_matches_torch_and_finite_differences(rng):
    model = _mlp(rng)
    x = rng.normal(size=(2, 3))
    exact = module_jacobian(model, x)
    w1, b1 = (tt(p.data) for p in (model[0].weight, model[0].bias))
    w2, b2 = (tt(p.data) for p in (model[2].weight, model[2].bias))
    expected = torch.autograd.functional.jacobian(
        lambda v: torch.tanh(v @ w1 + b1) @ w2 + b2, tt(x)
    ).reshape(8, 6)
    assert_close(exact, expected.numpy())
    assert_close(jacobian(model, x), exact, rtol=1e-7)
    assert not any(p.grad.any() for p in model.parameters())  # gradients restored (zero)


def test_cross_entropy_hessian_in_the_logits_is_the_softmax_block(rng):
    logits = rng.normal(size=(3, 4))
    target = np.array([0, 3, 1])
    H = array_hessian(nn.CrossEntropyLoss(), logits, target)
    expected = torch.autograd.functional.hessian(
        lambda z: F.cross_entropy(z, torch.tensor(target)), tt(logits)
    ).reshape(12, 12)
    assert_close(H, expected.numpy(), rtol=1e-7)
    closed = softmax_hessian(nn.Softmax()(logits))
    assert_close(closed, expected.numpy())
    eigenvalues = np.linalg.eigvalsh(closed)
    assert eigenvalues.min() > -1e-15  # positive semidefinite
    assert np.abs(closed @ np.ones(12)).max() < 1e-15  # a constant added to a row: no change
    assert_close(softmax_hessian(nn.Softmax()(logits), "sum"), 3 * closed)


def test_logistic_regression_hessian_matches_torch(rng):
    X = rng.normal(size=(20, 3))
    t = (rng.random(20) < 0.5).astype(float)
    w = rng.normal(size=3)
    p = 1 / (1 + np.exp(-X @ w))
    expected = torch.autograd.functional.hessian(
        lambda v: F.binary_cross_entropy_with_logits(tt(X) @ v, tt(t)), tt(w)
    )
    assert_close(logistic_regression_hessian(X, p), expected.numpy())


def test_hessian_with_respect_to_a_hidden_activation_matches_torch(rng):
    model = _mlp(rng, (3, 4, 5, 2))
    h = rng.normal(size=(2, 4))  # the activation entering the second linear layer
    rest = nn.Sequential(model[2], model[3], model[4])
    target = np.array([1, 0])
    H = array_hessian(nn.CrossEntropyLoss(), h, target, model=rest)
    w2, b2, w3, b3 = (tt(p.data) for p in rest.parameters())
    expected = torch.autograd.functional.hessian(
        lambda a: F.cross_entropy(torch.tanh(a @ w2 + b2) @ w3 + b3, torch.tensor(target)),
        tt(h),
    ).reshape(8, 8)
    assert_close(H, expected.numpy(), rtol=1e-6)
    assert np.array_equal(H, H.T)


def test_guards():
    with pytest.raises(ValueError, match="need a float64 array, got float32"):
        jacobian(lambda v: v, np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="5 entries exceed max_size=4"):
        array_hessian(nn.MSELoss(), np.zeros(5), np.zeros(5), max_size=4)
    with pytest.raises(ValueError, match=r"expected probabilities \(N, C\)"):
        softmax_hessian(np.ones(3))
