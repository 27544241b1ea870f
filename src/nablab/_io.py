"""Writing files atomically: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from pathlib import Path

import numpy as np


def read_npz(path: str | Path, error: type[Exception], what: str) -> dict:
    """Every array of an ``.npz`` (loaded with ``allow_pickle=False``); an unreadable file
    raises ``error`` saying it cannot be read as ``what``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return dict(archive)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as problem:
        raise error(f"{path}: cannot read {what}: {problem}") from None


def _permissions(path: Path) -> int:
    """An existing file's mode, else what a plain ``open`` would give: 0o666 less the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The folder must exist; a failure leaves no partial file behind.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a file")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"the folder {folder} does not exist")
    mode = "wb" if isinstance(data, bytes) else "w"
    permissions = _permissions(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, permissions)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
