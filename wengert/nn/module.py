"""Modules: objects that hold parameters and compute with them (PyTorch's ``nn.Module``).

A module's attributes that are Parameters or Modules are found by ``__setattr__`` and kept
in insertion order, so ``parameters()`` walks the tree without the user listing anything.
"""

from __future__ import annotations

import functools
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from ..core.backend import as_dtype, float32, float64, is_floating, namespace
from ..core.errors import BackwardError, OpTypeError, OpValueError, WengertError
from ..core.function import Function, RemovableHandle, recorded
from ..core.grad_mode import grad_enabled
from ..core.tensor import Tensor, bump_version
from .utils import zero_grad_in_place


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


class _IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns: the keys it did not find and those it did not use (PyTorch's)."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


class Module:
    """Base class of layers and models: define ``forward``; call the module to run it."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_hooks", OrderedDict())  # handle id -> (kind, hook), in calling order

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self._hooks:  # every layer of every step comes here: without hooks, one check
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    # --- hooks (PyTorch's semantics and order) ------------------------------------------
    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False) -> RemovableHandle:
        """``hook(module, args)`` runs before ``forward``; a value it returns replaces ``args`` (a
        non-tuple becomes a 1-tuple)."""
        return self._register_hook("forward_pre", hook, prepend)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False) -> RemovableHandle:
        """``hook(module, args, output)`` runs after ``forward``; a value it returns replaces ``output``."""
        return self._register_hook("forward", hook, prepend)

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` runs when the gradients with respect to the module's
        positional inputs are computed. Both are tuples with one entry per positional input (output):
        ``None`` where it is not a Tensor, zeros where a Tensor gets no gradient (as in PyTorch; also
        for inputs that ``wg.autograd.grad`` was not asked for, which it does not compute). A tuple it
        returns replaces ``grad_input``. If no input requires grad, the hook runs once ``grad_output``
        is known, with ``grad_input`` all ``None``. Gradients that reach the inputs without passing
        through the outputs call no hook."""
        return self._register_hook("backward", hook, prepend)

    def _register_hook(self, kind: str, hook: Callable, prepend: bool) -> RemovableHandle:
        if not callable(hook):
            raise OpTypeError(f"{type(self).__name__}: a {kind.replace('_', ' ')} hook must be callable, "
                              f"not {type(hook).__name__}")
        handle = RemovableHandle(self._hooks, (kind, hook))
        if prepend:
            self._hooks.move_to_end(handle.id, last=False)
        return handle

    def _hooks_of(self, kind: str) -> list[Callable]:
        return [hook for hook_kind, hook in self._hooks.values() if hook_kind == kind]

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        for hook in self._hooks_of("forward_pre"):
            replaced = hook(self, args)
            if replaced is not None:
                args = replaced if isinstance(replaced, tuple) else (replaced,)
        backward_hooks = self._hooks_of("backward")
        call = _HookedCall(self, backward_hooks) if backward_hooks and grad_enabled() else None
        if call is not None:
            args = call.wrap_inputs(args)
        output = self.forward(*args, **kwargs)
        for hook in self._hooks_of("forward"):
            replaced = hook(self, args, output)
            if replaced is not None:
                output = replaced
        return output if call is None else call.wrap_outputs(output)

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
        self._non_persistent_buffers.discard(name)
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
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, parameter: Parameter | None) -> None:
        if parameter is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, parameter)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """State that moves with the module but is not learned (running statistics, class weights).
        A ``persistent`` buffer is in ``state_dict()``; a non-persistent one is not (PyTorch's rules)."""
        if not isinstance(name, str) or not name or "." in name:
            raise OpValueError(f"{type(self).__name__}.register_buffer: a buffer name must be a non-empty "
                               f"string without '.', not {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise OpTypeError(f"{type(self).__name__}.register_buffer({name!r}): a buffer must be a Tensor or "
                              f"None, not {type(tensor).__name__} (wrap it with wg.tensor)")
        if name in self._parameters or name in self._modules or (
                name in self.__dict__ and name not in self._buffers) or (
                name not in self._buffers and hasattr(type(self), name)):
            raise KeyError(f"{type(self).__name__}.register_buffer: attribute {name!r} already exists")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

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
        """Forget the parameters' gradients: drop them (the default), or zero them in place."""
        recorded(functools.partial(self._zero_grad, set_to_none))

    def _zero_grad(self, set_to_none: bool) -> None:
        for parameter in self.parameters():
            if set_to_none:
                parameter.grad = None
            else:
                zero_grad_in_place(parameter)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for parameter in self.parameters():
            parameter.requires_grad = requires_grad
        return self

    def to(self, dtype: Any) -> Module:
        """Cast every floating parameter, gradient and buffer to the floating ``dtype``, in this module and
        its submodules (integer buffers keep theirs, as in PyTorch); returns the module itself."""
        if not is_floating(dtype):
            raise OpTypeError(f"{type(self).__name__}.to: only floating dtypes can be given, not {dtype!r}")
        dtype = as_dtype(dtype)
        for tensor in itertools.chain(self.parameters(), self.buffers()):
            for target in (tensor, tensor.grad):
                if target is not None and is_floating(target.dtype) and target.dtype != dtype:
                    target.data = target.data.astype(dtype)
                    bump_version(target)  # a graph that saved the old array must not mix it with the new
        return self

    def float(self) -> Module:
        return self.to(float32)

    def double(self) -> Module:
        return self.to(float64)

    def apply(self, function: Any) -> Module:
        """Call ``function(module)`` on every submodule, children first (for custom initialization)."""
        for module in reversed(list(self.modules())):
            function(module)
        return self

    # --- saving and loading ------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, Tensor]:
        """Parameters and buffers by dotted name; the tensors share memory with the module. A shared
        module is saved under each of its names, as in PyTorch."""
        return OrderedDict((key, member.detach()) for key, member in self._state_members())

    def _state_members(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, tensor) of every parameter and persistent buffer, in ``state_dict`` order."""
        for module_name, module in self.named_modules(remove_duplicate=False):
            for registry in (module._parameters, module._buffers):
                for name, member in registry.items():
                    if member is not None and (registry is module._parameters
                                               or name not in module._non_persistent_buffers):
                        yield (f"{module_name}.{name}" if module_name else name), member

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> _IncompatibleKeys:
        """Copy values into this module's parameters and buffers (in place, so optimizers keep
        working) and return ``(missing_keys, unexpected_keys)``. Refuses, naming every offending
        key, if keys are missing or unexpected (when ``strict``), or if a shape or the kind of
        dtype differs (integers into a float parameter: a damaged checkpoint); nothing is
        changed when it refuses."""
        own = OrderedDict(self._state_members())
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        mismatched, wrong_kind = [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if _shape_of(value) != target.shape:
                mismatched.append(f"{key}: checkpoint {_shape_of(value)}, model {tuple(target.shape)}")
            dtype = getattr(value, "dtype", None)
            if dtype is not None and _KINDS.get(dtype.kind, dtype.kind) != _KINDS.get(target.dtype.kind,
                                                                                        target.dtype.kind):
                wrong_kind.append(f"{key}: checkpoint {dtype}, model {target.dtype}")
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if mismatched:
            problems.append("shape mismatch: " + "; ".join(mismatched))
        if wrong_kind:
            problems.append("dtype of another kind: " + "; ".join(wrong_kind))
        if problems:
            raise StateDictError(f"load_state_dict into {type(self).__name__}: " + ". ".join(problems))
        for key, target in own.items():
            if key in state_dict:
                value = state_dict[key]
                value = value.data if isinstance(value, Tensor) else value
                xp = namespace(target.data)
                xp.copyto(target.data, xp.asarray(value), casting="same_kind")
                bump_version(target)
        return _IncompatibleKeys(missing, unexpected)

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


class _BackwardHookIdentity(Function):
    """The identity on one of a hooked module call's inputs or outputs, marking where the call meets
    the graph: its backward gives the gradient to the call's ``_GradientGroup``."""

    name = "backward_hook"
    view = True  # the output is the input's array itself

    def forward(ctx, x, group=None, position=0):
        ctx.save(group, position)
        return x

    def backward(ctx, upstream):
        group, position = ctx.saved
        return group.backward(position, upstream)


