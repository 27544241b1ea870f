"""Pooling, Flatten and Unflatten against PyTorch; ties and NaN in max pooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from nablab import nn

from helpers.oracle import assert_close, nn_, tt

MAX = {1: (nn.MaxPool1d, F.max_pool1d), 2: (nn.MaxPool2d, F.max_pool2d)}
AVG = {1: (nn.AvgPool1d, F.avg_pool1d), 2: (nn.AvgPool2d, F.avg_pool2d)}


def run_both(ours, theirs, x, rng):
    y = ours(x)
    g = rng.normal(size=y.shape)
    dx = ours.backward(g)
    xt = tt(x, True)
    yt = theirs(xt)
    yt.backward(tt(g))
    assert_close(y, nn_(yt))
    assert_close(dx, nn_(xt.grad))
    return y


@st.composite
def pool_cases(draw, dilation: bool):
    dims = draw(st.sampled_from([1, 2]))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dil = tuple(draw(st.integers(1, 3)) if dilation else 1 for _ in range(dims))
    # at least the reach without padding: no window of taps that skip the input entirely
    size = tuple(
        d * (k - 1) + 1 + draw(st.integers(0, 6)) for k, d in zip(kernel, dil, strict=True)
    )
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), *size)
    return dims, kernel, stride, padding, dil, shape, draw(st.integers(0, 2**31))


@settings(max_examples=80, deadline=None)
@given(case=pool_cases(dilation=True))
def test_max_pooling_matches_torch(case):
    dims, kernel, stride, padding, dilation, shape, seed = case
    rng = np.random.default_rng(seed)
    ours = MAX[dims][0](kernel, stride, padding, dilation)
    x = rng.normal(size=shape)
    run_both(ours, lambda t: MAX[dims][1](t, kernel, stride, padding, dilation), x, rng)


@settings(max_examples=80, deadline=None)
@given(case=pool_cases(dilation=False), include=st.booleans())
def test_average_pooling_matches_torch(case, include):
    dims, kernel, stride, padding, _, shape, seed = case
    rng = np.random.default_rng(seed)
    ours = AVG[dims][0](kernel, stride, padding, count_include_pad=include)
    x = rng.normal(size=shape)
    run_both(
        ours,
        lambda t: AVG[dims][1](t, kernel, stride, padding, count_include_pad=include),
        x,
        rng,
    )


def test_max_pool_ties_go_to_the_first_maximum_as_in_torch(rng):
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, :2, :2] = 1.0  # a tie across the whole first window
    x[0, 0, 2:, 2:] = [[3.0, 3.0], [2.0, 3.0]]
    ours = nn.MaxPool2d(2)
    y = run_both(ours, lambda t: F.max_pool2d(t, 2), x, rng)
    assert y[0, 0].tolist() == [[1.0, 0.0], [0.0, 3.0]]
    dx = ours.backward(np.ones((1, 1, 2, 2)))
    expected = np.zeros((4, 4))
    expected[0, 0] = expected[0, 2] = expected[2, 0] = expected[2, 2] = 1.0
    np.testing.assert_array_equal(dx[0, 0], expected)
    overlapping = nn.MaxPool1d(3, stride=1)
    run_both(overlapping, lambda t: F.max_pool1d(t, 3, 1), np.ones((2, 3, 6)), rng)


def test_max_pool_propagates_nan_like_torch():
    x = np.array([[[1.0, np.nan, 3.0, 2.0]]])
    ours = nn.MaxPool1d(2)
    y = ours(x)
    expected = F.max_pool1d(torch.tensor(x), 2).numpy()
    np.testing.assert_array_equal(y, expected)  # [nan, 3]
    np.testing.assert_array_equal(ours.backward(np.ones((1, 1, 2)))[0, 0], [0.0, 1.0, 1.0, 0.0])


def test_global_average_pool_flatten_and_unflatten(rng):
    for shape in [(2, 3, 5), (2, 3, 4, 5)]:
        x = rng.normal(size=shape)
        dims = tuple(range(2, len(shape)))
        run_both(nn.GlobalAvgPool(), lambda t, dims=dims: t.mean(dim=dims), x, rng)
    x = rng.normal(size=(2, 3, 4, 5))
    run_both(nn.Flatten(), lambda t: torch.flatten(t, 1), x, rng)
    run_both(nn.Flatten(2, 3), lambda t: torch.flatten(t, 2, 3), x, rng)
    signals = rng.normal(size=(3, 40))
    y = run_both(nn.Unflatten(1, (1, 40)), lambda t: t.unflatten(1, (1, 40)), signals, rng)
    assert y.shape == (3, 1, 40)


def test_pooling_keeps_float32(rng):
    x = rng.normal(size=(2, 3, 6, 6)).astype(np.float32)
    for layer in (nn.MaxPool2d(2), nn.AvgPool2d(3, 1, 1), nn.GlobalAvgPool(), nn.Flatten()):
        y = layer(x)
        assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32


def test_pooling_errors_name_the_module():
    model = nn.Sequential(nn.MaxPool2d(2), nn.AvgPool1d(2))
    with pytest.raises(ValueError, match=r"AvgPool1d '1': expected a floating array of shape"):
        model(np.zeros((1, 2, 4, 4)))
    with pytest.raises(ValueError, match=r"MaxPool2d: the input's spatial size \(1, 4\)"):
        nn.MaxPool2d(2)(np.zeros((1, 1, 1, 4)))
    with pytest.raises(ValueError, match=r"window 0 along spatial axis 0 reads padding only"):
        nn.MaxPool1d(2, padding=1, dilation=2)(np.zeros((1, 1, 1)))
    with pytest.raises(ValueError, match="at most half the kernel size"):
        nn.MaxPool1d(2, padding=2)
    with pytest.raises(ValueError, match=r"kernel_size must be an integer or 2 integers >= 1"):
        nn.MaxPool2d((2, 0))
    with pytest.raises(ValueError, match=r"Unflatten: axis 1 of the input has size 40"):
        nn.Unflatten(1, (3, 13))(np.zeros((2, 40)))
    with pytest.raises(ValueError, match=r"GlobalAvgPool: expected an array"):
        nn.GlobalAvgPool()(np.zeros((2, 3)))
    pool = nn.MaxPool1d(2)
    pool(np.zeros((1, 1, 4)))
    with pytest.raises(ValueError, match=r"grad_out of shape \(1, 1, 2\), got \(1, 1, 3\)"):
        pool.backward(np.zeros((1, 1, 3)))
