"""Which code runs the hot loops, and on how many threads.

Kernels: every fused rule (optimizer updates, softmax cross-entropy) has a NumPy reference,
written as its formula, and a numba accelerator that computes the same thing element by
element. ``NABLAB_KERNELS=numpy`` (or :func:`use_kernels`) forces the references;
``numba`` requires numba; ``auto`` (the default) uses numba when it is installed. numba is
imported only when a kernel first runs, never by ``import nablab``.

Threads: ``NABLAB_THREADS`` or :func:`set_num_threads` sets how many threads nablab's kernels
and the BLAS library use (default: the machine's cores, at most 8). Worker processes of a sweep
call ``set_num_threads(1)``, so parallel trials do not oversubscribe the cores.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator

from nablab.errors import NablabError

KERNELS_ENV = "NABLAB_KERNELS"
THREADS_ENV = "NABLAB_THREADS"
KERNEL_CHOICES = ("auto", "numba", "numpy")


class BackendError(NablabError):
    """An unknown kernel choice, or numba asked for where it is not installed."""


def numba_available() -> bool:
    """Is numba installed? (Checked without importing it.)"""
    return importlib.util.find_spec("numba") is not None


def _resolve(choice: str) -> str:
    if choice not in KERNEL_CHOICES:
        raise BackendError(
            f"kernels must be one of {', '.join(KERNEL_CHOICES)}, got {choice!r} "
            f"(set by {KERNELS_ENV} or nablab.backend.use_kernels)"
        )
    if choice == "auto":
        return "numba" if numba_available() else "numpy"
    if choice == "numba" and not numba_available():
        raise BackendError("kernels='numba' needs numba: pip install 'nablab[fast]'")
    return choice


def _threads_from_env() -> int:
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return max(1, min(os.cpu_count() or 1, 8))
    try:
        value = int(text)
    except ValueError:
        raise BackendError(f"{THREADS_ENV} must be a positive integer, got {text!r}") from None
    if value < 1:
        raise BackendError(f"{THREADS_ENV} must be a positive integer, got {text!r}")
    return value


class _Settings:
    kernels = _resolve(os.environ.get(KERNELS_ENV, "auto").strip() or "auto")
    threads = _threads_from_env()


def kernels() -> str:
    """The kernels in use: ``"numba"`` or ``"numpy"``."""
    return _Settings.kernels


@contextlib.contextmanager
def _restoring(previous: str) -> Iterator[None]:
    try:
        yield
    finally:
        _Settings.kernels = previous


def use_kernels(choice: str) -> contextlib.AbstractContextManager[None]:
    """Switch the kernels (``"auto"``, ``"numba"``, ``"numpy"``) for the process; used as a
    context manager (``with use_kernels("numpy"): ...``) the previous choice comes back after."""
    previous = _Settings.kernels
    _Settings.kernels = _resolve(choice)
    return _restoring(previous)


def get_num_threads() -> int:
    return _Settings.threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in nablab's kernels and in the BLAS library (through threadpoolctl)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise BackendError(f"set_num_threads: n must be a positive integer, got {n!r}")
    _Settings.threads = n
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)


def worker_init() -> None:
    """What a worker process of a parallel sweep calls first: one kernel thread and one BLAS
    thread, so that the workers together use the cores once."""
    set_num_threads(1)
