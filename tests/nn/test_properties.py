"""Property tests over shapes, dtypes and activations."""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from nablab import nn

from helpers.oracle import assert_close, nn_, tt

TORCH_ACTIVATIONS = {
    "identity": lambda x: x,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "swish": F.silu,
    "softmax": lambda x: F.softmax(x, dim=-1),
}

sizes = st.integers(min_value=1, max_value=6)


@settings(max_examples=60, deadline=None)
@given(
    batch=sizes,
    widths=st.lists(sizes, min_size=2, max_size=4),
    activation=st.sampled_from(sorted(TORCH_ACTIVATIONS)),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**31),
)
def test_mlp_shapes_dtypes_and_torch_agreement(batch, widths, activation, dtype, seed):
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(widths):
        layers += [nn.Linear(fan_in, fan_out, rng=rng, dtype=dtype), nn.activation(activation)]
    model = nn.Sequential(*layers)
    x = rng.normal(size=(batch, widths[0])).astype(dtype)
    g = rng.normal(size=(batch, widths[-1])).astype(dtype)
    y = model(x)
    dx = model.backward(g)
    assert y.shape == (batch, widths[-1]) and dx.shape == x.shape
    assert y.dtype == dx.dtype == dtype
    assert all(p.grad.dtype == dtype and p.grad.shape == p.shape for p in model.parameters())
    if dtype is np.float64:
        xt = tt(x, True)
        params = [
            (tt(layer.weight.data, True), tt(layer.bias.data, True))
            for layer in model
            if isinstance(layer, nn.Linear)
        ]
        h = xt
        for weight, bias in params:
            h = TORCH_ACTIVATIONS[activation](h @ weight + bias)
        h.backward(tt(g))
        assert_close(y, nn_(h))
        assert_close(dx, nn_(xt.grad))
        linears = [m for m in model if isinstance(m, nn.Linear)]
        for (weight, bias), layer in zip(params, linears, strict=True):
            assert_close(layer.weight.grad, nn_(weight.grad))
            assert_close(layer.bias.grad, nn_(bias.grad))


@settings(max_examples=40, deadline=None)
@given(
    batch=sizes, classes=st.integers(2, 6), seed=st.integers(0, 2**31), scale=st.floats(0.1, 50.0)
)
def test_cross_entropy_gradient_rows_sum_to_zero(batch, classes, seed, scale):
    rng = np.random.default_rng(seed)
    loss = nn.CrossEntropyLoss()
    loss(rng.normal(scale=scale, size=(batch, classes)), rng.integers(0, classes, size=batch))
    grad = loss.backward()
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)
    assert np.all(np.abs(grad) <= 1.0 / batch + 1e-15)
