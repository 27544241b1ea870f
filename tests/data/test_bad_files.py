"""Data files that are damaged, lie about their size or hold what cannot be data."""

from __future__ import annotations

import gzip
import struct
import time

import numpy as np
import pytest

from nablab import data
from nablab.data import DataFileError


def _idx(code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", n) for n in shape) + payload


def test_a_gzipped_idx_promising_more_than_the_limit_is_refused_before_inflating(tmp_path):
    bomb = tmp_path / "bomb-images.gz"
    # the header promises 60000 × 10000 × 10000 bytes; the stream holds little
    bomb.write_bytes(gzip.compress(_idx(0x08, (60000, 10000, 10000), b"\0" * 1_000_000)))
    started = time.perf_counter()
    with pytest.raises(DataFileError, match=r"promises shape \(60000, 10000, 10000\).*more than"):
        data.read_idx(bomb)
    assert time.perf_counter() - started < 1.0


def test_truncated_or_overlong_idx_files_say_what_they_hold(tmp_path):
    short = tmp_path / "short.gz"
    short.write_bytes(gzip.compress(_idx(0x08, (4, 2), b"\1" * 5)))
    with pytest.raises(
        DataFileError,
        match=r"promises shape \(4, 2\) \(8 bytes of data\), the "
        r"file holds 5",
    ):
        data.read_idx(short)
    long = tmp_path / "long"
    long.write_bytes(_idx(0x08, (2,), b"\1\2\3"))
    with pytest.raises(DataFileError, match="the file holds more"):
        data.read_idx(long)
    corrupt = tmp_path / "corrupt.gz"
    corrupt.write_bytes(gzip.compress(_idx(0x08, (2,), b"\1\2"))[:-6])
    with pytest.raises(DataFileError, match="cannot read"):
        data.read_idx(corrupt)


def test_idx_labels_that_are_not_integers_are_refused(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.write_bytes(_idx(0x08, (2, 2, 2), bytes(8)))
    labels.write_bytes(_idx(0x0D, (2,), struct.pack(">ff", 0.5, 1.0)))
    with pytest.raises(DataFileError, match="labels must be non-negative integers"):
        data.load_idx(images, labels)


def test_a_csv_with_a_byte_order_mark_keeps_its_first_row(tmp_path):
    path = tmp_path / "table.csv"
    path.write_bytes("\ufeff1.0,2.0,0\n3.0,4.0,1\n".encode())
    loaded = data.load_csv(path)
    assert loaded.x.shape == (2, 2) and loaded.y.tolist() == [0, 1]


def test_non_finite_or_complex_features_are_refused_with_their_place(tmp_path):
    x = np.ones((4, 3))
    x[2, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=[0, 1, 0, 1])
    with pytest.raises(DataFileError, match=r"x\[2, 1\] is nan; features must be finite"):
        data.load_npz(tmp_path / "nan.npz")
    np.savez(tmp_path / "complex.npz", x=np.ones((4, 3)) * 1j, y=[0, 1, 0, 1])
    with pytest.raises(DataFileError, match="x is complex"):
        data.load_npz(tmp_path / "complex.npz")
    path = tmp_path / "inf.csv"
    path.write_text("1,inf,0\n2,3,1\n")
    with pytest.raises(DataFileError, match=r"x\[0, 1\] is inf"):
        data.load_csv(path)
