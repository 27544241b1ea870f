"""Where trials run: a process pool on this machine (``local``) or a Ray cluster (``ray``).

A backend is a context manager with ``slots`` (how many trials run at once) and
``map_unordered(calls)``, which runs :func:`nablab.sweep.kinds.execute` for every
``(kind, params)`` in ``calls`` and yields ``(index, outcome)`` as each finishes. Workers only
compute; the driver (the process that runs the sweep) is the only one that writes the store.
Every worker process first calls :func:`nablab.sweep.kinds.worker_setup` (one kernel thread,
one BLAS thread), so ``slots`` trials use ``slots`` cores and nothing more.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from nablab.errors import NablabError
from nablab.registry import Registry
from nablab.sweep.kinds import Outcome, execute, worker_setup

Call = tuple[str, dict[str, Any]]


class BackendError(NablabError):
    """A backend that cannot start: Ray missing, no cluster at the address, a bad option."""


def _local_init() -> None:
    worker_setup(watch_parent=True)


class LocalBackend:
    """A pool of ``workers`` processes (default: the machine's cores), started with ``spawn``
    (a fresh interpreter: no copied threads or locks of the driver) and kept for the whole
    sweep, so each process pays the imports once and a trial costs one round trip through a
    pipe."""

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        if address is not None:
            raise BackendError("--address is for the ray backend; local runs on this machine")
        self.slots = workers or os.cpu_count() or 1
        self._pool = None

    def __enter__(self) -> LocalBackend:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(
            max_workers=self.slots,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_local_init,
        )
        return self

    def __exit__(self, *exc_info) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=exc_info[0] is None, cancel_futures=True)
            self._pool = None

    def map_unordered(self, calls: list[Call]) -> Iterator[tuple[int, Outcome]]:
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        futures = {
            self._pool.submit(execute, kind, params): i for i, (kind, params) in enumerate(calls)
        }
        broken = False
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except BrokenProcessPool:
                broken = True
                yield (
                    futures[future],
                    Outcome("failed", error="a worker process died (killed, or out of memory)"),
                )
        if broken:  # a dead pool takes no more work: start a fresh one for the next round
            self.__exit__(None, None, None)
            self.__enter__()


def _loopback(address: str) -> bool:
    import ipaddress

    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ray_execute(kind: str, params: dict[str, Any]) -> Outcome:
    return execute(kind, params)


class RayBackend:
    """Trials as Ray tasks of one CPU each on the cluster at ``address`` (``HOST:PORT``, or
    ``auto`` for the cluster this machine belongs to); without an address, a Ray instance of
    this machine's cores on the loopback interface, started for the sweep and stopped after.
    nablab must be installed on every node. ``pip install 'nablab[ray]'``."""

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        self.address = address
        self.workers = workers
        self.slots = workers or 1
        self._started = False

    def __enter__(self) -> RayBackend:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if self.address is None or _loopback(self.address):
            # A cluster of this machine alone: Ray then keeps to the loopback interface instead
            # of resolving 127.0.0.1 to the machine's network address (read when ray is imported).
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        try:
            import ray
        except ImportError:
            raise BackendError("the ray backend needs Ray: pip install 'nablab[ray]'") from None
        if not ray.is_initialized():
            options: dict[str, Any] = {
                "logging_level": "ERROR",
                "log_to_driver": False,
                "include_dashboard": False,
            }
            if self.address is None:
                options["num_cpus"] = self.workers or os.cpu_count() or 1
            try:
                ray.init(address=self.address, **options)
            except (ConnectionError, RuntimeError, ValueError) as error:
                where = self.address or "a local instance"
                raise BackendError(f"cannot start Ray on {where}: {error}") from None
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.slots = min(self.workers, cpus) if self.workers else cpus
        self._task = ray.remote(num_cpus=1, max_retries=0)(_ray_execute)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def map_unordered(self, calls: list[Call]) -> Iterator[tuple[int, Outcome]]:
        import ray

        pending = {self._task.remote(kind, params): i for i, (kind, params) in enumerate(calls)}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    index = pending.pop(ref)
                    try:
                        yield index, ray.get(ref)
                    except ray.exceptions.RayError as error:
                        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
                        yield (
                            index,
                            Outcome("failed", error=f"Ray: {type(error).__name__}: {first}"),
                        )
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)


BACKENDS: Registry[type] = Registry("backend")
BACKENDS.add("local", LocalBackend, "a process pool on this machine's cores (the default)")
BACKENDS.add("ray", RayBackend, "Ray tasks on a cluster (--address HOST:PORT or auto)")


def make_backend(name: str, workers: int | None = None, address: str | None = None):
    return BACKENDS[name](workers=workers, address=address)
