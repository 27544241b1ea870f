"""Initializers: sample variance against the formula, and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from nablab import init, nn

VARIANCE = {
    "xavier_uniform": lambda fi, fo: 2.0 / (fi + fo),
    "xavier_normal": lambda fi, fo: 2.0 / (fi + fo),
    "lecun_uniform": lambda fi, fo: 1.0 / fi,
    "lecun_normal": lambda fi, fo: 1.0 / fi,
    "he_uniform": lambda fi, fo: 2.0 / fi,
    "he_normal": lambda fi, fo: 2.0 / fi,
}


@pytest.mark.parametrize("name", sorted(VARIANCE))
@pytest.mark.parametrize(("fan_in", "fan_out"), [(200, 300), (784, 100), (50, 1000)])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_sample_variance_matches_formula(name, fan_in, fan_out, gain):
    w = init.get(name)((fan_in, fan_out), gain=gain, rng=np.random.default_rng(7))
    expected = gain**2 * VARIANCE[name](fan_in, fan_out)
    n = w.size
    # The sample variance of n draws has relative standard error sqrt(2/n) (normal) or less
    # (uniform); 5 standard errors gives a false alarm rate below 1e-6.
    assert abs(w.var() / expected - 1.0) < 5 * np.sqrt(2.0 / n)
    assert abs(w.mean()) < 5 * np.sqrt(expected / n)


@pytest.mark.parametrize("name", ["xavier_uniform", "lecun_uniform", "he_uniform"])
def test_uniform_bound_is_sqrt_three_variances(name):
    w = init.get(name)((100, 50), rng=np.random.default_rng(0))
    bound = np.sqrt(3 * {"x": 2 / 150, "l": 1 / 100, "h": 2 / 100}[name[0]])
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound


@pytest.mark.parametrize("name", sorted(init.INITIALIZERS))
def test_same_seed_same_weights(name):
    a = init.get(name)((6, 5), rng=np.random.default_rng(11))
    b = init.get(name)((6, 5), rng=np.random.default_rng(11))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float64
    assert init.get(name)((6, 5), rng=1, dtype=np.float32).dtype == np.float32


def test_linear_seed_reproducible_and_distinct_layers_differ():
    a = nn.Linear(8, 8, init="he_normal", rng=5)
    b = nn.Linear(8, 8, init="he_normal", rng=5)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    rng = np.random.default_rng(5)
    c, d = nn.Linear(8, 8, rng=rng), nn.Linear(8, 8, rng=rng)
    assert not np.array_equal(c.weight.data, d.weight.data)


def test_simple_initializers():
    np.testing.assert_array_equal(init.zeros((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(init.constant((2,), 0.35), [0.35, 0.35])
    w = init.normal((400, 400), std=0.1, rng=0)
    assert abs(w.std() / 0.1 - 1) < 0.02
    u = init.uniform((1000,), -2.0, 3.0, rng=0)
    assert u.min() >= -2.0 and u.max() < 3.0


def test_errors():
    with pytest.raises(ValueError, match="fans need a shape with at least one axis"):
        init.he_normal(())
    with pytest.raises(ValueError, match="unknown initializer 'magic'"):
        init.get("magic")
    with pytest.raises(ValueError, match="std must be >= 0"):
        init.normal((2,), std=-1.0)
    with pytest.raises(TypeError, match="rng must be"):
        init.normal((2,), rng="seed")
