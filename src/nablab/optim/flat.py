"""Parameters of one dtype gathered into one contiguous buffer.

Each parameter's ``data`` and ``grad`` become views into two flat arrays, so an optimizer
updates every tensor with a constant number of vectorized operations, whatever their number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nablab.nn.module import Parameter


def _is_view_at(array: np.ndarray, base: np.ndarray, offset: int) -> bool:
    """Is ``array`` the contiguous slice ``base[offset : offset + array.size]`` (reshaped)?

    While ``base`` is alive no other array can start at that address, so comparing addresses
    is exact.
    """
    start = base.__array_interface__["data"][0] + offset * base.itemsize
    return array.__array_interface__["data"][0] == start and array.flags.c_contiguous


class FlatGroup:
    """Parameters of one dtype whose ``data`` and ``grad`` are views into ``data`` / ``grad``.

    ``offsets[i]:offsets[i + 1]`` is parameter ``i``'s slice of the flat arrays.
    """

    def __init__(self, params: Sequence[Parameter]) -> None:
        self.params = list(params)
        self.dtype = self.params[0].dtype
        sizes = [p.size for p in self.params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        self.size = self.offsets[-1]
        self.data = np.empty(self.size, dtype=self.dtype)
        self.grad = np.empty(self.size, dtype=self.dtype)
        self.gather()

    def slice_of(self, index: int) -> slice:
        return slice(self.offsets[index], self.offsets[index + 1])

    def is_bound(self) -> bool:
        """Is every parameter still a view into this group's buffers?"""
        return all(
            _is_view_at(p.data, self.data, start) and _is_view_at(p.grad, self.grad, start)
            for p, start in zip(self.params, self.offsets, strict=False)
        )

    def gather(self) -> None:
        """Copy every parameter's current values in and make its arrays views of the buffers."""
        for index, param in enumerate(self.params):
            span = self.slice_of(index)
            if not _is_view_at(param.data, self.data, span.start):
                self.data[span] = param.data.ravel()
                param.data = self.data[span].reshape(param.shape)
            if not _is_view_at(param.grad, self.grad, span.start):
                self.grad[span] = param.grad.ravel()
                param.grad = self.grad[span].reshape(param.shape)
