"""``nablab prune RUN_DIR``: rebuild a trained run, prune, retrain, write its folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nablab import nn
from nablab.cli import build_parser, main
from nablab.prune import CRITERIA
from nablab.prune.command import load_run
from nablab.train.loop import evaluate


def _train(folder, hidden: str):
    args = ["train", "--data", "digits", "--hidden", hidden, "--epochs", "3", "--quiet"]
    assert main([*args, "--out", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("runs") / "digits", "16")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """64-4-10: 310 parameters, so OBS's dense matrix takes 310 products."""
    return _train(tmp_path_factory.mktemp("runs") / "small", "4")


def test_method_choices_come_from_the_registry():
    parser = build_parser()
    action = next(
        a
        for a in parser._subparsers._group_actions[0].choices["prune"]._actions
        if a.dest == "method"
    )
    assert tuple(action.choices) == CRITERIA.names()


def test_prune_obd_with_retraining_writes_a_run_folder(run_dir, tmp_path, capsys):
    out = tmp_path / "pruned"
    code = main(
        [
            "prune",
            str(run_dir),
            "--method",
            "obd",
            "--amount",
            "0.5",
            "--retrain-epochs",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "weights pruned: 592 of 1184 (50.0%)" in printed  # 64·16 + 16·10 weights
    for name in ("checkpoint.npz", "metrics.json", "pruning.png", "layers.png", "sensitivity.png"):
        assert (out / name).stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["sparsity"] == 0.5
    assert metrics["pruning"]["method"] == "obd" and metrics["pruning"]["curvature"] == "lecun"
    assert [r["stage"] for r in metrics["history"]] == ["baseline", "pruned", "retrained"]
    assert metrics["val_acc"] == metrics["history"][-1]["val_acc"]
    assert sum(r["pruned"] for r in metrics["layers"]) == 592
    assert metrics["unpruned_parameters"] == metrics["parameters"] - 592
    # the pruned checkpoint rebuilds with its masks, and the masked weights are zero
    pruned = load_run(out)
    assert pruned.model[0].weight.mask is not None
    for layer in (pruned.model[0], pruned.model[2]):
        assert np.all(layer.weight.data[layer.weight.mask == 0] == 0)
    _, accuracy = evaluate(pruned.model, nn.CrossEntropyLoss(), *pruned.splits.val)
    assert accuracy == pytest.approx(metrics["val_acc"], abs=1e-12)


def test_prune_again_on_a_pruned_run(run_dir, tmp_path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(["prune", str(run_dir), "--amount", "0.3", "--out", str(first)]) == 0
    assert main(["prune", str(first), "--amount", "0.6", "--out", str(second)]) == 0
    before = load_run(first).model[0].weight.mask
    after = load_run(second).model[0].weight.mask
    assert np.all(after[before == 0] == 0)
    metrics = json.loads((second / "metrics.json").read_text())
    assert metrics["sparsity"] == pytest.approx(0.6, abs=1e-3)


def test_structured_obs_reports_the_compact_size(small_run, tmp_path, capsys):
    out = tmp_path / "units"
    args = ["--method", "obs", "--structured", "--amount", "0.5", "--out", str(out)]
    assert main(["prune", str(small_run), *args]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["units"] == [{"name": "0", "size": 4, "pruned": 2}]
    assert metrics["compact_parameters"] == 64 * 2 + 2 + 2 * 10 + 10
    assert "parameters: 310 → 160 after compact" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--amount", "1.5"], "--amount must be a fraction in [0, 1), got 1.5"),
        (
            ["--method", "obs", "--max-params", "1000"],
            "--method obs: the model has 1210 parameters, more than --max-params 1000",
        ),
        (["--steps", "0"], "--steps must be an integer >= 1, got 0"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(run_dir, tmp_path, capsys, args, message):
    assert main(["prune", str(run_dir), *args, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bad_run_folders_exit_2(run_dir, tmp_path, capsys):
    assert main(["prune", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["prune", str(empty), "--out", str(tmp_path / "x")]) == 2
    assert "no metrics.json; a run folder written by `nablab train --out`" in (
        capsys.readouterr().err
    )
    assert main(["prune", str(run_dir), "--out", str(run_dir)]) == 2
    assert "--out must differ from RUN_DIR" in capsys.readouterr().err


def test_biases_are_scored_only_when_asked(run_dir, tmp_path, capsys):
    out = tmp_path / "biases"
    assert main(["prune", str(run_dir), "--prune-biases", "--out", str(out)]) == 0
    assert "parameters pruned: 605 of 1210 (50.0%)" in capsys.readouterr().out
    names = [r["name"] for r in json.loads((out / "metrics.json").read_text())["layers"]]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_obd_on_a_convolutional_run_is_a_clear_refusal(tmp_path, capsys):
    run = tmp_path / "cnn"
    flags = [
        "train",
        "--data",
        "mnist1d",
        "--model",
        "cnn",
        "--channels",
        "4",
        "--epochs",
        "1",
        "--quiet",
        "--no-diagnostics",
        "--out",
        str(run),
    ]
    assert main(flags) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "prune",
                str(run),
                "--method",
                "obd",
                "--amount",
                "0.5",
                "--out",
                str(tmp_path / "pruned"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "not supported" in err and len(err.splitlines()) == 1
    assert (
        main(
            [
                "prune",
                str(run),
                "--method",
                "magnitude",
                "--amount",
                "0.5",
                "--out",
                str(tmp_path / "pruned"),
            ]
        )
        == 0
    )
