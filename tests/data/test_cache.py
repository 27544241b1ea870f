"""The dataset cache: generated once, verified by checksum, regenerated when damaged."""

from __future__ import annotations

import numpy as np

from nablab.data import cache


def _maker(calls: list):
    def make():
        calls.append(1)
        return {"x": np.arange(12.0).reshape(3, 4), "y": np.array([0, 1, 2])}

    return make


def test_a_second_call_reads_the_cache_and_a_new_key_makes_a_new_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("NABLAB_CACHE", str(tmp_path))
    calls: list = []
    first = cache.cached("toy", {"version": "1"}, _maker(calls))
    second = cache.cached("toy", {"version": "1"}, _maker(calls))
    assert len(calls) == 1
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    cache.cached("toy", {"version": "2"}, _maker(calls))
    assert len(calls) == 2 and len(list(tmp_path.glob("toy-*.npz"))) == 2


def test_corrupt_or_tampered_entries_are_generated_again(tmp_path, monkeypatch):
    monkeypatch.setenv("NABLAB_CACHE", str(tmp_path))
    calls: list = []
    cache.cached("toy", {"v": 1}, _maker(calls))
    path = cache.entry_path("toy", {"v": 1})
    path.write_bytes(path.read_bytes()[:100])  # truncated
    again = cache.cached("toy", {"v": 1}, _maker(calls))
    assert len(calls) == 2 and again["y"].tolist() == [0, 1, 2]
    arrays = dict(np.load(path))
    arrays["x"] = arrays["x"] + 1  # content changed, checksum not
    np.savez(path, **arrays)
    cache.cached("toy", {"v": 1}, _maker(calls))
    assert len(calls) == 3


def test_an_unwritable_cache_still_returns_the_data(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NABLAB_CACHE", str(blocker / "cache"))
    calls: list = []
    arrays = cache.cached("toy", {"v": 1}, _maker(calls))
    assert arrays["x"].shape == (3, 4) and len(calls) == 1


def test_cached_mnist1d_equals_a_fresh_generation():
    from nablab.data import datasets

    datasets._mnist1d_arrays.cache_clear()
    loaded = datasets._mnist1d_arrays()  # from the session's cache or freshly generated
    fresh = datasets._generate_mnist1d()
    for array, key in zip(loaded, ("x", "y", "x_test", "y_test"), strict=True):
        np.testing.assert_array_equal(array, fresh[key])
    assert loaded[0].shape == (4000, 40) and loaded[2].shape == (1000, 40)
