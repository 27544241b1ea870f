"""The training loop: learning, determinism, agreement with PyTorch, checkpoints, callbacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nablab import nn, optim
from nablab.train import (
    CheckpointError,
    EarlyStopping,
    LRSchedule,
    evaluate,
    fit,
    load_checkpoint,
)

from helpers.oracle import assert_close
from helpers.train_helpers import digits_split, mlp


def test_digits_mlp_learns():
    x, y, xv, yv = digits_split()
    model = mlp([64, 64, 10])
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=1e-3),
        (x, y),
        (xv, yv),
        epochs=10,
        batch_size=32,
    )
    assert history.last["val_acc"] >= 0.95
    assert len(history.epochs) == 10
    assert len(history.step_loss) == 10 * int(np.ceil(len(x) / 32))
    assert history.epochs[-1]["train_loss"] < history.epochs[0]["train_loss"] / 5
    assert set(history.grad_norms) == {"0.weight", "2.weight"}
    loss, acc = evaluate(model, nn.CrossEntropyLoss(), xv, yv)
    assert acc == history.last["val_acc"] and loss == pytest.approx(history.last["val_loss"])


def _train(seed, epochs=2, dropout=0.0):
    x, y, _, _ = digits_split()
    model = mlp([64, 32, 10], seed=0, dropout=dropout)
    fit(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
        (x, y),
        epochs=epochs,
        batch_size=16,
        seed=seed,
    )
    return model.state_dict()


def test_same_seed_bit_identical_other_seed_different():
    a, b, c = _train(3, dropout=0.2), _train(3, dropout=0.2), _train(4, dropout=0.2)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a[key], c[key]) for key in a)


def test_fit_agrees_with_pytorch_on_the_same_batches():
    """float64, SGD with momentum: nablab's loop and a PyTorch loop over the same batch
    order end at the same parameters."""
    x, y, _, _ = digits_split()
    x = x[:200].astype(np.float64)
    y = y[:200]
    model = mlp([64, 16, 10], dtype=np.float64)
    start = model.state_dict()
    fit(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        (x, y),
        epochs=3,
        batch_size=32,
        seed=11,
    )
    w1, b1 = (
        torch.tensor(start["0.weight"], requires_grad=True),
        torch.tensor(start["0.bias"], requires_grad=True),
    )
    w2, b2 = (
        torch.tensor(start["2.weight"], requires_grad=True),
        torch.tensor(start["2.bias"], requires_grad=True),
    )
    opt = torch.optim.SGD([w1, b1, w2, b2], lr=0.1, momentum=0.9)
    rng = np.random.default_rng(11)
    xt, yt = torch.tensor(x), torch.tensor(y)
    for _ in range(3):
        order = rng.permutation(len(x))
        for start_index in range(0, len(x), 32):
            index = torch.tensor(order[start_index : start_index + 32])
            logits = torch.relu(xt[index] @ w1 + b1) @ w2 + b2
            loss = torch.nn.functional.cross_entropy(logits, yt[index])
            opt.zero_grad()
            loss.backward()
            opt.step()
    for name, tensor in (("0.weight", w1), ("0.bias", b1), ("2.weight", w2), ("2.bias", b2)):
        assert_close(model.state_dict()[name], tensor.detach().numpy())


def test_resuming_a_checkpoint_is_bit_identical(tmp_path):
    x, y, xv, yv = digits_split()

    def setup():
        model = mlp([64, 32, 10], dropout=0.1)
        opt = optim.Adam(model.parameters(), lr=2e-3)
        schedule = LRSchedule(optim.CosineAnnealingLR(opt, T_max=4))
        return model, opt, schedule

    model, opt, schedule = setup()
    straight = fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        (x, y),
        (xv, yv),
        epochs=4,
        batch_size=32,
        seed=9,
        callbacks=[schedule],
    )
    expected = model.state_dict()
    path = tmp_path / "run.npz"
    model, opt, schedule = setup()
    fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        (x, y),
        (xv, yv),
        epochs=2,
        batch_size=32,
        seed=9,
        callbacks=[schedule],
        checkpoint=str(path),
    )
    model, opt, schedule = setup()  # a fresh process would start from nothing, too
    resumed = fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        (x, y),
        (xv, yv),
        epochs=4,
        batch_size=32,
        seed=9,
        callbacks=[schedule],
        checkpoint=str(path),
        resume=str(path),
    )
    for key, value in expected.items():
        np.testing.assert_array_equal(model.state_dict()[key], value)
    assert resumed.step_loss == straight.step_loss
    assert [r["val_acc"] for r in resumed.epochs] == [r["val_acc"] for r in straight.epochs]
    assert not list(tmp_path.glob(".*.tmp"))
    with np.load(path, allow_pickle=False) as archive:
        assert "meta" in archive and "model.0.weight" in archive


def test_checkpoint_must_fit_the_model(tmp_path):
    x, y, _, _ = digits_split()
    model = mlp([64, 32, 10])
    opt = optim.SGD(model.parameters(), lr=0.1)
    fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=1, checkpoint=str(tmp_path / "c.npz"))
    other = mlp([64, 16, 10])
    with pytest.raises(CheckpointError, match="does not fit this model"):
        load_checkpoint(tmp_path / "c.npz", other, optim.SGD(other.parameters(), lr=0.1))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "junk.npz", model, opt)


def test_non_finite_loss_stops_at_once():
    x, y, _, _ = digits_split()
    model = mlp([64, 64, 10])
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=10.0),
        (x, y),
        epochs=5,
        batch_size=32,
    )
    assert "non-finite loss" in history.stopped
    assert len(history.epochs) == 1 and all(np.isfinite(history.step_loss))
    finding = history.findings[0]
    assert finding.kind == "divergence" and "try 1" in finding.suggestion


def test_early_stopping_restores_the_best_weights():
    x, y, xv, yv = digits_split()
    model = mlp([64, 64, 10])
    stopper = EarlyStopping("val_loss", patience=2)
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=0.05),
        (x, y),
        (xv, yv),
        epochs=40,
        batch_size=32,
        callbacks=[stopper],
    )
    assert history.stopped.startswith("early stopping") and len(history.epochs) < 40
    best = min(history.column("val_loss"))
    assert evaluate(model, nn.CrossEntropyLoss(), xv, yv)[0] == pytest.approx(best, rel=1e-6)


def test_schedules_as_callbacks_set_the_learning_rate():
    x, y, _, _ = digits_split()
    model = mlp([64, 10])
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        (x[:64], y[:64]),
        epochs=3,
        batch_size=32,
        callbacks=[LRSchedule(optim.StepLR(opt, step_size=1, gamma=0.5), "step")],
    )
    assert history.step_lr == pytest.approx([0.1 * 0.5**k for k in range(6)])


def test_progress_bar_and_bad_arguments(capsys):
    x, y, _, _ = digits_split()
    model = mlp([64, 10])
    fit(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.1),
        (x, y),
        epochs=1,
        progress=True,
    )
    assert "epoch   1" in capsys.readouterr().out
    with pytest.raises(ValueError, match="has 10 inputs but 9 targets"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x[:10], y[:9]))
    with pytest.raises(ValueError, match="epochs and batch_size must be >= 1"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=0)


def test_a_checkpoint_keeps_the_pruning_masks(tmp_path):
    from nablab.train import load_checkpoint, save_checkpoint

    x_train, y_train, _, _ = digits_split()
    model = mlp([64, 16, 10], seed=0)
    mask = (np.random.default_rng(0).random(model[0].weight.shape) > 0.5).astype(np.float32)
    model[0].weight.mask = mask
    opt = optim.Adam(model.parameters(), lr=1e-2)
    fit(model, nn.CrossEntropyLoss(), opt, (x_train, y_train), epochs=1, batch_size=64)
    assert np.all(model[0].weight.data[mask == 0] == 0)
    save_checkpoint(tmp_path / "c.npz", model, opt, {})
    fresh = mlp([64, 16, 10], seed=1)
    load_checkpoint(tmp_path / "c.npz", fresh, optim.Adam(fresh.parameters(), lr=1e-2))
    np.testing.assert_array_equal(fresh[0].weight.mask, mask)
    np.testing.assert_array_equal(fresh[0].weight.data, model[0].weight.data)
