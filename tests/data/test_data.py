"""Datasets, files, toy sets, splitting, standardizing and batching."""

from __future__ import annotations

import gzip
import random
import socket

import numpy as np
import pytest

from nablab import data
from nablab.data.datasets import _mnist1d_arrays


def test_digits_is_scaled_to_the_unit_interval():
    digits = data.load("digits")
    assert digits.x.shape == (1797, 64) and digits.x.dtype == np.float32
    assert digits.x.min() == 0.0 and digits.x.max() == 1.0
    assert digits.classes == 10 and digits.y.dtype == np.int64
    assert data.load("digits", dtype=np.float64).x.dtype == np.float64


def test_mnist1d_is_generated_offline_and_leaves_global_random_state(monkeypatch):
    _mnist1d_arrays.cache_clear()

    def no_network(*args, **kwargs):
        raise AssertionError("MNIST-1D tried to open a network connection")

    monkeypatch.setattr(socket, "socket", no_network)
    np.random.seed(123)  # noqa: NPY002  (the global state the loader must leave alone)
    random.seed(7)
    before_numpy, before_python = np.random.random(), random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    random.seed(7)
    mnist = data.load("mnist1d")
    assert (np.random.random(), random.random()) == (before_numpy, before_python)  # noqa: NPY002
    assert mnist.x.shape == (4000, 40) and mnist.x_test.shape == (1000, 40)
    assert mnist.classes == 10
    assert sorted(np.bincount(np.concatenate([mnist.y, mnist.y_test]))) == [500] * 10
    again = data.load("mnist1d")
    np.testing.assert_array_equal(mnist.x, again.x)


@pytest.mark.parametrize("name", ["moons", "circles", "spirals", "xor", "blobs"])
def test_toy_sets_are_seeded(name):
    a, b = data.load(name, n=200, seed=3), data.load(name, n=200, seed=3)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.x.shape == (200, 2) and len(a.y) == 200
    assert not np.array_equal(a.x, data.load(name, n=200, seed=4).x)
    assert a.classes >= 2 and np.bincount(a.y).min() > 40


def test_toy_set_geometry():
    x, y = data.circles(1000, noise=0.0, seed=0)
    radius = np.hypot(x[:, 0], x[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0)
    np.testing.assert_allclose(radius[y == 1], 0.5)
    x, y = data.xor(500, noise=0.0, seed=0)
    assert np.all((x[:, 0] * x[:, 1] < 0) == (y == 1))
    with pytest.raises(ValueError, match="noise must be >= 0"):
        data.moons(10, noise=-1)
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        data.load("cifar")


def _idx(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape
    )
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_idx_files_round_trip(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 4, 3)).astype(np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    suffix = ".gz" if compress else ""
    write = gzip.compress if compress else (lambda b: b)
    (tmp_path / f"images{suffix}").write_bytes(write(_idx(images, 0x08)))
    (tmp_path / f"labels{suffix}").write_bytes(write(_idx(labels, 0x08)))
    dataset = data.load_idx(tmp_path / f"images{suffix}", tmp_path / f"labels{suffix}")
    np.testing.assert_allclose(dataset.x, images[:, None] / 255.0)  # (N, C, H, W)
    assert dataset.input_shape == (1, 4, 3) and dataset.n_features == 12
    np.testing.assert_array_equal(dataset.y, labels)
    assert dataset.image_shape == (1, 4, 3)  # the images as read
    floats = rng.normal(size=(2, 3)).astype(np.float32)
    (tmp_path / "floats").write_bytes(_idx(floats, 0x0D))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "floats"), floats)


