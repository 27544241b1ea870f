"""The step activation and Rosenblatt's perceptron rule."""

from __future__ import annotations

import numpy as np
import pytest

from nablab import nn


def test_step_outputs_zero_or_one_and_passes_no_gradient():
    step = nn.Step()
    x = np.array([[-1.0, 0.0, 2.5]], dtype=np.float32)
    y = step(x)
    np.testing.assert_array_equal(y, [[0.0, 0.0, 1.0]])
    assert y.dtype == np.float32
    np.testing.assert_array_equal(step.backward(np.ones_like(x)), np.zeros_like(x))
    with pytest.raises(RuntimeError, match=r"backward\(\) called before forward\(\)"):
        nn.Step().backward(x)


def test_the_rule_by_hand():
    """w, b start at 0; a mistake adds η(t − ŷ)·x to w and η(t − ŷ) to b."""
    p = nn.Perceptron(2, lr=0.5)
    x = np.array([[1.0, 2.0], [-1.0, -1.0], [0.5, -3.0], [3.0, 3.0]])
    t = np.array([1, 0, 1, 1])
    # 1: z = 0 → ŷ = 0 ≠ 1: w = (0.5, 1), b = 0.5
    # 2: z = −0.5 − 1 + 0.5 = −1 → ŷ = 0 = t: no change
    # 3: z = 0.25 − 3 + 0.5 = −2.25 → ŷ = 0 ≠ 1: w = (0.75, −0.5), b = 1
    # 4: z = 2.25 − 1.5 + 1 = 1.75 → ŷ = 1 = t: no change
    assert p.update(x, t) == 2
    np.testing.assert_array_equal(p.linear.weight.data[:, 0], [0.75, -0.5])
    np.testing.assert_array_equal(p.linear.bias.data, [1.0])
    # after the pass: z = (0.75, 0.75, 2.875, 1.75), so sample 2 is now wrong (one pass is not
    # enough, and the order matters)
    np.testing.assert_array_equal(p.predict(x), [1, 1, 1, 1])


def test_novikoff_bound_on_separable_data_and_convergence():
    rng = np.random.default_rng(3)
    direction = np.array([0.6, -0.8, 0.0])  # a unit vector (w*, b*) in the augmented space
    x = rng.uniform(-2, 2, size=(300, 2))
    z = np.c_[x, np.ones(len(x))] @ direction
    x, z = x[np.abs(z) > 0.2], z[np.abs(z) > 0.2]  # margin at least 0.2
    t = (z > 0).astype(np.int64)
    gamma = np.min(np.abs(z))
    radius = np.max(np.linalg.norm(np.c_[x, np.ones(len(x))], axis=1))
    p = nn.Perceptron(2)
    history = p.fit(x, t, epochs=1000, seed=0)
    assert history[-1] == 0 and sum(history) <= (radius / gamma) ** 2
    np.testing.assert_array_equal(p.predict(x), t)


def test_the_learning_rate_only_scales_the_weights_from_zero():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    t = (x @ np.array([1.0, -2.0, 0.5]) > 0).astype(int)
    a, b = nn.Perceptron(3, lr=1.0), nn.Perceptron(3, lr=0.125)
    assert a.fit(x, t, epochs=50, seed=2) == b.fit(x, t, epochs=50, seed=2)
    np.testing.assert_array_equal(a.linear.weight.data, 8 * b.linear.weight.data)


def test_xor_never_converges():
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    t = np.array([0, 1, 1, 0])
    history = nn.Perceptron(2).fit(x, t, epochs=200, seed=0)
    assert len(history) == 200 and min(history) > 0


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (np.array([0, 2]), "targets must be 0 or 1 .*got 2"),
        (np.array([0, 1, 1]), r"expected 2 targets of shape \(2,\), got shape \(3,\)"),
    ],
)
def test_bad_targets_are_named(targets, message):
    with pytest.raises(ValueError, match=message):
        nn.Perceptron(2).update(np.zeros((2, 2)), targets)


def test_bad_settings():
    with pytest.raises(ValueError, match="lr must be > 0"):
        nn.Perceptron(2, lr=0)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        nn.Perceptron(2).fit(np.zeros((2, 2)), np.array([0, 1]), epochs=0)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 2\)"):
        nn.Perceptron(2).update(np.zeros((2, 3)), np.array([0, 1]))
