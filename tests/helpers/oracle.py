"""PyTorch as the numerical oracle: float64 tensors and an agreement check."""

from __future__ import annotations

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

RTOL = 1e-10


def assert_close(actual, expected, rtol: float = RTOL) -> None:
    """Agreement to ``rtol`` relative, with an absolute floor of rtol·max(1, max|expected|)·1e-2.

    The floor only matters for entries that are (numerically) zero while others are not.
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale * 1e-2)


def tt(array: np.ndarray, grad: bool = False) -> torch.Tensor:
    """A float64 torch tensor copy of ``array`` (a leaf that requires grad if asked)."""
    tensor = torch.tensor(np.asarray(array, dtype=np.float64))
    return tensor.requires_grad_(grad)


def nn_(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy()