def test_corrupt_and_mismatched_idx_files(tmp_path):
    images = np.zeros((5, 2, 2), np.uint8)
    (tmp_path / "bad_magic").write_bytes(b"\x01\x02" + _idx(images, 0x08)[2:])
    with pytest.raises(data.DataFileError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad_magic")
    (tmp_path / "truncated").write_bytes(_idx(images, 0x08)[:-3])
    with pytest.raises(data.DataFileError, match=r"promises shape \(5, 2, 2\) \(20 bytes"):
        data.read_idx(tmp_path / "truncated")
    (tmp_path / "images").write_bytes(_idx(images, 0x08))
    (tmp_path / "labels").write_bytes(_idx(np.zeros(4, np.uint8), 0x08))
    with pytest.raises(data.DataFileError, match=r"5 samples but .* has 4 labels"):
        data.load_idx(tmp_path / "images", tmp_path / "labels")
    (tmp_path / "gz.gz").write_bytes(b"not gzip")
    with pytest.raises(data.DataFileError, match="cannot read"):
        data.read_idx(tmp_path / "gz.gz")


def test_npz_and_csv_files(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 3)), np.array([0, 1, 2, 0, 1, 2])
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x[:2], y_test=y[:2])
    dataset = data.read_file(tmp_path / "d.npz")
    np.testing.assert_array_equal(dataset.x, x)
    assert dataset.x_test.shape == (2, 3) and dataset.classes == 3
    np.savez(tmp_path / "bad.npz", features=x, y=y)
    with pytest.raises(data.DataFileError, match=r"missing array\(s\) \['x'\]"):
        data.read_file(tmp_path / "bad.npz")
    np.savez(tmp_path / "short.npz", x=x, y=y[:5])
    with pytest.raises(data.DataFileError, match="need one row per label"):
        data.read_file(tmp_path / "short.npz")
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,6,1\n", encoding="utf-8")
    table = data.read_file(tmp_path / "d.csv")
    np.testing.assert_array_equal(table.x, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(table.y, [0, 1, 1])
    (tmp_path / "frac.csv").write_text("1,2,0.5\n", encoding="utf-8")
    with pytest.raises(data.DataFileError, match="non-negative integers"):
        data.read_file(tmp_path / "frac.csv")
    with pytest.raises(data.DataFileError, match="unknown data file type"):
        data.read_file(tmp_path / "d.txt")


def test_split_is_deterministic_and_disjoint():
    x = np.arange(100, dtype=float)[:, None]
    y = np.arange(100)
    a = data.train_val_split(x, y, 0.2, seed=5)
    b = data.train_val_split(x, y, 0.2, seed=5)
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(left, right)
    _x_train, y_train, x_val, y_val = a
    assert len(x_val) == 20 and not set(y_train) & set(y_val)
    assert set(y_train) | set(y_val) == set(range(100))
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\)"):
        data.train_val_split(x, y, 1.5)


def test_standardizer_uses_the_training_part_only():
    rng = np.random.default_rng(0)
    train, val = rng.normal(3, 2, size=(500, 4)), rng.normal(5, 1, size=(100, 4))
    scaler = data.Standardizer().fit(train)
    np.testing.assert_allclose(scaler.transform(train).mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(scaler.transform(train).std(axis=0), 1, atol=1e-12)
    assert np.all(scaler.transform(val).mean(axis=0) > 0.5)
    constant = np.ones((3, 2))
    assert np.isfinite(data.Standardizer().fit_transform(constant)).all()


def test_batches_shuffle_with_a_seed_and_drop_last():
    x, y = np.arange(10)[:, None], np.arange(10)
    first = [b for _, b in data.batches(x, y, 4, rng=1)]
    second = [b for _, b in data.batches(x, y, 4, rng=1)]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [len(b) for b in first] == [4, 4, 2]
    assert sorted(np.concatenate(first)) == list(range(10))
    assert [len(b) for _, b in data.batches(x, y, 4, rng=1, drop_last=True)] == [4, 4]
    ordered = [b for _, b in data.batches(x, y, 5, shuffle=False)]
    np.testing.assert_array_equal(ordered[0], np.arange(5))


def test_image_shapes_belong_to_the_dataset():
    assert data.load("digits").image_shape == (8, 8)
    assert data.load("digits").astype(np.float64).image_shape == (8, 8)
    assert data.load("moons").image_shape is None
    with pytest.raises(ValueError, match=r"image_shape \(3, 3\) holds 9 values, but each sample"):
        data.Dataset("toy", np.zeros((2, 8)), np.zeros(2, np.int64), image_shape=(3, 3))


def test_a_standardizer_over_all_features():
    x = np.array([[0.0, 1.0], [2.0, 5.0]])
    scaler = data.Standardizer(per_feature=False).fit(x)
    assert scaler.mean == 2.0 and scaler.std == pytest.approx(np.std(x))
    np.testing.assert_allclose(scaler.transform(x), (x - 2.0) / np.std(x))
