"""Shared fixtures; the helpers live in ``tests/helpers`` (on the path via pytest's
``pythonpath``)."""

from __future__ import annotations

import numpy as np
import pytest

import helpers.oracle  # noqa: F401  (sets torch to float64, one thread)


def pytest_configure(config) -> None:
    """The message catalogues are compiled (.po → .mo) before anything renders a message, as
    the package build does."""
    from nablab.i18n import compile_catalogues

    compile_catalogues()


@pytest.fixture(scope="session", autouse=True)
def _environment(tmp_path_factory):
    """Generated datasets are cached in a folder of the test session, not the user's; an
    unexpected exception in a command fails the test instead of becoming exit code 70."""
    folder = tmp_path_factory.mktemp("nablab-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("NABLAB_CACHE", str(folder))
    patch.setenv("NABLAB_RAISE", "1")
    yield folder
    patch.undo()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)
