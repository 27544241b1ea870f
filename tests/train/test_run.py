"""Pure runs from a config, run folders, and what a notebook shows of the results."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from nablab import nn, optim
from nablab.train import TrainConfig, run_training, write_run
from nablab.train.config import ConfigError

PNG = b"\x89PNG\r\n\x1a\n"
SMALL = {"data": "digits", "hidden": (16,), "epochs": 2, "batch_size": 64, "lr": 0.01}


def test_a_run_writes_nothing_prints_nothing_and_repeats_bit_for_bit(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    first = run_training(TrainConfig(**SMALL))
    second = run_training(TrainConfig(**SMALL))
    assert os.listdir(tmp_path) == []
    assert capsys.readouterr() == ("", "")
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    assert first.metrics["epochs_run"] == 2 and first.metrics["val_acc"] > 0.7
    assert first.metrics["config"]["hidden"] == (16,)


def test_bad_configs_are_refused_before_any_work():
    with pytest.raises(ConfigError, match="--optimizer: unknown optimizer 'newton'"):
        run_training(TrainConfig(**{**SMALL, "optimizer": "newton"}))
    with pytest.raises(ConfigError, match=r"--activation: unknown activation 'rleu' \(did you "):
        run_training(TrainConfig(**{**SMALL, "activation": "rleu"}))


def test_write_run_writes_the_run_folder(tmp_path):
    result = run_training(TrainConfig(**SMALL))
    write_run(result, tmp_path / "run")
    names = sorted(os.listdir(tmp_path / "run"))
    assert names == ["accuracy.png", "diagnostics.txt", "history.csv", "loss.png", "metrics.json"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["val_acc"] == pytest.approx(result.metrics["val_acc"])
    assert (tmp_path / "run" / "loss.png").read_bytes().startswith(PNG)


def test_results_display_in_a_notebook():
    result = run_training(TrainConfig(**SMALL))
    html = result._repr_html_()
    assert "Training run on digits" in html and html.count("<tr>") >= 2 + 2
    assert "data:image/png;base64," in html
    history = result.history
    assert history._repr_png_().startswith(PNG)
    assert history._repr_png_() == history._repr_png_()  # deterministic bytes
    assert "<table>" in history._repr_html_()
    table = nn.summary(result.model, 64)._repr_html_()
    assert table.count("<tr>") == 1 + 3 and "total parameters: 1,210" in table


def test_the_lr_range_test_and_a_solution_display_too():
    from nablab.solve import load_exercise, run

    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(2, 8, rng=rng), nn.Tanh(), nn.Linear(8, 2, rng=rng))
    x, y = rng.normal(size=(64, 2)).astype(np.float32), rng.integers(0, 2, 64)
    result = optim.lr_range_test(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.1),
        (x, y),
        num_iter=30,
        rng=0,
    )
    assert result._repr_png_().startswith(PNG)
    assert f"valley at lr = {result.valley:.3g}" in result._repr_html_()
    trace = run(load_exercise("examples/mazur.yaml"))
    html = trace._repr_html_()
    assert html.startswith('<div class="nablab-solution" ') and "<math" in html
    assert "0.35891648" in html
