"""Parameters, modules and the sequential container.

A :class:`Module` computes ``forward(x)`` and, given dL/d(output), ``backward(grad_out)``
returns dL/d(input) and *adds* dL/d(param) into each parameter's ``.grad``.

Parameters own two arrays, ``data`` and ``grad``. Modules read them through the parameter on
every call and update them only in place, so an optimizer may move both arrays into one
contiguous buffer (making each a view) without the module noticing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


class Parameter:
    """A trainable array: ``data`` and its gradient ``grad`` (same shape and dtype).

    ``name`` is the dotted name inside the outermost container (``"0.weight"``) once the
    parameter belongs to one, and the local name (``"weight"``) before.

    Rebinding ``data`` or ``grad`` (rather than writing into them) is counted in
    ``Parameter.rebinds``, so an optimizer that keeps parameters as views into one buffer can
    notice and gather them again. The new array must keep the shape and dtype.
    """

    __slots__ = ("_data", "_grad", "name", "requires_grad")
    rebinds = 0

    def __init__(self, data: np.ndarray, name: str = "", requires_grad: bool = True) -> None:
        data = np.asarray(data)
        if not np.issubdtype(data.dtype, np.floating):
            raise TypeError(f"Parameter {name!r}: data must be a floating array, got {data.dtype}")
        self._data = data
        self._grad = np.zeros_like(data)
        self.name = name
        self.requires_grad = requires_grad

    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        self._data = self._checked(value, "data")

    @property
    def grad(self) -> np.ndarray:
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray) -> None:
        self._grad = self._checked(value, "grad")

    def _checked(self, value: np.ndarray, what: str) -> np.ndarray:
        if (
            not isinstance(value, np.ndarray)
            or value.shape != self._data.shape
            or (value.dtype != self._data.dtype)
        ):
            got = (getattr(value, "shape", None), getattr(value, "dtype", type(value)))
            raise ValueError(
                f"Parameter {self.name!r}: new {what} must be an array of shape "
                f"{self._data.shape} and dtype {self._data.dtype}, got {got[0]} and {got[1]} "
                f"(write into it instead: p.{what}[...] = value)"
            )
        Parameter.rebinds += 1
        return value

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def zero_grad(self) -> None:
        self._grad.fill(0)

    def __repr__(self) -> str:
        return f"Parameter(name={self.name!r}, shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class of every layer, activation and container.

    Subclasses call ``super().__init__()``, register their parameters with
    :meth:`register_parameter`, non-trainable state (running statistics) with
    :meth:`register_buffer` and sub-modules with :meth:`add_module`, then implement
    :meth:`forward` and :meth:`backward`.
    """

    def __init__(self) -> None:
        self.training = True
        self._params: dict[str, Parameter] = {}
        self._buffers: dict[str, np.ndarray] = {}
        self._modules: dict[str, Module] = {}
        self._path = ""

    # ----------------------------------------------------------------- registration
    def register_parameter(self, name: str, param: Parameter | None) -> Parameter | None:
        """Register ``param`` under ``name`` and set it as an attribute (``None``: no parameter)."""
        setattr(self, name, param)
        if param is not None:
            param.name = self._qualified(name)
            self._params[name] = param
        return param

    def register_buffer(self, name: str, array: np.ndarray) -> np.ndarray:
        """Register a non-trainable array that belongs in the state dict (updated in place)."""
        setattr(self, name, array)
        self._buffers[name] = array
        return array

    def add_module(self, name: str, module: Module) -> Module:
        if not isinstance(module, Module):
            raise TypeError(f"{self.label}: child {name!r} must be a Module, got {type(module)}")
        if name.isidentifier():
            setattr(self, name, module)
        self._modules[name] = module
        module._set_path(self._qualified(name))
        return module

    def _qualified(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def _set_path(self, path: str) -> None:
        self._path = path
        for name, param in self._params.items():
            param.name = self._qualified(name)
        for name, child in self._modules.items():
            child._set_path(self._qualified(name))

    @property
    def label(self) -> str:
        """How error messages name this module: its class and dotted name."""
        kind = type(self).__name__
        return f"{kind} '{self._path}'" if self._path else kind

    # ----------------------------------------------------------------- computation
    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward_params(self, grad_out: np.ndarray) -> None:
        """Accumulate parameter gradients without returning dL/d(input).

        Containers call this on their first layer, whose input is data and needs no gradient;
        layers that can skip the input-gradient product (``Linear``) override it.
        """
        self.backward(grad_out)

    def _require_forward(self, cached: Any) -> None:
        if cached is None:
            raise RuntimeError(f"{self.label}: backward() called before forward()")

    # ----------------------------------------------------------------- traversal
    def children(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its stable dotted name (``"0.weight"``), in registration order."""
        for name, param in self._params.items():
            yield (f"{prefix}.{name}" if prefix else name), param
        for name, child in self._modules.items():
            yield from child.named_parameters(f"{prefix}.{name}" if prefix else name)

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for name, buf in self._buffers.items():
            yield (f"{prefix}.{name}" if prefix else name), buf
        for name, child in self._modules.items():
            yield from child.named_buffers(f"{prefix}.{name}" if prefix else name)

    def zero_grad(self) -> None:
        for param in self.parameters():
            param.grad.fill(0)

    def train(self, mode: bool = True) -> Module:
        for _, module in self.named_modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, np.ndarray]:
        """A plain dict of copies of every parameter and buffer, keyed by dotted name."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update({name: b.copy() for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy ``state`` into this module's arrays in place (strict).

        Every key must be present, no key may be extra, and each array must have the exact shape
        and dtype of the array it replaces; otherwise ``KeyError``/``ValueError`` names the key
        and nothing is modified.
        """
        targets = {name: p.data for name, p in self.named_parameters()}
        targets.update(dict(self.named_buffers()))
        missing = sorted(set(targets) - set(state))
        extra = sorted(set(state) - set(targets))
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if extra:
                parts.append(f"unexpected keys {extra}")
            raise KeyError(f"{self.label}.load_state_dict: " + "; ".join(parts))
        for name, target in targets.items():
            value = np.asarray(state[name])
            if value.shape != target.shape:
                raise ValueError(
                    f"{self.label}.load_state_dict: key {name!r} has shape {value.shape}, "
                    f"expected {target.shape}"
                )
            if value.dtype != target.dtype:
                raise ValueError(
                    f"{self.label}.load_state_dict: key {name!r} has dtype {value.dtype}, "
                    f"expected {target.dtype}"
                )
        for name, target in targets.items():
            np.copyto(target, state[name])

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        lines.append(")")
        return "\n".join(lines)


class Sequential(Module):
    """Modules applied in order: ``forward`` chains them, ``backward`` runs them in reverse."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for index, module in enumerate(modules):
            self.add_module(str(index), module)
        self._layers = list(self._modules.values())

    def __getitem__(self, index: int) -> Module:
        return self._layers[index]

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self._layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        for layer in reversed(self._layers):
            grad_out = layer.backward(grad_out)
        return grad_out

    def backward_params(self, grad_out: np.ndarray) -> None:
        """Backward without dL/d(input): the first layer skips its input-gradient product."""
        layers = self._layers
        for layer in reversed(layers[1:]):
            grad_out = layer.backward(grad_out)
        if layers:
            layers[0].backward_params(grad_out)
