"""Activations against torch.nn.functional, forward and backward, float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nablab import nn

from helpers.oracle import assert_close, nn_, tt

CASES = [
    (nn.Identity, {}, lambda x: x),
    (nn.Sigmoid, {}, torch.sigmoid),
    (nn.Tanh, {}, torch.tanh),
    (nn.ReLU, {}, F.relu),
    (nn.LeakyReLU, {}, lambda x: F.leaky_relu(x, 0.01)),
    (nn.LeakyReLU, {"negative_slope": 0.2}, lambda x: F.leaky_relu(x, 0.2)),
    (nn.Swish, {}, F.silu),
    (nn.Swish, {"beta": 1.7}, lambda x: x * torch.sigmoid(1.7 * x)),
    (nn.Softmax, {}, lambda x: F.softmax(x, dim=-1)),
    (nn.Softmax, {"axis": 0}, lambda x: F.softmax(x, dim=0)),
    (nn.SELU, {}, F.selu),
]


@pytest.mark.parametrize(("cls", "kwargs", "reference"), CASES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (8, 3), (4, 7)])
def test_activation_matches_torch(rng, cls, kwargs, reference, shape):
    x = rng.normal(scale=3.0, size=shape)
    g = rng.normal(size=shape)
    module = cls(**kwargs)
    y = module(x)
    dx = module.backward(g)
    xt = tt(x, True)
    yt = reference(xt)
    yt.backward(tt(g))
    assert_close(y, nn_(yt))
    assert_close(dx, nn_(xt.grad))


@pytest.mark.parametrize(("cls", "kwargs", "reference"), CASES[3:6])
def test_relu_family_subgradient_at_zero_is_pytorchs(cls, kwargs, reference):
    x = np.array([[0.0, -0.0, 1.0, -1.0]])
    g = np.ones_like(x)
    module = cls(**kwargs)
    module(x)
    xt = tt(x, True)
    reference(xt).backward(tt(g))
    np.testing.assert_array_equal(module.backward(g), nn_(xt.grad))


def test_sigmoid_is_stable_for_large_inputs():
    y = nn.Sigmoid()(np.array([[-800.0, 800.0, -40.0]]))
    assert y[0, 0] == 0.0 and y[0, 1] == 1.0
    assert_close(y[0, 2], 1.0 / (1.0 + np.exp(40.0)))


def test_softmax_is_stable_and_backward_is_the_jacobian_product(rng):
    x = np.array([[1000.0, 1001.0, 999.0]])
    y = nn.Softmax()(x)
    assert np.isfinite(y).all() and abs(y.sum() - 1) < 1e-15
    x = rng.normal(size=(1, 4))
    s = nn.Softmax()
    y = s(x)[0]
    g = rng.normal(size=(1, 4))
    jacobian = np.diag(y) - np.outer(y, y)
    assert_close(s.backward(g)[0], jacobian @ g[0])


@pytest.mark.parametrize("name", sorted(nn.ACTIVATIONS))
def test_float32_in_float32_out(rng, name):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    module = nn.activation(name)
    y = module(x)
    assert y.dtype == np.float32
    assert module.backward(np.ones_like(y)).dtype == np.float32


def test_unknown_activation_lists_valid_names():
    with pytest.raises(
        ValueError,
        match=r"unknown activation 'gelu' \(did you mean 'selu' or 'relu'\?\); valid: .*relu",
    ):
        nn.activation("gelu")


@pytest.mark.parametrize(
    "cls", [nn.Sigmoid, nn.Tanh, nn.ReLU, nn.LeakyReLU, nn.Swish, nn.SELU, nn.Softmax]
)
def test_backward_before_forward(cls):
    with pytest.raises(RuntimeError, match=r"backward\(\) called before forward\(\)"):
        cls().backward(np.ones((1, 2)))


def test_selu_matches_torch_at_zero_and_far_out_and_keeps_its_constants():
    x = np.array([[0.0, -0.0, 1e-12, -1e-12, -40.0, 40.0, -1e-3]])
    g = np.linspace(0.5, 2.0, x.size)[None, :]
    module = nn.SELU()
    y = module(x)
    xt = tt(x, True)
    yt = torch.nn.SELU()(xt)
    yt.backward(tt(g))
    assert_close(y, nn_(yt))
    assert_close(module.backward(g), nn_(xt.grad))
    # the published constants of Klambauer et al. (2017), to double precision
    assert nn.activations.SELU_SCALE == 1.0507009873554805
    assert nn.activations.SELU_ALPHA == 1.6732632423543772
    assert nn.ACTIVATIONS.entry("selu").summary.startswith("y = λx for x > 0, else λα(e^x − 1)")
    assert "selu" in nn.activations.hidden_activations()


def test_selu_with_lecun_weights_keeps_mean_zero_and_variance_one():
    """The self-normalizing fixed point: 20 layers of width 400 with Var(w) = 1/fan_in."""
    rng = np.random.default_rng(0)
    h = rng.normal(size=(2000, 400))
    for _ in range(20):
        h = nn.SELU()(h @ rng.normal(0, np.sqrt(1 / 400), size=(400, 400)))
    assert abs(h.mean()) < 0.05 and abs(h.var() - 1) < 0.1
