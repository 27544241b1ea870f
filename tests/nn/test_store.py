"""The parameter store: flat arrays owned by the model, shared by every optimizer and pass."""

from __future__ import annotations

import numpy as np
import pytest

from nablab import nn, optim
from nablab.nn.store import ParameterStore


def _mlp(seed: int = 0, dtype=np.float64) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(3, 4, rng=rng, dtype=dtype), nn.Tanh(), nn.Linear(4, 2, rng=rng, dtype=dtype)
    )


def _gradients(model: nn.Module, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    loss = nn.MSELoss()
    model.zero_grad()
    loss(model(x), y)
    model.backward(loss.backward())


def test_model_store_holds_every_parameter_as_views_of_flat_arrays():
    model = _mlp()
    values = [p.data.copy() for p in model.parameters()]
    store = model.store
    assert len(store.groups) == 1
    group = store.groups[0]
    assert group.size == 3 * 4 + 4 + 4 * 2 + 2
    offset = 0
    for param, value in zip(model.parameters(), values, strict=True):
        assert np.shares_memory(param.data, group.data)
        assert np.shares_memory(param.grad, group.grad)
        np.testing.assert_array_equal(param.data, value)
        np.testing.assert_array_equal(group.data[offset : offset + param.size], value.ravel())
        offset += param.size
    assert model.store is store  # made once


def test_mixed_dtypes_get_a_group_each():
    params = [nn.Parameter(np.ones(3)), nn.Parameter(np.ones(2, np.float32))]
    store = ParameterStore.of(params)
    assert [g.dtype for g in store.groups] == [np.float64, np.float32]


def test_an_optimizer_adopts_the_model_store_without_copying():
    model = _mlp()
    store = model.store
    versions = [g.version for g in store.groups]
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert model.store is store and [g.version for g in store.groups] == versions
    _gradients(model)
    before = store.groups[0].data.copy()
    expected = before - 0.1 * store.groups[0].grad
    opt.step()
    np.testing.assert_array_equal(store.groups[0].data, expected)


def test_the_model_store_adopts_the_optimizer_store():
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    group = model.parameters()[0]._group
    assert model.store.groups == [group] and group.version == 0
    assert len(opt._runs) == 1


def test_two_optimizers_share_the_parameters_and_keep_their_own_state():
    model = _mlp()
    first = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    second = optim.Adam(model.parameters(), lr=0.01)
    group = model.store.groups[0]
    for opt in (first, second, first, second):
        _gradients(model)
        expected_inputs = group.data.copy()
        opt.step()
        assert not np.array_equal(group.data, expected_inputs)
    for param in model.parameters():
        assert np.shares_memory(param.data, group.data)
    assert set(first.state[model[0].weight]) == {"momentum_buffer", "step"}
    assert set(second.state[model[0].weight]) == {"m", "v", "step"}


def test_assigning_data_writes_in_place():
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.5)
    weight = model[0].weight
    weight.data = np.full((3, 4), 2.0)
    assert np.shares_memory(weight.data, model.store.groups[0].data)
    _gradients(model)
    expected = 2.0 - 0.5 * weight.grad
    opt.step()
    np.testing.assert_array_equal(weight.data, expected)
    with pytest.raises(ValueError, match=r"new data must have shape \(3, 4\)"):
        weight.data = np.zeros((4, 3))
    with pytest.raises(ValueError, match="dtype float64"):
        weight.grad = np.zeros((3, 4), np.float32)


def test_an_optimizer_follows_its_parameters_into_a_new_store_with_its_state():
    """An optimizer over one layer binds it first; the model's store then moves it. The
    optimizer notices (the old group's version) and continues with its momentum intact."""
    reference, moved = _mlp(), _mlp()
    ref_opt = optim.SGD(reference[0].parameters(), lr=0.1, momentum=0.9)
    opt = optim.SGD(moved[0].parameters(), lr=0.1, momentum=0.9)
    for step in range(4):
        if step == 2:
            old = moved[0].weight._group
            moved.store  # noqa: B018  (moves the layer into the model's store)
            assert moved[0].weight._group is not old and old.version > 0
        for model, optimizer in ((reference, ref_opt), (moved, opt)):
            _gradients(model, seed=step)
            optimizer.step()
    for a, b in zip(reference.parameters(), moved.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(
        ref_opt.state[reference[0].weight]["momentum_buffer"],
        opt.state[moved[0].weight]["momentum_buffer"],
    )


def test_an_optimizer_over_scattered_parameters_updates_each_run():
    model = _mlp()
    model.store  # noqa: B018
    weights = [model[0].weight, model[2].weight]  # not contiguous: two runs
    opt = optim.SGD(weights, lr=0.1)
    assert len(opt._runs) == 2
    _gradients(model)
    expected = [w.data - 0.1 * w.grad for w in weights]
    biases = [model[0].bias.data.copy(), model[2].bias.data.copy()]
    opt.step()
    for w, e in zip(weights, expected, strict=True):
        np.testing.assert_array_equal(w.data, e)
    np.testing.assert_array_equal(model[0].bias.data, biases[0])
    np.testing.assert_array_equal(model[2].bias.data, biases[1])


def test_mask_and_curvature_slots():
    model = _mlp()
    weight = model[0].weight
    mask = np.ones((3, 4))
    mask[0, 1] = mask[2, 3] = 0
    weight.mask = mask
    assert weight.data[0, 1] == 0 and weight.data[2, 3] == 0
    group = model.store.groups[0]
    assert group.mask is not None and np.shares_memory(weight.mask, group.mask)
    assert group.mask.sum() == group.size - 2
    weight.curvature = np.full((3, 4), 0.5)
    assert np.shares_memory(weight.curvature, group.curvature)
    weight.mask = None
    assert group.mask is None  # the last mask gone: no masking cost
    with pytest.raises(ValueError, match="mask entries must be 0"):
        weight.mask = np.full((3, 4), 0.5)
    with pytest.raises(ValueError, match=r"mask must have shape \(3, 4\)"):
        weight.mask = np.ones(3)


def test_masks_are_in_the_state_dict_and_load_into_a_fresh_model():
    model = _mlp()
    mask = np.ones((4, 2))
    mask[1] = 0
    model[2].weight.mask = mask
    state = model.state_dict()
    np.testing.assert_array_equal(state["2.weight_mask"], mask)
    fresh = _mlp(seed=5)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh[2].weight.mask, mask)
    np.testing.assert_array_equal(fresh[2].weight.data, model[2].weight.data)
    unpruned = _mlp().state_dict()
    with pytest.raises(KeyError, match=r"missing keys \['2.weight_mask'\]"):
        fresh.load_state_dict(unpruned)
