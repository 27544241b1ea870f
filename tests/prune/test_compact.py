"""compact: a smaller model that computes the same function."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nablab import nn
from nablab.errors import UnsupportedError
from nablab.prune import prune
from nablab.prune.compaction import compact, removable_units


def _model(rng, activation="relu", bias=True, widths=(6, 10, 8, 3)):
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b, bias=bias, rng=rng, dtype=np.float64))
        if i < len(widths) - 2:
            layers.append(nn.activation(activation))
    model = nn.Sequential(*layers)
    for param in model.parameters():
        param.data = rng.normal(size=param.shape)
    return model


def _count(model) -> int:
    return sum(p.size for p in model.parameters())


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "swish", "leaky_relu"])
def test_compact_model_computes_the_same_function(rng, activation):
    model = _model(rng, activation)
    report = prune(model, 0.5, "magnitude", structured=True)
    small = compact(model)
    x = rng.normal(size=(20, 6))
    np.testing.assert_allclose(small(x), model(x), rtol=1e-12, atol=1e-12)
    kept = [u.size - u.pruned for u in report.units]
    assert [small[0].out_features, small[2].out_features] == kept
    assert _count(small) == 6 * kept[0] + kept[0] + kept[0] * kept[1] + kept[1] + kept[1] * 3 + 3
    assert _count(small) < _count(model)


def test_units_with_pruned_weights_but_a_kept_bias_are_folded(rng):
    # sigmoid(b_j) ≠ 0 flows on: the next layer's bias absorbs it
    model = _model(rng, "sigmoid")
    mask = np.ones((6, 10))
    mask[:, [1, 4, 7]] = 0
    model[0].weight.mask = mask
    small = compact(model)
    assert small[0].out_features == 7
    x = rng.normal(size=(15, 6))
    np.testing.assert_allclose(small(x), model(x), rtol=1e-12, atol=1e-12)


def test_units_whose_outgoing_weights_are_pruned_go_too(rng):
    model = _model(rng, "tanh")
    mask = np.ones((10, 8))
    mask[[0, 3], :] = 0
    model[2].weight.mask = mask
    assert np.flatnonzero(removable_units(model)[0]).tolist() == [0, 3]
    small = compact(model)
    assert small[0].out_features == 8 and small[2].in_features == 8
    x = rng.normal(size=(9, 6))
    np.testing.assert_allclose(small(x), model(x), rtol=1e-12, atol=1e-12)


def test_remaining_masks_are_kept_and_the_model_is_untouched(rng):
    model = _model(rng, "relu")
    prune(model, 0.5, "magnitude", structured=True, scope="layer")
    prune(model, 0.7, "magnitude")  # and unstructured on top
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    small = compact(model)
    for layer in (small[0], small[2], small[4]):
        assert layer.weight.mask is not None
        assert np.all(layer.weight.data[layer.weight.mask == 0] == 0)
    assert all(np.array_equal(p.data, before[n]) for n, p in model.named_parameters())
    x = rng.normal(size=(7, 6))
    np.testing.assert_allclose(small(x), model(x), rtol=1e-12, atol=1e-12)


def test_without_a_per_unit_bias_only_silent_units_go(rng):
    model = _model(rng, "sigmoid", bias="shared")
    mask = np.ones((6, 10))
    mask[:, [2, 5]] = 0
    model[0].weight.mask = mask  # σ(b) ≠ 0 would have to go into a shared bias: kept
    assert not removable_units(model)[0].any()
    relu = _model(rng, "relu", bias=False)
    relu[0].weight.mask = mask  # relu(0) = 0: nothing to fold
    assert np.flatnonzero(removable_units(relu)[0]).tolist() == [2, 5]
    x = rng.normal(size=(5, 6))
    np.testing.assert_allclose(compact(relu)(x), relu(x), rtol=1e-12, atol=1e-12)


def test_every_layer_keeps_a_unit(rng):
    model = _model(rng, "relu", widths=(4, 3, 2))
    model[0].weight.mask = np.zeros((4, 3))
    small = compact(model)
    assert small[0].out_features == 1
    x = rng.normal(size=(3, 4))
    np.testing.assert_allclose(small(x), model(x), rtol=1e-12, atol=1e-12)


def test_unsupported_layers_are_named(rng):
    model = nn.Sequential(
        nn.Linear(3, 4, dtype=np.float64),
        nn.BatchNorm1d(4, dtype=np.float64),
        nn.Linear(4, 2, dtype=np.float64),
    )
    with pytest.raises(UnsupportedError, match="BatchNorm1d '1' is not supported yet"):
        compact(model)
