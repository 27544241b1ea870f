"""Pruned weights stay exactly zero through every optimizer, convention and transform."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nablab import nn, optim

# Every optimizer and the options that touch state, decay or the order of the update.
CONFIGS = {
    "sgd": lambda p, **k: optim.SGD(p, lr=0.1, **k),
    "sgd-momentum": lambda p, **k: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, **k),
    "sgd-nesterov": lambda p, **k: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, **k),
    "sgd-velocity": lambda p, **k: optim.SGD(p, lr=0.1, momentum=0.9, convention="velocity", **k),
    "sgd-lookahead": lambda p, **k: optim.SGD(
        p, lr=0.1, momentum=0.9, convention="velocity", nesterov="lookahead", **k
    ),
    "adagrad": lambda p, **k: optim.AdaGrad(p, lr=0.1, initial_accumulator_value=0.1, **k),
    "adagrad-inside": lambda p, **k: optim.AdaGrad(p, lr=0.1, eps_placement="inside", **k),
    "rmsprop": lambda p, **k: optim.RMSProp(p, lr=0.01, **k),
    "rmsprop-centered-momentum": lambda p, **k: optim.RMSProp(
        p, lr=0.01, centered=True, momentum=0.5, **k
    ),
    "adam": lambda p, **k: optim.Adam(p, lr=0.01, **k),
    "adam-amsgrad-inside": lambda p, **k: optim.Adam(
        p, lr=0.01, amsgrad=True, eps_placement="inside", **k
    ),
    "adam-no-correction": lambda p, **k: optim.Adam(p, lr=0.01, bias_correction=False, **k),
    "adamw": lambda p, **k: optim.AdamW(p, lr=0.01, **k),
}


def _setup(seed: int):
    rng = np.random.default_rng(seed)
    model = nn.Sequential(
        nn.Linear(4, 5, rng=rng, dtype=np.float64),
        nn.Tanh(),
        nn.Linear(5, 3, rng=rng, dtype=np.float64),
    )
    x, y = rng.normal(size=(8, 4)), rng.normal(size=(8, 3))
    return model, x, y, rng


@settings(max_examples=120, deadline=None)
@given(
    config=st.sampled_from(sorted(CONFIGS)),
    weight_decay=st.sampled_from([0.0, 0.05]),
    centralize=st.sampled_from([None, "gradient", "update"]),
    clip=st.sampled_from([None, 0.5]),
    mask_bias=st.booleans(),
    prune_at=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_pruned_entries_stay_exactly_zero(
    config, weight_decay, centralize, clip, mask_bias, prune_at, seed
):
    model, x, y, rng = _setup(seed)
    loss = nn.MSELoss()
    opt = CONFIGS[config](model.parameters(), weight_decay=weight_decay, centralize=centralize)

    def closure() -> float:
        model.zero_grad()
        value = loss(model(x), y)
        model.backward(loss.backward())
        if clip is not None:
            optim.clip_grad_norm(model.parameters(), clip)
        return value

    pruned = []
    start = [p.data.copy() for p in model.parameters()]
    for step in range(8):
        if step == prune_at:  # momentum and moments have built up by now (unless step 0)
            targets = [model[0].weight, model[2].weight] + ([model[2].bias] if mask_bias else [])
            for param in targets:
                mask = (rng.random(param.shape) > 0.4).astype(np.float64)
                param.mask = mask
                pruned.append((param, mask == 0))
        opt.step(closure)
        for param, where in pruned:
            assert np.all(param.data[where] == 0), f"{config}: a pruned weight moved"
            for name, array in opt.state[param].items():
                if name != "step":
                    assert np.all(array[where] == 0), f"{config}: state {name} revived"
    # the kept weights did train (centralization may freeze a column with one kept entry)
    moved = [not np.array_equal(p.data, b) for p, b in zip(model.parameters(), start, strict=True)]
    assert sum(moved) >= 2


def test_gradient_centralization_averages_over_kept_entries_only():
    model, x, y, _ = _setup(3)
    weight = model[0].weight
    mask = np.ones((4, 5))
    mask[[0, 2], 1] = 0
    mask[3, 4] = 0
    weight.mask = mask
    for mode in ("gradient", "update"):
        opt = optim.SGD([weight], lr=0.1, centralize=mode)
        loss = nn.MSELoss()
        model.zero_grad()
        loss(model(x), y)
        model.backward(loss.backward())
        before = weight.data.copy()
        opt.step()
        delta = weight.data - before
        kept_mean = (delta * mask).sum(axis=0) / mask.sum(axis=0)
        np.testing.assert_allclose(kept_mean, 0, atol=1e-15)
        assert np.all(delta[mask == 0] == 0)
        grad = weight.grad
        expected = -0.1 * (grad - (grad * mask).sum(0) / mask.sum(0)) * mask
        np.testing.assert_allclose(delta, expected, rtol=1e-12, atol=1e-15)


def test_clipping_leaves_pruned_gradients_out_of_the_norm():
    p = nn.Parameter(np.zeros(3))
    p.grad[...] = [3.0, 4.0, 12.0]
    p.mask = np.array([1.0, 1.0, 0.0])
    p.grad[...] = [3.0, 4.0, 12.0]  # a gradient computed without the mask
    norm = optim.clip_grad_norm([p], 1.0)
    assert norm == 5.0
    np.testing.assert_allclose(p.grad, [0.6, 0.8, 0.0], rtol=1e-6)


def test_centralize_with_a_mask_is_the_masked_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 3))
    mask = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1], [1, 1, 1]], dtype=float)
    expected = (a - (a * mask).sum(0) / mask.sum(0)) * mask
    np.testing.assert_allclose(optim.centralize(a.copy(), mask), expected, rtol=1e-14)
    np.testing.assert_allclose(optim.centralize(a.copy()), a - a.mean(0), rtol=1e-14)
