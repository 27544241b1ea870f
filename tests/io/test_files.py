"""Inputs must be regular files of bounded size; outputs are atomic and never replace what is
not a regular file."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from nablab._io import InputFileError, check_input_file, read_npz, write_atomic


def test_inputs_that_are_not_regular_files_are_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputFileError, match="is not a regular file"):
        check_input_file(fifo, "exercise")  # would block forever if opened
    with pytest.raises(InputFileError, match="is not a regular file"):
        check_input_file("/dev/urandom", "exercise")
    with pytest.raises(InputFileError, match="is a folder; expected a data file"):
        check_input_file(tmp_path, "data")
    with pytest.raises(InputFileError, match="no such answers file"):
        check_input_file(tmp_path / "missing.yaml", "answers")
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(InputFileError, match="has 2,000 bytes, more than the limit of 1,000"):
        check_input_file(big, "exercise", limit=1000)


def test_outputs_never_replace_devices_or_fifos(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(FileExistsError, match="not a regular file"):
        write_atomic(fifo, "x")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    with pytest.raises(FileExistsError, match="not replacing it"):
        write_atomic("/dev/null", "x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_outputs_respect_the_umask_and_keep_an_existing_mode(tmp_path):
    previous = os.umask(0o027)
    try:
        path = write_atomic(tmp_path / "new.txt", "a")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    os.chmod(path, 0o604)
    write_atomic(path, "b")
    assert stat.S_IMODE(path.stat().st_mode) == 0o604 and path.read_text() == "b"


def test_a_killed_writer_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    target = tmp_path / "checkpoint.npz"
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead = int(done.stdout)  # a process that has exited
    stale = tmp_path / f".checkpoint.npz.{dead}.abcd.tmp"
    stale.write_bytes(b"half written")
    alive = tmp_path / f".checkpoint.npz.{os.getppid()}.efgh.tmp"  # a live process's
    alive.write_bytes(b"being written")
    write_atomic(target, b"whole")
    assert not stale.exists() and alive.exists() and target.read_bytes() == b"whole"


def test_an_npz_zip_bomb_is_refused_before_inflating(tmp_path, monkeypatch):
    import nablab._io as files

    monkeypatch.setattr(files, "MAX_INPUT_BYTES", 4 * 1024**2)  # a 1 MiB floor for the test
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f8", "fortran_order": False, "shape": (4 * 1024**2,)}
        )
        archive.writestr("x.npy", header.getvalue() + b"\0" * (32 * 1024**2))
    bomb = tmp_path / "bomb.npz"
    bomb.write_bytes(buffer.getvalue())
    assert bomb.stat().st_size < 100_000
    with pytest.raises(ValueError, match=r"inflate to 33,554,5\d\d bytes from .*: refused"):
        read_npz(bomb, ValueError, "data")