class _GradientGroup:
    """Identity nodes made one after another on a call's positional inputs (or its outputs), with
    ``complete(grads) -> grads`` run once per backward pass on all of their gradients.

    The engine runs nodes in reverse creation order, and every op that used these identities'
    outputs was made after all of them. So when the first of them runs, the others' upstream
    gradients are already complete, still waiting in their nodes: that first one reads them all
    (PyTorch gets them from one node with many outputs, which wengert's ops do not have) and keeps
    the results for the others, each recognized by the very upstream array it was computed from.
    """

    def __init__(self, values: tuple, complete: Callable[[tuple], tuple]) -> None:
        self.complete = complete
        self.nodes: list = [None] * len(values)
        self.waiting: dict[int, tuple] = {}
        self.values = tuple(self._wrap(index, value) for index, value in enumerate(values))
        self.recording = any(node is not None for node in self.nodes)

    def _wrap(self, index: int, value: Any) -> Any:
        if not (isinstance(value, Tensor) and value.requires_grad):
            return value
        wrapped = _BackwardHookIdentity.apply(value, group=self, position=index)
        self.nodes[index] = wrapped.node
        return wrapped

    def backward(self, position: int, upstream: Any) -> Any:
        seen, result = self.waiting.pop(position, (None, None))
        if seen is upstream:
            return result
        grads = tuple(upstream if index == position else None if node is None else node.upstream
                      for index, node in enumerate(self.nodes))
        results = self.complete(grads)
        self.waiting = {index: (grad, results[index]) for index, grad in enumerate(grads)
                        if index != position and grad is not None}
        return results[position]


