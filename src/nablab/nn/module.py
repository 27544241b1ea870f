"""Parameters, modules and the sequential container.

A :class:`Module` computes ``forward(x)`` and, given dL/d(output), ``backward(grad_out)``
returns dL/d(input) and *adds* dL/d(param) into each parameter's ``.grad``.

Parameters own two arrays, ``data`` and ``grad``. Modules read them through the parameter on
every call and update them only in place, so the parameter store may hold both arrays in one
contiguous buffer (making each a view) without the module noticing.

Hooks (:meth:`Module.register_forward_hook`, :meth:`Module.register_backward_hook`) observe or
replace what flows through a module; weight transforms
(:meth:`Module.register_weight_transform`) change the weight a layer uses (noise, masks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from nablab.errors import UnsupportedError

MASK_SUFFIX = "_mask"
ForwardHook = Callable[["Module", np.ndarray, np.ndarray], "np.ndarray | None"]
BackwardHook = Callable[["Module", "np.ndarray | None", np.ndarray], "np.ndarray | None"]


class Parameter:
    """A trainable array: ``data`` and its gradient ``grad`` (same shape and dtype).

    ``name`` is the dotted name inside the outermost container (``"0.weight"``) once the
    parameter belongs to one, and the local name (``"weight"``) before.

    Once an optimizer or ``model.store`` has seen it, the parameter lives in a
    :class:`~nablab.nn.store.ParameterStore`: ``data`` and ``grad`` are views into flat arrays
    shared with every other parameter of that dtype. Assigning ``p.data = array`` therefore
    writes the values in place (same shape and dtype) rather than replacing the array.

    ``mask`` (``None`` or an array of 0/1 of ``data``'s shape) prunes entries: they are set to
    zero and every optimizer keeps them exactly zero. ``curvature`` holds a per-entry curvature
    estimate (a Hessian diagonal) once a curvature pass has written one.
    """

    __slots__ = (
        "_curvature",
        "_data",
        "_grad",
        "_group",
        "_index",
        "_mask",
        "name",
        "requires_grad",
    )

    def __init__(self, data: np.ndarray, name: str = "", requires_grad: bool = True) -> None:
        data = np.asarray(data)
        if not np.issubdtype(data.dtype, np.floating):
            raise TypeError(f"Parameter {name!r}: data must be a floating array, got {data.dtype}")
        self._data = data
        self._grad = np.zeros_like(data)
        self._mask: np.ndarray | None = None
        self._curvature: np.ndarray | None = None
        self._group = None
        self._index = -1
        self.name = name
        self.requires_grad = requires_grad

    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        np.copyto(self._data, self._checked(value, "data"))

    @property
    def grad(self) -> np.ndarray:
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray) -> None:
        np.copyto(self._grad, self._checked(value, "grad"))

    def _checked(self, value: object, what: str) -> np.ndarray:
        array = np.asarray(value)
        if array.shape != self._data.shape or array.dtype != self._data.dtype:
            raise ValueError(
                f"Parameter {self.name!r}: new {what} must have shape {self._data.shape} and "
                f"dtype {self._data.dtype}, got {array.shape} and {array.dtype}"
            )
        return array

    # ----------------------------------------------------------------- store slots
    @property
    def mask(self) -> np.ndarray | None:
        """1 keeps an entry, 0 prunes it (``None``: nothing pruned)."""
        return self._mask

    @mask.setter
    def mask(self, value: np.ndarray | None) -> None:
        if value is None:
            self._clear_slot("mask")
            return
        mask = np.asarray(value)
        if mask.shape != self.shape:
            raise ValueError(
                f"Parameter {self.name!r}: mask must have shape {self.shape}, got {mask.shape}"
            )
        if not np.isin(mask, (0, 1)).all():
            raise ValueError(
                f"Parameter {self.name!r}: mask entries must be 0 (pruned) or 1 (kept)"
            )
        self._slot("mask")[...] = mask
        pruned = self._mask == 0
        self._data[pruned] = 0
        self._grad[pruned] = 0

    @property
    def curvature(self) -> np.ndarray | None:
        """A per-entry curvature estimate (for instance ∂²L/∂w², the Hessian diagonal)."""
        return self._curvature

    @curvature.setter
    def curvature(self, value: np.ndarray | None) -> None:
        if value is None:
            self._clear_slot("curvature")
            return
        self._slot("curvature")[...] = self._checked(np.asarray(value, self.dtype), "curvature")

    def _slot(self, slot: str) -> np.ndarray:
        """This parameter's segment of the store's ``slot``, made on first use."""
        current = getattr(self, f"_{slot}")
        if current is not None:
            return current
        if self._group is None:
            array = np.ones_like(self._data) if slot == "mask" else np.zeros_like(self._data)
        else:
            self._group.ensure(slot)
            array = self._group.view(slot, self._index)
        setattr(self, f"_{slot}", array)
        return array

    def _clear_slot(self, slot: str) -> None:
        current = getattr(self, f"_{slot}")
        if current is None:
            return
        setattr(self, f"_{slot}", None)
        group = self._group
        if group is None:
            return
        current[...] = 1 if slot == "mask" else 0
        if all(getattr(p, f"_{slot}") is None for p in group.params if p._group is group):
            setattr(group, slot, None)

    def _bind(self, group, index: int) -> None:
        """Become views into ``group``'s flat arrays at position ``index`` (the store calls
        this after copying the values there)."""
        self._group, self._index = group, index
        self._data = group.view("data", index)
        self._grad = group.view("grad", index)
        if self._mask is not None:
            self._mask = group.view("mask", index)
        if self._curvature is not None:
            self._curvature = group.view("curvature", index)

    # ----------------------------------------------------------------- array-like
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
        pruned = "" if self._mask is None else f", pruned={int((self._mask == 0).sum())}"
        return f"Parameter(name={self.name!r}, shape={self.shape}, dtype={self.dtype}{pruned})"


class RemovableHandle:
    """What registering a hook or transform returns: ``handle.remove()`` takes it out again."""

    _next_key = 0

    def __init__(self, owner: Module, registry: dict, item: Any) -> None:
        RemovableHandle._next_key += 1
        self.key = RemovableHandle._next_key
        self._owner, self._registry = owner, registry
        registry[self.key] = item

    def remove(self) -> None:
        self._registry.pop(self.key, None)
        self._owner._refresh_dispatch()

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


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
        self._forward_hooks: dict[int, ForwardHook] = {}
        self._backward_hooks: dict[int, BackwardHook] = {}
        self._weight_transforms: dict[str, dict[int, Any]] = {}
        self._store = None

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

    # ----------------------------------------------------------------- curvature
    def curvature_need(self, need_input: str) -> str:
        """What this module needs to know about its output's curvature (``"full"`` blocks or
        the ``"diagonal"``) to give its input's curvature in the form ``need_input``
        (``"full"``, ``"diagonal"`` or ``"none"``); see :mod:`nablab.nn.curvature`."""
        return "full"

    def curvature_backward(self, message, need: str = "full"):
        """The curvature pass: from a :class:`~nablab.nn.curvature.CurvatureMessage` about the
        output of the last forward, *add* the diagonal of ∂²L/∂p² into every parameter's
        ``curvature`` and return the message about the input (``None`` when ``need`` is
        ``"none"``). Modules that support it override this."""
        raise UnsupportedError(
            f"{self.label}: the curvature pass (the Hessian diagonal of Optimal Brain Damage) "
            f"is not supported for {type(self).__name__} yet"
        )

    # ----------------------------------------------------------------- hooks
    def register_forward_hook(self, hook: ForwardHook) -> RemovableHandle:
        """Call ``hook(module, input, output)`` after every forward; a non-``None`` return
        value replaces the output. Returns a handle whose ``remove()`` unregisters it."""
        handle = RemovableHandle(self, self._forward_hooks, hook)
        self._refresh_dispatch()
        return handle

    def register_backward_hook(self, hook: BackwardHook) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` after every backward, once the
        parameter gradients are accumulated; a non-``None`` return value replaces
        dL/d(input). ``grad_input`` is ``None`` when the input needs no gradient (the first
        layer of a model). Returns a handle whose ``remove()`` unregisters it."""
        handle = RemovableHandle(self, self._backward_hooks, hook)
        self._refresh_dispatch()
        return handle

    def _refresh_dispatch(self) -> None:
        """Route forward/backward through the hooks while there are any; without hooks the
        calls go straight to the methods (no cost on the hot path)."""
        attributes = self.__dict__
        if self._forward_hooks:
            attributes["forward"] = self._hooked_forward
        else:
            attributes.pop("forward", None)
        if self._backward_hooks:
            attributes["backward"] = self._hooked_backward
            attributes["backward_params"] = self._hooked_backward_params
        else:
            attributes.pop("backward", None)
            attributes.pop("backward_params", None)

    def _hooked_forward(self, x: np.ndarray) -> np.ndarray:
        y = type(self).forward(self, x)
        for hook in list(self._forward_hooks.values()):
            replaced = hook(self, x, y)
            if replaced is not None:
                y = replaced
        return y

    def _hooked_backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad_in = type(self).backward(self, grad_out)
        for hook in list(self._backward_hooks.values()):
            replaced = hook(self, grad_in, grad_out)
            if replaced is not None:
                grad_in = replaced
        return grad_in

    def _hooked_backward_params(self, grad_out: np.ndarray) -> None:
        type(self).backward_params(self, grad_out)
        for hook in list(self._backward_hooks.values()):
            hook(self, None, grad_out)

    # ----------------------------------------------------------------- weight transforms
    def register_weight_transform(self, transform: Any, name: str = "weight") -> RemovableHandle:
        """Apply ``transform`` to parameter ``name`` wherever this module uses it.

        A transform has ``forward(module, w) -> w̃`` and ``backward(module, dL/dw̃) -> dL/dw``
        (see :mod:`nablab.nn.transform`). Transforms run in registration order after the
        parameter's mask: W̃ = T_k(⋯T_1(W ⊙ M)). Layers read their weight through
        :meth:`transformed` and pass its gradient through :meth:`transform_gradient`.
        """
        if name not in self._params or self._params[name] is None:
            raise ValueError(
                f"{self.label}: no parameter {name!r} to transform; parameters: "
                f"{sorted(self._params)}"
            )
        return RemovableHandle(self, self._weight_transforms.setdefault(name, {}), transform)

    def weight_transforms(self, name: str = "weight") -> list[Any]:
        return list(self._weight_transforms.get(name, {}).values())

    def transformed(self, name: str = "weight") -> np.ndarray:
        """The parameter as forward uses it: W̃ = T_k(⋯T_1(W ⊙ M)) (W itself when it has no
        mask and no transforms; never a copy then)."""
        param = self._params[name]
        w = param._data
        if param._mask is not None:
            w = w * param._mask
        transforms = self._weight_transforms.get(name)
        if transforms:
            for transform in list(transforms.values()):
                w = transform.forward(self, w)
        return w

    def transform_gradient(self, name: str, grad: np.ndarray) -> np.ndarray:
        """dL/dW from dL/dW̃ through the transforms in reverse order, then the mask:
        dL/dW = (∂T_1ᵀ ⋯ ∂T_kᵀ dL/dW̃) ⊙ M. May work in place on ``grad``."""
        transforms = self._weight_transforms.get(name)
        if transforms:
            for transform in reversed(list(transforms.values())):
                grad = transform.backward(self, grad)
        mask = self._params[name]._mask
        if mask is not None:
            grad *= mask
        return grad

    # ----------------------------------------------------------------- the store
    @property
    def store(self):
        """The :class:`~nablab.nn.store.ParameterStore` holding every parameter of this model
        (made on first use; optimizers given these parameters share it)."""
        from nablab.nn.store import ParameterStore

        params = self.parameters()
        store = self._store
        if store is None or not store.holds_exactly(params):
            self._store = store = ParameterStore.of(params)
        return store

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
    def named_masks(self) -> Iterator[tuple[str, np.ndarray]]:
        """The pruning mask of every masked parameter, as ``"<parameter>_mask"``."""
        for name, param in self.named_parameters():
            if param.mask is not None:
                yield f"{name}{MASK_SUFFIX}", param.mask

    def state_dict(self) -> dict[str, np.ndarray]:
        """A plain dict of copies of every parameter, buffer and pruning mask
        (``"0.weight_mask"``), keyed by dotted name."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update({name: b.copy() for name, b in self.named_buffers()})
        state.update({name: m.copy() for name, m in self.named_masks()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy ``state`` into this module's arrays in place (strict).

        Every key must be present, no key may be extra, and each array must have the exact shape
        and dtype of the array it replaces; otherwise ``KeyError``/``ValueError`` names the key
        and nothing is modified. A ``"<parameter>_mask"`` key prunes that parameter (a pruned
        model's state loads into a fresh model of the same shape).
        """
        params = dict(self.named_parameters())
        targets = {name: p.data for name, p in params.items()}
        targets.update(dict(self.named_buffers()))
        masked = {f"{name}{MASK_SUFFIX}": p for name, p in params.items() if p.mask is not None}
        masked.update(
            {
                key: params[key[: -len(MASK_SUFFIX)]]
                for key in state
                if key.endswith(MASK_SUFFIX) and key[: -len(MASK_SUFFIX)] in params
            }
        )
        targets.update({key: param.data for key, param in masked.items()})
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
            if name not in masked:
                np.copyto(target, state[name])
        for name, param in masked.items():
            param.mask = state[name]

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
        """Backward without dL/d(input): the first layer that has parameters skips its
        input-gradient product, and the layers before it (parameter-free reshapes such as
        ``Unflatten``, without backward hooks) are not run at all."""
        layers = self._layers
        first = 0
        while (
            first < len(layers) - 1
            and not layers[first]._params
            and not layers[first]._modules
            and not layers[first]._backward_hooks
        ):
            first += 1
        for layer in reversed(layers[first + 1 :]):
            grad_out = layer.backward(grad_out)
        if layers:
            layers[first].backward_params(grad_out)

    def _curvature_needs(self, need_input: str) -> tuple[list[str], str]:
        """What each layer must give about its input, and what the last needs of its output."""
        needs = []
        for layer in self._layers:
            needs.append(need_input)
            need_input = layer.curvature_need(need_input)
        return needs, need_input

    def curvature_need(self, need_input: str) -> str:
        return self._curvature_needs(need_input)[1]

    def curvature_backward(self, message, need: str = "full"):
        """The curvature pass through the layers in reverse; each layer is asked for no more
        than the layers before it need (the first layer for nothing when ``need="none"``)."""
        needs, _ = self._curvature_needs(need)
        for layer, layer_need in zip(reversed(self._layers), reversed(needs), strict=True):
            message = layer.curvature_backward(message, layer_need)
        return message
