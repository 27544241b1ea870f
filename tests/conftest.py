"""Shared fixtures; the helpers live in ``tests/helpers`` (on the path via pytest's
``pythonpath``)."""

from __future__ import annotations

import numpy as np
import pytest

import helpers.oracle  # noqa: F401  (sets torch to float64, one thread)


@pytest.fixture(scope="session", autouse=True)
def _dataset_cache(tmp_path_factory):
    """Generated datasets are cached in a folder of the test session, not the user's."""
    folder = tmp_path_factory.mktemp("nablab-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("NABLAB_CACHE", str(folder))
    yield folder
    patch.undo()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)