class _HookedCall:
    """One call of a module with full backward hooks (PyTorch's ``BackwardHook``): gradients of the
    outputs are captured as they pass, and the hooks run with them when those of the inputs are known."""

    def __init__(self, module: Module, hooks: list) -> None:
        self.module, self.hooks = module, hooks
        self.inputs: _GradientGroup | None = None
        self.outputs: _GradientGroup | None = None
        self.grad_outputs: tuple | None = None

    def wrap_inputs(self, args: tuple) -> tuple:
        self.inputs = _GradientGroup(args, self._inputs_done)
        return self.inputs.values

    def wrap_outputs(self, output: Any) -> Any:
        single = not isinstance(output, tuple)
        self.outputs = _GradientGroup((output,) if single else output, self._outputs_done)
        return self.outputs.values[0] if single else self.outputs.values

    def _outputs_done(self, grads: tuple) -> tuple:
        self.grad_outputs = _materialized(grads, self.outputs.values)
        if not self.inputs.recording:  # no input wants a gradient: the hooks run now, with None for each
            nothing = (None,) * len(self.inputs.values)
            for hook in self.hooks:
                replaced = hook(self.module, nothing, self.grad_outputs)
                if replaced is not None and any(grad is not None for grad in replaced):
                    raise BackwardError(f"{type(self.module).__name__}: a full backward hook returned "
                                        "gradients, but no input of the module requires grad")
            self.grad_outputs = None
        return grads

    def _inputs_done(self, grads: tuple) -> tuple:
        grad_outputs, self.grad_outputs = self.grad_outputs, None
        if grad_outputs is None:  # the gradient reached the inputs without passing through the outputs
            return grads
        grad_input = _materialized(grads, self.inputs.values)
        for hook in self.hooks:
            replaced = hook(self.module, grad_input, grad_outputs)
            if replaced is None:
                continue
            if not isinstance(replaced, (tuple, list)) or len(replaced) != len(grad_input):
                raise BackwardError(f"{type(self.module).__name__}: a full backward hook must return None or "
                                    f"a tuple of {len(grad_input)} gradients (one per positional input), "
                                    f"got {_described(replaced)}")
            grad_input = tuple(replaced)
        # A plain backward passes arrays between ops; create_graph passes Tensors, as the hooks see them.
        return tuple(grad if grad is None or isinstance(original, Tensor) else _array_of(grad)
                     for grad, original in zip(grad_input, grads))


def _materialized(grads: tuple, values: tuple) -> tuple:
    """The gradients as the hooks see them: Tensors, zeros for a Tensor that got none (as PyTorch
    gives them), None for a value that is not a Tensor."""
    return tuple(grad if isinstance(grad, Tensor) else Tensor(grad) if grad is not None else
                 Tensor(namespace(value.data).zeros_like(value.data)) if isinstance(value, Tensor) else None
                 for grad, value in zip(grads, values))


def _array_of(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _described(value: Any) -> str:
    return f"a tuple of {len(value)}" if isinstance(value, (tuple, list)) else f"a {type(value).__name__}"


# Kinds of dtype that load into each other: signed and unsigned integers; floats only into floats.
_KINDS = {"u": "i"}


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


class ParameterList(Module):
    """A list of parameters that the parent finds, registered as "0", "1", ... (PyTorch's ``ParameterList``).
    A Tensor that is not a Parameter becomes one (sharing its array), as in PyTorch."""

    def __init__(self, values: Iterable[Tensor] | None = None) -> None:
        super().__init__()
        self.extend(values or ())

    def append(self, value: Tensor) -> ParameterList:
        setattr(self, str(len(self)), _as_parameter(value, "ParameterList.append"))
        return self

    def extend(self, values: Iterable[Tensor]) -> ParameterList:
        for value in values:
            self.append(value)
        return self

    def _index(self, index: int) -> str:
        if not -len(self) <= index < len(self):
            raise IndexError(f"ParameterList index {index} is out of range for {len(self)} parameters")
        return str(index % len(self))

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ParameterList(list(self._parameters.values())[index])
        return self._parameters[self._index(index)]

    def __setitem__(self, index: int, value: Tensor) -> None:
        setattr(self, self._index(index), _as_parameter(value, f"ParameterList[{index}]"))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def extra_repr(self) -> str:
        return "\n".join(f"({name}): Parameter containing: [{p.dtype} of size {'x'.join(map(str, p.shape))}]"
                         for name, p in self._parameters.items())

    def __repr__(self) -> str:
        body = self.extra_repr()
        return "ParameterList(\n  " + body.replace("\n", "\n  ") + "\n)" if body else "ParameterList()"


def _as_parameter(value: Any, where: str) -> Parameter:
    if isinstance(value, Parameter):
        return value
    if not isinstance(value, Tensor):
        raise OpTypeError(f"{where}: expected a Parameter or Tensor, got {type(value).__name__}")
    return Parameter(value)


def _checked_module(module: Any, where: str) -> Module:
    if not isinstance(module, Module):
        raise OpTypeError(f"{where}: expected a Module, got {type(module).__name__}")
    return module


__all__ = ["Module", "ModuleDict", "ModuleList", "Parameter", "ParameterList", "RemovableHandle", "Sequential",
           "StateDictError"]
