"""A training run killed with SIGKILL at random moments, then resumed: the checkpoint is never
half written, and the resumed run ends on exactly the parameters of an uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np

ROUNDS = int(os.environ.get("NABLAB_KILL_ROUNDS", "1"))
EPOCHS = 30  # long enough (about 5 s here) to be killed in the middle
FLAGS = [
    "--data",
    "digits",
    "--hidden",
    "256,256",
    "--epochs",
    str(EPOCHS),
    "--quiet",
    "--no-diagnostics",
    "--dtype",
    "float64",
]


def _train(out, resume=False, wait=True):
    argv = [sys.executable, "-m", "nablab", "train", *FLAGS, "--out", str(out)]
    if resume:
        argv.append("--resume")
    if wait:
        return subprocess.run(argv, capture_output=True, text=True)
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _weights(folder):
    with np.load(folder / "checkpoint.npz") as archive:
        return {k: archive[k] for k in archive.files if k.startswith("model.")}


def test_killed_and_resumed_runs_end_where_an_uninterrupted_run_ends(tmp_path):
    straight = tmp_path / "straight"
    assert _train(straight).returncode == 0
    expected = _weights(straight)
    rng = np.random.default_rng(7)
    for round_ in range(ROUNDS):
        out = tmp_path / f"killed{round_}"
        process = _train(out, wait=False)
        time.sleep(float(rng.uniform(1.5, 4.0)))  # start-up, then somewhere in training
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        checkpoint = out / "checkpoint.npz"
        if checkpoint.is_file():
            from nablab.train.checkpoint import read_meta

            assert read_meta(checkpoint)["epoch"] < EPOCHS  # killed mid-run
        # resume (or start again, when it was killed before its first checkpoint)
        done = _train(out, resume=checkpoint.is_file())
        assert done.returncode == 0, done.stderr
        leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
        assert leftovers == []  # the killed writer's temporary file is gone
        for name, array in _weights(out).items():
            np.testing.assert_array_equal(array, expected[name])
