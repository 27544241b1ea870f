"""Conv1d and Conv2d against torch.nn.functional.conv1d/conv2d (weights permuted), finite
differences, the output-size formula, and everything a Linear layer supports."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from nablab import init, nn, optim
from nablab.analysis import gradcheck
from nablab.optim.centralize import centralize

from helpers.oracle import assert_close, nn_, tt

CONV = {1: (nn.Conv1d, F.conv1d), 2: (nn.Conv2d, F.conv2d)}


def torch_layout(weight: np.ndarray) -> np.ndarray:
    """nablab's (*k, C_in/g, C_out) as PyTorch's (C_out, C_in/g, *k)."""
    dims = weight.ndim - 2
    return weight.transpose(dims + 1, dims, *range(dims))


def compare_with_torch(layer, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Run ``layer`` forward and backward and assert agreement with PyTorch; returns y."""
    dims = x.ndim - 2
    y = layer(x)
    g = rng.normal(size=y.shape)
    dx = layer.backward(g)
    xt, wt = tt(x, True), tt(torch_layout(layer.weight.data), True)
    bt = None if layer.bias is None else tt(layer.bias.data, True)
    yt = CONV[dims][1](
        xt,
        wt,
        bt,
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        groups=layer.groups,
    )
    yt.backward(tt(g))
    assert_close(y, nn_(yt))
    assert_close(dx, nn_(xt.grad))
    assert_close(torch_layout(layer.weight.grad), nn_(wt.grad))
    if bt is not None:
        assert_close(layer.bias.grad, nn_(bt.grad))
    return y


def make(dims, c_in, c_out, kernel, rng, **options):
    layer = CONV[dims][0](c_in, c_out, kernel, rng=rng, dtype=np.float64, **options)
    if layer.bias is not None:
        layer.bias.data = rng.normal(size=c_out)
    return layer


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"stride": 2, "padding": 1},
        {"padding": "same", "dilation": 2},
        {"padding": "same", "bias": False},
        {"stride": 3, "padding": 2, "dilation": 2, "groups": 2},
        {"groups": 4, "padding": "valid"},
    ],
)
def test_conv_matches_torch(rng, dims, options):
    layer = make(dims, 4, 8, 3, rng, **options)
    x = rng.normal(size=(3, 4, *(11,) * dims))
    compare_with_torch(layer, x, rng)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_conv2d_with_rectangular_kernels_strides_and_paddings(rng):
    layer = make(2, 3, 5, (2, 4), rng, stride=(1, 2), padding=(3, 1), dilation=(2, 1))
    compare_with_torch(layer, rng.normal(size=(2, 3, 7, 9)), rng)
    same = make(2, 3, 2, (4, 2), rng, padding="same", dilation=(1, 3))  # even reach: pad right
    assert compare_with_torch(same, rng.normal(size=(1, 3, 6, 5)), rng).shape == (1, 2, 6, 5)


@pytest.mark.parametrize("dims", [1, 2])
def test_a_kernel_as_large_as_the_input_and_a_batch_of_one(rng, dims):
    layer = make(dims, 3, 4, 5, rng)
    y = compare_with_torch(layer, rng.normal(size=(1, 3, *(5,) * dims)), rng)
    assert y.shape == (1, 4, *(1,) * dims)


@st.composite
def conv_cases(draw):
    dims = draw(st.sampled_from([1, 2]))
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    kind = draw(st.sampled_from(["int", "tuple", "same", "valid"]))
    if kind == "same":
        padding, stride = "same", (1,) * dims
    else:
        stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
        padding = {
            "int": draw(st.integers(0, 3)),
            "tuple": tuple(draw(st.integers(0, 3)) for _ in range(dims)),
            "valid": "valid",
        }[kind]
    pads = (padding,) * dims if isinstance(padding, int) else padding
    size = []
    for axis in range(dims):
        reach = dilation[axis] * (kernel[axis] - 1) + 1
        pad = 0 if isinstance(pads, str) else 2 * pads[axis]
        size.append(max(1, reach - pad) + draw(st.integers(0, 5)))
    return {
        "dims": dims,
        "batch": draw(st.integers(1, 3)),
        "c_in": c_in,
        "c_out": c_out,
        "size": tuple(size),
        "options": {
            "kernel_size": kernel,
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "groups": groups,
            "bias": draw(st.booleans()),
        },
        "seed": draw(st.integers(0, 2**31)),
    }


