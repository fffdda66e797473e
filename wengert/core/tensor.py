"""The Tensor: an array, its gradient, and the graph node that produced it.

Tensors are thin on purpose (``__slots__``, no per-tensor dict): the op library
(``wengert.ops``) gives them their math methods and operators, so that this core
never imports the layers above it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import backend
from .errors import BackwardError, OpTypeError, OpValueError, TraceError, call_site
from .grad_mode import grad_enabled, watching


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    ``data`` is the array (numpy's, or another backend's), ``grad`` the gradient
    that ``backward()`` accumulates (a Tensor shaped like this one), ``node`` the op
    node that produced it (``None`` for leaves). Build tensors with ``wg.tensor``;
    this constructor wraps an existing array without copying or checking it.
    """

    __slots__ = ("__weakref__", "_accumulator", "_version", "data", "grad", "node", "requires_grad")

    def __init__(self, data: Any, requires_grad: bool = False, node: Any = None) -> None:
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self.node = node
        self._version = None  # [count] of in-place changes, shared with views; made when first needed
        self._accumulator = None  # a leaf's AccumulateGrad node, made when an op first uses the leaf

    # --- what the array is -----------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        """Number of elements, as numpy's ``size`` (PyTorch's ``numel()``)."""
        return self.data.size

    def numel(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self.node is None

    @property
    def grad_fn(self) -> Any:
        """The op node that produced this tensor (PyTorch's name for ``node``)."""
        return self.node

    # --- leaving the framework ---------------------------------------------------
    def numpy(self) -> Any:
        """The data as an array (shares memory, as in PyTorch); refuses tensors that need grad."""
        if self.requires_grad and grad_enabled():
            raise BackwardError("numpy(): this tensor requires grad; call .detach().numpy() "
                                f"to leave the graph on purpose (at {call_site()})")
        _refuse_while_tracing("numpy()")
        return backend.to_numpy(self.data)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Any:
        """numpy 2's protocol: ``np.array(t)`` copies, ``np.asarray(t)`` shares memory where it can,
        and ``copy=False`` refuses to copy (a dtype change would need one)."""
        _refuse_while_tracing("a numpy conversion (np.asarray(t))")
        array = backend.to_numpy(self.data)
        if dtype is not None and backend.numpy.dtype(dtype) != array.dtype:
            if copy is False:
                raise ValueError(f"__array__: a {array.dtype} tensor cannot be viewed as {dtype} without a copy")
            return array.astype(dtype)
        return array.copy() if copy else array

    def __format__(self, spec: str) -> str:
        """A 0-d tensor formats like its Python number (``f"{loss:.3f}"``), as in PyTorch."""
        if self.data.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    def item(self) -> Any:
        _refuse_while_tracing("item()")
        if self.data.size != 1:
            raise OpTypeError(f"item(): only one-element tensors convert to a Python number; "
                              f"this one has shape {tuple(self.shape)} (at {call_site()})")
        return self.data.item()

    def tolist(self) -> Any:
        _refuse_while_tracing("tolist()")
        return self.data.tolist()

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise OpTypeError(f"len() of a 0-d tensor (at {call_site()})")
        return self.data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for index in range(len(self)):
            yield self[index]

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise OpValueError(f"the truth value of a tensor with {self.data.size} elements is "
                                      f"ambiguous: use .any() or .all() (at {call_site()})")
        _refuse_while_tracing("its truth value (if/while on a tensor)")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iub":
            raise OpTypeError(f"only integer tensors can be used as an index, not {self.dtype}")
        return int(self.item())

    # Tensors compare elementwise (numpy's ``==``), so they hash by identity, as in PyTorch.
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        array = backend.to_numpy(self.data)
        body = backend.numpy.array2string(array, separator=", ", prefix="tensor(")
        extras = []
        if array.dtype not in (backend.get_default_dtype(), backend.int64, backend.bool_):
            extras.append(f"dtype={array.dtype}")
        if self.node is not None:
            extras.append(f"grad_fn=<{self.node.function.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # --- autograd ------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (seeded with 1 for a scalar)."""
        from .backward import backward

        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory and the in-place version count)."""
        detached = Tensor(self.data)
        detached._version = version_cell(self)
        return detached

    def detach_(self) -> Tensor:
        """Cut this tensor from its graph in place: a leaf that needs no gradient (the graph that made
        it is untouched), as PyTorch's ``detach_``. Returns self."""
        self.node = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind != "f":
            raise OpTypeError(f"requires_grad_: only floating tensors can require grad, not {self.dtype}")
        if not requires_grad and self.node is not None:
            raise BackwardError("requires_grad_(False) on a tensor computed by an op: use .detach()")
        self.requires_grad = requires_grad
        return self

    def register_hook(self, hook: Any) -> Any:
        """Call ``hook(grad)`` each time this tensor's gradient is computed, before it is used or
        accumulated; a non-None return replaces it. Returns a handle: ``handle.remove()``."""
        if not self.requires_grad:
            raise BackwardError("register_hook: this tensor does not require grad, so it gets no gradient")
        from .function import grad_accumulator

        return (self.node or grad_accumulator(self)).register_hook(hook)

    def retain_grad(self) -> None:
        """Keep this intermediate tensor's gradient in ``.grad`` after backward."""
        if self.node is not None:
            from weakref import ref

            self.node.retained = ref(self)
        elif not self.requires_grad:
            raise BackwardError("retain_grad() on a tensor that does not require grad")

    # --- in place: allowed only where no graph can be hurt ----------------------------
    def _modify(self, name: str, other: Any, update: Any) -> Tensor:
        other_requires = isinstance(other, Tensor) and other.requires_grad
        if grad_enabled() and (self.requires_grad or other_requires):
            raise BackwardError(
                f"{name}: in-place ops on tensors that take part in autograd are not recorded; "
                f"write the out-of-place form (x = x + y), or wrap parameter updates in "
                f"wg.no_grad() (at {call_site()})")
        self.data = update(self.data, other.data if isinstance(other, Tensor) else other)
        bump_version(self)
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._modify("+=", other, _iadd)

    def __isub__(self, other: Any) -> Tensor:
        return self._modify("-=", other, _isub)

    def __imul__(self, other: Any) -> Tensor:
        return self._modify("*=", other, _imul)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._modify("/=", other, _itruediv)

    def __setitem__(self, key: Any, value: Any) -> None:
        key = unwrap_key(key)

        def assign(data: Any, value: Any) -> Any:
            data[key] = value
            return data

        self._modify("__setitem__", value, assign)

    def copy_(self, source: Any) -> Tensor:
        """Overwrite the data with ``source``'s values (broadcast), in place."""
        return self._modify("copy_", source, _assign_all)

    def fill_(self, value: Any) -> Tensor:
        return self._modify("fill_", value, _assign_all)

    def zero_(self) -> Tensor:
        return self._modify("zero_", 0, _assign_all)


def _iadd(data: Any, other: Any) -> Any:
    data += other
    return data


def _isub(data: Any, other: Any) -> Any:
    data -= other
    return data


def _imul(data: Any, other: Any) -> Any:
    data *= other
    return data


def _itruediv(data: Any, other: Any) -> Any:
    data /= other
    return data


def _assign_all(data: Any, other: Any) -> Any:
    data[...] = other
    return data


def _refuse_while_tracing(what: str) -> None:
    """A trace records ops, not Python: a value read while tracing would be replayed as a constant
    whatever the inputs, so reading one is an error there (run that code outside the trace)."""
    watch = watching()
    if watch is not None and watch.trace is not None:
        raise TraceError(f"{what} reads a tensor's value while ops are being traced (wg.compile, Graph.trace, "
                         "wg.tracing): a replay would reuse this value whatever the inputs. Compute with "
                         f"wengert's ops, or read values outside the traced function (at {call_site()})")


def bump_version(tensor: Tensor) -> None:
    """Record that ``tensor``'s array was changed in place. Every write into a tensor's array outside
    an op (initializers, optimizers, ``load_state_dict``) calls this, so that a graph that saved the
    old values refuses to backpropagate through them. Without a cell nothing saved it: nothing to do."""
    cell = tensor._version
    if cell is not None:
        cell[0] += 1


def version_cell(tensor: Tensor) -> list:
    """The tensor's in-place version counter, made on first use."""
    cell = tensor._version
    if cell is None:
        cell = tensor._version = [0]
    return cell


def unwrap_key(key: Any) -> Any:
    """An indexing key with its Tensors replaced by their arrays (indices carry no gradient)."""
    if isinstance(key, tuple):
        return tuple(part.data if isinstance(part, Tensor) else part for part in key)
    return key.data if isinstance(key, Tensor) else key
