"""Module semantics: names, traversal, train/eval, strict state dicts."""

from __future__ import annotations

import numpy as np
import pytest

from nablab import nn


def _mlp(seed: int = 0, dtype=np.float64) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(3, 4, rng=rng, dtype=dtype),
        nn.ReLU(),
        nn.Sequential(nn.Linear(4, 4, rng=rng, dtype=dtype), nn.Tanh()),
        nn.Linear(4, 2, bias="shared", rng=rng, dtype=dtype),
    )


def test_named_parameters_are_stable_dotted_names():
    model = _mlp()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.0.weight", "2.0.bias", "3.weight", "3.bias"]
    assert [p.name for p in model.parameters()] == names
    assert model[2][0].label == "Linear '2.0'"


def test_indexing_and_iteration():
    model = _mlp()
    assert len(model) == 4
    assert isinstance(model[1], nn.ReLU) and isinstance(model[-1], nn.Linear)
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Sequential", "Linear"]


def test_train_eval_flag_reaches_every_module():
    model = _mlp()
    model.eval()
    assert all(not m.training for _, m in model.named_modules())
    model.train()
    assert all(m.training for _, m in model.named_modules())


def test_state_dict_round_trip_copies_in_place():
    source, target = _mlp(1), _mlp(2)
    weight_array = target[0].weight.data
    target.load_state_dict(source.state_dict())
    assert target[0].weight.data is weight_array  # arrays are updated in place, never replaced
    x = np.random.default_rng(3).normal(size=(5, 3))
    np.testing.assert_array_equal(target(x), source(x))
    state = source.state_dict()
    state["0.weight"][...] = 0  # the state dict holds copies
    assert source[0].weight.data.any()


def test_state_dict_is_strict_and_leaves_the_model_untouched():
    model = _mlp()
    before = model.state_dict()
    state = model.state_dict()
    del state["3.bias"]
    with pytest.raises(KeyError, match=r"missing keys \['3.bias'\]"):
        model.load_state_dict(state)
    state = {**model.state_dict(), "4.weight": np.zeros(2)}
    with pytest.raises(KeyError, match=r"unexpected keys \['4.weight'\]"):
        model.load_state_dict(state)
    state = model.state_dict()
    state["0.weight"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"key '0.weight' has shape \(4, 3\), expected \(3, 4\)"):
        model.load_state_dict(state)
    state = model.state_dict()
    state["0.bias"] = np.ones(4, dtype=np.float32)
    state["0.weight"] = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"key '0.bias' has dtype float32, expected float64"):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_parameter_requires_floating_data():
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(np.zeros(3, dtype=np.int64), name="w")


def test_repr_lists_children():
    text = repr(_mlp())
    assert "(0): Linear(in_features=3, out_features=4" in text and "(1): Tanh()" in text
