"""Each detector provoked on purpose, and quiet on healthy runs."""

from __future__ import annotations

import numpy as np
import pytest

from nablab import nn, optim
from nablab.train import Callback, Diagnostics, fit

from helpers.train_helpers import digits_split, mlp


def _kinds(model, opt, epochs, batch_size=32, loss=None, data=None, extra=()):
    x, y, _, _ = digits_split()
    history = fit(
        model,
        loss or nn.CrossEntropyLoss(),
        opt,
        data or (x, y),
        epochs=epochs,
        batch_size=batch_size,
        callbacks=[Diagnostics(), *extra],
    )
    return [f.kind for f in history.findings], history


def test_divergence_at_learning_rate_10():
    model = mlp([64, 64, 10])
    kinds, history = _kinds(model, optim.SGD(model.parameters(), lr=10.0), epochs=3)
    assert kinds[0] == "divergence"
    assert "lower the learning rate about 10×" in history.findings[0].suggestion


def test_divergence_when_the_loss_climbs_far_above_its_best():
    class Blowup(Callback):
        def on_epoch_begin(self, trainer):
            if trainer.epoch == 2:
                for param in trainer.model.parameters():
                    param.data *= 30

    model = mlp([64, 64, 10])
    kinds, history = _kinds(
        model, optim.SGD(model.parameters(), lr=1e-4), epochs=3, extra=[Blowup()]
    )
    assert "divergence" in kinds
    assert "far above its best" in history.findings[kinds.index("divergence")].message


def test_vanishing_gradients_in_a_deep_sigmoid_network():
    model = mlp([64, *[32] * 10, 10], activation="sigmoid", init="xavier_normal")
    kinds, _history = _kinds(model, optim.SGD(model.parameters(), lr=0.1), epochs=2)
    assert "vanishing_gradients" in kinds
    assert "lr_too_small" not in kinds  # the stalled loss has a cause already named


def test_learning_rate_too_small():
    model = mlp([64, 64, 10])
    kinds, _ = _kinds(model, optim.SGD(model.parameters(), lr=1e-6), epochs=3)
    assert kinds == ["lr_too_small"]


def test_dead_relus():
    model = mlp([64, 64, 10])
    model[0].bias.data[...] = -20.0
    kinds, history = _kinds(model, optim.SGD(model.parameters(), lr=0.01), epochs=2)
    assert kinds == ["dead_relu"]
    assert "of its 64 units gave 0 for every sample" in history.findings[0].evidence


def test_saturated_sigmoids():
    def wide(shape, rng, dtype):
        return rng.normal(0, 3, shape).astype(dtype)

    model = mlp([64, 64, 10], activation="sigmoid", init=wide)
    kinds, _ = _kinds(model, optim.SGD(model.parameters(), lr=0.01), epochs=1)
    assert "saturation" in kinds


def test_oscillating_weights_when_the_step_overshoots():
    """Full-batch gradient descent on linear least squares with lr·λ_max = 1.9 (stable but
    overshooting: every update reverses the previous one)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype(np.float32)
    y = (x @ rng.normal(size=(8, 1))).astype(np.float32)
    lam = np.linalg.eigvalsh(2 * x.T @ x / len(x)).max()
    model = nn.Sequential(nn.Linear(8, 1, rng=0))
    kinds, history = _kinds(
        model,
        optim.SGD(model.parameters(), lr=1.9 / lam),
        epochs=12,
        batch_size=256,
        loss=nn.MSELoss(),
        data=(x, y),
    )
    assert kinds == ["lr_too_large"]
    assert "reversed direction" in history.findings[0].evidence
    # the same problem at lr·λ_max = 0.5 converges calmly
    model = nn.Sequential(nn.Linear(8, 1, rng=0))
    kinds, _ = _kinds(
        model,
        optim.SGD(model.parameters(), lr=0.5 / lam),
        epochs=12,
        batch_size=256,
        loss=nn.MSELoss(),
        data=(x, y),
    )
    assert kinds == []


@pytest.mark.parametrize(
    ("make_opt", "activation", "init"),
    [
        (lambda p: optim.Adam(p, lr=1e-3), "relu", "he_normal"),
        (lambda p: optim.SGD(p, lr=0.05, momentum=0.9), "relu", "he_normal"),
        (lambda p: optim.SGD(p, lr=0.05), "tanh", "xavier_normal"),
    ],
    ids=["adam-relu", "momentum-relu", "sgd-tanh"],
)
def test_quiet_on_healthy_runs(make_opt, activation, init):
    model = mlp([64, 64, 64, 10], activation=activation, init=init)
    kinds, history = _kinds(model, make_opt(model.parameters()), epochs=8)
    assert kinds == [], [str(f) for f in history.findings]


def test_diagnostics_restore_the_modules():
    model = mlp([64, 64, 10])
    _kinds(model, optim.SGD(model.parameters(), lr=0.01), epochs=1)
    assert "forward" not in vars(model[1])
