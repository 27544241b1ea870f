"""Forward and backward hooks, and the weight-transform seam (masks, noise, custom)."""

from __future__ import annotations

import numpy as np
import pytest

from nablab import nn
from nablab.analysis.gradcheck import numerical_gradient


def _net(rng) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(3, 4, rng=rng, dtype=np.float64),
        nn.ReLU(),
        nn.Linear(4, 2, rng=rng, dtype=np.float64),
    )


def test_forward_hook_sees_input_and_output_and_can_replace_the_output(rng):
    net = _net(rng)
    seen = []
    handle = net[1].register_forward_hook(lambda m, x, y: seen.append((m, x.copy(), y.copy())))
    x = rng.normal(size=(5, 3))
    out = net(x)
    module, hooked_in, hooked_out = seen[0]
    assert module is net[1]
    np.testing.assert_array_equal(hooked_in, x @ net[0].weight.data + net[0].bias.data)
    np.testing.assert_array_equal(hooked_out, np.maximum(hooked_in, 0))
    doubled = net[2].register_forward_hook(lambda m, x, y: 2 * y)
    np.testing.assert_allclose(net(x), 2 * out, rtol=1e-15)
    handle.remove()
    doubled.remove()
    assert "forward" not in vars(net[1]) and "forward" not in vars(net[2])  # no cost left
    np.testing.assert_array_equal(net(x), out)
    assert len(seen) == 2


def test_a_hook_on_the_model_itself_runs_on_every_call(rng):
    net = _net(rng)
    calls = []
    with net.register_forward_hook(lambda m, x, y: calls.append(y.shape)):
        net(rng.normal(size=(2, 3)))
        net.forward(rng.normal(size=(4, 3)))
    net(rng.normal(size=(1, 3)))
    assert calls == [(2, 2), (4, 2)]


def test_backward_hook_receives_both_gradients_and_can_replace_grad_input(rng):
    net = _net(rng)
    x, target = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    loss = nn.MSELoss()
    seen = {}

    def record(module, grad_in, grad_out):
        seen[module] = (None if grad_in is None else grad_in.copy(), grad_out.copy())

    for layer in net:
        layer.register_backward_hook(record)
    loss(net(x), target)
    net.zero_grad()
    grad_x = net.backward(loss.backward())
    g_in, g_out = seen[net[2]]
    np.testing.assert_allclose(g_in, g_out @ net[2].weight.data.T, rtol=1e-15)
    np.testing.assert_array_equal(seen[net[0]][0], grad_x)
    loss(net(x), target)
    net.backward_params(loss.backward())
    assert seen[net[0]][0] is None  # the first layer computes no input gradient here

    net[1].register_backward_hook(lambda m, gi, go: np.zeros_like(gi))
    loss(net(x), target)
    net.zero_grad()
    net.backward(loss.backward())
    np.testing.assert_array_equal(net[0].weight.grad, 0)


class _Scale:
    """W̃ = s·W, so dL/dW = s·dL/dW̃."""

    def __init__(self, s: float) -> None:
        self.s = s

    def forward(self, module, weight):
        return self.s * weight

    def backward(self, module, grad):
        return self.s * grad


def test_a_weight_transform_changes_forward_and_backward_consistently(rng):
    layer = nn.Linear(3, 2, rng=rng, dtype=np.float64)
    x, target = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    loss = nn.MSELoss()
    plain = layer(x)
    handle = layer.register_weight_transform(_Scale(3.0))
    np.testing.assert_allclose(layer(x), x @ (3 * layer.weight.data) + layer.bias.data)
    layer.zero_grad()
    loss(layer(x), target)
    grad_out = loss.backward().copy()
    grad_x = layer.backward(grad_out)
    np.testing.assert_allclose(grad_x, grad_out @ (3 * layer.weight.data).T, rtol=1e-14)
    numeric = numerical_gradient(lambda: loss(layer(x), target), layer.weight.data)
    np.testing.assert_allclose(layer.weight.grad, numeric, rtol=1e-6, atol=1e-9)
    handle.remove()
    np.testing.assert_array_equal(layer(x), plain)
    with pytest.raises(ValueError, match="no parameter 'gamma' to transform"):
        layer.register_weight_transform(_Scale(1.0), name="gamma")


def test_a_mask_goes_through_the_seam_before_other_transforms(rng):
    layer = nn.Linear(3, 2, rng=rng, dtype=np.float64)
    mask = np.array([[1, 0], [1, 1], [0, 1]], dtype=float)
    original = layer.weight.data.copy()
    layer.weight.mask = mask
    layer.register_weight_transform(_Scale(2.0))
    x, target = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    np.testing.assert_allclose(layer(x), x @ (2 * original * mask) + layer.bias.data)
    loss = nn.MSELoss()
    layer.zero_grad()
    loss(layer(x), target)
    layer.backward(loss.backward())
    assert layer.weight.grad[0, 1] == 0 and layer.weight.grad[2, 0] == 0
    layer.weight.data[0, 1] = 5.0  # written by hand: the forward still masks it
    np.testing.assert_allclose(layer(x), x @ (2 * layer.weight.data * mask) + layer.bias.data)


def test_noisy_linear_is_a_linear_layer_with_a_noise_transform(rng):
    layer = nn.NoisyLinear(3, 2, sigma=0.5, noise_rng=4, rng=rng, dtype=np.float64)
    (transform,) = layer.weight_transforms()
    assert isinstance(transform, nn.GaussianNoise) and transform.sigma == 0.5
    x = rng.normal(size=(2, 3))
    out = layer(x)
    np.testing.assert_allclose(out, x @ (layer.weight.data * layer.last_noise) + layer.bias.data)
