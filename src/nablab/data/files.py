"""Reading users' data: MNIST-format IDX files (optionally gzipped), ``.npz`` and ``.csv``.

A corrupt or mismatched file gets a ``DataFileError`` naming the file and what is wrong.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from nablab._io import read_npz
from nablab.data.datasets import Dataset

# IDX type codes (the third byte of the magic number) and their big-endian dtypes.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataFileError(ValueError):
    """A data file that cannot be read as claimed."""


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX array: magic 0x0000 TT DD (type code, number of dimensions), DD big-endian
    32-bit sizes, then the data. ``.gz`` files are decompressed."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except OSError as error:
        raise DataFileError(f"{path}: cannot read: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataFileError(f"{path}: not an IDX file (the magic number must start 0x0000)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise DataFileError(f"{path}: unknown IDX type code 0x{code:02X}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"{path}: truncated header ({len(raw)} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataFileError(
            f"{path}: the header promises shape {shape} ({expected} bytes of "
            f"data), the file holds {len(raw) - header}"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def load_idx(images: str | Path, labels: str | Path, scale: float | None = 255.0) -> Dataset:
    """Images (N, ...) flattened to rows, divided by ``scale``; labels (N,)."""
    x, y = read_idx(images), read_idx(labels)
    if y.ndim != 1:
        raise DataFileError(f"{labels}: labels must be one-dimensional, got shape {y.shape}")
    if len(x) != len(y):
        raise DataFileError(f"{images} has {len(x)} samples but {labels} has {len(y)} labels")
    shape = tuple(x.shape[1:]) if x.ndim in (3, 4) else None
    x = x.reshape(len(x), -1).astype(np.float64)
    return Dataset(
        Path(images).name, x / scale if scale else x, y.astype(np.int64), image_shape=shape
    )


def _labels(y: np.ndarray, source: str) -> np.ndarray:
    if y.ndim != 1:
        raise DataFileError(f"{source}: labels must be one-dimensional, got shape {y.shape}")
    if not np.all(np.isfinite(y)) or not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0:
        raise DataFileError(f"{source}: labels must be non-negative integers (class indices)")
    return y.astype(np.int64)


def load_npz(path: str | Path, x_key: str = "x", y_key: str = "y") -> Dataset:
    """Features under ``x_key`` (N, d) and labels under ``y_key`` (N,); optional
    ``x_test``/``y_test``. Loaded with ``allow_pickle=False``."""
    path = Path(path)
    arrays = read_npz(path, DataFileError, "as .npz")
    missing = [key for key in (x_key, y_key) if key not in arrays]
    if missing:
        raise DataFileError(f"{path}: missing array(s) {missing}; found {sorted(arrays)}")
    x, y = arrays[x_key], _labels(arrays[y_key], str(path))
    if x.ndim < 2 or len(x) != len(y):
        raise DataFileError(
            f"{path}: {x_key} has shape {x.shape} but {y_key} has "
            f"{len(y)} labels (need one row per label)"
        )
    x_test = arrays.get(f"{x_key}_test")
    y_test = arrays.get(f"{y_key}_test")
    return Dataset(
        path.stem,
        x.reshape(len(x), -1).astype(np.float64),
        y,
        None if x_test is None else x_test.reshape(len(x_test), -1).astype(float),
        None if y_test is None else _labels(y_test, str(path)),
        tuple(x.shape[1:]) if x.ndim in (3, 4) else None,
    )


def load_csv(path: str | Path, label_column: int = -1, header: bool | None = None) -> Dataset:
    """Rows of numbers, one sample per row, the label in ``label_column``; a first row that is
    not numeric is taken as a header."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataFileError(f"{path}: cannot read: {error}") from None
    if header is None:
        try:
            [float(v) for v in lines[0].split(",")]
            header = False
        except (ValueError, IndexError):
            header = True
    rows = lines[1:] if header else lines
    try:
        table = np.array([[float(v) for v in row.split(",")] for row in rows])
    except ValueError as error:
        raise DataFileError(f"{path}: not numeric: {error}") from None
    if table.ndim != 2 or table.shape[1] < 2:
        raise DataFileError(
            f"{path}: expected rows of the same length with at least two "
            f"columns (features and a label), got shape {table.shape}"
        )
    y = _labels(table[:, label_column], str(path))
    x = np.delete(table, label_column % table.shape[1], axis=1)
    return Dataset(path.stem, x, y)


def read_file(path: str | Path, labels: str | Path | None = None) -> Dataset:
    """A dataset from ``.npz``, ``.csv`` or IDX (``labels`` is then the IDX label file)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".npz"):
        return load_npz(path)
    if name.endswith(".csv"):
        return load_csv(path)
    if labels is not None:
        return load_idx(path, labels)
    raise DataFileError(
        f"{path}: unknown data file type (use .npz, .csv, or IDX images with a labels file)"
    )
