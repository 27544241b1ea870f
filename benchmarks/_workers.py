"""Side-by-side timing in separate worker processes, one per library.

nablab's kernels (numba) and torch each run an OpenMP thread pool whose idle workers spin for a
while; in one process on two cores each runtime's spinning workers steal the cores from the
other. So every library gets a worker process of its own (spawned, importing only that
library), and the parent alternates timing rounds between the workers: both see the same
machine noise, neither sees the other's threads.

A worker receives a list of (name, factory, args) contenders, builds each with
``factory(*args)`` (which returns a zero-argument step function), warms it up, then answers
requests (index, repeats) with the mean seconds per call over ``repeats`` calls.

Between two timings the parent waits ``pause`` seconds: BLAS and OpenMP workers spin for a
while after their last task, and the next worker should not start on a core still busy with
them.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Sequence

import numpy as np


def _serve(connection, contenders) -> None:
    steps = [factory(*args) for _, factory, args in contenders]
    for step in steps:
        step()
    while True:
        request = connection.recv()
        if request is None:
            break
        index, repeats = request
        step = steps[index]
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        connection.send((time.perf_counter() - start) / repeats)


def compare(
    groups: dict[str, Sequence[tuple[str, Callable, tuple]]],
    repeats: int,
    rounds: int,
    pause: float = 0.3,
) -> dict[str, float]:
    """Best seconds per call of every contender, in alternating rounds across worker processes.

    ``groups`` maps a worker label to its contenders; contender names must be unique.
    """
    context = mp.get_context("spawn")
    workers = []
    for contenders in groups.values():
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child, list(contenders)), daemon=True)
        process.start()
        workers.append((parent, process, list(contenders)))
    best: dict[str, float] = {}
    try:
        for _ in range(rounds):
            for connection, _, contenders in workers:
                for index, (name, _, _) in enumerate(contenders):
                    time.sleep(pause)
                    connection.send((index, repeats))
                    best[name] = min(best.get(name, np.inf), connection.recv())
    finally:
        for connection, process, _ in workers:
            connection.send(None)
            process.join(timeout=10)
    return best
