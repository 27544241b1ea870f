"""Running sweeps on the local process pool: same numbers as one run after another, resume,
failed trials, SIGKILL midway, and two sweeps on one folder."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from threadpoolctl import threadpool_limits

from nablab.sweep import runner
from nablab.sweep.backends import LocalBackend
from nablab.sweep.kinds import TRIAL_KINDS
from nablab.sweep.runner import run_sweep
from nablab.sweep.spec import parse_sweep

from helpers.sweep_helpers import env, metrics_by_trial, small, thread_probe, write_sweep


@pytest.fixture(scope="module")
def small_results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    states = []
    results = run_sweep(parse_sweep(small()), folder, workers=2, on_progress=states.append)
    return folder, results, states


def test_every_trial_equals_the_same_run_in_this_process(small_results):
    _, results, _ = small_results
    assert [t["status"] for t in results.trials] == ["done"] * 8
    assert [(t["values"], t["seed"]) for t in results.trials] == [
        ({"optimizer": o, "lr": lr}, seed)
        for o in ("sgd", "adam")
        for lr in (0.01, 0.1)
        for seed in (0, 1)
    ]
    with threadpool_limits(1):
        for trial in results.trials:
            outcome = TRIAL_KINDS["train"].run(trial["params"])
            assert trial["metrics"] == outcome.metrics  # bit for bit
            strip = [{k: v for k, v in row.items() if k != "seconds"} for row in trial["history"]]
            assert strip == [
                {k: v for k, v in r.items() if k != "seconds"} for r in outcome.history
            ]
    assert trial["params"]["optimizer"] == "adam" and trial["params"]["seed"] == 1


def test_progress_counts_every_trial_once(small_results):
    _, _, states = small_results
    last = states[-1]
    assert (last.total, last.done, last.failed, last.running, last.skipped) == (8, 8, 0, 0, 0)
    assert last.slots == 2
    best = max(t["metrics"]["val_acc"] for t in small_results[1].trials)
    assert last.best == best


def test_a_finished_sweep_resumes_without_running_anything(small_results, monkeypatch):
    folder, results, _ = small_results

    def no_backend(*args, **kwargs):
        raise AssertionError("no trial is left, so no backend should start")

    monkeypatch.setattr(runner, "make_backend", no_backend)
    states = []
    again = run_sweep(parse_sweep(small()), folder, on_progress=states.append)
    assert states[-1].skipped == 8 and states[-1].done == 8
    assert again.trials == results.trials  # same rows, same timestamps


def test_every_worker_uses_one_kernel_thread_and_one_blas_thread():
    with LocalBackend(workers=2) as backend:
        kernels, pools, later = backend._pool.submit(thread_probe).result(timeout=120)
    assert kernels == 1 and later == "1"
    assert pools and set(pools) == {1}


def test_failed_trials_are_recorded_with_their_error_and_run_again(tmp_path):
    sweep = parse_sweep(
        small(
            axes={"lr": [0.01, 1000.0], "data": ["digits", str(tmp_path / "missing.csv")]},
            base={"optimizer": "sgd"},
            seeds=1,
        )
    )
    results = run_sweep(sweep, tmp_path / "out", workers=2)
    status = {(t["values"]["lr"], t["values"]["data"]): t for t in results.trials}
    assert status[0.01, "digits"]["status"] == "done"
    diverged = status[1000.0, "digits"]
    assert diverged["status"] == "failed"
    assert diverged["error"].startswith("diverged: non-finite loss (nan) at step ")
    assert len(diverged["history"]) == diverged["metrics"]["epochs_run"] == 1  # up to the NaN
    for lr in (0.01, 1000.0):
        missing = status[lr, str(tmp_path / "missing.csv")]
        assert missing["status"] == "failed"
        assert "missing.csv" in missing["error"]
    first = {t["number"]: t["finished"] for t in results.trials}
    again = run_sweep(sweep, tmp_path / "out", workers=2)
    for trial in again.trials:
        unchanged = trial["finished"] == first[trial["number"]]
        assert unchanged == (trial["status"] == "done")


def test_a_trial_without_the_metric_is_failed(tmp_path):
    sweep = parse_sweep(small(axes={"lr": [0.01]}, seeds=1, metric="test_acc"))
    (trial,) = run_sweep(sweep, tmp_path, workers=1).trials
    assert trial["status"] == "failed"
    assert trial["error"] == "the trial reported no test_acc (does its data have that split?)"


SLOW = small(base={"epochs": 5, "hidden": [32]}, axes={"lr": [0.01, 0.03, 0.1, 0.3]}, seeds=2)


def _done(folder) -> int:
    try:
        db = sqlite3.connect(folder / "sweep.db", timeout=1)
        try:
            return db.execute("SELECT count(*) FROM trials WHERE status = 'done'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.OperationalError:
        return 0


def _read(path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _start(path, out, workers="1") -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nablab",
            "sweep",
            str(path),
            "--out",
            str(out),
            "--quiet",
            "--workers",
            workers,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        start_new_session=True,  # its own process group: the driver and its workers
    )


def _wait_for(condition, process, seconds=120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sigkill_midway_then_resume_gives_the_uninterrupted_table(tmp_path):
    path = write_sweep(tmp_path, SLOW)
    killed = tmp_path / "killed"
    sweep = _start(path, killed)
    _wait_for(lambda: _done(killed) >= 2, sweep)
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait(timeout=30)
    sweep.stdout.close()
    sweep.stderr.close()
    db = sqlite3.connect(killed / "sweep.db")
    statuses = [row[0] for row in db.execute("SELECT status FROM trials ORDER BY number")]
    db.close()
    assert 2 <= statuses.count("done") < len(statuses)
    assert "running" in statuses  # what was running when it died
    states = []
    resumed = run_sweep(parse_sweep(SLOW), killed, workers=2, on_progress=states.append)
    assert states[-1].skipped == statuses.count("done")
    straight = run_sweep(parse_sweep(SLOW), tmp_path / "straight", workers=2)
    assert [t["status"] for t in resumed.trials] == ["done"] * 8
    assert metrics_by_trial(resumed) == metrics_by_trial(straight)
    assert resumed.summary() == straight.summary()
    assert resumed.summary_csv() == straight.summary_csv()


def test_two_sweeps_on_one_folder_the_second_is_refused(tmp_path):
    path = write_sweep(tmp_path, {**SLOW, "base": {**SLOW["base"], "epochs": 10}})
    out = tmp_path / "out"
    first = _start(path, out)
    try:  # as soon as the first holds the folder: its pool and trials are still ahead
        _wait_for(lambda: "pid" in _read(out / "sweep.lock"), first)
        second = subprocess.run(
            [sys.executable, "-m", "nablab", "sweep", str(path), "--out", str(out), "--quiet"],
            capture_output=True,
            text=True,
            env=env(),
            timeout=120,
        )
        assert second.returncode == 2
        assert second.stderr.startswith(
            f"nablab sweep: error: {out} is being written by another sweep (pid {first.pid} on "
        )
        assert second.stderr.rstrip().endswith("wait for it to finish or give another --out")
        stdout, stderr = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
    assert first.returncode == 0, stderr
    assert "wrote" in stdout
    db = sqlite3.connect(out / "sweep.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM trials WHERE status = 'done'").fetchone()[0] == 8
    db.close()
