"""Resuming a run: the stored settings are reused, a different setting or other data is
refused, and a run folder has one writer at a time."""

from __future__ import annotations

import io
import json

import numpy as np

from nablab.cli import main
from nablab.train.rundir import run_lock

BASE = ["train", "--data", "moons", "--hidden", "8", "--lr", "0.01", "--quiet", "--no-diagnostics"]


def test_resume_reuses_the_stored_settings_and_refuses_changed_ones(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main([*BASE, "--epochs", "2", "--out", out]) == 0
    capsys.readouterr()
    # only --epochs given: hidden 8 and lr 0.01 come from the checkpoint
    assert main(["train", "--epochs", "3", "--quiet", "--out", out, "--resume"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3 and metrics["config"]["hidden"] == [8]
    assert metrics["config"]["lr"] == 0.01
    capsys.readouterr()
    assert main(["train", "--epochs", "4", "--lr", "0.1", "--quiet", "--out", out, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "made with other settings: --lr 0.01 in the checkpoint, 0.1 now" in err


def test_resume_refuses_other_data(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "data.npz"
    np.savez(data, x=rng.normal(size=(60, 3)), y=rng.integers(0, 2, 60))
    out = str(tmp_path / "run")
    flags = ["train", "--data", str(data), "--hidden", "4", "--quiet", "--no-diagnostics"]
    assert main([*flags, "--epochs", "1", "--out", out]) == 0
    np.savez(data, x=rng.normal(size=(60, 3)), y=rng.integers(0, 2, 60))
    capsys.readouterr()
    assert main([*flags, "--epochs", "2", "--out", out, "--resume"]) == 2
    assert "made with other data (fingerprint" in capsys.readouterr().err


def test_old_damaged_or_non_finite_checkpoints_are_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*BASE, "--epochs", "1", "--out", str(out)]) == 0
    path = out / "checkpoint.npz"
    with np.load(path) as archive:
        arrays = dict(archive)
    meta = json.loads(str(arrays["meta"]))

    def write(**changes):
        buffer = io.BytesIO()
        np.savez(buffer, **{**arrays, **changes})
        path.write_bytes(buffer.getvalue())

    write(meta=np.array(json.dumps({**meta, "format": 1})))
    capsys.readouterr()
    assert main(["train", "--epochs", "2", "--quiet", "--out", str(out), "--resume"]) == 2
    assert "checkpoint format 1, this version of nablab reads format 2" in capsys.readouterr().err
    write(meta=np.array("{not json"))
    assert main(["train", "--epochs", "2", "--quiet", "--out", str(out), "--resume"]) == 2
    assert "metadata is damaged" in capsys.readouterr().err
    weight = next(k for k in arrays if k.endswith("weight"))
    broken = arrays[weight].copy()
    broken.flat[0] = np.nan
    write(**{weight: broken})
    assert main(["train", "--epochs", "2", "--quiet", "--out", str(out), "--resume"]) == 2
    assert "holds non-finite values" in capsys.readouterr().err
    path.write_bytes(path.read_bytes()[:200])
    assert main(["train", "--epochs", "2", "--quiet", "--out", str(out), "--resume"]) == 2
    assert "cannot read checkpoint" in capsys.readouterr().err


def test_a_second_writer_of_a_run_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    with run_lock(out):
        assert main([*BASE, "--epochs", "1", "--out", str(out)]) == 2
    assert "another nablab run is writing this folder" in capsys.readouterr().err
    assert main([*BASE, "--epochs", "1", "--out", str(out)]) == 0  # free again
