"""Losses against torch.nn.functional: value and dL/d(pred), float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nablab import nn

from helpers.oracle import assert_close, nn_, tt

SHAPES = [(1, 1), (1, 3), (6, 2), (5, 4)]


def _torch_value_and_grad(fn, pred, *args):
    pt = tt(pred, True)
    value = fn(pt, *args)
    value.backward()
    return value.item(), nn_(pt.grad)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("reduction", "factor", "reference"),
    [
        ("mean", 1.0, lambda p, t: F.mse_loss(p, t)),
        ("sum", 1.0, lambda p, t: F.mse_loss(p, t, reduction="sum")),
        ("sum", 0.5, lambda p, t: 0.5 * F.mse_loss(p, t, reduction="sum")),
        ("batch_mean", 1.0, lambda p, t: F.mse_loss(p, t, reduction="sum") / p.shape[0]),
        ("batch_mean", 0.5, lambda p, t: 0.5 * F.mse_loss(p, t, reduction="sum") / p.shape[0]),
    ],
)
def test_mse(rng, shape, reduction, factor, reference):
    pred, target = rng.normal(size=shape), rng.normal(size=shape)
    loss = nn.MSELoss(reduction, factor)
    value = loss(pred, target)
    assert isinstance(value, float)
    expected, grad = _torch_value_and_grad(reference, pred, tt(target))
    assert_close(value, expected)
    assert_close(loss.backward(), grad)


def test_mse_half_sum_is_the_textbook_error():
    # E = ½ Σ (t − o)² for o = (0.75136507, 0.77292847), t = (0.01, 0.99)
    o, t = np.array([[0.75136507, 0.77292847]]), np.array([[0.01, 0.99]])
    value = nn.MSELoss("sum", 0.5)(o, t)
    assert abs(value - 0.5 * ((0.01 - 0.75136507) ** 2 + (0.99 - 0.77292847) ** 2)) < 1e-15


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce(rng, shape, reduction):
    pred = rng.uniform(0.01, 0.99, size=shape)
    target = rng.uniform(size=shape)
    loss = nn.BCELoss(reduction)
    value = loss(pred, target)
    expected, grad = _torch_value_and_grad(
        lambda p, t: F.binary_cross_entropy(p, t, reduction=reduction), pred, tt(target)
    )
    assert_close(value, expected)
    assert_close(loss.backward(), grad)


def test_bce_clamps_log_at_minus_100_like_torch():
    pred, target = np.array([[0.0, 1.0, 1e-60]]), np.array([[1.0, 0.0, 1.0]])
    loss = nn.BCELoss()
    value = loss(pred, target)
    expected, grad = _torch_value_and_grad(F.binary_cross_entropy, pred, tt(target))
    assert value == pytest.approx(100.0) and value == pytest.approx(expected, rel=1e-12)
    assert_close(loss.backward(), grad)


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan])
def test_bce_rejects_non_probabilities(bad):
    with pytest.raises(ValueError, match=r"pred must be probabilities in \[0, 1\].*index \(0, 1\)"):
        nn.BCELoss()(np.array([[0.5, bad]]), np.array([[1.0, 0.0]]))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_with_logits(rng, shape, reduction):
    pred = rng.normal(scale=10.0, size=shape)
    target = rng.uniform(size=shape)
    loss = nn.BCEWithLogitsLoss(reduction)
    value = loss(pred, target)
    expected, grad = _torch_value_and_grad(
        lambda p, t: F.binary_cross_entropy_with_logits(p, t, reduction=reduction),
        pred,
        tt(target),
    )
    assert_close(value, expected)
    assert_close(loss.backward(), grad)


@pytest.mark.parametrize(("n", "c"), [(1, 2), (1, 5), (7, 3), (16, 10)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_with_class_indices(rng, n, c, reduction):
    logits = rng.normal(scale=4.0, size=(n, c))
    target = rng.integers(0, c, size=n)
    loss = nn.CrossEntropyLoss(reduction)
    value = loss(logits, target)
    expected, grad = _torch_value_and_grad(
        lambda p, t: F.cross_entropy(p, t, reduction=reduction), logits, torch.tensor(target)
    )
    assert_close(value, expected)
    assert_close(loss.backward(), grad)


@pytest.mark.parametrize(("n", "c"), [(1, 2), (6, 4)])
@pytest.mark.parametrize("normalized", [True, False])
def test_cross_entropy_with_probability_targets(rng, n, c, normalized):
    logits = rng.normal(size=(n, c))
    target = rng.uniform(size=(n, c))
    if normalized:
        target /= target.sum(axis=1, keepdims=True)
    loss = nn.CrossEntropyLoss()
    value = loss(logits, target)
    expected, grad = _torch_value_and_grad(F.cross_entropy, logits, tt(target))
    assert_close(value, expected)
    assert_close(loss.backward(), grad)


def test_cross_entropy_is_stable_for_huge_logits():
    loss = nn.CrossEntropyLoss()
    value = loss(np.array([[1e4, 0.0, -1e4]]), np.array([2]))
    assert value == pytest.approx(2e4)
    assert np.isfinite(loss.backward()).all()


def test_loss_errors():
    with pytest.raises(ValueError, match=r"target shape \(1, 3\) does not match pred shape"):
        nn.MSELoss()(np.zeros((1, 2)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="unknown reduction 'avg'; valid: mean, sum, batch_mean"):
        nn.MSELoss("avg")
    with pytest.raises(ValueError, match=r"class index 3 outside \[0, 3\)"):
        nn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"class-index targets must have shape \(2,\)"):
        nn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([[0], [1]]))
    with pytest.raises(RuntimeError, match=r"backward\(\) called before forward\(\)"):
        nn.CrossEntropyLoss().backward()


@pytest.mark.parametrize("loss", [nn.MSELoss(), nn.BCEWithLogitsLoss(), nn.BCELoss()])
def test_float32_gradients_stay_float32(rng, loss):
    pred = rng.uniform(0.1, 0.9, size=(4, 3)).astype(np.float32)
    loss(pred, rng.uniform(size=(4, 3)))  # a float64 target must not upcast the gradient
    assert loss.backward().dtype == np.float32


def test_cross_entropy_float32(rng):
    loss = nn.CrossEntropyLoss()
    loss(rng.normal(size=(4, 3)).astype(np.float32), np.array([0, 1, 2, 0]))
    assert loss.backward().dtype == np.float32
    loss(rng.normal(size=(4, 3)).astype(np.float32), np.eye(3)[[0, 1, 2, 0]])
    assert loss.backward().dtype == np.float32


def test_losses_and_layers_refuse_empty_batches():
    with pytest.raises(ValueError, match="the batch is empty"):
        nn.Linear(3, 2)(np.zeros((0, 3), np.float32))
    with pytest.raises(ValueError, match=r"the logits are empty \(shape \(0, 2\)\)"):
        nn.CrossEntropyLoss()(np.zeros((0, 2)), np.zeros(0, int))
    for loss in (nn.MSELoss(), nn.BCELoss(), nn.BCEWithLogitsLoss()):
        with pytest.raises(ValueError, match="the prediction is empty"):
            loss(np.zeros((0, 2)), np.zeros((0, 2)))
