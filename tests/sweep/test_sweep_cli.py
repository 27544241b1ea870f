"""``nablab sweep``, ``nablab sweep show`` and ``nablab compare`` on the command line."""

from __future__ import annotations

import csv
import io
import json

import pytest

from nablab.cli import main
from nablab.sweep.results import load_results

from helpers.sweep_helpers import small, write_sweep

SWEEP = small(axes={"lr": [0.01, 0.3]}, seeds=2, title="Two learning rates")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    path = write_sweep(folder, SWEEP)
    return path, folder / "out"


def test_sweep_runs_prints_the_table_and_writes_the_folder(swept, capsys):
    path, out = swept
    assert main(["sweep", str(path), "--out", str(out), "--workers", "2"]) == 0
    captured = capsys.readouterr()
    assert "done 4 · running 0 · failed 0 · best val_acc " in captured.err  # the progress bar
    results = load_results(out)
    best, other = results.summary()
    lines = captured.out.splitlines()
    assert lines[0].strip() == "Two learning rates"
    assert "val_acc ↑ (mean ± std)" in lines[2]
    first = f"{best['val_acc_mean']:.4f} ± {best['val_acc_std']:.4f}"
    row = next(line for line in lines if first in line)
    assert [cell.strip() for cell in row.split("│")[1:3]] == ["1", f"{best['lr']:g}"]
    assert lines[-1] == (f"wrote {out}/: sweep.db sweep.yaml val_acc_by_lr.png loss_curves.png")
    assert (out / "sweep.yaml").read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
    assert other["val_acc_mean"] <= best["val_acc_mean"]


def test_show_prints_the_same_table_and_exports_csv(swept, capsys, tmp_path):
    _, out = swept
    results = load_results(out)
    assert main(["sweep", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert shown.splitlines()[-1] == "4 trials: 4 done, 0 failed"
    best = results.summary()[0]
    assert f"{best['val_acc_mean']:.4f} ± {best['val_acc_std']:.4f}" in shown
    assert main(["sweep", "show", str(out), "--csv"]) == 0
    assert capsys.readouterr().out == results.summary_csv()
    target = tmp_path / "table.csv"
    assert main(["sweep", "show", str(out), "--csv", str(target), "--trials"]) == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [(r["lr"], r["seed"], r["status"]) for r in rows] == [
        ("0.01", "0", "done"),
        ("0.01", "1", "done"),
        ("0.3", "0", "done"),
        ("0.3", "1", "done"),
    ]
    assert float(rows[3]["val_acc"]) == results.trials[3]["metrics"]["val_acc"]
    assert main(["sweep", "show", str(out), "--trials"]) == 0
    assert capsys.readouterr().out.count(" done ") == 4


def test_resuming_a_finished_sweep_runs_nothing(swept, capsys):
    path, out = swept
    before = load_results(out).trials
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 0
    assert load_results(out).trials == before


def test_bad_folders_and_flags_exit_2(swept, tmp_path, capsys):
    path, out = swept
    assert main(["sweep", "show", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"nablab sweep show: error: {tmp_path} has no sweep.db: not a sweep folder "
        "(`nablab sweep FILE --out DIR` makes one)\n"
    )
    other = write_sweep(tmp_path, small(axes={"lr": [0.05]}))
    assert main(["sweep", str(other), "--out", str(out), "--quiet"]) == 2
    assert "holds a different sweep" in capsys.readouterr().err
    local = ["sweep", str(path), "--out", str(tmp_path / "x"), "--quiet", "--address", "a:1"]
    assert main(local) == 2
    assert capsys.readouterr().err == (
        "nablab sweep: error: --address is for the ray backend; local runs on this machine\n"
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", str(path), "--out", str(out), "--workers", "0"])
    assert exit_info.value.code == 2
    assert "expected a positive integer, got '0'" in capsys.readouterr().err


def test_compare_overlays_run_folders_in_one_figure_and_one_table(tmp_path, capsys):
    runs = []
    for lr in ("0.01", "0.1"):
        folder = tmp_path / f"lr{lr}"
        flags = ["--hidden", "16", "--epochs", "2", "--lr", lr, "--out", str(folder), "--quiet"]
        assert main(["train", *flags]) == 0
        runs.append(folder)
    capsys.readouterr()
    figure = tmp_path / "both.png"
    assert main(["compare", *map(str, runs), "--out", str(figure)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[1]
    assert [c.strip() for c in header.strip("┃").split("┃")] == [
        "run", "lr", "epochs", "train_loss", "train_acc", "val_loss", "val_acc",
    ]  # fmt: skip
    for folder in runs:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        line = next(line for line in out.splitlines() if folder.name in line)
        cells = [c.strip() for c in line.strip("│").split("│")]
        assert cells == [
            folder.name,
            f"{metrics['config']['lr']:g}",
            "2",
            *(f"{metrics[m]:.4f}" for m in ("train_loss", "train_acc", "val_loss", "val_acc")),
        ]
    assert out.splitlines()[-1] == f"wrote {figure}"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_refuses_folders_that_are_not_runs(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == (
        f"nablab compare: error: {tmp_path / 'nowhere'}: no such folder "
        "(give folders written by nablab train --out)\n"
    )
    assert main(["compare", str(tmp_path)]) == 2
    assert "no history.csv (not a folder written by nablab train --out)" in capsys.readouterr().err
