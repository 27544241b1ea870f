"""A cache on disk for generated datasets, so a second run does not wait for the generator.

Entries live in ``$NABLAB_CACHE`` (default ``$XDG_CACHE_HOME/nablab`` or ``~/.cache/nablab``),
one ``.npz`` per dataset, named by a hash of everything that determines its contents (the
generator's name and version and its arguments). Each file carries a SHA-256 of its arrays and
is written atomically; a missing, unreadable or corrupt entry is generated again, and a cache
folder that cannot be written to is simply not used.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

CACHE_ENV = "NABLAB_CACHE"
_CHECKSUM = "__sha256__"


def cache_dir() -> Path:
    """Where cached datasets live."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nablab"


def checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over every array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def entry_path(name: str, key: Mapping[str, Any]) -> Path:
    text = json.dumps({"name": name, **key}, sort_keys=True, default=str)
    return cache_dir() / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.npz"


def _read(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None
    stored = arrays.pop(_CHECKSUM, None)
    if stored is None or str(stored) != checksum(arrays):
        return None
    return arrays


def cached(
    name: str, key: Mapping[str, Any], make: Callable[[], Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The arrays ``make()`` returns, from the cache when a valid entry for ``key`` exists."""
    path = entry_path(name, key)
    arrays = _read(path) if path.is_file() else None
    if arrays is not None:
        return arrays
    arrays = {k: np.asarray(v) for k, v in make().items()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **{_CHECKSUM: np.array(checksum(arrays))})
    try:
        from nablab._io import write_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, buffer.getvalue())
    except OSError:
        pass  # a read-only or full cache folder: the data is still returned
    return arrays
