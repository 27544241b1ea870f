"""The parameter store: a model's parameters, per dtype, in flat arrays shared by every user.

All parameters of one dtype live in one contiguous group: each parameter's ``data`` and
``grad`` are views into the group's flat ``data`` and ``grad`` arrays, at a fixed offset. Two
optional slots of the same length hold a pruning ``mask`` (1 keeps a weight, 0 prunes it) and a
``curvature`` estimate (a Hessian diagonal, saliencies). Optimizers, pruners and curvature
passes all read the same arrays: none of them copies or rebinds a parameter, so any number of
them can work on one model.

A store is made for a model (``model.store``) or for whatever parameters an optimizer is given
that are not in one yet. Moving a parameter into a new store copies its arrays there and bumps
the ``version`` of the group it left, so whoever cached views of that group (an optimizer)
notices in O(1) and looks its parameters up again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from nablab.nn.module import Parameter


class StoreGroup:
    """The flat arrays of the parameters of one dtype.

    ``offsets[i]:offsets[i + 1]`` is parameter ``i``'s segment of ``data``, ``grad`` and, once
    made, ``mask`` and ``curvature``. ``version`` grows whenever a parameter leaves the group.
    """

    def __init__(self, params: Sequence[Parameter]) -> None:
        self.params = list(params)
        self.dtype = self.params[0].dtype
        sizes = [p.size for p in self.params]
        self.offsets = [0, *np.cumsum(sizes).tolist()]
        self.size = self.offsets[-1]
        self.data = np.empty(self.size, self.dtype)
        self.grad = np.empty(self.size, self.dtype)
        self.mask: np.ndarray | None = None
        self.curvature: np.ndarray | None = None
        self.version = 0
        self._position = {id(p): i for i, p in enumerate(self.params)}
        masks = [p._mask for p in self.params]
        curvatures = [p._curvature for p in self.params]
        if any(m is not None for m in masks):
            self.mask = np.ones(self.size, self.dtype)
        if any(c is not None for c in curvatures):
            self.curvature = np.zeros(self.size, self.dtype)
        for index, param in enumerate(self.params):
            span = self.span(index)
            self.data[span] = param._data.ravel()
            self.grad[span] = param._grad.ravel()
            if masks[index] is not None:
                self.mask[span] = masks[index].ravel()
            if curvatures[index] is not None:
                self.curvature[span] = curvatures[index].ravel()
            old = param._group
            if old is not None:
                old._release(param)
            param._bind(self, index)

    def span(self, index: int) -> slice:
        return slice(self.offsets[index], self.offsets[index + 1])

    def position(self, param: Parameter) -> int:
        """The index of ``param`` in this group (``KeyError`` if it is not here)."""
        return self._position[id(param)]

    def view(self, slot: str, index: int) -> np.ndarray:
        """Parameter ``index``'s segment of ``slot`` (``data``, ``grad``, ``mask``,
        ``curvature``) in the parameter's shape."""
        return getattr(self, slot)[self.span(index)].reshape(self.params[index].shape)

    def ensure(self, slot: str) -> np.ndarray:
        """Make the ``mask`` slot (all ones) or the ``curvature`` slot (zeros) if missing."""
        array = getattr(self, slot)
        if array is None:
            fill = 1 if slot == "mask" else 0
            array = np.full(self.size, fill, self.dtype)
            setattr(self, slot, array)
        return array

    def _release(self, param: Parameter) -> None:
        """``param`` moved to another group: views cached by others are no longer complete."""
        self._position.pop(id(param), None)
        self.version += 1

    def __repr__(self) -> str:
        slots = [s for s in ("mask", "curvature") if getattr(self, s) is not None]
        return (
            f"StoreGroup(dtype={self.dtype}, params={len(self.params)}, size={self.size}"
            + (f", slots={slots}" if slots else "")
            + ")"
        )


class ParameterStore:
    """Every parameter given, grouped by dtype into :class:`StoreGroup` objects.

    ``ParameterStore.of(params)`` reuses the groups the parameters already live in when those
    groups hold exactly these parameters, and otherwise moves them into new groups (in the
    order given, so a model's layers are contiguous).
    """

    def __init__(self, groups: Sequence[StoreGroup]) -> None:
        self.groups = list(groups)

    @classmethod
    def of(cls, params: Iterable[Parameter]) -> ParameterStore:
        params = _distinct(params)
        current = _current_groups(params)
        if current is not None:
            return cls(current)
        by_dtype: dict[np.dtype, list[Parameter]] = {}
        for param in params:
            by_dtype.setdefault(param.dtype, []).append(param)
        return cls([StoreGroup(group) for group in by_dtype.values()])

    def holds_exactly(self, params: Iterable[Parameter]) -> bool:
        """Do these groups hold exactly ``params`` (no more, no fewer, none moved away)?"""
        params = _distinct(params)
        return _current_groups(params) == self.groups

    @property
    def size(self) -> int:
        return sum(group.size for group in self.groups)

    def parameters(self) -> list[Parameter]:
        return [p for group in self.groups for p in group.params if p._group is group]

    def __repr__(self) -> str:
        return f"ParameterStore({self.groups})"


def bind(params: Iterable[Parameter]) -> list[StoreGroup]:
    """Make sure every parameter lives in a store (binding the loose ones into a new one) and
    return the groups that hold them, in order of first appearance."""
    params = _distinct(params)
    loose = [p for p in params if p._group is None]
    if loose:
        ParameterStore.of(loose)
    groups: list[StoreGroup] = []
    for param in params:
        if all(param._group is not g for g in groups):
            groups.append(param._group)
    return groups


def _distinct(params: Iterable[Parameter]) -> list[Parameter]:
    seen: dict[int, Parameter] = {}
    for param in params:
        seen.setdefault(id(param), param)
    return list(seen.values())


def _current_groups(params: list[Parameter]) -> list[StoreGroup] | None:
    """The groups holding ``params`` if they hold exactly these, in order; else None."""
    groups: list[StoreGroup] = []
    for param in params:
        group = param._group
        if group is None:
            return None
        if all(group is not g for g in groups):
            groups.append(group)
    wanted = {id(p) for p in params}
    for group in groups:
        members = [p for p in group.params if p._group is group]
        if len(members) != len(group.params) or any(id(p) not in wanted for p in members):
            return None
    if sum(len(g.params) for g in groups) != len(params):
        return None
    return groups
