"""Ops and the graph: a ``Function`` defines an op once, a ``Node`` records one use of it.

Applying an op runs its ``forward`` on the input arrays at once (eager,
define-by-run). If some input requires grad, a ``Node`` links the output to its
inputs and is also the context that ``forward`` saves into and ``backward`` reads:

    class Sigmoid(wg.Function):
        def forward(ctx, x):            # arrays in, array out
            y = 1 / (1 + wg.namespace(x).exp(-x))
            ctx.save(y)
            return y

        def backward(ctx, upstream):    # dL/dy in, one dL/dinput per input out (a VJP)
            (y,) = ctx.saved
            return upstream * y * (1 - y)

    sigmoid = Sigmoid.apply

Positional arguments of ``apply`` are the op's inputs (Tensors, arrays or Python
numbers; only Tensors that require grad get gradients); keyword arguments are
constants such as ``axis``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from .errors import WengertError, call_site, op_error
from .grad_mode import state
from .tensor import Tensor, version_cell

_sequence = itertools.count()


class Node:
    """One application of an op in the graph; also the context object of that application.

    ``parents[i]`` is where input i's gradient goes: the Node that produced it, the
    leaf Tensor itself, or ``None`` when input i needs no gradient.
    """

    __slots__ = (
        "__dict__",
        "dtype",
        "function",
        "parents",
        "saved",
        "saved_tensors",
        "sequence",
        "shape",
        "upstream",
    )
    retained = None  # weak reference to the tensor whose .grad to keep (retain_grad)
    trace = None  # where the op was called, remembered under detect_anomaly

    def __init__(self, function: type, parents: tuple) -> None:
        self.function = function
        self.parents = parents
        self.saved = ()
        self.sequence = next(_sequence)  # creation order: a valid topological order
        self.upstream = None  # gradient of the output, summed over its consumers
        self.saved_tensors = None

    def save(self, *values: Any) -> None:
        """Keep ``values`` (arrays, shapes, anything) for backward; read back as ``ctx.saved``."""
        self.saved = values

    save_for_backward = save  # PyTorch's name

    @property
    def needs_input_grad(self) -> tuple:
        """``needs_input_grad[i]``: whether input i wants a gradient (backward may skip it if not)."""
        return tuple(parent is not None for parent in self.parents)

    @property
    def name(self) -> str:
        return self.function.name

    def __repr__(self) -> str:
        return f"<{self.function.name} node>"


class _NoContext:
    """What ``forward`` gets when nothing is recorded: saving is a no-op."""

    def save(self, *values: Any) -> None:
        pass

    save_for_backward = save
    needs_input_grad = property(lambda self: ())


NO_CONTEXT = _NoContext()


class Function:
    """Base class of ops: subclasses define ``forward(ctx, *inputs, **constants)`` on arrays and
    ``backward(ctx, upstream)`` returning one gradient (or ``None``) per input.

    Class attributes:
      ``broadcasting``   inputs broadcast and promote dtypes as in numpy; backward may return
                         gradients of the output's shape and dtype, and the engine sums them
                         over the broadcast axes and casts them to each input's dtype.
      ``differentiable`` False for ops whose output carries no gradient (comparisons, argmax).
      ``view``           the output shares memory with input 0 (and so its in-place versions).
    """

    broadcasting = False
    differentiable = True
    view = False
    name = "function"
    apply: Callable[..., Tensor]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__.lower()
        cls.apply = staticmethod(_make_apply(cls))

    def forward(ctx: Any, *inputs: Any, **constants: Any) -> Any:
        raise NotImplementedError

    def backward(ctx: Any, upstream: Any) -> Any:
        raise NotImplementedError(f"{ctx.function.name} has no backward")


def _make_apply(function: type) -> Callable[..., Tensor]:
    """Build ``function.apply``: run forward on the arrays, and record a node if a gradient may flow."""
    forward, differentiable, view, name = function.forward, function.differentiable, function.view, function.name

    def apply(*inputs: Any, **constants: Any) -> Tensor:
        arrays = []
        parents = []
        recording = False
        for value in inputs:
            if isinstance(value, Tensor):
                arrays.append(value.data)
                if value.requires_grad:
                    parents.append(value.node or value)
                    recording = True
                    continue
            else:
                arrays.append(value)
            parents.append(None)
        if recording and differentiable and state.grad_enabled:
            node = Node(function, tuple(parents))
            try:
                out = forward(node, *arrays, **constants)
            except WengertError:
                raise
            except (ValueError, TypeError, IndexError) as error:
                raise op_error(name, inputs, error) from error
            result = Tensor(out, True, node)
            node.shape = out.shape
            node.dtype = out.dtype
            if view:
                result._version = version_cell(inputs[0])
            if node.saved:
                _record_saved(node, inputs, result)
            if state.anomaly:
                node.trace = call_site()
            return result
        try:
            out = forward(NO_CONTEXT, *arrays, **constants)
        except WengertError:
            raise
        except (ValueError, TypeError, IndexError) as error:
            raise op_error(name, inputs, error) from error
        result = Tensor(out)
        if view and isinstance(inputs[0], Tensor):
            result._version = version_cell(inputs[0])
        return result

    apply.__name__ = apply.__qualname__ = name
    apply.__doc__ = function.__doc__
    return apply


def _record_saved(node: Node, inputs: tuple, result: Tensor) -> None:
    """Note which saved values are tensors' arrays: their in-place versions now (checked at
    backward) and, for ``create_graph``, which tensor each one is (``None`` for the output)."""
    entries = []
    for position, value in enumerate(node.saved):
        if value is result.data:
            tensor = None
            cell = version_cell(result)
        else:
            for tensor in inputs:
                if isinstance(tensor, Tensor) and tensor.data is value:
                    break
            else:
                continue
            cell = version_cell(tensor)
        entries.append((position, tensor, cell, cell[0]))
    if entries:
        node.saved_tensors = tuple(entries)