@settings(max_examples=120, deadline=None)
@given(case=conv_cases())
def test_random_convolutions_match_torch_and_the_output_size_formula(case):
    rng = np.random.default_rng(case["seed"])
    options = dict(case["options"])
    kernel = options.pop("kernel_size")
    layer = make(case["dims"], case["c_in"], case["c_out"], kernel, rng, **options)
    x = rng.normal(size=(case["batch"], case["c_in"], *case["size"]))
    y = compare_with_torch(layer, x, rng)
    expected = []
    for axis, size in enumerate(case["size"]):
        k, s, d = kernel[axis], options["stride"][axis], options["dilation"][axis]
        padding = options["padding"]
        if padding == "same":
            expected.append(size)
            continue
        p = 0 if padding == "valid" else padding if isinstance(padding, int) else padding[axis]
        expected.append((size + 2 * p - d * (k - 1) - 1) // s + 1)
    assert y.shape == (case["batch"], case["c_out"], *expected)


@pytest.mark.parametrize("dims", [1, 2])
def test_finite_differences_through_a_small_cnn(rng, dims):
    conv = CONV[dims][0]
    pool = nn.MaxPool1d(2) if dims == 1 else nn.MaxPool2d(2)
    model = nn.Sequential(
        conv(2, 3, 3, padding=1, rng=rng, dtype=np.float64),
        nn.Tanh(),
        pool,
        conv(3, 2, 2, stride=2, groups=1, dilation=1, rng=rng, dtype=np.float64),
        nn.Flatten(),  # (N, 2, 1) or (N, 2, 1, 1) → (N, 2)
        nn.Linear(2, 3, rng=rng, dtype=np.float64),
    )
    x = rng.normal(size=(2, 2, *(4,) * dims))
    report = gradcheck(model, nn.CrossEntropyLoss(), x, np.array([0, 2]), include_input=True)
    assert report.passed(1e-6), report.table()


def test_layout_and_fans_match_torch():
    layer = nn.Conv2d(6, 8, (3, 5), groups=2, rng=0)
    assert layer.weight.shape == (3, 5, 3, 8) and layer.bias.shape == (8,)
    reference = torch.empty(8, 3, 3, 5)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(reference)
    assert init.fans(layer.weight.shape) == (fan_in, fan_out) == (45, 120)
    conv1d = torch.empty(16, 4, 7)
    assert init.fans((7, 4, 16)) == torch.nn.init._calculate_fan_in_and_fan_out(conv1d)
    assert init.fans((5, 3)) == (5, 3)  # a linear weight (in, out)


def test_he_initialized_kernels_have_the_receptive_field_variance():
    layer = nn.Conv2d(16, 64, 3, init="he_normal", rng=0, dtype=np.float64)
    expected = 2.0 / (3 * 3 * 16)
    n = layer.weight.size
    assert abs(layer.weight.data.var() / expected - 1) < 5 * math.sqrt(2 / n)


def test_float32_stays_float32_and_dtype_errors_name_the_module(rng):
    model = nn.Sequential(nn.Conv1d(1, 4, 3, rng=rng), nn.ReLU(), nn.Conv1d(4, 2, 3, rng=rng))
    x = rng.normal(size=(5, 1, 10)).astype(np.float32)
    y = model(x)
    dx = model.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    with pytest.raises(ValueError, match=r"Conv1d '0': expected input dtype float32, got float64"):
        model(x.astype(np.float64))


def test_shape_errors_name_the_module_and_the_shapes(rng):
    model = nn.Sequential(nn.Conv2d(3, 4, 3, rng=rng), nn.ReLU(), nn.Conv2d(5, 2, 3, rng=rng))
    with pytest.raises(
        ValueError,
        match=r"Conv2d '2': expected input of shape \(N, 5, H, W\) float32, "
        r"got shape \(2, 4, 6, 6\)",
    ):
        model(np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"batch axis: use x\[None\]"):
        model(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"Conv2d '0': the input's spatial size \(2, 8\)"):
        model(np.zeros((1, 3, 2, 8), np.float32))
    with pytest.raises(TypeError, match="NumPy array"):
        model([[0.0]])
    layer = nn.Conv1d(2, 3, 3, rng=rng)
    with pytest.raises(RuntimeError, match=r"Conv1d: backward\(\) called before forward\(\)"):
        layer.backward(np.zeros((1, 3, 2), np.float32))
    layer(np.zeros((2, 2, 6), np.float32))
    with pytest.raises(ValueError, match=r"grad_out of shape \(2, 3, 4\), got \(2, 3, 5\)"):
        layer.backward(np.zeros((2, 3, 5), np.float32))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_channels": 3, "out_channels": 4, "kernel_size": 3, "groups": 2}, "divisible by"),
        ({"in_channels": 0, "out_channels": 4, "kernel_size": 3}, "in_channels must be a posi"),
        ({"in_channels": 2, "out_channels": 4, "kernel_size": (3, 3)}, "kernel_size must be an"),
        ({"in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 0}, "stride must be"),
        (
            {"in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": "same"},
            "padding='same' needs stride 1",
        ),
        ({"in_channels": 2, "out_channels": 4, "kernel_size": 3, "padding": "full"}, "'same'"),
        ({"in_channels": 2, "out_channels": 4, "kernel_size": 3, "padding": -1}, "padding must"),
        ({"in_channels": 2, "out_channels": 4, "kernel_size": 3, "bias": "shared"}, "bias must"),
    ],
)
def test_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.Conv1d(**kwargs)


def test_backward_params_gives_the_same_parameter_gradients(rng):
    layer = make(2, 2, 3, 3, rng, padding=1)
    x, g = rng.normal(size=(2, 2, 5, 5)), rng.normal(size=(2, 3, 5, 5))
    layer(x)
    layer.backward(g)
    full = [p.grad.copy() for p in layer.parameters()]
    layer.zero_grad()
    layer(x)
    assert layer.backward_params(g) is None
    for expected, p in zip(full, layer.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, expected)


def test_a_mask_and_a_weight_transform_go_through_the_seam(rng):
    layer = make(1, 2, 4, 3, rng)
    mask = (rng.random(layer.weight.shape) > 0.4).astype(np.float64)
    layer.weight.mask = mask
    transform = nn.GaussianNoise(0.3, rng=1)
    layer.register_weight_transform(transform)
    x = rng.normal(size=(3, 2, 7))
    y = layer(x)
    g = rng.normal(size=y.shape)
    dx = layer.backward(g)
    used = layer.weight.data * mask * transform.last_noise
    xt, wt = tt(x, True), tt(torch_layout(used), True)
    yt = F.conv1d(xt, wt, tt(layer.bias.data))
    yt.backward(tt(g))
    assert_close(y, nn_(yt))
    assert_close(dx, nn_(xt.grad))
    assert_close(layer.weight.grad, torch_layout_back(nn_(wt.grad)) * transform.last_noise * mask)
    assert not layer.weight.grad[mask == 0].any()


def torch_layout_back(weight: np.ndarray) -> np.ndarray:
    """PyTorch's (C_out, C_in/g, *k) as nablab's (*k, C_in/g, C_out)."""
    dims = weight.ndim - 2
    return weight.transpose(*range(2, dims + 2), 1, 0)


def test_pruning_an_output_channel_leaves_only_its_bias(rng):
    model = nn.Sequential(nn.Conv2d(2, 3, 3, rng=rng, dtype=np.float64), nn.ReLU())
    conv = model[0]
    conv.bias.data = np.array([0.5, 0.25, -0.5])
    mask = np.ones(conv.weight.shape)
    mask[..., 1] = 0  # output channel 1: structured pruning is weight[..., j]
    conv.weight.mask = mask
    x, y = rng.normal(size=(4, 2, 6, 6)), rng.normal(size=(4, 3, 4, 4))
    opt = optim.Adam(model.parameters(), lr=0.1)
    loss = nn.MSELoss()
    for _ in range(5):
        model.zero_grad()
        loss(model(x), y)
        model.backward(loss.backward())
        opt.step()
    assert not conv.weight.data[..., 1].any() and conv.weight.data[..., 0].all()
    out = conv(x)
    np.testing.assert_array_equal(out[:, 1], np.full((4, 4, 4), conv.bias.data[1]))
    assert "0.weight_mask" in model.state_dict()


def test_gradient_centralization_centres_each_output_channel(rng):
    grad = rng.normal(size=(3, 3, 4, 5))
    centred = centralize(grad.copy())
    np.testing.assert_allclose(centred.sum(axis=(0, 1, 2)), 0, atol=1e-12)
    assert_close(centred[..., 2], grad[..., 2] - grad[..., 2].mean())


def test_penalties_take_the_kernels_and_leave_biases_alone(rng):
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, rng=rng),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8, 3, rng=rng),
    )
    chosen = nn.penalized_parameters(model)
    assert [p.name for p in chosen] == ["0.weight", "4.weight"]
    with_biases = nn.penalized_parameters(model, biases=True)
    assert [p.name for p in with_biases] == ["0.weight", "0.bias", "4.weight", "4.bias"]


