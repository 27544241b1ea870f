"""Reading users' data: MNIST-format IDX files (optionally gzipped), ``.npz`` and ``.csv``.

A corrupt or mismatched file gets a ``DataFileError`` naming the file and what is wrong.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from nablab._io import MAX_INPUT_BYTES, InputFileError, check_input_file, read_npz
from nablab.data.datasets import Dataset
from nablab.errors import NablabError

# IDX type codes (the third byte of the magic number) and their big-endian dtypes.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataFileError(NablabError):
    """A data file that cannot be read as claimed."""


def _open_idx(path: Path):
    """The file, or a stream of its decompressed bytes for ``.gz`` (never inflated whole)."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX array: magic 0x0000 TT DD (type code, number of dimensions), DD big-endian
    32-bit sizes, then the data. ``.gz`` files are decompressed as a stream: the header's
    promised size is checked against the limit before the data is read, and not a byte more
    than it promises is inflated."""
    path = Path(path)
    try:
        check_input_file(path, "IDX")
        with _open_idx(path) as handle:
            head = handle.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0:
                raise DataFileError(f"{path}: not an IDX file (the magic number must start 0x0000)")
            code, ndim = head[2], head[3]
            if code not in _IDX_TYPES:
                raise DataFileError(f"{path}: unknown IDX type code 0x{code:02X}")
            sizes = handle.read(4 * ndim)
            if len(sizes) < 4 * ndim:
                raise DataFileError(f"{path}: truncated header")
            shape = tuple(int.from_bytes(sizes[4 * i : 4 * i + 4], "big") for i in range(ndim))
            dtype = np.dtype(_IDX_TYPES[code])
            expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if expected > MAX_INPUT_BYTES:
                raise DataFileError(
                    f"{path}: the header promises shape {shape} ({expected:,} bytes), more "
                    f"than the limit of {MAX_INPUT_BYTES:,} (NABLAB_MAX_INPUT_BYTES)"
                )
            raw = handle.read(expected)
            extra = handle.read(1)
    except InputFileError as error:
        raise DataFileError(str(error)) from None
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataFileError(f"{path}: cannot read: {error}") from None
    if len(raw) != expected or extra:
        held = f"{len(raw)}" if not extra else "more"
        raise DataFileError(
            f"{path}: the header promises shape {shape} ({expected} bytes of data), the file "
            f"holds {held}"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def load_idx(images: str | Path, labels: str | Path, scale: float | None = 255.0) -> Dataset:
    """Images divided by ``scale``, kept as (N, C, H, W) as convolutions read them: an IDX
    file of (N, H, W) images (MNIST's) gets one channel, (N, C, H, W) stays, and (N, D)
    vectors stay rows. Labels (N,). A multilayer perceptron flattens images itself."""
    x, y = read_idx(images), read_idx(labels)
    if y.ndim != 1:
        raise DataFileError(f"{labels}: labels must be one-dimensional, got shape {y.shape}")
    if len(x) != len(y):
        raise DataFileError(f"{images} has {len(x)} samples but {labels} has {len(y)} labels")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim not in (2, 4):
        raise DataFileError(
            f"{images}: expected images (N, H, W) or (N, C, H, W) or rows (N, D), "
            f"got shape {x.shape}"
        )
    x = x.astype(np.float64)
    shape = tuple(x.shape[1:]) if x.ndim == 4 else None
    return Dataset(
        Path(images).name, x / scale if scale else x, _labels(y, str(labels)), image_shape=shape
    )


def _features(x: np.ndarray, source: str, name: str = "x") -> np.ndarray:
    """Real, finite features as float64 (complex or non-finite values are errors)."""
    if np.iscomplexobj(x):
        raise DataFileError(f"{source}: {name} is complex; features must be real numbers")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataFileError(f"{source}: {name} must be numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if x.ndim < 2 or len(x) == 0 or x[0].size == 0:
        raise DataFileError(
            f"{source}: {name} holds no samples or no features (shape "
            f"{x.shape}); expected one row of numbers per sample"
        )
    bad = ~np.isfinite(x)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataFileError(
            f"{source}: {name}[{', '.join(map(str, where))}] is {x[where]}; features must be finite"
        )
    return x


def _labels(y: np.ndarray, source: str) -> np.ndarray:
    if np.iscomplexobj(y):
        raise DataFileError(f"{source}: labels are complex; they must be class indices")
    if y.ndim != 1:
        raise DataFileError(f"{source}: labels must be one-dimensional, got shape {y.shape}")
    if len(y) == 0:
        raise DataFileError(f"{source}: there are no labels (no samples)")
    if not np.all(np.isfinite(y)) or not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0:
        raise DataFileError(f"{source}: labels must be non-negative integers (class indices)")
    return y.astype(np.int64)


def load_npz(path: str | Path, x_key: str = "x", y_key: str = "y") -> Dataset:
    """Features under ``x_key`` (N, d) and labels under ``y_key`` (N,); optional
    ``x_test``/``y_test``. Loaded with ``allow_pickle=False``."""
    path = Path(path)
    arrays = read_npz(path, DataFileError, ".npz data")
    missing = [key for key in (x_key, y_key) if key not in arrays]
    if missing:
        raise DataFileError(f"{path}: missing array(s) {missing}; found {sorted(arrays)}")
    x, y = _features(arrays[x_key], str(path), x_key), _labels(arrays[y_key], str(path))
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
        None
        if x_test is None
        else _features(x_test, str(path), f"{x_key}_test").reshape(len(x_test), -1),
        None if y_test is None else _labels(y_test, str(path)),
        tuple(x.shape[1:]) if x.ndim in (3, 4) else None,
    )


def load_csv(path: str | Path, label_column: int = -1, header: bool | None = None) -> Dataset:
    """Rows of numbers, one sample per row, the label in ``label_column``; a first row that is
    not numeric is taken as a header."""
    path = Path(path)
    try:
        check_input_file(path, "CSV")
        # utf-8-sig: a byte-order mark (as spreadsheets write) is not part of the first row
        lines = path.read_text(encoding="utf-8-sig").strip().splitlines()
    except InputFileError as error:
        raise DataFileError(str(error)) from None
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
    x = _features(np.delete(table, label_column % table.shape[1], axis=1), str(path))
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
