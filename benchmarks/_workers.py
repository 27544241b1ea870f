"""Side-by-side timing in separate worker processes, one per library, with every round kept.

nablab's kernels and torch each run thread pools whose idle workers spin for a while; JAX runs
its own. In one process on two cores each runtime's spinning workers steal the cores from the
others. So every library gets a worker process of its own (spawned, importing only that
library), and the parent alternates timing rounds between the workers: all see the same machine
noise, none sees the others' threads.

A worker receives a list of (name, factory, args) contenders, builds each with
``factory(*args)`` (a zero-argument step function), warms it up, then answers requests
(index, repeats) with the wall-clock and CPU seconds per call over ``repeats`` calls.

Between two timings the parent waits ``pause`` seconds, so that the next worker does not start
on a core still busy with the previous one's spinning threads. Every round is kept: callers
report the median and the spread, never only the best.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass
class Timing:
    """Seconds per call of one contender, one value per round (wall clock and CPU)."""

    wall: list[float]
    cpu: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def low(self) -> float:
        return min(self.wall)

    @property
    def high(self) -> float:
        return max(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def _serve(connection, contenders, environment) -> None:
    os.environ.update(environment)
    steps = []
    for _name, factory, args in contenders:
        try:
            steps.append(factory(*args))
        except Exception as error:  # a peer that cannot run here (no compiler, say)
            steps.append(error)
    for step in steps:
        if not isinstance(step, Exception):
            step()
    connection.send(
        [None if not isinstance(s, Exception) else f"{type(s).__name__}: {s}" for s in steps]
    )
    while True:
        request = connection.recv()
        if request is None:
            break
        index, repeats = request
        step = steps[index]
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeats):
            step()
        connection.send(
            ((time.perf_counter() - wall) / repeats, (time.process_time() - cpu) / repeats)
        )


def compare(
    groups: dict[str, Sequence[tuple[str, Callable, tuple]]],
    repeats: int,
    rounds: int,
    pause: float = 0.3,
    environment: dict[str, str] | None = None,
) -> tuple[dict[str, Timing], dict[str, str]]:
    """Every contender's timings over alternating rounds across worker processes, and the
    contenders that could not be built here (with why). ``environment`` is set in each worker
    before anything is imported (thread counts)."""
    context = mp.get_context("spawn")
    workers = []
    failed: dict[str, str] = {}
    for contenders in groups.values():
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve, args=(child, list(contenders), dict(environment or {})), daemon=True
        )
        process.start()
        errors = parent.recv()
        for (name, _, _), error in zip(contenders, errors, strict=True):
            if error is not None:
                failed[name] = error
        workers.append((parent, process, list(contenders)))
    timings: dict[str, Timing] = {}
    try:
        for _ in range(rounds):
            for connection, _, contenders in workers:
                for index, (name, _, _) in enumerate(contenders):
                    if name in failed:
                        continue
                    time.sleep(pause)
                    connection.send((index, repeats))
                    wall, cpu = connection.recv()
                    entry = timings.setdefault(name, Timing([], []))
                    entry.wall.append(wall)
                    entry.cpu.append(cpu)
    finally:
        for connection, process, _ in workers:
            connection.send(None)
            process.join(timeout=10)
    return timings, failed


def machine_load() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def thread_environment(threads: int | None) -> dict[str, str]:
    """Environment variables that pin every library in a worker to ``threads`` threads."""
    if threads is None:
        return {}
    value = str(threads)
    return {
        "OMP_NUM_THREADS": value,
        "OPENBLAS_NUM_THREADS": value,
        "MKL_NUM_THREADS": value,
        "NABLAB_THREADS": value,
        "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={'false' if threads == 1 else 'true'} "
        f"intra_op_parallelism_threads={value}",
        "BENCH_THREADS": value,
    }
