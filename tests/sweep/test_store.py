"""The SQLite store: WAL, one row per trial, resume bookkeeping, one writer at a time."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from nablab.sweep.kinds import Outcome
from nablab.sweep.store import StoreError, StoreLockedError, SweepStore, trial_hash

from helpers.sweep_helpers import env

DEFINITION = {"kind": "train", "axes": {"lr": [0.1]}}


def planned(number: int, lr: float = 0.1) -> dict:
    params = {"lr": lr, "seed": number}
    return {
        "number": number,
        "point": 0,
        "seed": number,
        "values": {"lr": lr},
        "params": params,
        "hash": trial_hash("train", params),
    }


def test_trials_are_rows_with_their_hash_status_metrics_and_history(tmp_path):
    with SweepStore(tmp_path, write=True) as store:
        store.adopt(DEFINITION, {"axes": {"lr": [0.1]}})
        assert store.plan([planned(0), planned(1)]) == set()
        store.started([0, 1])
        history = [{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.25}]
        store.record(0, Outcome("done", {"val_acc": 0.75}, history, seconds=1.5, worker="h:1"))
        store.record(1, Outcome("failed", error="diverged: non-finite loss"))
        rows = store.trials()
        assert store.plan([planned(0), planned(1)]) == {0}  # only trial 0 is finished
    assert [r["status"] for r in rows] == ["done", "failed"]
    assert rows[0]["metrics"] == {"val_acc": 0.75} and rows[0]["history"] == history
    assert rows[0]["seconds"] == 1.5 and rows[0]["worker"] == "h:1"
    assert rows[0]["hash"] == trial_hash("train", {"seed": 0, "lr": 0.1})  # key order is moot
    assert rows[1]["error"] == "diverged: non-finite loss"
    db = sqlite3.connect(tmp_path / "sweep.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_changed_plan_resets_the_row_and_a_different_sweep_is_refused(tmp_path):
    with SweepStore(tmp_path, write=True) as store:
        store.adopt(DEFINITION, {})
        store.plan([planned(0)])
        store.record(0, Outcome("done", {"val_acc": 0.5}))
        assert store.plan([planned(0, lr=0.2)]) == set()
        assert store.trials()[0]["status"] == "pending"
        assert store.trials()[0]["values"] == {"lr": 0.2}
        with pytest.raises(StoreError, match="holds a different sweep"):
            store.adopt({**DEFINITION, "axes": {"lr": [0.2]}}, {})


def test_reading_a_folder_that_is_not_a_sweep(tmp_path):
    with pytest.raises(StoreError, match=r"has no sweep\.db: not a sweep folder"):
        SweepStore(tmp_path)
    (tmp_path / "sweep.db").write_text("not a database", encoding="utf-8")
    with pytest.raises(StoreError, match="not a sweep database"):
        SweepStore(tmp_path)
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(StoreError, match="is a file; give a folder"):
        SweepStore(tmp_path / "file", write=True)


HOLDER = """
import sys, time
from nablab.sweep.store import SweepStore
store = SweepStore(sys.argv[1], write=True)
print("holding", flush=True)
sys.stdin.read()
store.close()
"""


def test_a_second_writer_is_refused_while_the_first_holds_the_folder(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreLockedError) as info:
            SweepStore(tmp_path, write=True)
        assert f"is being written by another sweep (pid {holder.pid} on " in str(info.value)
        with SweepStore(tmp_path) as reader:  # reading is always allowed
            assert reader.trials() == []
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    with SweepStore(tmp_path, write=True) as store:  # released when the holder ended
        assert store.trials() == []


def test_the_lock_goes_with_the_process_however_it_ends(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
    )
    assert holder.stdout.readline().strip() == "holding"
    holder.kill()  # SIGKILL: no clean-up runs
    holder.wait(timeout=30)
    holder.stdin.close()
    with SweepStore(tmp_path, write=True) as store:
        assert json.loads(store._meta("schema")) == 1
