"""Training with augmentation: ``fit(augment=...)``, ``TrainConfig.augment`` and
``nablab train --augment``; and no hidden layer (``--hidden ""``)."""

from __future__ import annotations

import numpy as np
import pytest

from nablab import data, nn, optim
from nablab.cli import main
from nablab.train import TrainConfig, fit, run_training
from nablab.train.config import ConfigError

from helpers.train_helpers import digits_split, mlp

SMALL = {"data": "digits", "hidden": (16,), "epochs": 2, "batch_size": 64, "lr": 0.01}


def _train(augment, epochs=2, checkpoint=None, resume=None, seen=None):
    x, y, xv, yv = digits_split()
    model = mlp([64, 16, 10])
    if seen is not None:
        model[0].register_forward_hook(lambda m, inp, out: seen.append(inp.copy()))
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=1e-2),
        (x, y),
        (xv, yv),
        epochs=epochs,
        batch_size=64,
        seed=4,
        augment=augment,
        checkpoint=checkpoint,
        resume=resume,
    )
    return model, history


def test_an_identity_augmentation_changes_nothing_and_validation_is_never_augmented():
    plain, _ = _train(None)
    same, _ = _train(lambda xb, rng: xb)
    for a, b in zip(plain.parameters(), same.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)  # the batch order is the seed's own
    seen: list[np.ndarray] = []
    _train(lambda xb, rng: xb + 100.0, epochs=1, seen=seen)
    x_val = digits_split()[2]
    training = [batch for batch in seen if batch.min() > 50]
    assert len(training) == 23 and len(seen) == 24  # 1438/64 batches, then one validation pass
    np.testing.assert_array_equal(seen[-1], x_val)


def test_augmented_runs_repeat_and_resume_bit_for_bit(tmp_path):
    x_train = digits_split()[0]
    scaler = data.Standardizer().fit(x_train)  # already standardized: an identity scaler
    augment = data.OnFlatImages(data.RandomAffine(shift=1, rotation=10), (8, 8), scaler)
    first, history = _train(augment, epochs=3)
    second, _ = _train(augment, epochs=3)
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    path = str(tmp_path / "c.npz")
    _train(augment, epochs=2, checkpoint=path)
    resumed, resumed_history = _train(augment, epochs=3, checkpoint=path, resume=path)
    for a, b in zip(first.parameters(), resumed.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    assert resumed_history.step_loss == history.step_loss
    with pytest.raises(TypeError, match="augment must be a function"):
        _train("shift=1")


def test_a_run_config_with_augmentation():
    plain = run_training(TrainConfig(**SMALL))
    augmented = run_training(TrainConfig(**SMALL, augment="shift=1,rotation=10"))
    again = run_training(TrainConfig(**SMALL, augment="shift=1,rotation=10"))
    assert augmented.metrics["config"]["augment"] == "shift=1,rotation=10"
    assert augmented.history.step_loss == again.history.step_loss
    assert augmented.history.step_loss != plain.history.step_loss
    with pytest.raises(ConfigError, match="--augment: unknown augmentation 'shfit'"):
        run_training(TrainConfig(**SMALL, augment="shfit=1"))
    with pytest.raises(ConfigError, match="--augment must be text"):
        run_training(TrainConfig(**SMALL, augment=3))
    with pytest.raises(ConfigError, match="the samples of 'mnist1d' are not images"):
        run_training(TrainConfig(**{**SMALL, "data": "mnist1d"}, augment="shift=1"))


def test_no_hidden_layer_is_softmax_regression(capsys):
    result = run_training(TrainConfig(**{**SMALL, "hidden": (), "epochs": 5}))
    assert [type(m).__name__ for m in result.model] == ["Linear"]
    assert result.model[0].weight.shape == (64, 10)
    assert result.metrics["val_acc"] > 0.85
    assert main(["summary", "--hidden", ""]) == 0
    assert "total parameters: 650" in capsys.readouterr().out  # 64·10 + 10


def test_the_train_command_takes_augment_and_no_hidden_layer(capsys):
    flags = ["--epochs", "2", "--quiet", "--batch-size", "64", "--lr", "0.01"]
    assert main(["train", "--hidden", "", *flags]) == 0
    assert "val_acc:" in capsys.readouterr().out
    assert main(["train", "--hidden", "16", "--augment", "shift=1,rotation=10", *flags]) == 0
    assert "val_acc:" in capsys.readouterr().out
    assert main(["train", "--augment", "rotation=-1", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "nablab train: error: --augment: rotation must be in [0, 180], got -1.0"
