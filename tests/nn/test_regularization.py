"""Dropout, weight noise and penalties: exact behaviour and the documented expectations."""

from __future__ import annotations

import numpy as np
import pytest

from nablab import nn
from nablab.analysis import gradcheck, numerical_gradient

from helpers.oracle import assert_close


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_a_fraction_one_minus_p(p):
    layer = nn.Dropout(p, rng=0)
    layer(np.ones((400, 250)))
    n = layer.last_mask.size
    kept = layer.last_mask.mean()
    assert abs(kept - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("mode", ["inverted", "scale_at_test"])
def test_both_modes_have_the_eval_output_as_training_expectation(mode):
    x = np.random.default_rng(1).normal(size=(1, 6))
    layer = nn.Dropout(0.3, mode=mode, rng=2)
    draws = np.stack([layer(x) for _ in range(40_000)])
    layer.eval()
    expected = layer(x)
    # standard error of the mean of x·m·scale is |x|·scale·sqrt(p(1 − p)/draws)
    scale = 1 / 0.7 if mode == "inverted" else 1.0
    tolerance = 5 * np.abs(x) * scale * np.sqrt(0.21 / 40_000) + 1e-12
    assert np.all(np.abs(draws.mean(axis=0) - expected) < tolerance)
    assert_close(expected, x if mode == "inverted" else 0.7 * x)


def test_dropout_backward_uses_the_mask_and_scale(rng):
    layer = nn.Dropout(0.4, rng=3)
    x = rng.normal(size=(4, 5))
    y = layer(x)
    g = rng.normal(size=(4, 5))
    assert_close(layer.backward(g), g * layer.last_mask / 0.6)
    assert_close(y, x * layer.last_mask / 0.6)
    model = nn.Sequential(
        nn.Linear(5, 5, rng=rng, dtype=np.float64),
        layer,
        nn.Linear(5, 2, rng=rng, dtype=np.float64),
    )
    layer.set_mask(rng.random((4, 5)) > 0.4)  # a fixed mask makes the function deterministic
    report = gradcheck(model, nn.MSELoss(), x, rng.normal(size=(4, 2)), include_input=True)
    assert report.passed(1e-6), report.table()


def test_same_seed_same_masks_and_fixed_masks():
    a, b = nn.Dropout(0.5, rng=7), nn.Dropout(0.5, rng=7)
    x = np.ones((3, 8))
    for _ in range(3):
        np.testing.assert_array_equal(a(x), b(x))
    mask = np.array([[True, False, True]])
    layer = nn.Dropout(0.5, mode="scale_at_test", rng=0)
    layer.set_mask(mask)
    np.testing.assert_array_equal(layer(np.array([[1.0, 2.0, 3.0]])), [[1.0, 0.0, 3.0]])
    with pytest.raises(ValueError, match=r"fixed mask has shape \(1, 3\), the input \(2, 3\)"):
        layer(np.ones((2, 3)))


def test_dropout_edge_cases():
    np.testing.assert_array_equal(nn.Dropout(1.0, rng=0)(np.ones((2, 2))), np.zeros((2, 2)))
    np.testing.assert_array_equal(nn.Dropout(0.0, rng=0)(np.ones((2, 2))), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"p \(the drop probability\) must be in \[0, 1\]"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="mode must be one of"):
        nn.Dropout(0.5, mode="gaussian")
    y = nn.Dropout(0.5, rng=0)(np.ones((2, 2), np.float32))
    assert y.dtype == np.float32


# --------------------------------------------------------------------------- weight noise


def test_weight_noise_expected_gradient_matches_the_closed_form():
    """y = Σ β_k w_k x_k, E = ½(y_d − y)², β ~ N(1, σ²):
    E[∂E/∂w_i] = −x_i(y_d − Σ_k w_k x_k) + σ² w_i x_i²."""
    x = np.array([[0.8, -1.5, 0.3]])
    w = np.array([0.5, 0.2, -1.0])
    y_d, sigma, draws = np.array([[0.7]]), 0.4, 60_000
    layer = nn.NoisyLinear(3, 1, sigma=sigma, bias=False, noise_rng=5, dtype=np.float64)
    layer.weight.data[:, 0] = w
    loss = nn.MSELoss("sum", factor=0.5)
    grads, losses = np.empty((draws, 3)), np.empty(draws)
    for k in range(draws):
        layer.zero_grad()
        losses[k] = loss(layer(x), y_d)
        layer.backward(loss.backward())
        grads[k] = layer.weight.grad[:, 0]
    closed = -x[0] * (y_d[0, 0] - w @ x[0]) + sigma**2 * w * x[0] ** 2
    standard_error = grads.std(axis=0) / np.sqrt(draws)
    assert np.all(np.abs(grads.mean(axis=0) - closed) < 5 * standard_error)
    j0 = 0.5 * (y_d[0, 0] - w @ x[0]) ** 2
    expected_loss = j0 + sigma**2 / 2 * np.sum(w**2 * x[0] ** 2)
    assert abs(losses.mean() - expected_loss) < 5 * losses.std() / np.sqrt(draws)
    # the penalty term is real: without it the mean would sit many standard errors away
    assert abs(losses.mean() - j0) > 20 * losses.std() / np.sqrt(draws)


@pytest.mark.parametrize("noise", ["multiplicative", "additive"])
def test_weight_noise_gradient_with_a_frozen_draw_matches_finite_differences(rng, noise):
    layer = nn.NoisyLinear(3, 2, sigma=0.3, noise=noise, rng=rng, dtype=np.float64)
    x, target = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    loss = nn.MSELoss()

    def loss_with_the_same_draw() -> float:
        layer.noise_transform.rng = np.random.default_rng(1)
        return loss(layer(x), target)

    layer.zero_grad()
    loss_with_the_same_draw()
    layer.backward(loss.backward())
    assert layer.last_noise is not None
    numeric = numerical_gradient(loss_with_the_same_draw, layer.weight.data)
    np.testing.assert_allclose(layer.weight.grad, numeric, rtol=1e-6, atol=1e-9)


def test_weight_noise_is_absent_in_eval_and_shares_parameters(rng):
    clean = nn.Linear(3, 2, rng=rng, dtype=np.float64)
    noisy = nn.NoisyLinear.from_linear(clean, sigma=0.5, noise_rng=0)
    assert noisy.weight is clean.weight and noisy.bias is clean.bias
    x = rng.normal(size=(2, 3))
    assert not np.allclose(noisy(x), clean(x))
    noisy.eval()
    np.testing.assert_array_equal(noisy(x), clean(x))
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        nn.NoisyLinear(2, 2, sigma=-1.0)


# --------------------------------------------------------------------------- penalties


def _model(rng):
    return nn.Sequential(
        nn.Linear(3, 4, rng=rng, dtype=np.float64),
        nn.BatchNorm1d(4, dtype=np.float64),
        nn.ReLU(),
        nn.Linear(4, 2, rng=rng, dtype=np.float64),
    )


def test_penalties_select_weight_matrices_by_default(rng):
    model = _model(rng)
    names = lambda penalty: [p.name for p in penalty.params]  # noqa: E731
    assert names(nn.L2Penalty(model, 0.1)) == ["0.weight", "3.weight"]
    assert names(nn.L2Penalty(model, 0.1, biases=True)) == [
        "0.weight",
        "0.bias",
        "3.weight",
        "3.bias",
    ]
    assert names(nn.L1Penalty(model, 0.1, normalization=True)) == [
        "0.weight",
        "1.weight",
        "1.bias",
        "3.weight",
    ]


@pytest.mark.parametrize(("convention", "factor"), [("half", 0.5), ("full", 1.0)])
def test_l2_value_and_gradient(rng, convention, factor):
    model = _model(rng)
    penalty = nn.L2Penalty(model, 0.3, convention=convention)
    w0, w3 = model[0].weight.data, model[3].weight.data
    assert penalty() == pytest.approx(factor * 0.3 * (np.sum(w0**2) + np.sum(w3**2)), rel=1e-14)
    model.zero_grad()
    penalty.backward()
    assert_close(model[0].weight.grad, 2 * factor * 0.3 * w0)
    assert not model[0].bias.grad.any()


def test_l1_value_gradient_and_subgradient_at_zero(rng):
    model = _model(rng)
    model[0].weight.data[0, 0] = 0.0
    penalty = nn.L1Penalty(model, 0.2)
    assert penalty() == pytest.approx(0.2 * sum(np.abs(p.data).sum() for p in penalty.params))
    model.zero_grad()
    penalty.backward()
    assert_close(model[3].weight.grad, 0.2 * np.sign(model[3].weight.data))
    assert model[0].weight.grad[0, 0] == 0.0


def test_penalized_loss_gradient_matches_finite_differences(rng):
    model = nn.Sequential(nn.Linear(3, 2, rng=rng, dtype=np.float64), nn.Sigmoid())
    x, target = rng.normal(size=(5, 3)), rng.uniform(size=(5, 2))
    loss, penalty = nn.MSELoss(), nn.L2Penalty(model, 0.05, biases=True)

    class Penalized(nn.MSELoss):
        def forward(self, pred, t):
            return super().forward(pred, t) + penalty()

    total = Penalized()
    model.zero_grad()
    total(model(x), target)
    model.backward(total.backward())
    penalty.backward()
    analytic = [p.grad.copy() for p in model.parameters()]
    report = gradcheck(model, total, x, target)  # differentiates data loss + penalty
    numeric = iter(e.numeric for e in report.entries)
    for grad in analytic:
        for value in grad.ravel():
            assert value == pytest.approx(next(numeric), rel=1e-6, abs=1e-9)
    assert loss(model(x), target) < total(model(x), target)


@pytest.mark.parametrize(
    ("layer", "shape", "mask_shape"),
    [
        (nn.Dropout1d, (64, 50, 7), (64, 50, 1)),
        (nn.Dropout2d, (64, 50, 3, 4), (64, 50, 1, 1)),
    ],
)
def test_channel_dropout_drops_whole_channels(layer, shape, mask_shape):
    drop = layer(0.3, rng=0)
    x = np.random.default_rng(1).normal(size=shape)
    y = drop(x)
    mask = drop.last_mask
    assert mask.shape == mask_shape
    kept = mask.mean()
    assert abs(kept - 0.7) < 5 * np.sqrt(0.21 / mask.size)
    assert_close(y, x * mask / 0.7)  # every position of a dropped channel is zero
    g = np.random.default_rng(2).normal(size=shape)
    assert_close(drop.backward(g), g * mask / 0.7)
    drop.eval()
    np.testing.assert_array_equal(drop(x), x)
    with pytest.raises(ValueError, match=r"Dropout\dd: expected feature maps \(N, C, "):
        layer(0.5)(np.ones((2, 3)))


def test_elementwise_dropout_works_on_feature_maps():
    drop = nn.Dropout(0.5, rng=0)
    x = np.ones((2, 3, 4, 4))
    y = drop(x)
    assert drop.last_mask.shape == x.shape and set(np.unique(y)) <= {0.0, 2.0}
