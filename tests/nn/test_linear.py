"""Linear: Z = XW + b against torch.nn.functional.linear (weights transposed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nablab import nn

from helpers.oracle import assert_close, nn_, tt


@pytest.mark.parametrize("bias", [True, "shared", False])
@pytest.mark.parametrize(("n", "fan_in", "fan_out"), [(1, 1, 1), (1, 4, 3), (7, 5, 2), (16, 3, 9)])
def test_linear_matches_torch(rng, bias, n, fan_in, fan_out):
    layer = nn.Linear(fan_in, fan_out, bias=bias, rng=rng, dtype=np.float64)
    if layer.bias is not None:
        layer.bias.data[...] = rng.normal(size=layer.bias.shape)
    x = rng.normal(size=(n, fan_in))
    g = rng.normal(size=(n, fan_out))

    z = layer(x)
    dx = layer.backward(g)

    xt, wt = tt(x, True), tt(layer.weight.data.T, True)
    bt = tt(layer.bias.data, True) if layer.bias is not None else None
    zt = F.linear(xt, wt) + bt if bt is not None else F.linear(xt, wt)
    zt.backward(tt(g))
    assert_close(z, nn_(zt))
    assert_close(dx, nn_(xt.grad))
    assert_close(layer.weight.grad, nn_(wt.grad).T)
    if bt is not None:
        assert_close(layer.bias.grad, nn_(bt.grad))


def test_gradients_accumulate_until_zero_grad(rng):
    layer = nn.Linear(3, 2, rng=rng, dtype=np.float64)
    x, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    layer(x)
    layer.backward(g)
    once = layer.weight.grad.copy()
    layer.backward(g)
    assert_close(layer.weight.grad, 2 * once)
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_backward_params_skips_input_gradient_but_matches_weights(rng):
    model = nn.Sequential(
        nn.Linear(3, 4, rng=rng, dtype=np.float64),
        nn.Tanh(),
        nn.Linear(4, 2, rng=rng, dtype=np.float64),
    )
    x, g = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    model(x)
    model.backward(g)
    full = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    model(x)
    assert model.backward_params(g) is None
    for expected, p in zip(full, model.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, expected)


def test_shapes_and_layout():
    layer = nn.Linear(5, 3, rng=0)
    assert layer.weight.shape == (5, 3) and layer.bias.shape == (3,)
    assert nn.Linear(5, 3, bias="shared", rng=0).bias.shape == ()
    assert nn.Linear(5, 3, bias=False, rng=0).bias is None
    assert layer.weight.dtype == np.float32


def test_float32_stays_float32(rng):
    layer = nn.Linear(4, 3, rng=rng)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    z = layer(x)
    dx = layer.backward(np.ones_like(z))
    assert z.dtype == dx.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == np.float32


def test_errors_name_the_module_and_the_shapes(rng):
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.ReLU(), nn.Linear(5, 2, rng=rng))
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(
        ValueError,
        match=r"Linear '2': expected input of shape \(N, 5\) float32, "
        r"got shape \(2, 4\)",
    ):
        model(x)
    with pytest.raises(ValueError, match=r"Linear '0': expected input dtype float32, got float64"):
        model(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"x\[None, :\]"):
        model[0](np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="NumPy array"):
        model[0]([[0.0, 0.0, 0.0]])
    fresh = nn.Sequential(nn.Linear(3, 4, rng=rng))
    with pytest.raises(RuntimeError, match=r"Linear '0': backward\(\) called before forward\(\)"):
        fresh.backward(np.zeros((2, 4), np.float32))
    layer = nn.Linear(3, 4, rng=rng)
    layer(x)
    with pytest.raises(ValueError, match=r"grad_out of shape \(2, 4\), got \(2, 3\)"):
        layer.backward(np.zeros((2, 3), np.float32))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_features": 0, "out_features": 2}, "in_features must be a positive integer"),
        ({"in_features": 2, "out_features": 2, "bias": "per-unit"}, "bias must be True, False"),
        (
            {"in_features": 2, "out_features": 2, "init": "glorot_magic"},
            "unknown initializer .glorot_magic.*valid: zeros, constant",
        ),
        ({"in_features": 2, "out_features": 2, "dtype": np.int32}, "floating type"),
    ],
)
def test_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.Linear(**kwargs)


def test_init_accepts_a_callable():
    layer = nn.Linear(2, 3, init=lambda shape, rng, dtype: np.full(shape, 0.5, dtype))
    np.testing.assert_array_equal(layer.weight.data, np.full((2, 3), 0.5, np.float32))
    with pytest.raises(ValueError, match=r"initializer returned shape \(3,\)"):
        nn.Linear(2, 3, init=lambda shape, rng, dtype: np.zeros(3, dtype))


def test_torch_is_float64_here():
    assert torch.get_default_dtype() == torch.float64
