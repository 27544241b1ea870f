"""What every fuzzed command must do: exit 0 with a result, 1 for a documented "no" (a wrong
sheet, a diverged run), or 2 with a short message naming the problem — within a time bound,
with no traceback, and without touching any file outside its output folder."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from nablab.cli import main

TIME_LIMIT = 20.0  # seconds a single fuzzed command may take


class HangError(Exception):
    pass


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    seconds: float


@contextlib.contextmanager
def _deadline(seconds: float):
    def stop(signum, frame):
        raise HangError(f"the command took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _snapshot(folder: Path) -> dict[str, float]:
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()
    }


def run_command(argv: list[str], workdir: Path, outputs: tuple[str, ...] = ()) -> Outcome:
    """Run ``nablab argv`` in-process in ``workdir`` and check the invariant. Unexpected
    exceptions propagate (NABLAB_RAISE is set by the test session), failing the test."""
    before = _snapshot(workdir)
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        with (
            _deadline(TIME_LIMIT),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                code = main(argv)
            except SystemExit as exit_:  # argparse's own exits
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        os.chdir(cwd)
    outcome = Outcome(code, out.getvalue(), err.getvalue(), time.perf_counter() - started)
    assert code in (0, 1, 2), (argv, code, outcome.err[-2000:])
    if code == 2:
        message = outcome.err.strip()
        assert message, (argv, "exit 2 without a message")
        assert "Traceback" not in message, (argv, message)
        first = message.splitlines()[0]
        assert len(first) < 600, (argv, first)
    after = _snapshot(workdir)
    touched = {name for name in after if before.get(name) != after[name]}
    allowed = {
        name
        for name in touched
        if any(name == o or name.startswith(o.rstrip("/") + "/") for o in outputs)
    }
    assert touched <= allowed, (argv, sorted(touched - allowed))
    return outcome
