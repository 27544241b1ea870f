"""Shared fixtures; the helpers live in ``tests/helpers`` (on the path via pytest's
``pythonpath``)."""

from __future__ import annotations

import numpy as np
import pytest

import helpers.oracle  # noqa: F401  (sets torch to float64, one thread)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)
