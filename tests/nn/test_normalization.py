"""BatchNorm1d, LayerNorm and mean-only batch norm against PyTorch and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nablab import nn, summary
from nablab.analysis import gradcheck

from helpers.oracle import assert_close, nn_, tt


def _torch_bn(module: nn.BatchNorm1d) -> torch.nn.BatchNorm1d:
    ref = torch.nn.BatchNorm1d(
        module.num_features,
        eps=module.eps,
        momentum=module.momentum,
        affine=module.affine,
        track_running_stats=module.track_running_stats,
    )
    if module.affine:
        with torch.no_grad():
            ref.weight.copy_(tt(module.weight.data))
            ref.bias.copy_(tt(module.bias.data))
    return ref


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize(("n", "c"), [(2, 1), (5, 3), (16, 7)])
def test_batchnorm_training_steps_match_torch(rng, momentum, affine, n, c):
    ours = nn.BatchNorm1d(c, momentum=momentum, affine=affine, dtype=np.float64)
    if affine:
        ours.weight.data[...] = rng.normal(size=c)
        ours.bias.data[...] = rng.normal(size=c)
    ref = _torch_bn(ours)
    for _ in range(4):
        x = rng.normal(loc=2.0, scale=3.0, size=(n, c))
        g = rng.normal(size=(n, c))
        ours.zero_grad()
        y = ours(x)
        dx = ours.backward(g)
        xt = tt(x, True)
        ref.zero_grad()
        yt = ref(xt)
        yt.backward(tt(g))
        assert_close(y, nn_(yt))
        assert_close(dx, nn_(xt.grad))
        if affine:
            assert_close(ours.weight.grad, nn_(ref.weight.grad))
            assert_close(ours.bias.grad, nn_(ref.bias.grad))
        assert_close(ours.running_mean, nn_(ref.running_mean))
        assert_close(ours.running_var, nn_(ref.running_var))
    assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked) == 4
    ours.eval()
    ref.eval()
    x, g = rng.normal(size=(n, c)), rng.normal(size=(n, c))
    xt = tt(x, True)
    yt = ref(xt)
    yt.backward(tt(g))
    assert_close(ours(x), nn_(yt))
    assert_close(ours.backward(g), nn_(xt.grad))


def test_batchnorm_without_running_stats_uses_batch_statistics_in_eval(rng):
    ours = nn.BatchNorm1d(3, track_running_stats=False, dtype=np.float64).eval()
    x = rng.normal(size=(6, 3))
    assert_close(ours(x), nn_(F.batch_norm(tt(x), None, None, training=True)))
    assert "running_mean" not in ours.state_dict()


@pytest.mark.parametrize(
    ("shape", "normalized"),
    [((1, 4), 1), ((3, 5), 1), ((2, 3, 4), 1), ((2, 3, 4), 2), ((1, 2, 5), 2)],
)
@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_matches_torch(rng, shape, normalized, affine):
    norm_shape = shape[-normalized:]
    ours = nn.LayerNorm(norm_shape, elementwise_affine=affine, dtype=np.float64)
    if affine:
        ours.weight.data[...] = rng.normal(size=norm_shape)
        ours.bias.data[...] = rng.normal(size=norm_shape)
    x, g = rng.normal(scale=2.0, size=shape), rng.normal(size=shape)
    y = ours(x)
    dx = ours.backward(g)
    xt = tt(x, True)
    wt = tt(ours.weight.data, True) if affine else None
    bt = tt(ours.bias.data, True) if affine else None
    yt = F.layer_norm(xt, norm_shape, wt, bt, eps=1e-5)
    yt.backward(tt(g))
    assert_close(y, nn_(yt))
    assert_close(dx, nn_(xt.grad))
    if affine:
        assert_close(ours.weight.grad, nn_(wt.grad))
        assert_close(ours.bias.grad, nn_(bt.grad))


@pytest.mark.parametrize(
    "norm",
    [
        lambda: nn.BatchNorm1d(4, dtype=np.float64),
        lambda: nn.LayerNorm(4, dtype=np.float64),
        lambda: nn.MeanOnlyBatchNorm1d(4, dtype=np.float64),
    ],
)
def test_finite_differences_through_a_network(rng, norm):
    model = nn.Sequential(
        nn.Linear(3, 4, rng=rng, dtype=np.float64),
        norm(),
        nn.Tanh(),
        nn.Linear(4, 2, rng=rng, dtype=np.float64),
    )
    for p in model.parameters():
        p.data[...] += rng.normal(scale=0.1, size=p.shape)
    report = gradcheck(
        model, nn.MSELoss(), rng.normal(size=(5, 3)), rng.normal(size=(5, 2)), include_input=True
    )
    assert report.passed(1e-6), report.table()


def test_mean_only_backward_is_the_centered_gradient(rng):
    layer = nn.MeanOnlyBatchNorm1d(3, dtype=np.float64)
    gamma = rng.normal(size=3)
    layer.weight.data[...] = gamma
    x, g = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    y = layer(x)
    assert_close(y, gamma * (x - x.mean(axis=0)))
    assert_close(layer.backward(g), gamma * (g - g.mean(axis=0)))
    layer(x[:1])
    np.testing.assert_array_equal(layer.backward(g[:1]), np.zeros((1, 3)))


def test_batchnorm_batch_of_one_returns_beta_and_warns_once(rng):
    layer = nn.BatchNorm1d(3, dtype=np.float64)
    layer.bias.data[...] = [0.5, -1.0, 2.0]
    x = rng.normal(size=(1, 3))
    with pytest.warns(RuntimeWarning, match="batch of one sample has x − μ = 0"):
        y = layer(x)
    np.testing.assert_array_equal(y, [[0.5, -1.0, 2.0]])
    np.testing.assert_array_equal(layer.backward(np.ones((1, 3))), np.zeros((1, 3)))
    np.testing.assert_array_equal(layer.running_var, np.ones(3))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer(x)  # the second time stays quiet


def test_float32_normalization_stays_float32(rng):
    for layer in (nn.BatchNorm1d(4), nn.LayerNorm(4), nn.MeanOnlyBatchNorm1d(4)):
        x = rng.normal(size=(5, 4)).astype(np.float32)
        y = layer(x)
        assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32
        assert all(p.grad.dtype == np.float32 for p in layer.parameters())


def test_normalization_errors():
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected input of shape \(N, 4\)"):
        nn.BatchNorm1d(4)(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="num_features must be a positive integer"):
        nn.BatchNorm1d(0)
    with pytest.raises(ValueError, match=r"expected input ending in \(4,\)"):
        nn.LayerNorm(4)(np.zeros((2, 3), np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.BatchNorm1d(2).backward(np.zeros((1, 2)))


def test_summary_counts_the_textbook_260():
    model = nn.Sequential(nn.Linear(10, 20), nn.BatchNorm1d(20))
    table = summary(model, 10)
    assert table.total == table.trainable == 260
    assert [r.params for r in table.rows] == [220, 40]
    assert table.rows[1].output_shape == (1, 20)
    assert "total parameters: 260" in str(table)
    assert model.training  # summary runs in eval mode and restores the flags


def test_summary_of_a_deeper_model_and_frozen_parameters():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    model[0].bias.requires_grad = False
    table = summary(model, (4,))
    assert table.total == 4 * 8 + 8 + 8 * 3 + 3
    assert table.trainable == table.total - 8
    assert [r.kind for r in table.rows] == ["Linear", "ReLU", "Dropout", "Linear"]


@pytest.mark.parametrize(
    ("make", "reference", "shape"),
    [
        (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 6)),
        (nn.BatchNorm2d, torch.nn.BatchNorm2d, (1, 2, 3, 3)),  # one sample, nine values each
        (nn.BatchNorm1d, torch.nn.BatchNorm1d, (3, 4, 7)),  # signals (N, C, L)
    ],
)
@pytest.mark.parametrize("momentum", [0.1, None])
def test_per_channel_batchnorm_matches_torch(rng, make, reference, shape, momentum):
    c = shape[1]
    ours = make(c, momentum=momentum, dtype=np.float64)
    ours.weight.data = rng.normal(size=c)
    ours.bias.data = rng.normal(size=c)
    ref = reference(c, momentum=momentum)
    with torch.no_grad():
        ref.weight.copy_(tt(ours.weight.data))
        ref.bias.copy_(tt(ours.bias.data))
    for step in range(4):
        if step == 3:
            ours.eval()
            ref.eval()
        x, g = rng.normal(loc=1.0, scale=2.0, size=shape), rng.normal(size=shape)
        ours.zero_grad()
        ref.zero_grad()
        y = ours(x)
        dx = ours.backward(g)
        xt = tt(x, True)
        yt = ref(xt)
        yt.backward(tt(g))
        assert_close(y, nn_(yt))
        assert_close(dx, nn_(xt.grad))
        assert_close(ours.weight.grad, nn_(ref.weight.grad))
        assert_close(ours.bias.grad, nn_(ref.bias.grad))
        assert_close(ours.running_mean, nn_(ref.running_mean))
        assert_close(ours.running_var, nn_(ref.running_var))


def test_batchnorm2d_finite_differences_and_errors(rng):
    model = nn.Sequential(
        nn.Conv2d(2, 3, 2, rng=rng, dtype=np.float64),
        nn.BatchNorm2d(3, dtype=np.float64),
        nn.Tanh(),
        nn.GlobalAvgPool(),
        nn.Linear(3, 2, rng=rng, dtype=np.float64),
    )
    for p in model.parameters():
        p.data = p.data + rng.normal(scale=0.1, size=p.shape)
    x, target = rng.normal(size=(3, 2, 4, 4)), rng.normal(size=(3, 2))
    report = gradcheck(model, nn.MSELoss(), x, target, include_input=True)
    assert report.passed(1e-6), report.table()
    with pytest.raises(ValueError, match=r"BatchNorm2d '1': expected input of shape \(N, 3, H"):
        model[1](np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected input of shape \(N, 4\) or"):
        nn.BatchNorm1d(4)(np.zeros((2, 4, 3, 3), np.float32))
    y = nn.BatchNorm2d(3)(rng.normal(size=(2, 3, 4, 4)).astype(np.float32))
    assert y.dtype == np.float32


def test_normalizations_refuse_wrong_dtypes_empty_batches_and_a_non_positive_eps():
    for make in (
        lambda: nn.BatchNorm1d(3),
        lambda: nn.LayerNorm(3),
        lambda: nn.MeanOnlyBatchNorm1d(3),
    ):
        layer = make()
        with pytest.raises(ValueError, match="expected input dtype float32, got float64"):
            layer(np.zeros((4, 3)))
        with pytest.raises(ValueError, match=r"the batch is empty \(shape \(0, 3\)\)"):
            layer(np.zeros((0, 3), np.float32))
    for make in (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm):
        for eps in (0, -1e-5, float("nan")):
            with pytest.raises(ValueError, match="eps must be a positive number"):
                make(3, eps=eps)
