"""Files in and out: inputs checked before they are read, outputs written atomically.

Inputs must be regular files of a bounded size: a FIFO, a device or a folder given where a file
is expected is an error, never a hang. Outputs go to a temporary file in the same folder (named
after the target and the writing process), are flushed to disk and renamed over the target, so
readers see the old file or the whole new one; something that is not a regular file (a device,
a FIFO, a folder) is never replaced, and temporary files left by a killed process are removed
by the next write of the same target.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from nablab.errors import NablabError

# The largest input nablab reads by default (exercise files, answer sheets, data, checkpoints);
# NABLAB_MAX_INPUT_BYTES raises it.
MAX_INPUT_BYTES = int(os.environ.get("NABLAB_MAX_INPUT_BYTES", str(2 * 1024**3)))


class InputFileError(NablabError):
    """An input path that is not a readable regular file of an acceptable size."""


def check_input_file(path: str | Path, what: str, limit: int | None = None) -> Path:
    """``path`` if it is a regular file no larger than ``limit`` bytes, else
    :class:`InputFileError` saying what is wrong (missing, a folder, a FIFO or device, too
    large)."""
    path = Path(path)
    limit = MAX_INPUT_BYTES if limit is None else limit
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such {what} file") from None
    except OSError as error:
        raise InputFileError(f"{path}: cannot read the {what} file: {error.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputFileError(f"{path}: is a folder; expected a {what} file")
    if not stat.S_ISREG(info.st_mode):
        raise InputFileError(
            f"{path}: is not a regular file (a FIFO, socket or device); expected a {what} file"
        )
    if info.st_size > limit:
        raise InputFileError(
            f"{path}: the {what} file has {info.st_size:,} bytes, more than "
            f"the limit of {limit:,} (NABLAB_MAX_INPUT_BYTES raises it)"
        )
    return path


def read_npz(path: str | Path, error: type[Exception], what: str) -> dict:
    """Every array of an ``.npz`` (loaded with ``allow_pickle=False``); an unreadable file
    raises ``error`` saying it cannot be read as ``what``. Each member's declared size is
    checked against the file's before anything is inflated (a zip bomb is refused)."""
    path = Path(path)
    try:
        check_input_file(path, what)
        _check_members(path)
        with np.load(path, allow_pickle=False) as archive:
            return dict(archive)
    except InputFileError as problem:
        raise error(str(problem)) from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as problem:
        raise error(f"{path}: cannot read {what}: {problem}") from None


# A compressed member may inflate to at most this many times the archive's size.
MAX_INFLATION = 200


def _check_members(path: Path) -> None:
    if not zipfile.is_zipfile(path):
        return  # a plain .npy: np.load reports it
    size = max(path.stat().st_size, 1)
    with zipfile.ZipFile(path) as archive:
        inflated = sum(member.file_size for member in archive.infolist())
    if inflated > MAX_INFLATION * size and inflated > MAX_INPUT_BYTES // 4:
        raise ValueError(f"its members inflate to {inflated:,} bytes from {size:,}: refused")


def _permissions(path: Path) -> int:
    """An existing file's mode, else what a plain ``open`` would give: 0o666 less the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def _remove_stale_temporaries(folder: Path, name: str) -> None:
    """Delete ``.name.<pid>.*.tmp`` files whose writing process no longer exists."""
    for candidate in folder.glob(f".{name}.*.tmp"):
        parts = candidate.name[len(name) + 2 :].split(".")
        if not parts or not parts[0].isdigit():
            continue
        pid = int(parts[0])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                candidate.unlink()
        except PermissionError:
            pass  # someone else's live process


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The folder must exist; a failure leaves no partial file behind. An existing target must be
    a regular file (its mode is kept; a new file gets the umask's mode).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a file")
    if path.exists() and not path.is_file():
        raise FileExistsError(
            f"{path} exists and is not a regular file (a device, FIFO or socket): not replacing it"
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"the folder {folder} does not exist")
    _remove_stale_temporaries(folder, path.name)
    mode = "wb" if isinstance(data, bytes) else "w"
    permissions = _permissions(path)
    fd, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=folder
    )
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