def test_state_dict_round_trip_and_repr(rng):
    a = nn.Conv1d(2, 3, 5, stride=2, padding=2, rng=1)
    b = nn.Conv1d(2, 3, 5, stride=2, padding=2, rng=2)
    b.load_state_dict(a.state_dict())
    x = rng.normal(size=(2, 2, 9)).astype(np.float32)
    np.testing.assert_array_equal(a(x), b(x))
    assert repr(a) == (
        "Conv1d(2, 3, kernel_size=(5,), stride=(2,), padding=2, bias=True, dtype=float32)"
    )
    assert "dilation=(2, 1), groups=2" in repr(nn.Conv2d(2, 2, 3, dilation=(2, 1), groups=2))


def test_backward_params_skips_the_input_gradient_behind_a_leading_reshape(rng):
    model = nn.Sequential(
        nn.Unflatten(1, (1, 12)),
        nn.Conv1d(1, 3, 3, rng=rng, dtype=np.float64),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(30, 2, rng=rng, dtype=np.float64),
    )
    x, g = rng.normal(size=(4, 12)), rng.normal(size=(4, 2))
    model(x)
    model.backward(g)
    full = [p.grad.copy() for p in model.parameters()]
    seen = []
    model[1].register_backward_hook(lambda module, grad_in, grad_out: seen.append(grad_in))
    model.zero_grad()
    model(x)
    model.backward_params(g)
    assert seen == [None]  # the convolution was asked for its parameter gradients only
    for expected, p in zip(full, model.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "dilation", "groups"),
    [
        ((3, 9, 4), (3,), (2,), (1,), 1),
        ((2, 7, 8, 6), (3, 2), (1, 2), (2, 1), 3),
        ((2, 5, 5, 1), (5, 5), (1, 1), (1, 1), 1),
    ],
)
def test_the_compiled_col2im_adds_exactly_like_the_reference(
    rng, dtype, shape, kernel, stride, dilation, groups
):
    pytest.importorskip("numba")
    from nablab.backend import use_kernels
    from nablab.nn import sliding

    dims = len(kernel)
    out = sliding.output_shape(shape[1:-1], ((0, 0),) * dims, kernel, stride, dilation)
    rows, width = shape[0] * math.prod(out), math.prod(kernel) * shape[-1] // groups
    d_cols = rng.normal(size=(groups, rows, width)).astype(dtype)
    reference = sliding.col2im_reference(d_cols, shape, out, kernel, stride, dilation)
    with use_kernels("numba"):
        compiled = sliding.col2im(d_cols, shape, out, kernel, stride, dilation)
    assert compiled.dtype == dtype
    np.testing.assert_array_equal(compiled, reference)  # same additions in the same order


@pytest.mark.parametrize("by_positions", [True, False])
@pytest.mark.parametrize(
    ("dims", "options"),
    [
        (1, {"stride": 2, "padding": 2, "groups": 1}),
        (2, {"padding": (1, 2), "dilation": (2, 1), "groups": 2}),
        (2, {"stride": (2, 1), "padding": "valid", "groups": 4}),
    ],
)
def test_both_ways_of_copying_windows_match_torch(rng, monkeypatch, by_positions, dims, options):
    from nablab.nn import conv

    monkeypatch.setattr(conv, "_by_positions", lambda channels, positions: by_positions)
    layer = make(dims, 4, 8, 3, rng, **options)
    compare_with_torch(layer, rng.normal(size=(3, 4, *(9,) * dims)), rng)
