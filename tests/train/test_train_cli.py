"""``nablab train`` and ``nablab summary``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from nablab.cli import main


def test_train_writes_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--data",
            "digits",
            "--hidden",
            "32",
            "--epochs",
            "3",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "val_acc:" in printed and "diagnostics: no problems found" in printed
    for name in (
        "history.csv",
        "metrics.json",
        "loss.png",
        "accuracy.png",
        "checkpoint.npz",
        "diagnostics.txt",
    ):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3 and metrics["val_acc"] > 0.75
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        main(
            [
                "train",
                "--data",
                "digits",
                "--hidden",
                "32",
                "--epochs",
                "5",
                "--quiet",
                "--out",
                str(out),
                "--resume",
            ]
        )
        == 0
    )
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]


def test_train_on_a_users_file_with_a_test_split(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x[:50], y_test=y[:50])
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "d.npz"),
                "--hidden",
                "16",
                "--epochs",
                "5",
                "--lr",
                "0.01",
                "--quiet",
                "--no-diagnostics",
            ]
        )
        == 0
    )
    assert "test_acc:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--optimizer", "lion"], "invalid choice: 'lion'"),
        (["--lr", "-0.1"], "--lr must be in (0, inf), got -0.1"),
        (["--hidden", "64,0"], "--hidden: sizes must be positive integers"),
        (["--dropout", "1.5"], "--dropout must be in [0, 1), got 1.5"),
        (["--seed", "-1"], "--seed must be in [0, 4294967295], got -1"),
        (["--momentum", "1.5"], "--momentum must be in [0, 1), got 1.5"),
        (["--patience", "0"], "--patience must be in [1, inf), got 0"),
        (["--data", "nowhere.npz"], "nowhere.npz: no such .npz data file"),
    ],
)
def test_bad_flags_get_one_line_and_exit_2(flags, message, capsys):
    with pytest.raises(SystemExit) as info:
        code = main(["train", *flags, "--epochs", "1", "--quiet"])
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_out_folder_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("x")
    assert main(["train", "--out", str(target), "--epochs", "1", "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err


def test_summary_counts_parameters(capsys):
    assert main(["summary", "--data", "digits", "--hidden", "20", "--batch-norm"]) == 0
    out = capsys.readouterr().out
    assert "total parameters: 1,550" in out  # 64·20+20 + 2·20 + 20·10+10


def test_impossible_models_and_labels_are_refused_before_any_allocation(tmp_path, capsys):
    assert main(["train", "--hidden", "100000,100000", "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "the model has 10,007,600,010 parameters" in err and "GiB available" in err
    rng = np.random.default_rng(0)
    huge = tmp_path / "huge.npz"
    labels = rng.integers(0, 2, 120)
    labels[5] = 10**9
    np.savez(huge, x=rng.normal(size=(120, 3)), y=labels)
    assert main(["train", "--data", str(huge), "--epochs", "1", "--quiet"]) == 2
    assert "the largest label is 1000000000 but there are only 120 samples" in (
        capsys.readouterr().err
    )
    single = tmp_path / "single.npz"
    np.savez(single, x=rng.normal(size=(50, 3)), y=np.zeros(50, int))
    assert main(["train", "--data", str(single), "--epochs", "1", "--quiet"]) == 2
    assert "every sample has label 0; a classifier needs at least two classes" in (
        capsys.readouterr().err
    )


def test_out_under_a_file_and_a_validation_split_that_leaves_nothing(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert (
        main(
            [
                "train",
                "--data",
                "moons",
                "--epochs",
                "1",
                "--quiet",
                "--out",
                str(tmp_path / "afile" / "run"),
            ]
        )
        == 2
    )
    assert "afile is a file, not a folder" in capsys.readouterr().err
    assert (
        main(["train", "--data", "moons", "--epochs", "1", "--quiet", "--val-fraction", "0.999"])
        == 2
    )
    assert "leaves 0 for training and 400 for validation" in capsys.readouterr().err
