"""Each detector provoked on purpose, and quiet on healthy runs."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from nablab import nn, optim
from nablab.train import Callback, Diagnostics, History, fit
from nablab.train.diagnostics import overfitting_onset

from helpers.train_helpers import digits_split, mlp


def _constant(shape, rng, dtype):
    return np.full(shape, 0.1, dtype)


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


# ----------------------------------------------------------------------- the right cause


def _bn_mlp(widths, activation="relu", batch_norm_at=None):
    rng = np.random.default_rng(0)
    layers: list[nn.Module] = []
    pairs = list(itertools.pairwise(widths))
    for index, (a, b) in enumerate(pairs):
        layers.append(nn.Linear(a, b, init="he_normal", rng=rng))
        if index < len(pairs) - 1:
            if batch_norm_at is None or index in batch_norm_at:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.activation(activation))
    return nn.Sequential(*layers)


@pytest.mark.parametrize("batch_size", [1, 2])
def test_batchnorm_on_tiny_batches_is_named_before_what_it_causes(batch_size):
    model = _bn_mlp([64, 64, 64, 10])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # BatchNorm's own one-sample warning
        kinds, history = _kinds(
            model, optim.SGD(model.parameters(), lr=0.01), epochs=1, batch_size=batch_size
        )
    assert kinds == ["batchnorm_small_batch"], [str(f) for f in history.findings]
    finding = history.findings[0]
    assert f"training batches of {batch_size} sample" in finding.message
    assert ("every output is β" if batch_size == 1 else "every normalized value is ±1") in (
        finding.evidence
    )


def test_a_one_sample_last_batch_under_batchnorm_is_named():
    x, y, _, _ = digits_split()  # 1437 samples = 44·32 + 29; keep 1409 = 44·32 + 1
    model = _bn_mlp([64, 32, 10])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        kinds, history = _kinds(
            model, optim.SGD(model.parameters(), lr=0.01), epochs=1, data=(x[:1409], y[:1409])
        )
    assert kinds == ["batchnorm_small_batch"]
    assert (
        "a last batch of one sample in every epoch (1409 = 44·32 + 1)"
        in history.findings[0].message
    )


def test_batchnorm_on_ordinary_batches_stays_quiet():
    model = _bn_mlp([64, 64, 64, 10])
    kinds, history = _kinds(model, optim.SGD(model.parameters(), lr=0.05), epochs=4)
    assert kinds == [], [str(f) for f in history.findings]


def test_a_network_with_batchnorm_is_not_told_to_add_it():
    model = mlp([64, *[32] * 10, 10], activation="sigmoid", init="xavier_normal")
    layers = list(model)
    layers.insert(1, nn.BatchNorm1d(32))  # in the first layer only: the gradient still fades
    model = nn.Sequential(*layers)
    kinds, history = _kinds(model, optim.SGD(model.parameters(), lr=0.1), epochs=2)
    finding = history.findings[kinds.index("vanishing_gradients")]
    assert "BatchNorm" not in finding.suggestion and "residual" in finding.suggestion


@pytest.mark.parametrize(
    ("init", "activation"), [("zeros", "relu"), ("zeros", "tanh"), (_constant, "sigmoid")]
)
def test_identical_units_from_a_symmetric_initialization(init, activation):
    model = mlp([64, 32, 10], activation=activation, init=init)
    kinds, history = _kinds(model, optim.SGD(model.parameters(), lr=0.05), epochs=2)
    assert kinds[0] == "identical_units" and "dead_relu" not in kinds, kinds
    assert "all 32 units of layer 0 have the same weights and bias" in history.findings[0].evidence


def test_pruned_units_are_not_copies():
    model = mlp([64, 32, 10])
    mask = np.ones((64, 32))
    mask[:, :4] = 0  # four units cut off entirely: all zero, but not a symmetry problem
    model[0].weight.mask = mask
    kinds, _ = _kinds(model, optim.SGD(model.parameters(), lr=0.05), epochs=1)
    assert "identical_units" not in kinds


def _least_squares(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(256, 8))
    y = x @ rng.normal(size=(8, 1)) + 0.3 * rng.normal(size=(256, 1))
    return x, y


def test_a_converged_run_is_converged_not_lr_too_small():
    """Full-batch gradient descent on least squares reaches the minimum (the loss stops at
    the noise variance): its gradient is near zero."""
    x, y = _least_squares()
    lam = np.linalg.eigvalsh(2 * x.T @ x / len(x)).max()
    model = nn.Sequential(nn.Linear(8, 1, rng=0, dtype=np.float64))
    kinds, history = _kinds(
        model,
        optim.SGD(model.parameters(), lr=0.5 / lam),
        epochs=40,
        batch_size=256,
        loss=nn.MSELoss(),
        data=(x, y),
    )
    assert kinds == ["converged"]
    assert "the gradient norm fell to" in history.findings[0].evidence


def test_mini_batches_at_the_noise_floor_are_converged():
    """Started at the least-squares solution, mini-batch steps only wander: over an epoch they
    cancel out."""
    x, y = _least_squares()
    solution = np.linalg.lstsq(np.c_[x, np.ones(len(x))], y, rcond=None)[0]
    model = nn.Sequential(nn.Linear(8, 1, rng=0, dtype=np.float64))
    model[0].weight.data = solution[:8]
    model[0].bias.data = solution[8]
    kinds, history = _kinds(
        model,
        optim.SGD(model.parameters(), lr=1e-4),
        epochs=3,
        batch_size=16,
        loss=nn.MSELoss(),
        data=(x, y),
    )
    assert kinds == ["converged"]
    assert "the epoch's steps cancel out" in history.findings[0].evidence
    # the same tiny rate from a random start is still too small
    model = nn.Sequential(nn.Linear(8, 1, rng=0, dtype=np.float64))
    kinds, _ = _kinds(
        model,
        optim.SGD(model.parameters(), lr=1e-6),
        epochs=3,
        batch_size=16,
        loss=nn.MSELoss(),
        data=(x, y),
    )
    assert kinds == ["lr_too_small"]


def test_overfitting_is_named_with_the_epoch_it_started():
    """300 training digits, 30% of their labels replaced at random: the network memorizes
    the noise and the validation loss turns upward."""
    x, y, x_val, y_val = digits_split()
    rng = np.random.default_rng(0)
    noisy = y[:300].copy()
    flip = rng.random(300) < 0.3
    noisy[flip] = rng.integers(0, 10, flip.sum())
    model = mlp([64, 128, 10])
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=3e-3),
        (x[:300], noisy),
        (x_val, y_val),
        epochs=40,
        callbacks=[Diagnostics()],
    )
    kinds = [f.kind for f in history.findings]
    assert kinds == ["overfitting"], [str(f) for f in history.findings]
    finding = history.findings[0]
    val = history.column("val_loss")
    lowest = int(np.argmin(val[: finding.epoch]))
    assert finding.epoch == lowest + 2  # the epoch after the lowest validation loss before it
    assert np.mean(val[-3:]) > 1.1 * val[lowest]
    assert f"overfitting since epoch {finding.epoch}" in finding.message


def test_a_healthy_run_with_validation_is_not_overfitting():
    x, y, x_val, y_val = digits_split()
    model = mlp([64, 64, 10])
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=1e-3),
        (x, y),
        (x_val, y_val),
        epochs=15,
        callbacks=[Diagnostics()],
    )
    assert history.findings == []


class _Stub:
    """What the loss-swing detector reads of a trainer."""

    def __init__(self, epoch_means, step_spread, steps=50, seed=0):
        rng = np.random.default_rng(seed)
        self.history = History()
        self.steps_per_epoch = steps
        for epoch, mean in enumerate(epoch_means, 1):
            noise = rng.normal(size=steps)
            steps_loss = mean + step_spread * (noise - noise.mean()) / noise.std(ddof=1)
            self.history.step_loss += list(steps_loss)
            self.history.epochs.append({"epoch": epoch, "train_loss": mean})


def _swing(epoch_means, step_spread):
    diagnostics = Diagnostics()
    diagnostics.comparisons = 0
    trainer = _Stub(epoch_means, step_spread)
    diagnostics._oscillation(trainer, len(epoch_means), lr=0.1)
    return [f.kind for f in trainer.history.findings]


def test_a_loss_swinging_beyond_its_noise_without_a_trend_is_lr_too_large():
    assert _swing([1.0, 1.3, 0.95, 1.35], step_spread=0.05) == ["lr_too_large"]


def test_swings_within_the_noise_or_on_a_falling_trend_are_not():
    # the README's MNIST-1D run at epochs 35–38, each epoch's mean known to about ±0.007
    assert _swing([0.073, 0.089, 0.078, 0.092], step_spread=0.05) == []
    # clear swings, but the loss is falling from one four-epoch window to the next
    assert _swing([2.0, 1.9, 1.8, 1.7, 1.0, 1.3, 0.95, 1.35], step_spread=0.05) == []


def test_the_readme_mnist1d_run_is_overfitting_not_lr_too_large():
    """The first 26 epochs of ``nablab train --data mnist1d --hidden 512,512,512 --dropout 0.2
    --lr 2e-3 --batch-size 64 --epochs 80 --schedule cosine --val-fraction 0.1`` (its
    history.csv, to 4 digits; the run takes half a minute): the validation loss is lowest at
    epoch 16 and has risen beyond its noise by epoch 24."""
    train = [
        2.144,
        1.608,
        1.414,
        1.231,
        1.119,
        0.953,
        0.8533,
        0.7454,
        0.6934,
        0.583,
        0.5017,
        0.5126,
        0.4241,
        0.3893,
        0.3638,
        0.3516,
        0.2921,
        0.2512,
        0.2449,
        0.2444,
        0.213,
        0.204,
        0.1842,
        0.1564,
        0.1839,
        0.1802,
    ]
    val = [
        1.659,
        1.523,
        1.373,
        1.212,
        1.183,
        1.119,
        1.089,
        1.028,
        1.002,
        1.02,
        1.056,
        0.9909,
        0.991,
        0.9738,
        0.9666,
        0.9376,
        1.024,
        0.9616,
        1.092,
        1.037,
        1.044,
        1.092,
        1.041,
        1.091,
        1.098,
        1.09,
    ]
    onset = overfitting_onset(train, val)
    assert onset is not None and onset[0] == 17
    assert overfitting_onset(train[:23], val[:23]) is None  # not yet beyond its noise


def test_a_noisy_validation_loss_is_not_overfitting():
    """Epochs 29–40 of an augmented run (``nablab train --data digits --hidden 128 --epochs 40
    --augment shift=1,rotation=10``): the validation loss jumps by about ±0.03 from epoch to
    epoch while the training loss creeps down."""
    train = [
        0.2965,
        0.2784,
        0.2857,
        0.2468,
        0.2530,
        0.2391,
        0.2615,
        0.2534,
        0.2344,
        0.2226,
        0.2107,
        0.2206,
    ]
    val = [
        0.1946,
        0.2114,
        0.1967,
        0.1870,
        0.2201,
        0.2090,
        0.1973,
        0.1822,
        0.1657,
        0.2305,
        0.2027,
        0.2284,
    ]
    assert overfitting_onset(train, val) is None
