"""The record of a sweep: one SQLite database per sweep folder, one row per trial.

``DIR/sweep.db`` (WAL journal: readers such as ``nablab sweep show`` never block the writer)
holds the sweep's definition and, per trial, its number in the plan, the point it belongs to,
its seed, a SHA-256 hash of its full parameters, its status (``running`` once handed to a
worker, then ``done`` or ``failed``), when it was started and finished and how long it ran,
which worker ran it, its final metrics, its error, and its per-epoch history (JSON). Every
result is committed as it arrives, so a sweep killed at any moment loses only the trials that
were running; the next run skips the ``done`` rows and runs the others again.

One sweep writes a folder at a time: the writer holds an exclusive ``flock`` on
``DIR/sweep.lock`` (the operating system releases it when the process ends, however it ends),
and a second writer gets :class:`StoreLockedError` naming the first.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

from nablab.errors import NablabError
from nablab.sweep.kinds import Outcome

DATABASE = "sweep.db"
LOCK = "sweep.lock"
SCHEMA = 1

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    number   INTEGER PRIMARY KEY,
    hash     TEXT NOT NULL,
    point    INTEGER NOT NULL,
    seed     INTEGER NOT NULL,
    values_  TEXT NOT NULL,
    params   TEXT NOT NULL,
    status   TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    error    TEXT,
    started  REAL,
    finished REAL,
    seconds  REAL,
    worker   TEXT,
    metrics  TEXT,
    history  TEXT
);
"""


class StoreError(NablabError):
    """A folder that is not a sweep's, or holds a different sweep."""


class StoreLockedError(StoreError):
    """Another process is writing this sweep folder."""


def trial_hash(kind: str, params: dict[str, Any]) -> str:
    """SHA-256 of the trial's kind and full parameters, as canonical JSON."""
    text = json.dumps({"kind": kind, "params": params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _lock(folder: Path):
    import fcntl

    handle = open(folder / LOCK, "a+", encoding="utf-8")  # noqa: SIM115 (held until close)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StoreLockedError(
            f"{folder} is being written by another sweep ({holder}); wait for it to finish "
            "or give another --out"
        ) from None
    handle.seek(0)
    handle.truncate()
    since = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {since}\n")
    handle.flush()
    return handle


class SweepStore:
    """The database of the sweep in ``folder``; ``write=True`` creates it and takes the lock."""

    def __init__(self, folder: str | Path, write: bool = False) -> None:
        self.folder = Path(folder)
        self.path = self.folder / DATABASE
        self._lock = None
        if write:
            if self.folder.exists() and not self.folder.is_dir():
                raise StoreError(f"{self.folder} is a file; give a folder for the sweep")
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock = _lock(self.folder)
        elif not self.path.is_file():
            raise StoreError(
                f"{self.folder} has no {DATABASE}: not a sweep folder "
                "(`nablab sweep FILE --out DIR` makes one)"
            )
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self._db.row_factory = sqlite3.Row
            if write:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_TABLES)
            self._check_schema(write)
        except sqlite3.DatabaseError as error:
            self.close()
            raise StoreError(f"{self.path}: not a sweep database ({error})") from None

    def _check_schema(self, write: bool) -> None:
        found = self._meta("schema")
        if found is None and write:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
        elif found != str(SCHEMA):
            raise StoreError(f"{self.path}: sweep database version {found}, expected {SCHEMA}")

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        if getattr(self, "_db", None) is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ------------------------------------------------------------------------ the sweep

    def adopt(self, definition: dict[str, Any], sweep_file: dict[str, Any]) -> None:
        """Record the sweep's definition, or check that the folder holds the same sweep."""
        text = json.dumps(definition, sort_keys=True)
        found = self._meta("definition")
        if found is None:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("INSERT INTO meta VALUES ('definition', ?)", (text,))
                self._db.execute("INSERT INTO meta VALUES ('sweep', ?)", (json.dumps(sweep_file),))
        elif found != text:
            raise StoreError(
                f"{self.folder} holds a different sweep (its kind, base, axes, seeds, metric or "
                "search differ); give another --out to keep both"
            )

    def sweep_file(self) -> dict[str, Any]:
        text = self._meta("sweep")
        if text is None:
            raise StoreError(f"{self.path}: the sweep was never started")
        return json.loads(text)

    # ----------------------------------------------------------------------- the trials

    def plan(self, trials: list[dict[str, Any]]) -> set[int]:
        """Add the planned trials (``number``, ``hash``, ``point``, ``seed``, ``values``,
        ``params``) that are not there yet; a stored trial whose hash differs from the plan's
        (the plan moved because an earlier result changed) is reset. Returns the numbers of
        the trials already done."""
        done = set()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            for trial in trials:
                row = self._db.execute(
                    "SELECT hash, status FROM trials WHERE number = ?", (trial["number"],)
                ).fetchone()
                if row is not None and row["hash"] == trial["hash"]:
                    if row["status"] == "done":
                        done.add(trial["number"])
                    continue
                self._db.execute(
                    "INSERT OR REPLACE INTO trials (number, hash, point, seed, values_, params, "
                    "status) VALUES (?, ?, ?, ?, ?, ?, 'pending')",
                    (
                        trial["number"],
                        trial["hash"],
                        trial["point"],
                        trial["seed"],
                        json.dumps(trial["values"]),
                        json.dumps(trial["params"]),
                    ),
                )
        return done

    def started(self, numbers: list[int]) -> None:
        now = time.time()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "UPDATE trials SET status = 'running', started = ?, error = NULL WHERE number = ?",
                [(now, n) for n in numbers],
            )

    def record(self, number: int, outcome: Outcome) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "UPDATE trials SET status = ?, error = ?, finished = ?, seconds = ?, worker = ?, "
                "metrics = ?, history = ? WHERE number = ?",
                (
                    outcome.status,
                    outcome.error,
                    time.time(),
                    outcome.seconds,
                    outcome.worker,
                    json.dumps(outcome.metrics),
                    json.dumps(outcome.history),
                    number,
                ),
            )

    def trials(self, history: bool = True) -> list[dict[str, Any]]:
        """Every stored trial, in plan order, as a plain dict."""
        rows = self._db.execute("SELECT * FROM trials ORDER BY number").fetchall()
        out = []
        for row in rows:
            out.append(
                {
                    "number": row["number"],
                    "point": row["point"],
                    "seed": row["seed"],
                    "hash": row["hash"],
                    "values": json.loads(row["values_"]),
                    "params": json.loads(row["params"]),
                    "status": row["status"],
                    "error": row["error"],
                    "started": row["started"],
                    "finished": row["finished"],
                    "seconds": row["seconds"],
                    "worker": row["worker"],
                    "metrics": json.loads(row["metrics"]) if row["metrics"] else {},
                    "history": json.loads(row["history"]) if history and row["history"] else [],
                }
            )
        return out
