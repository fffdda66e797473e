"""Modules: objects that hold parameters and compute with them (PyTorch's ``nn.Module``).

A module's attributes that are Parameters or Modules are found by ``__setattr__`` and kept
in insertion order, so ``parameters()`` walks the tree without the user listing anything.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..core.backend import is_floating, namespace
from ..core.errors import OpTypeError, WengertError
from ..core.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module learns: ``requires_grad`` by default, found by ``parameters()``."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        array = data.data if isinstance(data, Tensor) else data
        if requires_grad and not is_floating(array.dtype):
            raise OpTypeError(f"Parameter: only floating tensors can require grad, not {array.dtype}")
        super().__init__(array, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class StateDictError(WengertError, KeyError):
    """A state dict that does not fit the module: missing, unexpected or mis-shaped entries."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Module:
    """Base class of layers and models: define ``forward``; call the module to run it."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # --- registration --------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise WengertError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if value is not None and not isinstance(value, (Parameter, Module)) and (
                name in self._parameters or name in self._modules):  # would silently drop it from parameters()
            raise OpTypeError(f"{type(self).__name__}.{name} is a registered "
                              f"{'parameter' if name in self._parameters else 'submodule'}: assign a Parameter, "
                              f"a Module or None, not {type(value).__name__} (to change values, write into .data)")
        if name in self._buffers and not isinstance(value, Parameter) and (value is None or isinstance(value, Tensor)):
            self._buffers[name] = value  # a reassigned buffer (running statistics) stays a buffer
            return
        target = (self._parameters if isinstance(value, Parameter) else
                  self._modules if isinstance(value, Module) else None)
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not target:
                registry.pop(name, None)
        if target is None:
            object.__setattr__(self, name, value)
            return
        target[name] = value  # a replaced parameter or module keeps its place in the order, as in PyTorch
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:  # only called when normal lookup fails
        for registry in ("_parameters", "_buffers", "_modules"):
            found = self.__dict__.get(registry, {})
            if name in found:
                return found[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, parameter: Parameter | None) -> None:
        if parameter is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, parameter)

    def register_buffer(self, name: str, tensor: Tensor | None) -> None:
        """State that is saved with the module but not learned (running statistics, say)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor

    def add_module(self, name: str, module: Module | None) -> None:
        setattr(self, name, module)

    # --- walking the tree ----------------------------------------------------------
    def named_modules(self, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:  # depth first, in registration order
            name, module = stack.pop()
            if remove_duplicate and id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child)
                        for child_name, child in module._modules.items() if child is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        return (module for _, module in self.named_modules())

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return ((name, module) for name, module in self._modules.items() if module is not None)

    def children(self) -> Iterator[Module]:
        return (module for _, module in self.named_children())

    def _named_members(self, registry: str) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        for module_name, module in self.named_modules():
            for name, member in getattr(module, registry).items():
                if member is None or id(member) in seen:
                    continue  # a shared parameter is listed once
                seen.add(id(member))
                yield (f"{module_name}.{name}" if module_name else name), member

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        return self._named_members("_parameters")  # type: ignore[return-value]

    def parameters(self) -> Iterator[Parameter]:
        return (parameter for _, parameter in self.named_parameters())

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers")

    def buffers(self) -> Iterator[Tensor]:
        return (buffer for _, buffer in self.named_buffers())

    # --- modes and gradients ---------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for parameter in self.parameters():
            if parameter.grad is not None and not set_to_none:
                parameter.grad.data[...] = 0
            else:
                parameter.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for parameter in self.parameters():
            parameter.requires_grad = requires_grad
        return self

    def apply(self, function: Any) -> Module:
        """Call ``function(module)`` on every submodule, children first (for custom initialization)."""
        for module in reversed(list(self.modules())):
            function(module)
        return self

    # --- saving and loading ------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, Tensor]:
        """Parameters and buffers by dotted name; the tensors share memory with the module. A shared
        module is saved under each of its names, as in PyTorch."""
        state: OrderedDict[str, Tensor] = OrderedDict()
        for module_name, module in self.named_modules(remove_duplicate=False):
            for registry in (module._parameters, module._buffers):
                for name, member in registry.items():
                    if member is not None:
                        state[f"{module_name}.{name}" if module_name else name] = member.detach()
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> None:
        """Copy values into this module's parameters and buffers (in place, so optimizers keep
        working). Refuses, naming every offending key, if keys are missing or unexpected (when
        ``strict``) or if a shape differs; nothing is changed when it refuses."""
        own = self.state_dict()
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        mismatched = [f"{key}: checkpoint {tuple(_shape_of(state_dict[key]))}, model {tuple(own[key].shape)}"
                      for key in own if key in state_dict and tuple(_shape_of(state_dict[key])) != own[key].shape]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if mismatched:
            problems.append("shape mismatch: " + "; ".join(mismatched))
        if problems:
            raise StateDictError(f"load_state_dict into {type(self).__name__}: " + ". ".join(problems))
        for key, target in own.items():
            if key in state_dict:
                value = state_dict[key]
                value = value.data if isinstance(value, Tensor) else value
                xp = namespace(target.data)
                xp.copyto(target.data, xp.asarray(value), casting="same_kind")

    # --- printing -----------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(module).replace("\n", "\n  ") for name, module in self.named_children()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}(" + (f"{extra}" if extra else "")
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _shape_of(value: Any) -> tuple:
    return tuple(getattr(value, "shape", ()))


class Sequential(Module):
    """Modules applied in order: ``Sequential(Linear(4, 8), ReLU(), Linear(8, 2))``."""

    def __init__(self, *modules: Module | Mapping[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), _checked_module(module, f"Sequential item {index}"))

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index: int | slice) -> Module:
        modules = list(self._modules.values())
        return Sequential(*modules[index]) if isinstance(index, slice) else modules[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), _checked_module(module, "Sequential.append"))
        return self


class ModuleList(Module):
    """A list of modules whose parameters the parent finds."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), _checked_module(module, "ModuleList.append"))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        modules = list(self._modules.values())
        return ModuleList(modules[index]) if isinstance(index, slice) else modules[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class ModuleDict(Module):
    """A dict of modules whose parameters the parent finds."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        for name, module in (modules or {}).items():
            self[name] = module

    def __getitem__(self, name: str) -> Module:
        return self._modules[name]

    def __setitem__(self, name: str, module: Module) -> None:
        self.add_module(name, _checked_module(module, f"ModuleDict[{name!r}]"))

    def __delitem__(self, name: str) -> None:
        del self._modules[name]

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()


def _checked_module(module: Any, where: str) -> Module:
    if not isinstance(module, Module):
        raise OpTypeError(f"{where}: expected a Module, got {type(module).__name__}")
    return module


__all__ = ["Module", "ModuleDict", "ModuleList", "Parameter", "Sequential", "StateDictError"]
