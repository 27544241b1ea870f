"""Convolutional networks in training: the cnn model, checkpoints, summaries, diagnostics per
channel, image files kept as (N, C, H, W), and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nablab import data, nn, optim, summary
from nablab.cli import main
from nablab.train import Diagnostics, TrainConfig, fit, run_training
from nablab.train.diagnostics import _ActivationMonitor
from nablab.train.run import build_model

SMALL_CNN = {
    "data": "digits",
    "model": "cnn",
    "channels": (8, 8),
    "kernel_size": 3,
    "epochs": 2,
    "batch_size": 64,
    "lr": 3e-3,
}


def tiny_cnn(seed: int = 0) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Unflatten(1, (1, 40)),
        nn.Conv1d(1, 8, 5, stride=2, padding=2, init="he_normal", rng=rng),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Conv1d(8, 8, 3, padding="same", init="he_normal", rng=rng),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 10, 10, rng=rng),
    )


def test_a_tiny_cnn_learns_mnist1d_in_two_epochs():
    mnist = data.load("mnist1d")
    x = data.Standardizer().fit_transform(mnist.x[:1000])
    model = tiny_cnn()
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=1e-2),
        (x[:800], mnist.y[:800]),
        (x[800:], mnist.y[800:1000]),
        epochs=2,
        batch_size=32,
    )
    losses = [row["train_loss"] for row in history.epochs]
    assert losses[1] < losses[0] < history.step_loss[0]
    assert history.last["val_loss"] < np.log(10)  # below guessing 1/10 for every class
    assert history.last["val_acc"] > 0.2  # chance is 0.1


def test_the_cnn_model_trains_repeats_bit_for_bit_and_summarizes():
    first = run_training(TrainConfig(**SMALL_CNN))
    second = run_training(TrainConfig(**SMALL_CNN))
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    kinds = [type(m).__name__ for m in first.model]
    assert kinds == ["Unflatten", "Conv1d", "ReLU", "Conv1d", "ReLU", "Flatten", "Linear"]
    assert first.metrics["val_acc"] > 0.7
    rows = summary(first.model, 64).rows
    assert [r.output_shape for r in rows[:4]] == [(1, 1, 64), (1, 8, 32), (1, 8, 32), (1, 8, 16)]
    assert rows[1].params == 3 * 1 * 8 + 8 and rows[-1].params == 8 * 16 * 10 + 10


def test_summary_opens_nested_sequentials_and_shows_feature_maps():
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 10),
    )
    table = summary(model, (1, 28, 28))
    assert [r.name for r in table.rows[:4]] == ["0.0", "0.1", "0.2", "1.0"]
    assert table.rows[3].output_shape == (1, 16, 10, 10)
    assert table.total == (25 * 6 + 6) + (25 * 6 * 16 + 16) + (400 * 10 + 10)
    assert "(N, 16, 10, 10)" in str(table)


def test_checkpoints_resume_a_cnn_with_batch_norm_bit_for_bit(tmp_path):
    config = TrainConfig(**{**SMALL_CNN, "batch_norm": True, "dropout": 0.1, "epochs": 3})
    whole = run_training(config)
    path = str(tmp_path / "checkpoint.npz")
    run_training(TrainConfig(**{**SMALL_CNN, "batch_norm": True, "dropout": 0.1}), checkpoint=path)
    resumed = run_training(config, checkpoint=path, resume=path)
    for key, value in whole.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value, err_msg=key)
    assert "2.running_var" in whole.model.state_dict()


def test_dead_relu_channels_are_found_per_channel():
    model = tiny_cnn()
    model[1].bias.data = np.full(8, -50.0, np.float32)  # every channel of the first conv off
    x = np.random.default_rng(0).normal(size=(256, 40)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 10, 256)
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.01),
        (x, y),
        epochs=1,
        callbacks=[Diagnostics()],
    )
    finding = next(f for f in history.findings if f.kind == "dead_relu")
    assert "layer 2" in finding.message and "of its 8 channels gave 0" in finding.evidence


def test_a_channel_that_fires_anywhere_is_alive():
    model = nn.Sequential(nn.ReLU())
    monitor = _ActivationMonitor(model, 0.98)
    x = -np.ones((4, 3, 5, 5))
    x[2, 1, 4, 0] = 1.0  # channel 1 fires once, at one position of one sample
    model(x)
    np.testing.assert_array_equal(monitor.active["0"], [False, True, False])
    monitor.remove()
    saturating = nn.Sequential(nn.Tanh())
    monitor = _ActivationMonitor(saturating, 0.98)
    x = np.zeros((2, 2, 10))
    x[:, 0, :5] = 10.0  # half of channel 0 saturated
    saturating(x)
    np.testing.assert_array_equal(monitor.saturated["0"] / monitor.samples["0"], [0.5, 0.0])
    monitor.remove()


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape
    )
    return header + array.astype(">u1").tobytes()


def test_image_files_train_a_2d_cnn_and_an_mlp(tmp_path, capsys):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 120).astype(np.uint8)
    images = rng.integers(0, 60, size=(120, 8, 8)).astype(np.uint8)
    images[labels == 1, 2:6, 2:6] += 150  # class 1 has a bright square
    (tmp_path / "images").write_bytes(_idx(images))
    (tmp_path / "labels").write_bytes(_idx(labels))
    common = ["--data", str(tmp_path / "images"), "--labels", str(tmp_path / "labels")]
    config = TrainConfig(data=str(tmp_path / "images"), labels=str(tmp_path / "labels"))
    cnn = build_model(
        TrainConfig(**{**vars(config), "model": "cnn", "channels": (4,)}), (1, 8, 8), 2
    )
    assert [type(m).__name__ for m in cnn][:2] == ["Conv2d", "ReLU"]
    out = tmp_path / "run"
    argv = [
        "train",
        *common,
        "--model",
        "cnn",
        "--channels",
        "4,8",
        "--kernel-size",
        "3",
        "--lr",
        "1e-2",
    ]
    assert main([*argv, "--epochs", "3", "--quiet", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["model"] == "cnn" and metrics["val_acc"] > 0.9
    assert main(["train", *common, "--hidden", "16", "--epochs", "2", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["summary", *common, "--model", "cnn", "--channels", "4"]) == 0
    printed = capsys.readouterr().out
    assert "0 (Conv2d)" in printed and "(N, 4, 4, 4)" in printed


def test_cnn_flags_from_the_command_line(capsys):
    assert main(["summary", "--data", "mnist1d", "--model", "cnn", "--batch-norm"]) == 0
    printed = capsys.readouterr().out
    assert "(N, 64, 5)" in printed and "total parameters: 45,066" in printed


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--model", "rnn"], "argument --model: invalid choice: 'rnn'"),
        (["--model", "cnn", "--channels", "8,0"], "--channels: sizes must be positive"),
        (["--model", "cnn", "--kernel-size", "0"], r"--kernel-size must be in [1, inf)"),
        (["--model", "cnn", "--stride", "0"], r"--stride must be in [1, inf)"),
    ],
)
def test_bad_cnn_flags_get_one_line_and_exit_2(flags, message, capsys):
    with pytest.raises(SystemExit) as info:
        code = main(["train", "--data", "digits", "--epochs", "1", "--quiet", *flags])
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_model_registry_drives_the_config_check():
    from nablab.train.config import ConfigError, check_config

    with pytest.raises(ConfigError, match=r"--model: unknown model 'cnm' \(did you mean 'cnn'"):
        check_config(TrainConfig(model="cnm"))


def test_the_help_says_which_model_reads_each_size_flag(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(cnn) output channels of each convolution, default 64,64,64" in text
    assert "(mlp) hidden widths, default 64,64" in text


@pytest.mark.parametrize(
    ("model", "shape", "options"),
    [
        ("cnn", (40,), {}),
        ("cnn", (40,), {"batch_norm": True, "kernel_size": 4, "stride": 3}),
        ("cnn", (3, 11, 9), {"channels": (4, 6), "batch_norm": True}),
        ("mlp", (1, 8, 8), {"hidden": (7, 5), "batch_norm": True}),
    ],
)
def test_parameter_counts_without_building_equal_the_built_models(model, shape, options):
    from nablab.train.run import parameter_count

    config = TrainConfig(model=model, **options)
    built = build_model(config, shape, 10)
    assert parameter_count(config, shape, 10) == sum(p.size for p in built.parameters())
